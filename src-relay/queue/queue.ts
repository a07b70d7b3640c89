import { EventEmitter } from 'node:events';
import { open, unlink } from 'node:fs/promises';
import type { Logger } from '../log/logger.ts';
import { ORPHAN_KEEP_MS, type Spool } from '../store/spool.ts';
import type { DestinationRow, HistoryEntry, NewMessage, QueuePageFilter, QueueStore, TrackingFilter } from '../store/queue-store.ts';
import { STATE_KEYS } from '../store/state-store.ts';
import type { Route } from '../events.ts';
import { newQueueId } from '../util/ids.ts';
import { splitAddress, normalizeDomain } from '../util/address.ts';
import { decodeHeaderText, MOAT_SENDER_NAME, senderName } from '../util/header-text.ts';
import { buildDsn, type DsnRecipient } from './dsn.ts';
import { dsnDecision } from './dsn-policy.ts';

/** How much of the original header block is read to find the fields a DSN quotes back (dsn.ts returnedHeaders). */
const MAX_QUOTED_HEADER_BYTES = 64 * 1024;
/** How often refusals and other non-urgent history rows are written, when no message commit carries them. */
const HISTORY_FLUSH_MS = 500;
/** Who an admin operation is put down to when the caller does not say (engine code, older callers). */
const ADMINISTRATOR = 'the administrator';
const actor = (by: string | undefined) => by || ADMINISTRATOR;

export interface QueueOptions {
  store: QueueStore;
  spool: Spool;
  hostname: string;
  domains: ReadonlySet<string>;
  logger: Logger;
  clock?: () => number;
}

export interface QueueEvents {
  queued: [messages: NewMessage[]];
  changed: [];
}

interface PendingCommit {
  message: NewMessage;
  history: HistoryEntry[];
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The durable queue: group commit of accepted messages (one directory fsync and one SQLite transaction for every
 * message that finished DATA together), generated messages (DSNs), and the admin's operations.
 */
export class Queue extends EventEmitter<QueueEvents> {
  readonly store: QueueStore;
  readonly spool: Spool;
  private readonly hostname: string;
  private readonly domains: ReadonlySet<string>;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private pending: PendingCommit[] = [];
  private pendingHistory: HistoryEntry[] = [];
  private flushing = false;
  private historyTimer: NodeJS.Timeout | null = null;

  constructor(options: QueueOptions) {
    super();
    this.store = options.store;
    this.spool = options.spool;
    this.hostname = options.hostname;
    this.domains = options.domains;
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
  }

  /** Mail for our own domains goes to the internal server; the rest (bounces, submitted mail) goes out. */
  routeFor(address: string): Route {
    const parts = splitAddress(address);
    const domain = parts && normalizeDomain(parts.domain);
    return domain && this.domains.has(domain) ? 'internal' : 'outbound';
  }

  /** Resolves once the message's spool file and row (and its history) are durable: only then may the 250 be sent. */
  commit(message: NewMessage, history: HistoryEntry[] = []): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ message, history, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** A history row that needs no fsync of its own: it rides on the next commit, or a timer. */
  note(entry: HistoryEntry): void {
    this.pendingHistory.push(entry);
    this.scheduleHistoryFlush();
  }

  private scheduleHistoryFlush(): void {
    if (!this.historyTimer && !this.flushing && this.pendingHistory.length > 0) {
      this.historyTimer = setTimeout(() => {
        this.historyTimer = null;
        this.flushHistory();
      }, HISTORY_FLUSH_MS);
      this.historyTimer.unref();
    }
  }

