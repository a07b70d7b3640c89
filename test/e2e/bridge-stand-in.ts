import type { Page } from 'playwright-core';
import type { AttachTestResult, DesktopPreferences, MoatBridge, RelayStatus } from '../../src-main/bridge.ts';

/** What the page's stand-in bridge keeps for the test: every call with its input, and the pushes it can fake. */
export interface StandInCall {
  method: string;
  input: unknown;
}

/** The preferences the stand-in starts with (the shell's defaults, hosting the relay itself). */
export const STAND_IN_PREFERENCES: DesktopPreferences = {
  notifications: { enabled: true, notifyOnClear: true, minSeverity: 'warning', mutedRules: [] },
  startAtLogin: false,
  closeAction: 'tray',
  managedRelay: { mode: 'host', dataDir: '/home/admin/.config/Moat/relay' },
  attachPasswordSaved: false,
  recovered: [],
};

/**
 * Runs in the page before its scripts (serialised by addInitScript, so it uses nothing from this module's
 * scope): defines `window.moat` as a MoatBridge that keeps its preferences in memory and records each call in
 * `window.__standIn.calls`; `window.__standIn.navigate(route)` plays main pushing a route (a notification click).
 * Typed against the preload's MoatBridge, so a change to the bridge breaks this file's compile.
 */
function installStandIn(initial: DesktopPreferences): void {
  let preferences: DesktopPreferences = JSON.parse(JSON.stringify(initial)) as DesktopPreferences;
  let status: RelayStatus = { state: 'running', mode: 'host', address: '127.0.0.1:25' };
  const calls: StandInCall[] = [];
  const navigateListeners = new Set<(route: string) => void>();
  const statusListeners = new Set<(status: RelayStatus) => void>();
  const answer = <T,>(method: string, input: unknown, result: T) => {
    calls.push({ method, input: input === undefined ? null : JSON.parse(JSON.stringify(input)) });
    return Promise.resolve({ ok: true as const, result: JSON.parse(JSON.stringify(result)) as T });
  };
  const bridge: MoatBridge = {
    getPreferences: () => answer('getPreferences', undefined, preferences),
    setNotificationChoices: (choices) => {
      preferences = { ...preferences, notifications: choices };
      return answer('setNotificationChoices', choices, preferences);
    },
    setStartAtLogin: (enabled) => {
      preferences = { ...preferences, startAtLogin: enabled };
      return answer('setStartAtLogin', enabled, preferences);
    },
    setCloseAction: (action) => {
      preferences = { ...preferences, closeAction: action };
      return answer('setCloseAction', action, preferences);
    },
    chooseManagedRelay: (choice) => {
      if (choice.mode === 'attach') {
        const { password, ...kept } = choice;
        preferences = { ...preferences, managedRelay: kept, attachPasswordSaved: preferences.attachPasswordSaved || Boolean(password) };
        status = { state: 'running', mode: 'attach', address: choice.url };
      } else {
        preferences = { ...preferences, managedRelay: { mode: 'host', dataDir: choice.dataDir ?? '/home/admin/.config/Moat/relay' } };
        status = { state: 'running', mode: 'host', address: '127.0.0.1:25' };
      }
      for (const listener of statusListeners) listener(status);
      return answer('chooseManagedRelay', choice, preferences);
    },
    // the stand-in's service answers only at dmz.example.test with the password "service password 1"
    testAttach: (input) => {
      const stored = preferences.attachPasswordSaved && preferences.managedRelay.mode === 'attach' && preferences.managedRelay.url === input.url;
      const reachable = input.url === 'https://dmz.example.test:8443' && (input.password === 'service password 1' || (input.password === undefined && stored));
      const result: AttachTestResult = reachable
        ? { reachable: true, hostname: 'dmz.example.test', version: '0.1.0', state: 'running' }
        : input.url === 'https://dmz.example.test:8443'
          ? { reachable: false, code: 'LOGIN_FAILED', message: 'the password was not accepted' }
          : { reachable: false, code: 'UNAVAILABLE', message: 'connect ECONNREFUSED' };
      return answer('testAttach', input, result);
    },
    showSampleNotification: () => answer('showSampleNotification', undefined, null),
    getRelayStatus: () => answer('getRelayStatus', undefined, status),
    retryRelay: () => answer('retryRelay', undefined, status),
    onNavigate: (listener) => {
      navigateListeners.add(listener);
      return () => navigateListeners.delete(listener);
    },
    onRelayStatus: (listener) => {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
  };
  const target = globalThis as unknown as { moat: MoatBridge; __standIn: { calls: StandInCall[]; navigate(route: string): number } };
  target.moat = bridge;
  target.__standIn = {
    calls,
    navigate: (route) => {
      for (const listener of navigateListeners) listener(route);
      return navigateListeners.size;
    },
  };
}

/** Injects the stand-in bridge into every page the context opens from now on (before the page's own scripts). */
export async function injectStandInBridge(page: Page, initial: DesktopPreferences = STAND_IN_PREFERENCES): Promise<void> {
  // tsx may wrap named functions in esbuild's __name(); the page has no such helper, so give it a harmless one
  await page.addInitScript({ content: `var __name = (value) => value;\n(${installStandIn.toString()})(${JSON.stringify(initial)});` });
}

/** The calls the page made so far, by method. */
export async function standInCalls(page: Page, method?: string): Promise<StandInCall[]> {
  const calls = await page.evaluate<StandInCall[]>('window.__standIn.calls');
  return method ? calls.filter((call) => call.method === method) : calls;
}

/** Plays main pushing a route to the page (what a notification click does); resolves to how many listened. */
export function pushNavigate(page: Page, route: string): Promise<number> {
  return page.evaluate<number>(`window.__standIn.navigate(${JSON.stringify(route)})`);
}
