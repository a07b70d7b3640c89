import type { Logger } from '../log/logger.ts';
import type { Queue } from '../queue/queue.ts';
import type { QuarantinedRow, RecipientRow } from '../store/queue-store.ts';
import { parseMessageFile } from '../filters/mime.ts';
import { parseDecision, type Decision } from '../filters/policy.ts';
import { decodeHeaderText, senderName } from '../util/header-text.ts';
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
  /** The From display name decoded, or "Moat"; null: show the sender address. */
  senderName: string | null;
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

/** A safe look at any message file (quarantined or queued): header fields, its text, the list of attachments. */
export type MessagePreview = Pick<QuarantinePreview, 'headers' | 'text' | 'attachments'> & {
  /** The text was longer than a preview shows (PREVIEW_TEXT_CHARS). */
  truncated: boolean;
};

/** Reads a message file as a preview: nothing rendered, nothing fetched; the text cut at PREVIEW_TEXT_CHARS. */
export async function messagePreview(path: string): Promise<MessagePreview> {
  const parsed = await parseMessageFile(path);
  return {
    headers: parsed.headers.slice(0, PREVIEW_HEADERS),
    text: parsed.summary.text.slice(0, PREVIEW_TEXT_CHARS),
    truncated: parsed.summary.text.length > PREVIEW_TEXT_CHARS,
    attachments: parsed.summary.parts
      .filter((part) => part.filename !== null || part.disposition === 'attachment' || !part.contentType.startsWith('text/'))
      .map(({ part, filename, contentType, size, detectedType, archive }) => ({ part, filename, contentType, size, detectedType, archive })),
  };
}

export interface QuarantineOptions {
  /** The sender lists on the queue's database, so "release and allow the sender" is one transaction. */
  senders: SenderLists;
  queue: Queue;
  logger: Logger;
  clock?: () => number;
}

type Row = QuarantinedRow;

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
    this.senders = options.senders;
  }

  private get store() {
    return this.queue.store;
  }

  list(filter: QuarantineListFilter = {}): QuarantinedMessage[] {
    return this.store.quarantineList({ search: filter.search, limit: Math.min(filter.limit ?? 100, MAX_LIST_ROWS), offset: filter.offset ?? 0 }).map(toItem);
  }

  get(id: string): { message: QuarantinedMessage; decision: Decision | null; recipients: RecipientRow[] } | null {
    const row = this.row(id);
    if (!row) return null;
    return { message: toItem(row), decision: parseDecision(row.decision), recipients: this.store.recipients(id) };
  }

  /** A safe look at the message: headers, its text, the list of attachments. HTML is never rendered. */
  async preview(id: string): Promise<QuarantinePreview | null> {
    const row = this.row(id);
    if (!row) return null;
    const { headers, text, attachments } = await messagePreview(this.queue.spool.path(id));
    return { message: toItem(row), decision: parseDecision(row.decision), headers, text, attachments };
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
    const released = this.store.atomically(() => {
      if (!this.store.releaseQuarantined(id, now, headers)) return false;
      if (allowEntry) this.senders.set('allow', allowEntry, options.by, `allowed when releasing ${id}`, now);
      this.store.insertHistory([
        { at: now, queueId: id, action: 'RELEASED', detail: `released from quarantine by ${options.by}${allowEntry ? `; ${allowEntry} added to the allow list` : ''}` },
      ]);
      return true;
    });
    if (released) {
      this.logger.info({ id, by: options.by, allowed: allowEntry ?? undefined }, 'QUARANTINE_RELEASED');
      this.queue.emit('changed');
    }
    return { released, allowed: released ? allowEntry : null };
  }

  /** Releases a selection in one transaction (one commit, not one per message); true for each one released. */
  releaseMany(ids: readonly string[], options: { by: string; allowSender?: boolean }): boolean[] {
    return this.store.atomically(() => ids.map((id) => this.release(id, options).released));
  }

  async delete(id: string, by: string): Promise<boolean> {
    const [changed] = await this.deleteMany([id], by);
    return changed!;
  }

  /** Deletes a selection: the rows in one transaction (one commit), then, once that is durable, their files. */
  async deleteMany(ids: readonly string[], by: string): Promise<boolean[]> {
    const now = this.clock();
    const changed = this.store.atomically(() => ids.map((id) => this.finish(id, now, 'DELETED', `deleted from quarantine by ${by}`)));
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
    const ids = this.store.quarantinedBefore(now - retentionDays * DAY_MS);
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
    return this.store.quarantineCount(search);
  }

  private finish(id: string, now: number, action: 'DELETED' | 'EXPIRED', detail: string): boolean {
    return this.store.finishQuarantined(id, now, { at: now, queueId: id, action, detail });
  }

  private row(id: string): Row | null {
    return this.store.quarantined(id) ?? null;
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
    subject: decodeHeaderText(row.subject),
    senderName: senderName({ fromName: row.from_name, sender: row.sender, clientIp: row.client_ip, kind: row.kind }),
    size: row.size,
    action: decision?.action ?? null,
    score: decision?.score ?? null,
    reason: decision?.reason ?? null,
  };
}
