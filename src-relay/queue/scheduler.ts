import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { AttemptRecord, DueRecipient, HistoryEntry, NewMessage, RecipientUpdate } from '../store/queue-store.ts';
import type { RelayEvents, Route, RouteState } from '../events.ts';
import { refusedEveryRecipient, routeStateOf } from './route-state.ts';
import { nextBackoff, toPermanentStatus } from './backoff.ts';
import { classifyResponse } from './classify.ts';
import { queueDeadlines } from './deadlines.ts';
import { HOP_ROUTES, type Deliverer, type DeliveryResult } from './delivery.ts';
import type { DsnRecipient } from './dsn.ts';
import type { Queue } from './queue.ts';
import { RouteOutages } from './route-outages.ts';

/** With nothing due, the queue is looked at again after this long (the CLI may have changed it meanwhile). */
const IDLE_POLL_MS = 1000;
/** A route still down is announced again (its last try, its error) at most this often. */
const STILL_DOWN_EVENT_MS = 1000;
/**
 * Messages in a row a hop refused every recipient of, none delivered since, before the screens say so: one or two
 * are mail for addresses that do not exist; five with nothing delivered between is a pattern worth a look.
 */
export const REFUSED_MESSAGES_SHOWN = 5;
/**
 * How long finished deliveries wait to be written together: one transaction, so one WAL fsync on this thread, a batch.
 * At 10 ms the bench's batches held about 3 outcomes and writing them took twice the CPU of the receipts' commits.
 */
const OUTCOME_BATCH_MS = 50;
/** The first wait before writing again outcomes the database refused (a full disk); it doubles up to the max. */
const OUTCOME_RETRY_MS = 1000;
const OUTCOME_RETRY_MAX_MS = 30_000;
/**
 * After the grace, how long deliveries get to settle once told to stop: those before their final dot end at once;
 * those after it wait for the server's answer, which decides between a delivery and a retry (a second copy).
 */
const FINAL_REPLY_WAIT_MS = 30_000;
/**
 * Past that wait the connections still waiting for an answer are closed, and their deliveries get this long to
 * record "no reply after the data" before the store closes. Left open, a delivery outlived the store (its outcome
 * lost, the process kept alive up to the socket's timeout) and the next engine sent the message again, unrecorded.
 */
const CLOSE_WAIT_MS = 5_000;
/** Under load, how often the database is asked for due work (new mail is handed over directly). */
const DB_PICK_MS = 100;
/** Just-committed messages kept for direct hand-over; past these the database query finds them. */
const MAX_FRESH = 5000;
const FRESH_TTL_MS = 2000;
/** How many due rows one look at the queue reads. */
const DUE_BATCH = 500;
/**
 * Attempts that end with no reply after the message data before the message is held for the admin (counted since
 * the admin last released it). RFC 1047: such a server may have delivered the message, so every retry risks a
 * duplicate and a bounce risks telling the sender "failed" for mail that arrived. Three covers a server restarting
 * mid-transaction once or twice; a server that does it every time would otherwise deliver a copy per retry for the
 * whole queue lifetime.
 */
export const MAX_NO_REPLY_AFTER_DATA = 3;

export interface SchedulerOptions {
  queue: Queue;
  deliverer: Deliverer;
  config: Config;
  logger: Logger;
  events: RelayEvents;
  clock?: () => number;
}

interface Job {
  messageId: string;
  routeKey: string;
  route: Route;
  rows: DueRecipient[];
}

/**
 * One attempt's rows to write, and its delivered/deferred/bounced events. The events go out once the rows are
 * written: the admin UI answers "delivered" by reading the message, and must not read the state before it.
 */
interface Outcome {
  record: AttemptRecord;
  announce: (() => void)[];
}

/**
 * Picks due recipients, delivers them within the per-route and total caps, and records the outcome: delivered,
 * deferred with backoff, or bounced with a DSN. Outcomes are written in batches (one transaction per tick).
 */
