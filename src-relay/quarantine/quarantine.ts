import type { Logger } from '../log/logger.ts';
import type { Queue } from '../queue/queue.ts';
import type { MessageRow, RecipientRow } from '../store/queue-store.ts';
import { parseMessageFile } from '../filters/mime.ts';
import { parseDecision, type Decision } from '../filters/policy.ts';
import { releasedHeaders } from '../filters/decision-headers.ts';
import { SenderLists } from '../filters/sender-lists.ts';
import type { MimePart } from '../filters/types.ts';

const DAY_MS = 24 * 3600 * 1000;
/** Text shown in a preview; a preview is for judging a message, not reading a long one. */
const PREVIEW_TEXT_CHARS = 8 * 1024;
/** Header fields shown in a preview. */
const PREVIEW_HEADERS = 60;
/** A list returns at most this many rows per call. */
const MAX_LIST_ROWS = 1000;

export interface QuarantineListFilter {
  /** Matches sender, recipients, subject, Message-ID or queue id (case-insensitive substring). */
  search?: string;
  limit?: number;
  offset?: number;
}

export interface QuarantinedMessage {
  id: string;
  receivedAt: number;
  clientIp: string | null;
  sender: string;
  recipients: string[];
  subject: string | null;
  size: number;
  action: string | null;
  score: number | null;
  reason: string | null;
}

export interface QuarantinePreview {
  message: QuarantinedMessage;
  decision: Decision | null;
  /** Header fields as received (unfolded); values are text, never interpreted. */
  headers: { name: string; value: string }[];
  /** The plain text (or the HTML's text with every tag removed: nothing is rendered, nothing is fetched). */
  text: string;
  attachments: Pick<MimePart, 'part' | 'filename' | 'contentType' | 'size' | 'detectedType' | 'archive'>[];
}

export interface QuarantineOptions {
  queue: Queue;
  logger: Logger;
  clock?: () => number;
}

type Row = MessageRow & { recipients: string | null; decision: string | null };

/** What `list` and `count` select: the quarantine, narrowed by @search (a LIKE pattern, or null for all). */
const LIST_WHERE = `m.status = 'quarantined'
  AND (@search IS NULL OR lower(m.sender) LIKE @search ESCAPE '\\' OR lower(COALESCE(m.subject, '')) LIKE @search ESCAPE '\\'
       OR lower(COALESCE(m.header_message_id, '')) LIKE @search ESCAPE '\\' OR lower(m.id) LIKE @search ESCAPE '\\'
       OR EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND lower(r.address) LIKE @search ESCAPE '\\'))`;

