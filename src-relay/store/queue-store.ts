import type { Db } from './db.ts';

export type Route = 'internal' | 'outbound';
/** `quarantined`: kept by the filters' decision, never picked for delivery until released (quarantine/). */
export type MessageStatus = 'queued' | 'done' | 'deleted' | 'damaged' | 'quarantined';
export type RecipientStatus = 'pending' | 'delivered' | 'bounced' | 'deleted';
export type MessageKind = 'mail' | 'dsn';

/** What history rows say happened; upper-case so an admin can grep logs and the table alike. */
export type HistoryAction =
  | 'NORMALIZED' | 'REFUSED' | 'DELIVERED' | 'DEFERRED' | 'BOUNCED' | 'EXPIRED' | 'DELAY_WARNED'
  | 'HELD' | 'RELEASED' | 'RETRY' | 'DELETED' | 'DAMAGED' | 'QUEUE_HELD' | 'QUEUE_RELEASED'
  // submission: who sent it (account or trusted network), and the DKIM signature added
  | 'SUBMITTED' | 'SIGNED'
  // content filters: refused at the end of DATA (no row but this history), or kept in quarantine
  | 'REJECTED' | 'TEMPFAILED' | 'QUARANTINED';

export interface NewMessage {
  id: string;
  receivedAt: number;
  clientIp: string | null;
  helo: string | null;
  sender: string;
  size: number;
  spoolBytes: number;
  headerMessageId: string | null;
  subject: string | null;
  kind: MessageKind;
  recipients: { address: string; route: Route }[];
  /** Content filters: `quarantined` keeps it from delivery; the decision trace (JSON); the header block prepended at delivery. */
  status?: 'queued' | 'quarantined';
  decision?: string | null;
  addedHeaders?: string | null;
}

export interface HistoryEntry {
  at: number;
  queueId?: string | null;
  action: HistoryAction;
  clientIp?: string | null;
  helo?: string | null;
  sender?: string | null;
  recipient?: string | null;
  size?: number | null;
  detail?: string | null;
}

export interface MessageRow {
  id: string;
  received_at: number;
  client_ip: string | null;
  helo: string | null;
  sender: string;
  size: number;
  spool_bytes: number;
  header_message_id: string | null;
  subject: string | null;
  kind: MessageKind;
  status: MessageStatus;
  held: number;
  delay_warned: number;
  finished_at: number | null;
  decision: string | null;
  added_headers: string | null;
}

export interface RecipientRow {
  message_id: string;
  address: string;
  route: Route;
  status: RecipientStatus;
  attempts: number;
  next_attempt_at: number;
  last_reply: string | null;
  last_status: string | null;
  updated_at: number;
}

export interface HistoryRow {
  id: number;
  at: number;
  queue_id: string | null;
  action: HistoryAction;
  client_ip: string | null;
  helo: string | null;
  sender: string | null;
  recipient: string | null;
  size: number | null;
  detail: string | null;
}

/** A pending recipient that is due, with what the scheduler needs of its message. */
export interface DueRecipient extends Pick<RecipientRow, 'message_id' | 'address' | 'route' | 'attempts'> {
  sender: string;
  received_at: number;
  kind: MessageKind;
  delay_warned: number;
}

export interface RecipientUpdate {
  address: string;
  status: RecipientStatus;
  attempted: boolean;
  nextAttemptAt: number;
  lastReply: string | null;
  lastStatus: string | null;
}

/** What one delivery attempt (or an admin's bounce) changed for one message. */
export interface AttemptRecord {
  messageId: string;
  updates: RecipientUpdate[];
  history: HistoryEntry[];
}

export interface QueueListFilter {
  status?: MessageStatus;
  limit?: number;
  offset?: number;
}

/** The SQL behind the queue: every statement prepared once. Synchronous, like better-sqlite3. */
export class QueueStore {
  private readonly statements;