export class Scheduler {
  private readonly queue: Queue;
  private readonly deliverer: Deliverer;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly events: RelayEvents;
  /**
   * Messages being delivered, or whose outcome is not written yet: never picked twice. A message split over routes
   * (the internal server and an outside domain) has a job per route; each job holds one claim, so the first
   * outcome written does not free the recipients another route is still delivering (that re-picked them as due and
   * delivered them twice). id -> jobs in flight.
   */
  private readonly busy = new Map<string, number>();
  /** Messages committed a moment ago, not yet picked: id -> when, and their recipients. */
  private readonly fresh = new Map<string, { at: number; rows: DueRecipient[] }>();
  private readonly perRoute = new Map<string, number>();
  private readonly routes = new Map<string, RouteState>();
  /** When a still-down route was last announced (trackRoute), so a backlog failing by the hundred announces it once a second. */
  private readonly stillDownEventAt = new Map<string, number>();
  /** Per route that takes mail, the message of a try put off just now, until a try of another one says more (confirmedState). */
  private readonly refusedFirst = new Map<string, { messageId: string; at: number }>();
  /** Per hop, the messages in a row it refused every recipient of for good (countRefusals). */
  private readonly refusals = new Map<string, { messages: number; since: number; lastError: string }>();
  private readonly outages: RouteOutages;
  private readonly jobs = new Set<Promise<void>>();
  private outcomes: Outcome[] = [];
  private outcomesTimer: NodeJS.Timeout | null = null;
  /** While outcomes wait to be written again (0 when writes succeed): no new delivery starts meanwhile. */
  private outcomeRetryMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastDbPick = 0;
  private forceDbPick = true;
  private pumpScheduled = false;
  private running = false;
  /** Aborted when the grace of stop() ends: deliveries still under way close their connections. */
  private readonly stopping = new AbortController();
  /** Aborted when the wait for final answers ends too: the connections still open are closed. */
  private readonly closing = new AbortController();

  constructor(options: SchedulerOptions) {
    this.queue = options.queue;
    this.deliverer = options.deliverer;
    this.config = options.config;
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
    this.events = options.events;
    this.outages = new RouteOutages(options.queue.store, options.logger);
  }

  start(): void {
    this.running = true;
    this.restoreOutages();
    this.queue.on('queued', this.onQueued);
    this.queue.on('changed', this.onChanged);
    this.wake();
  }

