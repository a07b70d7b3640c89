import type { Output } from '../../src-relay/admin/contract.ts';
import { RELAY_STATE, type Tone } from './words.ts';

type RelayStatus = Output<'relay.status'>;
type QueueSummary = Output<'queue.summary'>;

/** Something wrong right now, shown at once; an alert about the same thing follows only once its threshold is passed. */
export interface LiveWarning {
  id: string;
  title: string;
  /** The error as the system gave it (explained by lib/plain-errors.ts), or null. */
  raw: string | null;
  /** When it started, epoch ms, or null. */
  since: number | null;
}

const ROUTE_TITLES: Record<string, string> = {
  internal: 'Mail for your users cannot be delivered to the internal server',
  smarthost: 'Mail to the internet cannot be delivered to the smarthost',
};

/**
 * What the dashboard warns about without waiting for an alert: the relay not running, a delivery route down,
 * delivery paused. The dashboard says "All is well" only when this is empty and no alert is open.
 */
export function liveWarnings(status: RelayStatus | null | undefined, summary: QueueSummary | null | undefined): LiveWarning[] {
  const warnings: LiveWarning[] = [];
  if (status && status.state === 'failed') warnings.push({ id: 'relay', title: 'The relay is not running: no mail is received or delivered', raw: status.error, since: null });
  if (status && status.state === 'setup') warnings.push({ id: 'relay', title: 'The relay is not set up yet: no mail is received', raw: null, since: null });
  for (const route of status?.routes ?? []) {
    if (route.state !== 'down') continue;
    warnings.push({ id: `route-${route.route}`, title: ROUTE_TITLES[route.route] ?? `Mail on the route "${route.route}" cannot be delivered`, raw: route.lastError, since: route.since });
  }
  if (summary?.queueHeld) warnings.push({ id: 'paused', title: 'Delivery is paused: mail waits in the queue until you resume it', raw: null, since: null });
  return warnings;
}

/**
 * The relay's state for the top bar, on every screen: "Running" alone only when mail also flows on. A route that is
 * down or paused delivery makes it amber, its title says what is wrong (the dashboard says more).
 */
export function relayBadge(status: RelayStatus, summary: QueueSummary | null | undefined): { label: string; tone: Tone; title: string | null } {
  const state = RELAY_STATE[status.state];
  if (status.state !== 'running') return { ...state, title: status.error ?? null };
  const warnings = liveWarnings(status, summary);
  if (warnings.length === 0) return { ...state, title: null };
  const down = warnings.some((warning) => warning.id.startsWith('route-'));
  return { label: `${state.label} · ${down ? 'mail not delivered' : 'delivery paused'}`, tone: 'warning', title: warnings.map((warning) => warning.title).join('; ') };
}

/** The top bar's state while the admin service does not answer: whatever was shown last may be out of date. */
export const NOT_ANSWERING: { label: string; tone: Tone; title: string } = {
  label: 'Not answering',
  tone: 'critical',
  title: 'The admin service did not answer (is the relay running?): the screens show what it said before and may be out of date',
};