  flushHistory(): void {
    const entries = this.pendingHistory;
    this.pendingHistory = [];
    try {
      this.store.insertHistory(entries);
    } catch (error) {
      this.logger.error({ error: (error as Error).message, rows: entries.length }, 'HISTORY_WRITE_FAILED');
    }
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      const notes = this.pendingHistory;
      this.pending = [];
      this.pendingHistory = [];
      try {
        await this.spool.syncDirectory();
        this.store.insertBatch(
          batch.map((entry) => entry.message),
          [...batch.flatMap((entry) => entry.history), ...notes],
        );
      } catch (error) {
        this.logger.error({ error: (error as Error).message, messages: batch.length }, 'COMMIT_FAILED');
        for (const entry of batch) entry.reject(error as Error);
        this.pendingHistory.unshift(...notes);
        // never acknowledged (the sender got 451): their files go now. Left for the next start they would be set
        // aside as files without a row, and a long full-disk spell leaves enough to read as a lost database.
        await Promise.all(batch.map((entry) => this.spool.remove(entry.message.id).catch(() => {})));
        continue;
      }
      for (const entry of batch) entry.resolve();
      try {
        // a quarantined message is durable like the others but waits for the admin, not for delivery
        this.emit('queued', batch.map((entry) => entry.message).filter((message) => message.status !== 'quarantined'));
      } catch (error) {
        // committed and acknowledged: the scheduler's next sweep finds them all the same
        this.logger.error({ error: (error as Error).message, messages: batch.length }, 'QUEUED_EVENT_FAILED');
      }
    }
    this.flushing = false;
    this.scheduleHistoryFlush();
  }

  /** Queues a message we wrote ourselves (a DSN, an alert): spool file, then row (listed by its subject, from "Moat"); not acknowledged to anyone. */
  async enqueueGenerated(raw: string, sender: string, recipients: string[], kind: NewMessage['kind']): Promise<string> {
    const id = newQueueId(this.clock());
    const writer = await this.spool.create(id);
    try {
      // a failed write (a full disk) is an 'error' event too: unheard, it would stop the process
      await new Promise<void>((resolve, reject) => {
        writer.once('error', reject);
        writer.end(Buffer.from(raw), (error?: Error | null) => (error ? reject(error) : resolve()));
      });
      await writer.commit();
    } catch (error) {
      await writer.discard();
      throw error;
    }
    const now = this.clock();
    await this.commit({
      id,
      receivedAt: now,
      clientIp: null,
      helo: null,
      sender,
      size: writer.bytes,
      spoolBytes: writer.bytes,
      ...generatedFields(raw),
      fromName: MOAT_SENDER_NAME,
      kind,
      recipients: recipients.map((address) => ({ address, route: this.routeFor(address) })),
    });
    return id;
  }

