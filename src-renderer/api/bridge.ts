import type { MoatBridge } from '../../src-main/bridge.ts';

export type { AttachTestResult, BridgeResult, CloseAction, DesktopPreferences, ManagedRelayChoice, MoatBridge, NotificationChoices, RelayStatus as DesktopRelayStatus, Severity } from '../../src-main/bridge.ts';

/**
 * The desktop shell's bridge (`window.moat`, exposed by src-main/preload.ts), or null in a plain browser: the
 * same page is served by the admin listener, where there is no shell and no Desktop section.
 */
export function desktopBridge(): MoatBridge | null {
  const candidate = (window as unknown as { moat?: MoatBridge }).moat;
  return candidate && typeof candidate.getPreferences === 'function' ? candidate : null;
}