function searchPattern(search: string | undefined): string | null {
  return search ? `%${search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
}

/**
 * Quarantined messages: a spool file plus a messages row with status "quarantined" (the scheduler never picks
 * those), the decision trace beside it. Release turns the row back into a queued one; delete and expiry finish it.
 */
export class Quarantine {
  private readonly queue: Queue;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly senders: SenderLists;

  constructor(options: QuarantineOptions) {
    this.queue = options.queue;
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
    this.senders = new SenderLists(this.queue.store.db);
  }

  private get db() {
    return this.queue.store.db;
  }

  list(filter: QuarantineListFilter = {}): QuarantinedMessage[] {
    const rows = this.db
      .prepare(
        `SELECT m.*, (SELECT GROUP_CONCAT(address, ', ') FROM recipients r WHERE r.message_id = m.id) AS recipients
         FROM messages m WHERE ${LIST_WHERE} ORDER BY m.received_at DESC LIMIT @limit OFFSET @offset`,
      )
      .all({ search: searchPattern(filter.search), limit: Math.min(filter.limit ?? 100, MAX_LIST_ROWS), offset: filter.offset ?? 0 }) as Row[];
    return rows.map(toItem);
  }

  get(id: string): { message: QuarantinedMessage; decision: Decision | null; recipients: RecipientRow[] } | null {
    const row = this.row(id);
    if (!row) return null;
    return { message: toItem(row), decision: parseDecision(row.decision), recipients: this.queue.store.recipients(id) };
  }

  /** A safe look at the message: headers, its text, the list of attachments. HTML is never rendered. */
  async preview(id: string): Promise<QuarantinePreview | null> {
    const row = this.row(id);
    if (!row) return null;
    const parsed = await parseMessageFile(this.queue.spool.path(id));
    return {
      message: toItem(row),
      decision: parseDecision(row.decision),
      headers: parsed.headers.slice(0, PREVIEW_HEADERS),
      text: parsed.summary.text.slice(0, PREVIEW_TEXT_CHARS),
      attachments: parsed.summary.parts
        .filter((part) => part.filename !== null || part.disposition === 'attachment' || !part.contentType.startsWith('text/'))
        .map(({ part, filename, contentType, size, detectedType, archive }) => ({ part, filename, contentType, size, detectedType, archive })),
    };
  }

  /**
   * Delivers the message to its recipients after all: the row becomes queued (its lifetime starting now, so a long
   * stay in quarantine does not expire it at the first deferral) and the delivered copy says who released it.
   */
  release(id: string, options: { by: string; allowSender?: boolean }): { released: boolean; allowed: string | null } {
    const now = this.clock();
    const row = this.row(id);
    if (!row) return { released: false, allowed: null };
    const allowEntry = options.allowSender && row.sender ? SenderLists.normalize(row.sender) : null;
    const headers = releasedHeaders(row.added_headers ?? null, options.by, new Date(now));
    const released = this.db.transaction(() => {
      const changed = this.db
        .prepare(`UPDATE messages SET status = 'queued', held = 0, received_at = @now, added_headers = @headers WHERE id = @id AND status = 'quarantined'`)
        .run({ id, now, headers }).changes;
      if (changed === 0) return false;
      // `+status`: this message's rows by primary key, not every pending row through recipients_due
      this.db.prepare(`UPDATE recipients SET next_attempt_at = ? WHERE message_id = ? AND +status = 'pending'`).run(now, id);
      if (allowEntry) this.senders.set('allow', allowEntry, options.by, `allowed when releasing ${id}`, now);
      this.queue.store.insertHistory([
        { at: now, queueId: id, action: 'RELEASED', detail: `released from quarantine by ${options.by}${allowEntry ? `; ${allowEntry} added to the allow list` : ''}` },
      ]);
      return true;
    })();
    if (released) {
      this.logger.info({ id, by: options.by, allowed: allowEntry ?? undefined }, 'QUARANTINE_RELEASED');
      this.queue.emit('changed');
    }
    return { released, allowed: released ? allowEntry : null };
  }

  async delete(id: string, by: string): Promise<boolean> {
    const [changed] = await this.deleteMany([id], by);
    return changed!;
  }

  /** Deletes a selection: the rows in one transaction (one commit), then, once that is durable, their files. */
  async deleteMany(ids: readonly string[], by: string): Promise<boolean[]> {
    const now = this.clock();
    const changed = this.db.transaction(() => ids.map((id) => this.finish(id, now, 'DELETED', `deleted from quarantine by ${by}`)))();
    await Promise.all(
      ids.map(async (id, index) => {
        if (!changed[index]) return;
        await this.queue.spool.remove(id);
        this.logger.info({ id, by }, 'QUARANTINE_DELETED');
      }),
    );
    return changed;
  }

  /** Deletes what has been in quarantine longer than `retentionDays`; returns how many. */
  async expire(retentionDays: number): Promise<number> {
    const now = this.clock();
    const ids = (
      this.db.prepare(`SELECT id FROM messages WHERE status = 'quarantined' AND received_at < ?`).all(now - retentionDays * DAY_MS) as { id: string }[]
    ).map((row) => row.id);
    let expired = 0;
    for (const id of ids) {
      if (!this.finish(id, now, 'EXPIRED', `quarantine kept ${retentionDays} days; removed`)) continue;
      await this.queue.spool.remove(id);
      expired++;
    }
    if (expired) this.logger.info({ expired, retentionDays }, 'QUARANTINE_EXPIRED');
    return expired;
  }

  /** How many messages are in quarantine; with `search`, how many of them `list` would find. */
  count(search?: string): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM messages m WHERE ${LIST_WHERE}`).get({ search: searchPattern(search) }) as { n: number }).n;
  }

  private finish(id: string, now: number, action: 'DELETED' | 'EXPIRED', detail: string): boolean {
    return this.db.transaction(() => {
      const changed = this.db.prepare(`UPDATE messages SET status = 'deleted', finished_at = ? WHERE id = ? AND status = 'quarantined'`).run(now, id).changes > 0;
      if (changed) {
        this.db.prepare(`UPDATE recipients SET status = 'deleted', updated_at = ? WHERE message_id = ? AND +status = 'pending'`).run(now, id);
        this.queue.store.insertHistory([{ at: now, queueId: id, action, detail }]);
      }
      return changed;
    })();
  }

  private row(id: string): Row | null {
    return (
      (this.db
        .prepare(`SELECT m.*, (SELECT GROUP_CONCAT(address, ', ') FROM recipients r WHERE r.message_id = m.id) AS recipients FROM messages m WHERE m.id = ? AND m.status = 'quarantined'`)
        .get(id) as Row | undefined) ?? null
    );
  }
}

function toItem(row: Row): QuarantinedMessage {
  const decision = parseDecision(row.decision);
  return {
    id: row.id,
    receivedAt: row.received_at,
    clientIp: row.client_ip,
    sender: row.sender,
    recipients: row.recipients ? row.recipients.split(', ') : [],
    subject: row.subject,
    size: row.size,
    action: decision?.action ?? null,
    score: decision?.score ?? null,
    reason: decision?.reason ?? null,
  };
}