  /** The original header block, for quoting in a DSN. */
  async originalHeaders(id: string): Promise<string> {
    const handle = await open(this.spool.path(id), 'r');
    try {
      const buffer = Buffer.alloc(MAX_QUOTED_HEADER_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      const text = buffer.subarray(0, bytesRead).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      return end === -1 ? text : text.slice(0, end + 2);
    } finally {
      await handle.close();
    }
  }

  /**
   * Tells the sender about failed or delayed recipients. Never for a null sender (RFC 5321 6.1: no bounce loops), nor
   * for mail from the internet whose sender nothing vouched for when it came in (queue/dsn-policy.ts: backscatter);
   * the admin's own Bounce (`byAdmin`) is the admin's choice and always tells. Returns the DSN's queue id, or null
   * when none was sent.
   */
  async notifySender(messageId: string, recipients: DsnRecipient[], options: { byAdmin?: boolean } = {}): Promise<string | null> {
    const message = this.store.message(messageId);
    if (!message || message.sender === '' || recipients.length === 0) return null;
    const now = this.clock();
    const action = recipients[0]!.action;
    const check = options.byAdmin ? null : dsnDecision(message, () => this.store.history(messageId).some((entry) => entry.action === 'SUBMITTED'));
    if (check && !check.notify) {
      const notice = action === 'failed' ? 'bounce notice' : 'delay notice';
      this.logger.info({ id: messageId, to: message.sender, action, reason: check.why }, 'DSN_NOT_SENT');
      this.note({ at: now, queueId: messageId, action: 'DSN_NOT_SENT', sender: message.sender, detail: `no ${notice} to ${message.sender}: ${check.why}` });
      return null;
    }
    const raw = buildDsn({
      reportingMta: this.hostname,
      from: `MAILER-DAEMON@${this.hostname}`,
      to: message.sender,
      queueId: messageId,
      arrivalDate: new Date(message.received_at),
      recipients,
      originalHeaders: await this.originalHeaders(messageId).catch(() => ''),
      now: new Date(now),
      messageId: `${newQueueId(now)}@${this.hostname}`,
    });
    const dsnId = await this.enqueueGenerated(raw, '', [message.sender], 'dsn');
    this.logger.info({ id: messageId, dsn: dsnId, to: message.sender, action: recipients[0]!.action }, 'DSN_QUEUED');
    return dsnId;
  }

  // ---- the admin's operations (CLI and admin API); each records who did it in history: `by` as the admin API and
  // the CLI name the actor ("admin@10.0.0.5", "desktop", "cli:alice"; history-text.ts puts it in words) ----

  /** `why`, when given, is said after who held it ("held by Moat: ..."). */
  hold(id: string, by?: string, why?: string): boolean {
    const now = this.clock();
    const changed = this.store.setHeld(id, true, { at: now, queueId: id, action: 'HELD', detail: `held by ${actor(by)}${why ? `: ${why}` : ''}` });
    if (changed) this.emit('changed');
    return changed;
  }

  release(id: string, by?: string): boolean {
    const now = this.clock();
    const changed = this.store.setHeld(id, false, { at: now, queueId: id, action: 'RELEASED', detail: `released by ${actor(by)}` });
    if (changed) {
      this.store.retry(id, now);
      this.emit('changed');
    }
    return changed;
  }

  /** Holding the whole queue is a flag, so mail that arrives during the maintenance window waits too. */
  isQueueHeld(): boolean {
    return this.store.getState(STATE_KEYS.queueHeld) === '1';
  }

  holdAll(by?: string): void {
    this.store.setState(STATE_KEYS.queueHeld, '1');
    this.store.insertHistory([{ at: this.clock(), action: 'QUEUE_HELD', detail: `whole queue held by ${actor(by)}` }]);
    this.emit('changed');
  }

  /**
   * Lifts the flag only (the admin page's Resume): a message held on its own (a NO_REPLY one, until its mailbox is
   * checked) stays held. Returns how many do.
   */
  resume(by?: string): number {
    const now = this.clock();
    this.store.setState(STATE_KEYS.queueHeld, '0');
    this.store.retryAll(now);
    const stillHeld = this.store.summary().held;
    this.store.insertHistory([{ at: now, action: 'QUEUE_RELEASED', detail: `whole queue resumed by ${actor(by)} (${stillHeld} messages held on their own stay held)` }]);
    this.emit('changed');
    return stillHeld;
  }

  /** Lifts the flag and every message's own hold (`moat queue release --all`); each message released says so in its history. */
  releaseAll(by?: string): number {
    const now = this.clock();
    this.store.setState(STATE_KEYS.queueHeld, '0');
    const released = this.store.setAllHeld(false, { at: now, action: 'RELEASED', detail: `released by ${actor(by)} with the whole queue` });
    this.store.retryAll(now);
    this.store.insertHistory([{ at: now, action: 'QUEUE_RELEASED', detail: `whole queue released by ${actor(by)} (${released} held messages too)` }]);
    this.emit('changed');
    return released;
  }

  retry(id: string, by?: string): boolean {
    const changed = this.store.retry(id, this.clock()) > 0;
    if (changed) {
      this.store.insertHistory([{ at: this.clock(), queueId: id, action: 'RETRY', detail: `retry requested by ${actor(by)}` }]);
      this.emit('changed');
    }
    return changed;
  }

  /**
   * Every waiting recipient is due now. Each message it moves gets a RETRY row: no more rows than the attempts the
   * retry causes write anyway, and its history then explains an attempt before the time it gave.
   */
  retryAll(by?: string): number {
    const now = this.clock();
    const count = this.store.retryAll(now, { action: 'RETRY', detail: `retry requested by ${actor(by)} for the whole queue` });
    this.store.insertHistory([{ at: now, action: 'QUEUE_RETRY', detail: `every waiting recipient made due by ${actor(by)} (${count} recipients)` }]);
    this.emit('changed');
    return count;
  }

  /** Every waiting recipient of one route is due now (its address was just fixed); returns how many. */
  retryRoute(route: Route, by?: string): number {
    const now = this.clock();
    const count = this.store.retryRoute(route, 0, now);
    if (count > 0) {
      this.store.insertHistory([{ at: now, action: 'QUEUE_RETRY', detail: `every waiting recipient of the ${route} route made due by ${actor(by)} (${count} recipients)` }]);
      this.emit('changed');
    }
    return count;
  }

  /**
   * Retries, holds or releases a selection of queued messages in one transaction (one commit, not one per message).
   * For each id: `changed`, `unchanged` (already held, or not held to release), or null (no longer queued).
   */
  actOn(action: 'retry' | 'hold' | 'release', ids: readonly string[], by?: string): ('changed' | 'unchanged' | null)[] {
    return this.store.atomically(() =>
      ids.map((id) => {
        const message = this.store.message(id);
        if (!message) return null;
        const held = message.held === 1;
        switch (action) {
          case 'retry':
            // a held message is made due too, and still waits for its release
            return this.retry(id, by) ? 'changed' : null;
          case 'hold':
            return held ? 'unchanged' : this.hold(id, by) ? 'changed' : null;
          case 'release':
            return !held ? 'unchanged' : this.release(id, by) ? 'changed' : null;
        }
      }),
    );
  }

  /** The queue by destination (store/queue-store.ts `destinations`): the internal server, and each domain mail goes out to. */
  destinations(): DestinationRow[] {
    return this.store.destinations();
  }

  /**
   * Retries, holds or releases everything waiting for one destination (`domain` null: the internal server), in one
   * transaction. Holding is per message: a message also waiting for another destination is held for that one too.
   * Returns the ids of the messages it changed.
   */
  actOnDestination(action: 'retry' | 'hold' | 'release', destination: { route: Route; domain: string | null }, by?: string): string[] {
    const now = this.clock();
    const { route } = destination;
    const domain = route === 'internal' ? null : destination.domain?.toLowerCase() ?? null;
    const where = domain ?? 'the internal server';
    const ids =
      action === 'retry'
        ? this.store.retryDestination(route, domain, now, { action: 'RETRY', detail: `retry requested by ${actor(by)} for everything to ${where}` })
        : this.store.holdDestination(route, domain, action === 'hold', now, {
            action: action === 'hold' ? 'HELD' : 'RELEASED',
            detail: `${action === 'hold' ? 'held' : 'released'} by ${actor(by)} with everything to ${where}`,
          });
    if (ids.length > 0) this.emit('changed');
    return ids;
  }

  /**
   * Records that an admin took a copy of the message file: a history row (written now, not lazily) and a log line.
   * False when no message has that id.
   */
  downloaded(id: string, by: string): boolean {
    if (!this.store.statusOf(id)) return false;
    const now = this.clock();
    this.store.insertHistory([{ at: now, queueId: id, action: 'DOWNLOADED', detail: `downloaded by ${by}` }]);
    this.logger.info({ id, by }, 'DOWNLOADED');
    return true;
  }

  /** One page of the queue viewer (store/queue-store.ts `page`). */
  page(filter: QueuePageFilter = {}) {
    return this.store.page(filter);
  }

  /**
   * Message tracking: the messages in any state that match, and (unless a Message-ID is asked for: a refused message
   * was never taken, so it has none) the mail refused before it was accepted; each newest first, `limit` at most.
   * Refusals are written lazily (`note`): the one that happened a moment ago is written first, so it is found.
   */
  track(filter: TrackingFilter) {
    this.flushHistory();
    // refused mail was never taken: it has no Message-ID, no subject, and no outcome but "refused"
    const noRefusals = filter.messageId || filter.subject || (filter.outcome && filter.outcome !== 'refused');
    return { messages: filter.outcome === 'refused' ? [] : this.store.trackMessages(filter), refusals: noRefusals ? [] : this.store.trackRefusals(filter) };
  }

  async delete(id: string, by?: string): Promise<boolean> {
    const [changed] = await this.deleteMany([id], by);
    return changed!;
  }

  /** Deletes a selection: the rows in one transaction (one commit), then, once that is durable, their files. */
  async deleteMany(ids: readonly string[], by?: string): Promise<boolean[]> {
    const now = this.clock();
    const detail = `deleted by ${actor(by)}`;
    const changed = this.store.atomically(() => ids.map((id) => this.store.finish(id, 'deleted', now, { at: now, queueId: id, action: 'DELETED', detail })));
    await Promise.all(ids.filter((_id, index) => changed[index]).map((id) => this.spool.remove(id)));
    if (changed.some(Boolean)) this.emit('changed');
    return changed;
  }

  /**
   * Bounces every pending recipient now, with a DSN to the sender. The DSN says only "the administrator": who that
   * was (an address inside, an OS account) is for our history, not for the outside sender.
   */
  async bounce(id: string, by?: string): Promise<boolean> {
    const message = this.store.message(id);
    if (!message || message.status !== 'queued') return false;
    const pending = this.store.recipients(id).filter((recipient) => recipient.status === 'pending');
    if (pending.length === 0) return false;
    const now = this.clock();
    await this.notifySender(
      id,
      pending.map((recipient) => ({ address: recipient.address, action: 'failed', status: '5.0.0', diagnostic: `returned to the sender by ${ADMINISTRATOR}` })),
      { byAdmin: true },
    );
    const reason = `returned to the sender by ${actor(by)}`;
    this.store.recordResults(
      [
        {
          messageId: id,
          updates: pending.map((recipient) => ({
            address: recipient.address,
            status: 'bounced',
            attempted: false,
            nextAttemptAt: recipient.next_attempt_at,
            lastReply: reason,
            lastStatus: '5.0.0',
          })),
          history: pending.map((recipient) => ({ at: now, queueId: id, action: 'BOUNCED', recipient: recipient.address, detail: reason })),
        },
      ],
      now,
    );
    await this.spool.remove(id);
    this.emit('changed');
    return true;
  }

  /**
   * Start-up check after a crash or power loss: temp files and spool files without a row were never acknowledged
   * and are removed; a queued row whose file is missing or shorter than recorded is raised loudly and set aside.
   */
  async recover(): Promise<{ removed: number; orphans: string[]; damaged: string[] }> {
    const { ids, temps } = this.spool.list();
    let removed = this.spool.forgetOrphans(this.clock() - ORPHAN_KEEP_MS);
    for (const temp of temps) {
      await unlink(temp).catch(() => {});
      removed++;
    }
    const orphans: string[] = [];
    for (const id of ids) {
      const status = this.store.statusOf(id);
      if (status === 'queued' || status === 'quarantined') continue;
      if (status !== undefined) {
        await this.spool.remove(id);
        removed++;
        continue;
      }
      // no row: a crash before its commit leaves a few; many mean the database lost rows (a restored or lost
      // moat.db-wal), and those messages were acknowledged. Deleted, they could not be given back.
      this.spool.setAside(id);
      orphans.push(id);
    }
    const damaged: string[] = [];
    for (const row of this.store.queued()) {
      const detail = this.spoolDamage(row.id, row.spool_bytes);
      if (!detail) continue;
      damaged.push(row.id);
      this.setDamaged(row.id, detail);
    }
    return { removed, orphans, damaged };
  }

  /** What is wrong with a message's spool file (missing, or not the size committed); null when it is whole. */
  spoolDamage(id: string, expected = this.store.spoolBytesOf(id)): string | null {
    if (expected === undefined) return null;
    const size = this.spool.size(id);
    if (size === expected) return null;
    return size === null ? 'spool file is missing' : `spool file is ${size} bytes, expected ${expected}`;
  }

  /** Ends a message whose file is damaged: raised loudly, never delivered (a torn copy) nor retried. */
  setDamaged(id: string, detail: string): void {
    const now = this.clock();
    if (!this.store.finish(id, 'damaged', now, { at: now, queueId: id, action: 'DAMAGED', detail })) return;
    this.logger.error({ id, detail }, 'SPOOL_DAMAGED');
    // the torn copy is all there is to salvage: set aside with the orphans (30 days), where no start deletes it
    try {
      if (this.spool.size(id) !== null) this.spool.setAside(id);
    } catch (error) {
      this.logger.warn({ id, error: (error as Error).message }, 'SPOOL_SET_ASIDE_FAILED');
    }
    this.emit('changed');
  }
}

/** The Subject and Message-ID of a message Moat wrote (one-line fields, no folding), for listing and tracking it. */
function generatedFields(raw: string): { subject: string | null; headerMessageId: string | null } {
  const end = raw.indexOf('\r\n\r\n');
  const block = end === -1 ? raw : raw.slice(0, end);
  const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(block)?.[1]?.trim() || null;
  return { subject: decodeHeaderText(field('Subject')), headerMessageId: field('Message-ID')?.replace(/^<|>$/g, '') ?? null };
}
