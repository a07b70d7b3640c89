// When a delivery route went down, kept across a restart: an Apply or an upgrade during an outage must not restart
// the internal-down alert's clock (it waits alerts.internalDownMinutes from "since") nor tell the dashboard the
// outage began at the restart. Only the hops are kept (internal, smarthost), not each MX domain's route.
import type { Logger } from '../log/logger.ts';
import type { QueueStore } from '../store/queue-store.ts';
import { STATE_KEYS } from '../store/state-store.ts';

/** A stored outage counts at the next start only if it was last seen this recently: else nobody knows what happened meanwhile. */
export const OUTAGE_KEPT_MS = 15 * 60_000;
/** A route still down is noted again at most this often (one small write, not one per failed attempt). */
const SEEN_EVERY_MS = 60_000;
const KEPT_ROUTES = new Set(['internal', 'smarthost']);

interface Outage {
  since: number;
  seen: number;
}

export class RouteOutages {
  private readonly outages: Map<string, Outage>;

  constructor(
    private readonly store: QueueStore,
    private readonly logger: Logger,
  ) {
    this.outages = new Map(Object.entries(readOutages(store.getState(STATE_KEYS.routesDown))));
  }

  /** When `route` went down: at `now`, or earlier when it was already down when the relay stopped a short while ago. */
  wentDown(route: string, now: number): number {
    if (!KEPT_ROUTES.has(route)) return now;
    const before = this.outages.get(route);
    const since = before && now - before.seen <= OUTAGE_KEPT_MS && before.since <= now ? before.since : now;
    this.outages.set(route, { since, seen: now });
    this.save();
    return since;
  }

  stillDown(route: string, now: number): void {
    const outage = this.outages.get(route);
    if (!outage || now - outage.seen < SEEN_EVERY_MS) return;
    outage.seen = now;
    this.save();
  }

  cameUp(route: string): void {
    if (this.outages.delete(route)) this.save();
  }

  /** Best effort, never a throw: it runs after a delivery, and a write refused only costs the next restart this memory. */
  private save(): void {
    try {
      this.store.setState(STATE_KEYS.routesDown, JSON.stringify(Object.fromEntries(this.outages)));
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'OUTAGE_NOT_KEPT');
    }
  }
}

/** The stored outages, whatever the state table holds (a hand-edited or damaged value is no outage). */
function readOutages(raw: string | undefined): Record<string, Outage> {
  try {
    const parsed: unknown = JSON.parse(raw ?? '{}');
    if (typeof parsed !== 'object' || parsed === null) return {};
    return Object.fromEntries(
      Object.entries(parsed).filter(
        (entry): entry is [string, Outage] => KEPT_ROUTES.has(entry[0]) && Number.isFinite((entry[1] as Outage)?.since) && Number.isFinite((entry[1] as Outage)?.seen),
      ),
    );
  } catch {
    return {};
  }
}