  /**
   * Stops picking new work and waits for deliveries in progress, at most `graceMs`; then stops those that have not
   * sent their message yet, and waits for the answers to those that have (FINAL_REPLY_WAIT_MS); then closes what is
   * still waiting, each recorded as sent without a reply (CLOSE_WAIT_MS).
   */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    this.queue.off('queued', this.onQueued);
    this.queue.off('changed', this.onChanged);
    if (this.timer) clearTimeout(this.timer);
    await this.jobsSettled(graceMs);
    if (this.jobs.size > 0) {
      // left running past the store's close, a delivery would be made again by the next engine (an Apply's)
      this.stopping.abort();
      await this.jobsSettled(FINAL_REPLY_WAIT_MS);
    }
    if (this.jobs.size > 0) {
      this.closing.abort();
      await this.jobsSettled(CLOSE_WAIT_MS);
    }
    await this.writeOutcomes();
    this.deliverer.close();
  }

  /** Waits for the deliveries in progress to end, at most `ms`. */
  private async jobsSettled(ms: number): Promise<void> {
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.jobs]), new Promise((resolve) => (timeout = setTimeout(resolve, ms)))]);
    clearTimeout(timeout);
  }

  routeStates(): RouteState[] {
    return [...this.routes.values()];
  }

  readonly wake = (): void => {
    if (this.pumpScheduled || !this.running) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  };

  private pump(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    const now = this.clock();
    const free = this.config.queue.maxDeliveries - this.jobs.size;
    let started = 0;
    // a delivery whose outcome cannot be written would be made again after a restart: wait for the database first
    if (!this.queue.isQueueHeld() && free > 0 && this.outcomeRetryMs === 0) {
      for (const job of this.pick(now, free)) {
        this.run(job);
        started++;
      }
    }
    // with work under way every finished job wakes the pump; only an idle queue needs to know when to look again
    const next = started > 0 || this.jobs.size > 0 ? null : this.queue.store.nextDueAt();
    const wait = next === null ? (this.jobs.size > 0 ? DB_PICK_MS : IDLE_POLL_MS) : Math.min(IDLE_POLL_MS, Math.max(10, next - now));
    this.timer = setTimeout(this.wake, wait);
    this.timer.unref();
  }

  /** Just-committed messages are handed over directly, so under load most deliveries start without a query. */
  private readonly onQueued = (messages: NewMessage[]): void => {
    const now = this.clock();
    for (const message of messages) {
      if (this.fresh.size >= MAX_FRESH) break;
      this.fresh.set(message.id, {
        at: now,
        // a dropped recipient (it blocked the sender on its own list) is committed finished, never delivered to
        rows: message.recipients.filter((recipient) => !recipient.dropped).map((recipient) => ({
          message_id: message.id,
          address: recipient.address,
          route: recipient.route,
          attempts: 0,
          backoff_step: 0,
          backoff_due_at: 0,
          sender: message.sender,
          lifetime_from: message.lifetimeFrom ?? message.receivedAt,
          kind: message.kind,
          delay_warned: 0,
        })),
      });
    }
    this.wake();
  };

  /** The admin changed something (hold, delete, ...): only the database knows what is due now. */
  private readonly onChanged = (): void => {
    this.fresh.clear();
    this.forceDbPick = true;
    this.wake();
  };

  private pick(now: number, free: number): Job[] {
    const jobs = new Map<string, Job>();
    const take = (row: DueRecipient): boolean => {
      const routeKey = this.deliverer.routeKey(row.route, row.address);
      const key = `${row.message_id}\n${routeKey}`;
      let job = jobs.get(key);
      if (!job) {
        if (jobs.size >= free) return false;
        const open = this.perRoute.get(routeKey) ?? 0;
        if (open >= this.deliverer.routeCapacity(routeKey) * 2) return false;
        this.perRoute.set(routeKey, open + 1);
        this.claim(row.message_id);
        job = { messageId: row.message_id, routeKey, route: row.route, rows: [] };
        jobs.set(key, job);
      }
      job.rows.push(row);
      return true;
    };
    for (const [id, entry] of this.fresh) {
      if (jobs.size >= free) break;
      if (this.busy.has(id) || now - entry.at > FRESH_TTL_MS) {
        this.fresh.delete(id);
        continue;
      }
      // keep only the rows not taken: a route's rows taken now must not be taken again once its job is done
      const left = entry.rows.filter((row) => !take(row));
      if (left.length === 0) this.fresh.delete(id);
      else entry.rows = left;
    }
    // new mail arrives through `fresh`; the database is asked for retries and leftovers at most every DB_PICK_MS
    if (jobs.size < free && (this.forceDbPick || now - this.lastDbPick >= DB_PICK_MS)) {
      this.forceDbPick = false;
      this.lastDbPick = now;
      for (const row of this.queue.store.due(now, Math.min(DUE_BATCH, (free - jobs.size) * 4), this.busy.keys())) {
        if (take(row)) this.fresh.delete(row.message_id);
      }
    }
    return [...jobs.values()];
  }

  private claim(id: string): void {
    this.busy.set(id, (this.busy.get(id) ?? 0) + 1);
  }

  /** One job of the message has its outcome written; the message is free once the last one has. */
  private unclaim(id: string): void {
    const left = (this.busy.get(id) ?? 1) - 1;
    if (left > 0) this.busy.set(id, left);
    else this.busy.delete(id);
  }

  private run(job: Job): void {
    const promise = this.attempt(job)
      .then((record) => this.record(record))
      .catch((error: Error) => {
        this.logger.error({ id: job.messageId, error: error.message }, 'DELIVERY_CRASHED');
        this.unclaim(job.messageId);
        this.wake();
      })
      .finally(() => {
        // the next look at the queue comes when this outcome is written (writeOutcomes wakes the pump)
        this.jobs.delete(promise);
        this.perRoute.set(job.routeKey, (this.perRoute.get(job.routeKey) ?? 1) - 1);
      });
    this.jobs.add(promise);
  }

  /**
   * Outcomes are written in batches, one transaction every OUTCOME_BATCH_MS; the message stays busy until its
   * outcome is on disk. Losing a batch in a crash only repeats those deliveries (a duplicate, never a loss).
   */
  private record(outcome: Outcome): void {
    this.outcomes.push(outcome);
    if (!this.outcomesTimer) {
      this.outcomesTimer = setTimeout(() => void this.writeOutcomes(), OUTCOME_BATCH_MS);
      this.outcomesTimer.unref();
    }
  }

  private async writeOutcomes(): Promise<void> {
    clearTimeout(this.outcomesTimer ?? undefined);
    this.outcomesTimer = null;
    const batch = this.outcomes;
    this.outcomes = [];
    if (batch.length === 0) return;
    let finished: string[];
    try {
      finished = this.queue.store.recordResults(batch.map((outcome) => outcome.record), this.clock());
    } catch (error) {
      // the deliveries were made: their messages stay busy and their outcomes are written later. Freed now, they
      // would be delivered again at every look at the queue (a full disk once made 200 copies a second).
      this.outcomes = [...batch, ...this.outcomes];
      this.outcomeRetryMs = Math.min(OUTCOME_RETRY_MAX_MS, this.outcomeRetryMs * 2 || OUTCOME_RETRY_MS);
      this.logger.error({ messages: batch.length, error: (error as Error).message, retryInMs: this.outcomeRetryMs }, 'OUTCOME_WRITE_FAILED');
      if (this.running) {
        this.outcomesTimer = setTimeout(() => void this.writeOutcomes(), this.outcomeRetryMs);
        this.outcomesTimer.unref();
      }
      return;
    }
    if (this.outcomeRetryMs > 0) this.logger.warn({ messages: batch.length }, 'OUTCOME_WRITE_RECOVERED');
    this.outcomeRetryMs = 0;
    await Promise.all(finished.map((id) => this.queue.spool.remove(id))).catch((error: Error) => {
      // the messages are finished; a file left behind is removed as an orphan at the next start
      this.logger.error({ messages: finished.length, error: error.message }, 'SPOOL_REMOVE_FAILED');
    });
    for (const outcome of batch) this.unclaim(outcome.record.messageId);
    this.wake();
    for (const announce of batch.flatMap((outcome) => outcome.announce)) {
      try {
        announce();
      } catch (error) {
        this.logger.error({ error: (error as Error).message }, 'EVENT_LISTENER_FAILED');
      }
    }
  }

  private async attempt(job: Job): Promise<Outcome> {
    const first = job.rows[0]!;
    // a file removed or cut while the relay runs is never delivered torn, nor retried every look at the queue
    const damage = this.queue.spoolDamage(job.messageId);
    if (damage) {
      this.queue.setDamaged(job.messageId, damage);
      return { record: { messageId: job.messageId, updates: [], history: [] }, announce: [] };
    }
    const result = await this.deliverer.deliver({
      queueId: job.messageId,
      sender: first.sender,
      recipients: job.rows.map((row) => row.address),
      route: job.route,
      signal: this.stopping.signal,
      closing: this.closing.signal,
    });
    // stopped before the server had the message: not an attempt; the message is free for the next engine
    if (result.stopped) return { record: { messageId: job.messageId, updates: [], history: [] }, announce: [] };
    const now = this.clock();
    // from here the delivery is made: nothing may throw before its outcome is recorded, or the message would be
    // freed without it and delivered again (a database refusing the route's retry once did that). The route's new
    // state is told once the outcome is written: a "try it again now" its event prompts finds the recipient deferred.
    const trackRoute = () => {
      try {
        this.trackRoute(job, result, now);
      } catch (error) {
        this.logger.error({ id: job.messageId, route: job.routeKey, error: (error as Error).message }, 'ROUTE_STATE_FAILED');
      }
    };
    const expired = now >= this.deadlines(first).givesUpAt;
    const updates: RecipientUpdate[] = [];
    const history: HistoryEntry[] = [];
    const bounced: DsnRecipient[] = [];
    const gaveUp: { row: DueRecipient; status: string; action: 'EXPIRED' | 'BOUNCED'; reply: string; why: string }[] = [];
    const announce: (() => void)[] = [trackRoute];
    let deferred = 0;
    for (const row of job.rows) {
      const outcome = result.outcomes.find((candidate) => candidate.address === row.address)!;
      const base = { at: now, queueId: job.messageId, sender: row.sender, recipient: row.address };
      if (outcome.delivered) {
        const reply = outcome.reply ?? '250 accepted';
        const status = /^2\d\d[ -](2\.\d{1,3}\.\d{1,3})\b/.exec(reply)?.[1] ?? '2.0.0';
        updates.push({ address: row.address, status: 'delivered', attempted: true, nextAttemptAt: now, lastReply: reply, lastStatus: status });
        history.push({ ...base, action: 'DELIVERED', detail: `to ${result.remoteMta}` });
        this.logger.info({ id: job.messageId, to: row.address, relay: result.remoteMta, attempt: row.attempts + 1 }, 'DELIVERED');
        announce.push(() => this.events.emit('delivered', { id: job.messageId, recipient: row.address, route: job.route }));
        continue;
      }
      const failure = outcome.failure!;
      const reply = failure.command ? `${failure.command}: ${failure.message}` : failure.message;
      const verdict = classifyResponse(failure);
      if (verdict.action === 'defer' && !expired) {
        const { step, delayMs: delay } = nextBackoff(row.backoff_step, row.backoff_due_at, now, this.config.queue.retryIntervalsSec);
        deferred++;
        updates.push({ address: row.address, status: 'pending', attempted: true, nextAttemptAt: now + delay, backoffStep: step, lastReply: reply, lastStatus: verdict.status });
        history.push({ ...base, action: 'DEFERRED', detail: `${reply} (retry in ${Math.round(delay / 1000)} s)` });
        this.logger.info({ id: job.messageId, to: row.address, relay: result.remoteMta, attempt: row.attempts + 1, reply, retryInSec: Math.round(delay / 1000) }, 'DEFERRED');
        announce.push(() => this.events.emit('deferred', { id: job.messageId, recipient: row.address, route: job.route, reply }));
        continue;
      }
      const status = verdict.action === 'defer' ? toPermanentStatus(verdict.status) : verdict.status;
      const action = verdict.action === 'defer' ? 'EXPIRED' : 'BOUNCED';
      const why = action === 'EXPIRED' ? `${reply} (gave up: in the queue longer than ${this.config.queue.lifetimeHours} h)` : reply;
      bounced.push({ address: row.address, action: 'failed', status, remoteMta: dsnRemoteMta(job.route, result), decidedHere: decidedHere(result), diagnostic: failure.response ?? failure.message, lastAttempt: new Date(now) });
      gaveUp.push({ row, status, action, reply, why });
    }
    if (result.noReplyAfterData) {
      try {
        this.noteNoReply(job, result, now, deferred > 0, history, announce);
      } catch (error) {
        this.logger.error({ id: job.messageId, error: (error as Error).message }, 'NO_REPLY_NOTE_FAILED');
      }
    }
    // a recipient is given up only once its bounce notice is queued; one that cannot be written (a full disk) is
    // tried again later, and the outcomes of the others are kept
    const dsnFailure = bounced.length === 0 ? null : await this.queue.notifySender(job.messageId, bounced).then(() => null, (error: Error) => error);
    if (dsnFailure) this.logger.error({ id: job.messageId, recipients: gaveUp.length, error: dsnFailure.message }, 'DSN_WRITE_FAILED');
    for (const { row, status, action, reply, why } of gaveUp) {
      const base = { at: now, queueId: job.messageId, sender: row.sender, recipient: row.address };
      if (dsnFailure) {
        const { step, delayMs: delay } = nextBackoff(row.backoff_step, row.backoff_due_at, now, this.config.queue.retryIntervalsSec);
        deferred++;
        const detail = `${why}; the bounce notice could not be written (${dsnFailure.message}), so this is tried again in ${Math.round(delay / 1000)} s`;
        updates.push({ address: row.address, status: 'pending', attempted: true, nextAttemptAt: now + delay, backoffStep: step, lastReply: why, lastStatus: status });
        history.push({ ...base, action: 'DEFERRED', detail });
        continue;
      }
      updates.push({ address: row.address, status: 'bounced', attempted: true, nextAttemptAt: now, lastReply: why, lastStatus: status });
      history.push({ ...base, action, detail: why });
      this.logger.info({ id: job.messageId, to: row.address, relay: result.remoteMta, status, reply }, action);
      announce.push(() => this.events.emit('bounced', { id: job.messageId, recipient: row.address, route: job.route, status, expired: action === 'EXPIRED' }));
    }
    if (deferred > 0) await this.warnIfDelayed(job, result, now).catch((error: Error) => this.logger.error({ id: job.messageId, error: error.message }, 'DELAY_WARNING_FAILED'));
    return { record: { messageId: job.messageId, updates, history }, announce };
  }

  /**
   * A NO_REPLY row in the message's history, in plain words, for each attempt the server took the whole message
   * and ended the connection before its reply; at the MAX_NO_REPLY_AFTER_DATA-th the message is held (once this
   * outcome is written): no more copies, and no bounce for mail that may have arrived. The admin checks the
   * mailbox, then releases it (it is sent again, and counting starts over) or deletes it.
   */
  private noteNoReply(job: Job, result: DeliveryResult, now: number, waiting: boolean, history: HistoryEntry[], announce: (() => void)[]): void {
    const server = job.route === 'internal' ? 'the internal server' : (result.remoteMta ?? 'the receiving server');
    const seen = this.queue.store.countHistorySince(job.messageId, 'NO_REPLY', 'RELEASED') + 1;
    history.push({ at: now, queueId: job.messageId, action: 'NO_REPLY', sender: job.rows[0]!.sender, detail: `${server}; ${seen} of ${MAX_NO_REPLY_AFTER_DATA}` });
    this.logger.warn({ id: job.messageId, relay: result.remoteMta, occurrence: seen, max: MAX_NO_REPLY_AFTER_DATA }, 'NO_REPLY');
    if (seen < MAX_NO_REPLY_AFTER_DATA || !waiting) return;
    const why =
      `${server} ended the connection after the message data without a reply ${seen} times, and may have delivered it each time; ` +
      'check the recipients\' mailboxes, then release the message to send it again, or delete it';
    announce.push(() => {
      if (this.queue.hold(job.messageId, 'Moat', why)) this.logger.warn({ id: job.messageId, occurrences: seen }, 'HELD');
    });
  }

  private deadlines(row: DueRecipient): ReturnType<typeof queueDeadlines> {
    return queueDeadlines({ lifetimeFrom: row.lifetime_from, kind: row.kind, sender: row.sender }, this.config.queue);
  }

  /** One "still trying" DSN per message once it has waited delayWarningHours (0 turns it off); never for DSNs. */
  private async warnIfDelayed(job: Job, result: DeliveryResult, now: number): Promise<void> {
    const first = job.rows[0]!;
    const { givesUpAt, warnsSenderAt } = this.deadlines(first);
    if (warnsSenderAt === null || first.delay_warned || now < warnsSenderAt) return;
    const until = new Date(givesUpAt);
    const delayed = result.outcomes
      .filter((outcome) => !outcome.delivered)
      .map((outcome): DsnRecipient => ({
        address: outcome.address,
        action: 'delayed',
        status: classifyResponse(outcome.failure!).status,
        remoteMta: dsnRemoteMta(job.route, result),
        decidedHere: decidedHere(result),
        diagnostic: outcome.failure!.response ?? outcome.failure!.message,
        lastAttempt: new Date(now),
        willRetryUntil: until,
      }));
    const dsnId = await this.queue.notifySender(job.messageId, delayed);
    // marked either way: a sender not told (DSN_NOT_SENT, in history) is not asked about again at every attempt
    this.queue.store.markDelayWarned(job.messageId);
    if (dsnId === null) return;
    this.queue.note({ at: now, queueId: job.messageId, action: 'DELAY_WARNED', sender: first.sender, detail: `sender told the message is delayed (${delayed.length} recipients)` });
  }

  /**
   * A hop down when the relay stopped a short while ago is shown as it was last found: down since then, with its
   * error, until its next attempt says otherwise (a restart brings no retry forward: only fixing the hop's address does).
   */
  private restoreOutages(): void {
    for (const state of this.outages.restore(this.clock())) {
      this.routes.set(state.route, state);
      this.logger.warn({ route: state.route, state: state.state, error: state.lastError, since: new Date(state.since).toISOString() }, 'ROUTE_STILL_DOWN');
      this.events.emit('route', state);
    }
  }

  /**
   * "internal server unreachable (or refusing mail) since T, last error E"; when it takes mail again, what was put off
   * meanwhile is retried at once. Down and refusing are both "takes no mail": a change between them keeps T, so a
   * server that flaps between the two still raises the alert on time.
   */
  private trackRoute(job: Job, result: DeliveryResult, now: number): void {
    const key = job.routeKey;
    const previous = this.routes.get(key);
    const { state: next, firstAt } = this.confirmedState(key, job.messageId, routeStateOf(result), previous, now);
    if (next !== 'up') {
      const failure = result.outcomes[0]?.failure;
      const lastError = failure ? (next === 'refusing' && failure.command ? `${failure.command}: ${failure.message}` : failure.message) : 'unreachable';
      if (previous?.state === next) {
        const state = { ...previous, checkedAt: now, lastError };
        this.routes.set(key, state);
        this.outages.stillDown(key, now, lastError);
        // the screens' "as of the last try" of a hop (the internal server, the smarthost; they show no MX domain)
        // follows a new try, once a second at most: a backlog fails by the hundred
        if (!key.startsWith('mx:') && now - (this.stillDownEventAt.get(key) ?? previous.since) >= STILL_DOWN_EVENT_MS) {
          this.stillDownEventAt.set(key, now);
          this.events.emit('route', state);
        }
        return;
      }
      const since = previous && previous.state !== 'up' ? previous.since : firstAt;
      const state: RouteState = { route: key, state: next, since, checkedAt: now, lastError };
      this.routes.set(key, state);
      this.stillDownEventAt.set(key, now);
      this.logger.warn({ route: key, error: lastError, since: new Date(since).toISOString() }, next === 'down' ? 'ROUTE_DOWN' : 'ROUTE_REFUSING');
      this.events.emit('route', state);
      this.outages.wentDown(key, next, since, now, lastError);
      return;
    }
    const refused = this.countRefusals(key, result, now);
    if (previous?.state === 'up') {
      previous.checkedAt = now;
      const shown = refused && refused.messages >= REFUSED_MESSAGES_SHOWN ? refused : undefined;
      if (shown?.messages !== previous.refusedRecipients?.messages) {
        const state: RouteState = { ...previous, refusedRecipients: shown };
        this.routes.set(key, state);
        // the screens hear when it starts and when it ends; the count in between is read with the state
        if (!shown !== !previous.refusedRecipients) {
          if (shown) this.logger.warn({ route: key, messages: shown.messages, error: shown.lastError }, 'ROUTE_REFUSING_RECIPIENTS');
          this.events.emit('route', state);
        }
      }
      return;
    }
    const state: RouteState = { route: key, state: 'up', since: now, checkedAt: now, lastError: null };
    this.routes.set(key, state);
    this.stillDownEventAt.delete(key);
    this.events.emit('route', state);
    this.outages.cameUp(key);
    if (previous) {
      // only what was put off during the outage: a mailbox that deferred before it keeps its backoff
      const retried = job.route === 'internal' ? this.queue.store.retryRoute('internal', previous.since, now) : 0;
      this.logger.info({ route: key, outSince: new Date(previous.since).toISOString(), outForSec: Math.round((now - previous.since) / 1000), was: previous.state, retried }, 'ROUTE_UP');
    }
  }

  /**
   * Messages in a row whose every recipient a hop refused for good, since a delivery there: a hop that answers yet
   * takes no mail for our domains (Exchange without the accepted domain) looks "up" otherwise. Remote domains are
   * not counted: their refusals are their senders' business.
   */
  private countRefusals(key: string, result: DeliveryResult, now: number): { messages: number; since: number; lastError: string } | undefined {
    if (!HOP_ROUTES.has(key)) return undefined;
    const refused = refusedEveryRecipient(result);
    const counted = this.refusals.get(key);
    if (refused === null) {
      if (!result.outcomes.some((outcome) => outcome.delivered)) return counted;
      this.refusals.delete(key);
      return undefined;
    }
    const next = { messages: (counted?.messages ?? 0) + 1, since: counted?.since ?? now, lastError: refused };
    this.refusals.set(key, next);
    return next;
  }

  /**
   * A route that took mail turns refusing only when two different messages in a row were put off: one message a
   * server defers at its end (a full mailbox, greylisting, its size) says little of the server. After an outage,
   * one try that takes nothing is enough: the route was not taking mail already.
   */
  private confirmedState(key: string, messageId: string, seen: RouteState['state'], previous: RouteState | undefined, now: number): { state: RouteState['state']; firstAt: number } {
    if (seen !== 'refusing') {
      this.refusedFirst.delete(key);
      return { state: seen, firstAt: now };
    }
    if (!previous || previous.state !== 'up') return { state: 'refusing', firstAt: now };
    const first = this.refusedFirst.get(key);
    if (first && first.messageId !== messageId) {
      this.refusedFirst.delete(key);
      // refusing since the first of the two: what it put off is retried with the rest once the server takes mail
      return { state: 'refusing', firstAt: first.at };
    }
    if (!first) this.refusedFirst.set(key, { messageId, at: now });
    return { state: 'up', firstAt: now };
  }
}

/**
 * The server a sender's bounce or delay notice names: an outside MX host or the smarthost, never the internal server
 * (its name or address is the office's own business; the notice goes to whoever gave the envelope sender).
 */
function dsnRemoteMta(route: Route, result: DeliveryResult): string | undefined {
  return route === 'internal' ? undefined : (result.remoteMta ?? undefined);
}

/** No server was talked to: a reply the failure carries is the relay's own (delivery.ts writes them for the MX look-up). */
function decidedHere(result: DeliveryResult): boolean {
  return result.remoteMta === null;
}
