import type { Logger } from '../src-relay/log/logger.ts';
import { eventSchemas } from '../src-relay/admin/contract.ts';
import { AlertBook, openAlerts, parseAlertEvent, queueSummarySchema, type DesktopAlert, type QueueSummary } from './alerts.ts';
import type { AdminClient, CallResult } from './admin-client.ts';
import type { NotificationPolicy, NotificationRequest } from './notifications.ts';
import type { SseEvent } from './sse.ts';
import { realTimers, type Timers } from './supervisor.ts';
import type { RouteNotTaking } from './tray.ts';

/** Reconnecting to the event stream waits this long at first, doubling up to the cap; an open stream resets it. */
export const EVENTS_RETRY_INITIAL_MS = 1_000;
export const EVENTS_RETRY_MAX_MS = 30_000;
/** A stream that stayed open this long was a working connection: the next reconnect starts from the first wait. */
export const EVENTS_STABLE_MS = 30_000;

/** A connection that closed for one of these is not tried again by itself (a wrong password would only be rate limited). */
export const FATAL_STREAM_CODES = new Set(['LOGIN_FAILED']);

export interface RelaySnapshot {
  connected: boolean;
  /** Why the last connection failed or closed, while not connected; `retrying` false after a fatal one. */
  error: { code: string; message: string; retrying: boolean } | null;
  alerts: DesktopAlert[];
  queue: QueueSummary | null;
  /**
   * The engine inside the admin host: `setup` (not configured yet), `running`, `failed` (with its error)...; and its
   * delivery hops that take no mail now, down or refusing it (relay.status lists the hops: internal, smarthost; before
   * any alert about them the dashboard warns at once, and so does the tray).
   */
  engine: { state: string; error: string | null; routesNotTaking: RouteNotTaking[] } | null;
}

export interface RelayWatchOptions {
  client: AdminClient;
  policy: NotificationPolicy;
  logger: Logger;
  timers?: Timers;
  clock?: () => number;
  onChange(snapshot: RelaySnapshot): void;
  onNotify(request: NotificationRequest): void;
}

/**
 * Follows one relay through its admin API: the open alerts and the queue summary, kept from a full read at each
 * (re)connect and the SSE events after it; alert events go through the notification policy.
 */
export class RelayWatch {
  private readonly book = new AlertBook();
  private readonly timers: Timers;
  private readonly clock: () => number;
  private openedAt: number | null = null;
  private queue: QueueSummary | null = null;
  private engine: RelaySnapshot['engine'] = null;
  private connected = false;
  private error: RelaySnapshot['error'] = null;
  private abort: AbortController | null = null;
  private retryTimer: unknown = null;
  private retryMs = EVENTS_RETRY_INITIAL_MS;
  private stopped = false;

  constructor(private readonly options: RelayWatchOptions) {
    this.timers = options.timers ?? realTimers;
    this.clock = options.clock ?? Date.now;
  }

  get snapshot(): RelaySnapshot {
    return { connected: this.connected, error: this.error, alerts: this.book.list(), queue: this.queue, engine: this.engine };
  }

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) this.timers.clear(this.retryTimer);
    this.retryTimer = null;
    this.abort?.abort();
    this.abort = null;
  }

  /** Pauses (true) or resumes delivery (messages held on their own stay held), then reads the summary again. */
  async holdQueue(hold: boolean): Promise<CallResult<unknown>> {
    const result = await this.options.client.call(hold ? 'queue.holdAll' : 'queue.resume', {});
    if (result.ok) {
      this.queue = result.result;
      this.changed();
    } else this.options.logger.warn({ code: result.code, error: result.message }, hold ? 'QUEUE_HOLD_FAILED' : 'QUEUE_RELEASE_FAILED');
    return result;
  }

  async refreshQueue(): Promise<void> {
    const summary = await this.options.client.call('queue.summary', {});
    if (summary.ok) {
      this.queue = summary.result;
      this.changed();
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const abort = new AbortController();
    this.abort = abort;
    const reason = await this.options.client.streamEvents({ onOpen: () => void this.opened(), onEvent: (event) => this.onEvent(event) }, abort.signal);
    if (this.stopped || abort.signal.aborted || !reason) return;
    if (this.openedAt !== null && this.clock() - this.openedAt >= EVENTS_STABLE_MS) this.retryMs = EVENTS_RETRY_INITIAL_MS;
    this.openedAt = null;
    this.connected = false;
    this.queue = null;
    const retrying = !FATAL_STREAM_CODES.has(reason.code);
    this.error = { ...reason, retrying };
    this.options.logger.warn({ code: reason.code, error: reason.message, retryMs: retrying ? this.retryMs : null }, 'EVENTS_DISCONNECTED');
    this.changed();
    if (!retrying) return;
    this.retryTimer = this.timers.set(() => {
      this.retryTimer = null;
      void this.connect();
    }, this.retryMs);
    this.retryMs = Math.min(EVENTS_RETRY_MAX_MS, this.retryMs * 2);
  }

  private async opened(): Promise<void> {
    this.openedAt = this.clock();
    this.connected = true;
    this.error = null;
    const [alerts, summary, status] = await Promise.all([
      this.options.client.call('alerts.list', {}),
      this.options.client.call('queue.summary', {}),
      this.options.client.call('relay.status', {}),
    ]);
    if (alerts.ok) {
      const open = openAlerts(alerts.result);
      const gone = this.book.reset(open);
      for (const request of this.options.policy.onList(open, gone)) this.options.onNotify(request);
    } else if (alerts.code !== 'RELAY_NOT_RUNNING') this.options.logger.warn({ code: alerts.code, error: alerts.message }, 'ALERTS_LIST_FAILED');
    if (summary.ok) this.queue = summary.result;
    if (status.ok) this.engine = engineOf(status.result);
    this.changed();
  }

  private onEvent(event: SseEvent): void {
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      this.options.logger.warn({ event: event.event }, 'EVENT_NOT_JSON');
      return;
    }
    if (event.event === 'alert') {
      const alert = parseAlertEvent(data);
      if (!alert) return this.options.logger.warn({ event: event.event }, 'EVENT_NOT_UNDERSTOOD');
      this.book.apply(alert);
      const request = this.options.policy.onEvent(alert);
      if (request) this.options.onNotify(request);
      this.changed();
    } else if (event.event === 'queue') {
      const summary = queueSummarySchema.safeParse(data);
      if (!summary.success) return this.options.logger.warn({ event: event.event }, 'EVENT_NOT_UNDERSTOOD');
      this.queue = summary.data;
      this.changed();
    } else if (event.event === 'relay') {
      const status = eventSchemas.relay.safeParse(data);
      if (!status.success) return this.options.logger.warn({ event: event.event }, 'EVENT_NOT_UNDERSTOOD');
      const wasRunning = this.engine?.state === 'running';
      this.engine = engineOf(status.data);
      if (status.data.state !== 'running') this.queue = null;
      this.changed();
      // back up (an applied configuration, a restart): read the summary again, as the dashboard does
      if (status.data.state === 'running' && !wasRunning) void this.refreshQueue();
    }
  }

  private changed(): void {
    this.options.onChange(this.snapshot);
  }
}

function engineOf(status: { state: string; error: string | null; routes: readonly { route: string; state: 'up' | RouteNotTaking['state'] }[] }): NonNullable<RelaySnapshot['engine']> {
  const routesNotTaking = status.routes.flatMap((route) => (route.state === 'up' ? [] : [{ route: route.route, state: route.state }]));
  return { state: status.state, error: status.error, routesNotTaking };
}
