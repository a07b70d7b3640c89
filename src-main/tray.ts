import type { Health, RelayStatus } from './bridge.ts';
import type { QueueSummary } from './alerts.ts';

/** What a tray menu item does when clicked; main maps each to one effect. */
export type TrayAction = 'open' | 'pause-delivery' | 'resume-delivery' | 'retry-relay' | 'quit';

export type TrayMenuItem = { type: 'separator' } | { type: 'item'; label: string; enabled: boolean; action?: TrayAction };

export interface TrayView {
  health: Health;
  tooltip: string;
  items: TrayMenuItem[];
}

export interface TrayInput {
  /** From the open alerts (AlertBook.health). */
  alertHealth: Health;
  openAlerts: number;
  /** null until the first summary arrives, and while the relay is not connected. */
  queue: QueueSummary | null;
  relay: RelayStatus;
  /** The engine inside a reachable relay (RelaySnapshot.engine): it may wait for its setup, or have failed. */
  engine: { state: string; error: string | null; routesNotTaking?: readonly RouteNotTaking[] } | null;
  now: number;
}

/** A delivery hop that took no mail at its last try: it could not be reached, or it answered and put the message off. */
export interface RouteNotTaking {
  route: string;
  state: 'down' | 'refusing';
}

/** "45 s", "12 min", "3 h 5 min", "2 d 4 h": the oldest message's age at a glance. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}

export function queueLine(queue: QueueSummary | null, now: number): string {
  if (!queue) return 'Queue: not known (relay not connected)';
  if (queue.size === 0) return queue.queueHeld ? 'Queue: empty, delivery paused' : 'Queue: empty';
  const count = `${queue.size} message${queue.size === 1 ? '' : 's'}`;
  const age = queue.oldest === null ? '' : `, oldest ${formatAge(now - queue.oldest)}`;
  const held = queue.queueHeld ? ', delivery paused' : queue.held > 0 ? `, ${queue.held} held` : '';
  return `Queue: ${count}${age}${held}`;
}

function relayLine(relay: RelayStatus, engine: TrayInput['engine']): string {
  if (relay.state === 'running' && engine && engine.state !== 'running') {
    if (engine.state === 'setup') return 'Relay: not set up yet (open Moat to set it up)';
    if (engine.state === 'failed') return `Relay: not delivering (${engine.error ?? 'the engine failed'})`;
    return `Relay: ${engine.state}`;
  }
  switch (relay.state) {
    case 'starting':
      return relay.mode === 'host' ? 'Relay: starting' : 'Relay: connecting';
    case 'running':
      return relay.mode === 'host' ? 'Relay: running' : `Relay: attached to ${relay.address}`;
    case 'restarting':
      return `Relay: stopped unexpectedly, restarting (attempt ${relay.attempt})`;
    case 'unreachable':
      return `Relay: cannot reach ${relay.address}`;
    case 'failed':
      return `Relay: stopped (${relay.error})`;
    case 'stopping':
      return 'Relay: stopping';
    case 'stopped':
      return 'Relay: stopped';
  }
}

/**
 * A relay that is not running is trouble whatever its alerts said: failed (the process, or the engine inside it) is
 * `alert`; on its way back, unreachable or waiting for its setup is at least `warning`. So is mail that does not
 * flow before any alert says so (a delivery route down, delivery paused): the dashboard warns of it at once too.
 */
export function trayHealth(alertHealth: Health, relay: RelayStatus, engine: TrayInput['engine'] = null, queue: QueueSummary | null = null): Health {
  const atLeastWarning: Health = alertHealth === 'alert' ? 'alert' : 'warning';
  if (relay.state === 'failed') return 'alert';
  if (relay.state === 'running' && engine?.state === 'failed') return 'alert';
  if (relay.state === 'running' && engine?.state === 'setup') return atLeastWarning;
  if (relay.state === 'restarting' || relay.state === 'unreachable') return atLeastWarning;
  if (relay.state === 'running' && ((engine?.routesNotTaking?.length ?? 0) > 0 || queue?.queueHeld === true)) return atLeastWarning;
  return alertHealth;
}

const HEALTH_WORDS: Record<Health, string> = { ok: 'all well', warning: 'needs a look', alert: 'needs attention now' };

/** The tray's look and its menu, from the relay's state: pure data, turned into Electron's Menu by main. */
export function trayView(input: TrayInput): TrayView {
  const health = trayHealth(input.alertHealth, input.relay, input.engine, input.queue);
  const connected = input.relay.state === 'running';
  const alerts = input.openAlerts > 0 ? ` (${input.openAlerts} alert${input.openAlerts === 1 ? '' : 's'} open)` : '';
  const items: TrayMenuItem[] = [
    { type: 'item', label: 'Open Moat', enabled: true, action: 'open' },
    { type: 'separator' },
    { type: 'item', label: relayLine(input.relay, input.engine), enabled: false },
    { type: 'item', label: queueLine(connected ? input.queue : null, input.now), enabled: false },
  ];
  if (input.openAlerts > 0) items.push({ type: 'item', label: `${input.openAlerts} alert${input.openAlerts === 1 ? '' : 's'} open`, enabled: false });
  items.push({ type: 'separator' });
  const held = input.queue?.queueHeld === true;
  items.push({
    type: 'item',
    label: held ? 'Resume delivery' : 'Pause delivery (hold the queue)',
    enabled: connected && input.queue !== null,
    action: held ? 'resume-delivery' : 'pause-delivery',
  });
  if (input.relay.state === 'failed') items.push({ type: 'item', label: 'Start the relay again', enabled: true, action: 'retry-relay' });
  items.push({ type: 'separator' });
  const hosting = input.relay.mode === 'host' && input.relay.state !== 'stopped' && input.relay.state !== 'failed';
  items.push({ type: 'item', label: hosting ? 'Quit Moat (stops the relay)' : 'Quit Moat', enabled: true, action: 'quit' });
  return { health, tooltip: `Moat: ${HEALTH_WORDS[health]}${flowWords(input)}${alerts}`, items };
}

const HOP_NAMES: Record<string, string> = { internal: 'internal server', smarthost: 'smarthost' };

/** What keeps mail from flowing right now, for the tooltip: " (internal server down)", " (delivery paused)" or nothing. */
function flowWords(input: TrayInput): string {
  if (input.relay.state !== 'running') return '';
  const why = [
    ...(input.engine?.routesNotTaking ?? []).flatMap(({ route, state }) => (HOP_NAMES[route] ? [`${HOP_NAMES[route]} ${state === 'down' ? 'down' : 'refusing mail'}`] : [])),
    ...(input.queue?.queueHeld ? ['delivery paused'] : []),
  ];
  return why.length ? ` (${why.join(', ')})` : '';
}
