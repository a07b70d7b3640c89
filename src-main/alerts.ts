import { contract, eventSchemas, type EventPayload, type Output } from '../src-relay/admin/contract.ts';
import type { Health, Severity } from './bridge.ts';

/**
 * The engine's alerts as main keeps them: read with the admin contract's own schemas (the SSE `alert` event and
 * `alerts.list`), keyed by the engine's alert id, so a repeated event or a re-listing is recognised.
 */
export interface DesktopAlert {
  key: string;
  rule: string;
  severity: Severity;
  title: string;
  message: string;
  hint: string;
  at: number;
}

export interface DesktopAlertEvent {
  action: 'raised' | 'updated' | 'cleared';
  alert: DesktopAlert;
  /** Why it cleared, when the engine says. */
  clearMessage: string | null;
}

type ContractAlert = EventPayload<'alert'>['alert'];

function toDesktopAlert(alert: ContractAlert): DesktopAlert {
  return { key: String(alert.id), rule: alert.rule, severity: alert.severity, title: alert.title, message: alert.message, hint: alert.hint, at: alert.raisedAt };
}

/** An SSE `alert` event's data, or null when it is not one (logged by the caller, never thrown). */
export function parseAlertEvent(data: unknown): DesktopAlertEvent | null {
  const parsed = eventSchemas.alert.safeParse(data);
  if (!parsed.success) return null;
  return { action: parsed.data.action, alert: toDesktopAlert(parsed.data.alert), clearMessage: parsed.data.alert.clearMessage };
}

/** The open alerts of an `alerts.list` result. */
export function openAlerts(list: Output<'alerts.list'>): DesktopAlert[] {
  return list.open.map(toDesktopAlert);
}

/** `queue.summary`, `queue.holdAll` and the SSE `queue` event: `oldest` is when the oldest queued message arrived (ms). */
export type QueueSummary = Output<'queue.summary'>;
export const queueSummarySchema = contract['queue.summary'].output;

/** The worst open alert decides: critical is `alert`, warning is `warning`, none is `ok`. */
export function healthOf(open: Iterable<DesktopAlert>): Health {
  let health: Health = 'ok';
  for (const alert of open) {
    if (alert.severity === 'critical') return 'alert';
    health = 'warning';
  }
  return health;
}

/** The open alerts, kept from a full list (at connect) and the events after it. */
export class AlertBook {
  private readonly open = new Map<string, DesktopAlert>();

  /** Replaces everything with a fresh list; returns the alerts that were open before and are not any more. */
  reset(list: DesktopAlert[]): DesktopAlert[] {
    const fresh = new Map(list.map((alert) => [alert.key, alert]));
    const gone = [...this.open.values()].filter((alert) => !fresh.has(alert.key));
    this.open.clear();
    for (const [key, alert] of fresh) this.open.set(key, alert);
    return gone;
  }

  /** Applies one event; returns false when no alert opened or closed (a repeated raise, an update, a clear of an unknown alert). */
  apply(event: DesktopAlertEvent): boolean {
    if (event.action !== 'cleared') {
      const known = this.open.has(event.alert.key);
      this.open.set(event.alert.key, event.alert);
      return !known;
    }
    if (this.open.delete(event.alert.key)) return true;
    // a clear that names only the rule closes that rule's alert, whatever id it was listed under
    const byRule = [...this.open.values()].filter((alert) => alert.rule === event.alert.rule);
    for (const alert of byRule) this.open.delete(alert.key);
    return byRule.length > 0;
  }

  list(): DesktopAlert[] {
    return [...this.open.values()];
  }

  get health(): Health {
    return healthOf(this.open.values());
  }
}
