// When a delivery hop went down or began refusing mail, kept across a restart: an Apply or an upgrade during an outage must not restart the
// internal-down alert's clock (it waits alerts.internalDownMinutes from "since"), nor show the hop as not tried yet
// (the tray green) until its next retry, which the backoff may put an hour away. Only the hops are kept (internal,
// smarthost), not each MX domain's route.
import type { RouteState } from '../events.ts';
import type { Logger } from '../log/logger.ts';
import type { QueueStore } from '../store/queue-store.ts';
import { STATE_KEYS } from '../store/state-store.ts';
import { HOP_ROUTES } from './delivery.ts';

/** A stored outage counts at a start only if it was last seen this recently: else nobody knows what happened meanwhile. */
export const OUTAGE_KEPT_MS = 15 * 60_000;
/** A hop still down is noted again at most this often (one small write, not one per failed attempt). */
const SEEN_EVERY_MS = 60_000;
const MAX_ERROR_CHARS = 500;

type OutageState = Exclude<RouteState['state'], 'up'>;

interface Outage {
  state: OutageState;
  since: number;
  seen: number;
  lastError: string;
}

export class RouteOutages {
  private readonly outages: Map<string, Outage>;

  constructor(
    private readonly store: QueueStore,
    private readonly logger: Logger,
  ) {
    this.outages = new Map(Object.entries(readOutages(store.getState(STATE_KEYS.routesDown))));
  }

  /** The hops that were down (or refusing) when the relay stopped a short while ago, as they were; older outages are forgotten. */
  restore(now: number): RouteState[] {
    const restored: RouteState[] = [];
    for (const [route, outage] of [...this.outages]) {
      if (now - outage.seen <= OUTAGE_KEPT_MS && outage.since <= now) restored.push({ route, state: outage.state, since: outage.since, checkedAt: outage.seen, lastError: outage.lastError });
      else this.outages.delete(route);
    }
    this.save();
    return restored;
  }

  wentDown(route: string, state: OutageState, since: number, now: number, lastError: string): void {
    if (!HOP_ROUTES.has(route)) return;
    this.outages.set(route, { state, since, seen: now, lastError: lastError.slice(0, MAX_ERROR_CHARS) });
    this.save();
  }

  stillDown(route: string, now: number, lastError: string): void {
    const outage = this.outages.get(route);
    if (!outage || now - outage.seen < SEEN_EVERY_MS) return;
    this.outages.set(route, { ...outage, seen: now, lastError: lastError.slice(0, MAX_ERROR_CHARS) });
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
      Object.entries(parsed).flatMap(([route, value]): [string, Outage][] => {
        const outage = value as Partial<Outage> | null;
        if (!HOP_ROUTES.has(route) || !Number.isFinite(outage?.since) || !Number.isFinite(outage?.seen)) return [];
        // kept before a hop could be refusing: down
        const state = outage!.state === 'refusing' ? 'refusing' : 'down';
        return [[route, { state, since: outage!.since!, seen: outage!.seen!, lastError: typeof outage!.lastError === 'string' ? outage!.lastError.slice(0, MAX_ERROR_CHARS) : 'unreachable' }]];
      }),
    );
  } catch {
    return {};
  }
}