  constructor(readonly db: Db) {
    this.statements = {
      insertMessage: db.prepare(
        `INSERT INTO messages (id, received_at, client_ip, helo, sender, size, spool_bytes, header_message_id, subject, kind, status, decision, added_headers)
         VALUES (@id, @receivedAt, @clientIp, @helo, @sender, @size, @spoolBytes, @headerMessageId, @subject, @kind, @status, @decision, @addedHeaders)`,
      ),
      insertRecipient: db.prepare(
        `INSERT OR IGNORE INTO recipients (message_id, address, route, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
      ),
      insertHistory: db.prepare(
        `INSERT INTO history (at, queue_id, action, client_ip, helo, sender, recipient, size, detail)
         VALUES (@at, @queueId, @action, @clientIp, @helo, @sender, @recipient, @size, @detail)`,
      ),
      due: db.prepare(
        `SELECT r.message_id, r.address, r.route, r.attempts, m.sender, m.received_at, m.kind, m.delay_warned
         FROM recipients r JOIN messages m ON m.id = r.message_id
         WHERE r.status = 'pending' AND r.next_attempt_at <= ? AND m.status = 'queued' AND m.held = 0
           AND r.message_id NOT IN (SELECT value FROM json_each(?))
         ORDER BY r.next_attempt_at LIMIT ?`,
      ),
      nextDue: db.prepare(
        `SELECT MIN(r.next_attempt_at) AS at FROM recipients r JOIN messages m ON m.id = r.message_id
         WHERE r.status = 'pending' AND m.status = 'queued' AND m.held = 0`,
      ),
      message: db.prepare(`SELECT * FROM messages WHERE id = ?`),
      recipients: db.prepare(`SELECT * FROM recipients WHERE message_id = ? ORDER BY address`),
      history: db.prepare(`SELECT * FROM history WHERE queue_id = ? ORDER BY at, id`),
      updateRecipient: db.prepare(
        `UPDATE recipients SET status = @status, attempts = attempts + @attempted, next_attempt_at = @nextAttemptAt,
         last_reply = @lastReply, last_status = @lastStatus, updated_at = @now
         WHERE message_id = @messageId AND address = @address AND status = 'pending'`,
      ),
      pendingCount: db.prepare(`SELECT COUNT(*) AS n FROM recipients WHERE message_id = ? AND status = 'pending'`),
      finish: db.prepare(`UPDATE messages SET status = @status, finished_at = @now WHERE id = @id AND status = 'queued'`),
      setHeld: db.prepare(`UPDATE messages SET held = ? WHERE id = ? AND status = 'queued'`),
      setAllHeld: db.prepare(`UPDATE messages SET held = ? WHERE status = 'queued' AND held != ?`),
      retry: db.prepare(`UPDATE recipients SET next_attempt_at = ? WHERE message_id = ? AND status = 'pending'`),
      retryAll: db.prepare(`UPDATE recipients SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at > ?`),
      retryRoute: db.prepare(`UPDATE recipients SET next_attempt_at = ? WHERE status = 'pending' AND route = ? AND next_attempt_at > ?`),
      setDelayWarned: db.prepare(`UPDATE messages SET delay_warned = 1 WHERE id = ?`),
      getState: db.prepare(`SELECT value FROM state WHERE key = ?`),
      addedHeaders: db.prepare(`SELECT added_headers FROM messages WHERE id = ?`),
      setState: db.prepare(`INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
      queuedIds: db.prepare(`SELECT id, spool_bytes FROM messages WHERE status = 'queued'`),
      idsExist: db.prepare(`SELECT status FROM messages WHERE id = ?`),
      summary: db.prepare(
        `SELECT COUNT(*) AS size, MIN(received_at) AS oldest, SUM(held) AS held FROM messages WHERE status = 'queued'`,
      ),
    };
  }

  /** Inserts messages and history rows in one transaction (one WAL fsync: the group commit). */
  insertBatch(messages: readonly NewMessage[], history: readonly HistoryEntry[]): void {
    const s = this.statements;
    this.db.transaction(() => {
      for (const message of messages) {
        s.insertMessage.run({ ...message, status: message.status ?? 'queued', decision: message.decision ?? null, addedHeaders: message.addedHeaders ?? null });
        for (const recipient of message.recipients) {
          s.insertRecipient.run(message.id, recipient.address, recipient.route, message.receivedAt, message.receivedAt);
        }
      }
      for (const entry of history) s.insertHistory.run(historyParams(entry));
    })();
  }

  insertHistory(entries: readonly HistoryEntry[]): void {
    if (entries.length === 0) return;
    this.db.transaction(() => {
      for (const entry of entries) this.statements.insertHistory.run(historyParams(entry));
    })();
  }

  /** Pending recipients due by `now`, oldest first, leaving out the messages in `busy` (being delivered). */
  due(now: number, limit: number, busy: Iterable<string>): DueRecipient[] {
    return this.statements.due.all(now, JSON.stringify([...busy]), limit) as DueRecipient[];
  }

  nextDueAt(): number | null {
    return (this.statements.nextDue.get() as { at: number | null }).at;
  }

  message(id: string): MessageRow | undefined {
    return this.statements.message.get(id) as MessageRow | undefined;
  }

  recipients(id: string): RecipientRow[] {
    return this.statements.recipients.all(id) as RecipientRow[];
  }

  history(id: string): HistoryRow[] {
    return this.statements.history.all(id) as HistoryRow[];
  }

  /**
   * Applies attempt results for many messages in one transaction (one WAL fsync per batch); a message with no
   * recipient left pending is finished. Returns the ids of the messages that finished.
   */
  recordResults(records: readonly AttemptRecord[], now: number): string[] {
    const s = this.statements;
    return this.db.transaction(() => {
      const finished: string[] = [];
      for (const record of records) {
        for (const update of record.updates) {
          s.updateRecipient.run({ ...update, attempted: update.attempted ? 1 : 0, messageId: record.messageId, now });
        }
        for (const entry of record.history) s.insertHistory.run(historyParams(entry));
        const { n } = s.pendingCount.get(record.messageId) as { n: number };
        if (n === 0 && s.finish.run({ id: record.messageId, status: 'done', now }).changes > 0) finished.push(record.messageId);
      }
      return finished;
    })();
  }

  finish(id: string, status: MessageStatus, now: number, history: HistoryEntry): boolean {
    return this.db.transaction(() => {
      const changed = this.statements.finish.run({ id, status, now }).changes > 0;
      if (changed) this.statements.insertHistory.run(historyParams(history));
      return changed;
    })();
  }

  setHeld(id: string, held: boolean, history: HistoryEntry): boolean {
    return this.db.transaction(() => {
      const changed = this.statements.setHeld.run(held ? 1 : 0, id).changes > 0;
      if (changed) this.statements.insertHistory.run(historyParams(history));
      return changed;
    })();
  }

  setAllHeld(held: boolean): number {
    return this.statements.setAllHeld.run(held ? 1 : 0, held ? 1 : 0).changes;
  }

  retry(id: string, now: number): number {
    return this.statements.retry.run(now, id).changes;
  }

  retryAll(now: number): number {
    return this.statements.retryAll.run(now, now).changes;
  }

  retryRoute(route: Route, now: number): number {
    return this.statements.retryRoute.run(now, route, now).changes;
  }

  markDelayWarned(id: string): void {
    this.statements.setDelayWarned.run(id);
  }

  /** The header block the filters added, prepended to the message at delivery; null when there is none. */
  addedHeaders(id: string): string | null {
    return (this.statements.addedHeaders.get(id) as { added_headers: string | null } | undefined)?.added_headers ?? null;
  }

  getState(key: string): string | undefined {
    return (this.statements.getState.get(key) as { value: string } | undefined)?.value;
  }

  setState(key: string, value: string): void {
    this.statements.setState.run(key, value);
  }

  queued(): { id: string; spool_bytes: number }[] {
    return this.statements.queuedIds.all() as { id: string; spool_bytes: number }[];
  }

  statusOf(id: string): MessageStatus | undefined {
    return (this.statements.idsExist.get(id) as { status: MessageStatus } | undefined)?.status;
  }

  summary(): { size: number; oldest: number | null; held: number } {
    const row = this.statements.summary.get() as { size: number; oldest: number | null; held: number | null };
    return { size: row.size, oldest: row.oldest, held: row.held ?? 0 };
  }

  list(filter: QueueListFilter = {}): (MessageRow & { recipients: string; pending: number; next_attempt_at: number | null; last_reply: string | null })[] {
    const status = filter.status ?? 'queued';
    return this.db
      .prepare(
        `SELECT m.*, GROUP_CONCAT(r.address, ', ') AS recipients,
                SUM(r.status = 'pending') AS pending,
                MIN(CASE WHEN r.status = 'pending' THEN r.next_attempt_at END) AS next_attempt_at,
                MAX(r.last_reply) AS last_reply
         FROM messages m JOIN recipients r ON r.message_id = m.id
         WHERE m.status = ? GROUP BY m.id ORDER BY m.received_at LIMIT ? OFFSET ?`,
      )
      .all(status, filter.limit ?? 1000, filter.offset ?? 0) as never;
  }
}

function historyParams(entry: HistoryEntry) {
  return {
    at: entry.at,
    queueId: entry.queueId ?? null,
    action: entry.action,
    clientIp: entry.clientIp ?? null,
    helo: entry.helo ?? null,
    sender: entry.sender ?? null,
    recipient: entry.recipient ?? null,
    size: entry.size ?? null,
    detail: entry.detail ?? null,
  };
}
