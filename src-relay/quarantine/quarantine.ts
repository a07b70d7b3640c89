import type { Logger } from '../log/logger.ts';
import type { Queue } from '../queue/queue.ts';
import type { QuarantinedRow, RecipientRow } from '../store/queue-store.ts';
import { parseMessageFile } from '../filters/mime.ts';
import { parseDecision, type Decision } from '../filters/policy.ts';
import { decodeHeaderText, senderName } from '../util/header-text.ts';
import { releasedHeaders } from '../filters/decision-headers.ts';
import { ownDomainAllowProblem, SenderLists } from '../filters/sender-lists.ts';
import type { PersonalLists } from '../filters/personal-lists.ts';
import type { NewMessage } from '../store/queue-store.ts';
import { newQueueId } from '../util/ids.ts';
import { releaseResultMail } from './user-mail.ts';
import { messagePreview, Previews, PREVIEW_DEADLINE_MS, type MessagePreview, type PreviewWalk } from './previews.ts';

const DAY_MS = 24 * 3600 * 1000;
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
  /** Recipients who asked the admin to release it to them (approval mode), waiting for an answer. */
  releaseRequests: string[];
}

/** What a recipient's action on the user page came to: done, or why nothing was done. */
export type RecipientActionResult =
  | 'released'
  | 'requested'
  /** Asked for already; the admin has not answered yet. */
  | 'already-requested'
  | 'allowed'
  | 'blocked'
  | 'denied'
  /** The recipient's personal list has MAX_PERSONAL_ENTRIES entries. */
  | 'list-full'
  /** A message without a sender address (a bounce report): nothing to put on a list. */
  | 'no-sender'
  /** The message is no longer in quarantine, or no longer waiting there for this recipient. */
  | 'gone';

export interface QuarantinePreview extends Omit<MessagePreview, 'truncated'> {
  message: QuarantinedMessage;
  decision: Decision | null;
  /** Recipients who already had their own copy released (the user page's "Release to me", an approved request). */
  releasedTo: string[];
}

export interface QuarantineOptions {
  /** The sender lists on the queue's database, so "release and allow the sender" is one transaction. */
  senders: SenderLists;
  queue: Queue;
  logger: Logger;
  clock?: () => number;
  /** The recipients' own sender lists (the user page's allow and block); without them those actions are refused. */
  personal?: PersonalLists;
  /** Name in the From of the mail that tells a user what the admin decided on a release request. */
  hostname?: string;
  /** The accepted domains: "release and allow the sender" puts no sender of ours on the allow list (it would not count). */
  ownDomains?: readonly string[];
  /** The MIME walk of previews; parseMessageFile in this thread unless given. */
  walk?: PreviewWalk;
  /** How long a preview's walk may take (ms); PREVIEW_DEADLINE_MS unless given. */
  previewDeadlineMs?: number;
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
  private readonly personal: PersonalLists | null;
  private readonly hostname: string;
  private readonly ownDomains: readonly string[];
  private readonly previews: Previews;

  constructor(options: QuarantineOptions) {
    this.queue = options.queue;
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
    this.senders = options.senders;
    this.personal = options.personal ?? null;
    this.hostname = options.hostname ?? 'localhost';
    this.ownDomains = options.ownDomains ?? [];
    const walk = options.walk ?? parseMessageFile;
    const deadlineMs = options.previewDeadlineMs ?? PREVIEW_DEADLINE_MS;
    this.previews = new Previews((id) => messagePreview(this.queue.spool.path(id), walk, deadlineMs), this.clock);
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
    const { headers, text, attachments } = await this.filePreview(id);
    const releasedTo = this.store
      .history(id)
      .filter((entry) => entry.action === 'RELEASED' && entry.recipient !== null)
      .map((entry) => entry.recipient!);
    return { message: toItem(row), decision: parseDecision(row.decision), headers, text, attachments, releasedTo };
  }

  /** A safe look at the file of any message kept in the spool (queued or quarantined), as messagePreview reads it (previews.ts). */
  filePreview(id: string): Promise<MessagePreview> {
    return this.previews.of(id);
  }

  /**
   * Delivers the message to its recipients after all: the row becomes queued (its lifetime starting now, so a long
   * stay in quarantine does not expire it at the first deferral) and the delivered copy says who released it.
   * `allowed`: the entry added to the allow list; `notAllowed`: the sender's entry left off it, as one of our own
   * domains (released all the same).
   */
  release(id: string, options: { by: string; allowSender?: boolean; detail?: string }): { released: boolean; allowed: string | null; notAllowed: string | null } {
    const now = this.clock();
    const row = this.row(id);
    if (!row) return { released: false, allowed: null, notAllowed: null };
    const entry = options.allowSender && row.sender ? SenderLists.normalize(row.sender) : null;
    // a sender of ours is released, not allowed: no allowance covers our own domains (filters/pipeline.ts)
    const allowEntry = entry && !ownDomainAllowProblem(entry, this.ownDomains) ? entry : null;
    const headers = releasedHeaders(row.added_headers ?? null, options.by, new Date(now));
    const released = this.store.atomically(() => {
      if (!this.store.releaseQuarantined(id, now, headers)) return false;
      if (allowEntry) this.senders.set('allow', allowEntry, options.by, `allowed when releasing ${id}`, now);
      this.store.insertHistory([
        { at: now, queueId: id, action: 'RELEASED', detail: `${options.detail ?? `released from quarantine by ${options.by}`}${allowEntry ? `; ${allowEntry} added to the allow list` : ''}` },
      ]);
      return true;
    });
    if (released) {
      this.logger.info({ id, by: options.by, allowed: allowEntry ?? undefined }, 'QUARANTINE_RELEASED');
      this.queue.emit('changed');
    }
    return { released, allowed: released ? allowEntry : null, notAllowed: released && entry && !allowEntry ? entry : null };
  }

  /**
   * The recipient row of `address` (any case) while it waits in quarantined message `id`: what the user page may act
   * on. Null when the message is not in quarantine or `address` is not one of its waiting recipients.
   */
  waitingFor(id: string, address: string): { message: QuarantinedMessage; decision: Decision | null; recipient: RecipientRow } | null {
    const row = this.row(id);
    if (!row) return null;
    const wanted = address.toLowerCase();
    const recipient = this.store.recipients(id).find((candidate) => candidate.status === 'pending' && candidate.address.toLowerCase() === wanted);
    return recipient ? { message: toItem(row), decision: parseDecision(row.decision), recipient } : null;
  }

  /**
   * Delivers the message to `address` only (one of its waiting recipients); the others stay in quarantine. When no
   * other recipient waits, the message itself leaves quarantine; otherwise that recipient's copy is queued under its
   * own id (the same spool file, linked) and the rest stays. `by` is who did it, `how` where ("user page").
   */
  async releaseTo(id: string, address: string, options: { by: string; how: string }): Promise<'released' | 'gone'> {
    const waiting = this.waitingFor(id, address);
    if (!waiting) return 'gone';
    const recipient = waiting.recipient.address;
    const detail = `released to ${recipient} by ${options.by} (${options.how})`;
    const others = this.store.recipients(id).filter((row) => row.status === 'pending' && row.address !== recipient);
    if (others.length === 0) {
      if (!this.release(id, { by: options.by, detail }).released) return 'gone';
      this.logger.info({ id, rcpt: recipient, by: options.by, how: options.how }, 'QUARANTINE_RELEASED_TO');
      return 'released';
    }
    const row = this.row(id);
    if (!row) return 'gone';
    const now = this.clock();
    const copyId = newQueueId(now);
    const copy: NewMessage = {
      id: copyId,
      receivedAt: row.received_at,
      lifetimeFrom: now,
      clientIp: row.client_ip,
      helo: row.helo,
      sender: row.sender,
      size: row.size,
      spoolBytes: row.spool_bytes,
      headerMessageId: row.header_message_id,
      subject: row.subject,
      fromName: row.from_name,
      kind: row.kind,
      recipients: [{ address: recipient, route: waiting.recipient.route }],
      status: 'queued',
      decision: row.decision,
      senderCheck: row.sender_check,
      addedHeaders: releasedHeaders(row.added_headers ?? null, options.by, new Date(now)),
    };
    await this.queue.spool.share(id, copyId);
    let released: boolean;
    let emptied: boolean;
    try {
      ({ released, emptied } = this.store.releaseRecipient(id, recipient, copy, now, [
        { at: now, queueId: id, action: 'RELEASED', recipient, detail: `${detail}; delivered as ${copyId}, the other recipients stay in quarantine` },
        { at: now, queueId: copyId, action: 'RELEASED', recipient, detail: `${detail}: this recipient's copy of quarantined message ${id}` },
      ]));
    } catch (error) {
      await this.queue.spool.remove(copyId);
      throw error;
    }
    if (!released) {
      await this.queue.spool.remove(copyId);
      return 'gone';
    }
    // the copies hold their own links to the file's data
    if (emptied) await this.queue.spool.remove(id);
    this.logger.info({ id, copy: copyId, rcpt: recipient, by: options.by, how: options.how }, 'QUARANTINE_RELEASED_TO');
    this.queue.emit('queued', [copy]);
    this.queue.emit('changed');
    return 'released';
  }

  /** Approval mode: `address` asks the admin to release the message to them; it shows in the admin's quarantine. */
  requestRelease(id: string, address: string, how: string): RecipientActionResult {
    const waiting = this.waitingFor(id, address);
    if (!waiting) return 'gone';
    const recipient = waiting.recipient.address;
    if (waiting.message.releaseRequests.some((entry) => entry.toLowerCase() === recipient.toLowerCase())) return 'already-requested';
    const now = this.clock();
    const added = this.store.addReleaseRequest(id, recipient, now, { at: now, queueId: id, action: 'RELEASE_REQUESTED', recipient, detail: `${recipient} asked for release (${how})` });
    if (!added) return this.waitingFor(id, address) ? 'already-requested' : 'gone';
    this.logger.info({ id, rcpt: recipient, how }, 'QUARANTINE_RELEASE_REQUESTED');
    this.queue.emit('changed');
    return 'requested';
  }

  /**
   * The admin's answer to `address`'s release request: approve releases the message to that recipient only (as
   * releaseTo), deny leaves it in quarantine. Either way the recipient gets a short mail saying so.
   */
  async decideRequest(id: string, address: string, approve: boolean, by: string): Promise<'approved' | 'denied' | 'gone'> {
    const waiting = this.waitingFor(id, address);
    const recipient = waiting?.recipient.address;
    if (!waiting || !recipient || !waiting.message.releaseRequests.some((entry) => entry.toLowerCase() === recipient.toLowerCase())) return 'gone';
    if (approve) {
      if ((await this.releaseTo(id, recipient, { by, how: `approving the request of ${recipient}` })) === 'gone') return 'gone';
    } else {
      const now = this.clock();
      const dropped = this.store.atomically(() => {
        if (!this.store.dropReleaseRequest(id, recipient)) return false;
        this.store.insertHistory([{ at: now, queueId: id, action: 'RELEASE_DENIED', recipient, detail: `release to ${recipient} denied by ${by}; the message stays in quarantine` }]);
        return true;
      });
      if (!dropped) return 'gone';
      this.logger.info({ id, rcpt: recipient, by }, 'QUARANTINE_REQUEST_DENIED');
      this.queue.emit('changed');
    }
    await this.mailResult(waiting.message, recipient, approve ? 'approved' : 'denied');
    return approve ? 'approved' : 'denied';
  }

  /** Each recipient who asked for `message` to be released hears that it was not: it is gone (deleted, expired). */
  private async tellNotReleased(message: QuarantinedMessage, outcome: 'deleted' | 'expired'): Promise<void> {
    for (const recipient of message.releaseRequests) await this.mailResult(message, recipient, outcome);
  }

  private async mailResult(message: QuarantinedMessage, recipient: string, outcome: 'approved' | 'denied' | 'deleted' | 'expired'): Promise<void> {
    const raw = await releaseResultMail({ to: recipient, outcome, hostname: this.hostname, sender: message.sender, subject: message.subject, receivedAt: message.receivedAt, now: this.clock() });
    const mailId = await this.queue.enqueueGenerated(raw, '', [recipient], 'mail').catch((error: Error) => {
      this.logger.error({ id: message.id, rcpt: recipient, error: error.message }, 'QUARANTINE_RESULT_MAIL_FAILED');
      return null;
    });
    if (mailId) this.logger.info({ id: message.id, rcpt: recipient, mail: mailId, outcome }, 'QUARANTINE_RESULT_MAILED');
  }

  /**
   * `address` (a waiting recipient of message `id`) puts the message's envelope sender on their own allow or block
   * list; the message's history says so.
   */
  setPersonal(id: string, address: string, list: 'allow' | 'deny', how: string): RecipientActionResult {
    const waiting = this.waitingFor(id, address);
    if (!waiting || !this.personal) return 'gone';
    const entry = waiting.message.sender ? SenderLists.normalize(waiting.message.sender) : null;
    if (!entry) return 'no-sender';
    const recipient = waiting.recipient.address;
    const now = this.clock();
    const personal = this.personal;
    const word = list === 'allow' ? 'allowed' : 'blocked';
    const done = this.store.atomically(() => {
      if (!personal.set(recipient, list, entry, `${recipient} (${how})`, now)) return false;
      this.store.insertHistory([{ at: now, queueId: id, action: list === 'allow' ? 'SENDER_ALLOWED' : 'SENDER_BLOCKED', recipient, detail: `${recipient} ${word} ${entry} (${how})` }]);
      return true;
    });
    if (!done) return 'list-full';
    this.logger.info({ id, rcpt: recipient, entry, list, how }, list === 'allow' ? 'PERSONAL_SENDER_ALLOWED' : 'PERSONAL_SENDER_BLOCKED');
    return list === 'allow' ? 'allowed' : 'blocked';
  }

  /**
   * What became of message `id` for `address` once it no longer waits in quarantine: released (to them or to all),
   * deleted by the admin, or expired; null when the history does not say (the user page then says it in general).
   */
  fateOf(id: string, address: string): 'released' | 'deleted' | 'expired' | null {
    const wanted = address.toLowerCase();
    const rows = this.store.history(id).filter((row) => row.action === 'RELEASED' || row.action === 'DELETED' || row.action === 'EXPIRED');
    // their own copy released first counts, whatever became of the message for the others afterwards
    if (rows.some((row) => row.action === 'RELEASED' && row.recipient?.toLowerCase() === wanted)) return 'released';
    const last = rows.filter((row) => row.recipient === null).at(-1);
    return last ? (last.action.toLowerCase() as 'released' | 'deleted' | 'expired') : null;
  }

  /** The personal lists of `address` while it waits in message `id` (what the user page shows); null otherwise. */
  personalListsOf(id: string, address: string): { list: 'allow' | 'deny'; entry: string }[] | null {
    const waiting = this.waitingFor(id, address);
    if (!waiting || !this.personal) return null;
    return this.personal.of(waiting.recipient.address).map(({ list, entry }) => ({ list, entry }));
  }

  /** `address` (a waiting recipient of message `id`) takes `entry` off their own lists; the message's history says so. */
  removePersonal(id: string, address: string, entry: string, how: string): 'removed' | 'not-listed' | 'gone' {
    const waiting = this.waitingFor(id, address);
    if (!waiting || !this.personal) return 'gone';
    const recipient = waiting.recipient.address;
    const now = this.clock();
    const personal = this.personal;
    const removed = this.store.atomically(() => {
      if (!personal.remove(recipient, entry)) return false;
      this.store.insertHistory([{ at: now, queueId: id, action: 'SENDER_UNLISTED', recipient, detail: `${recipient} took ${entry} off their sender lists (${how})` }]);
      return true;
    });
    if (!removed) return 'not-listed';
    this.logger.info({ id, rcpt: recipient, entry, how }, 'PERSONAL_SENDER_REMOVED');
    return 'removed';
  }

  /** Releases a selection in one transaction (one commit, not one per message); true for each one released. */
  releaseMany(ids: readonly string[], options: { by: string; allowSender?: boolean }): ReturnType<Quarantine['release']>[] {
    return this.store.atomically(() => ids.map((id) => this.release(id, options)));
  }

  async delete(id: string, by: string): Promise<boolean> {
    const [changed] = await this.deleteMany([id], by);
    return changed!;
  }

  /** Deletes a selection: the rows in one transaction (one commit), then, once that is durable, their files. */
  async deleteMany(ids: readonly string[], by: string): Promise<boolean[]> {
    const now = this.clock();
    // who asked for a release is told the answer, as after a Deny: "you will get an e-mail when they decide"
    const asked = ids.map((id) => this.row(id));
    const changed = this.store.atomically(() => ids.map((id) => this.finish(id, now, 'DELETED', `deleted from quarantine by ${by}`)));
    await Promise.all(
      ids.map(async (id, index) => {
        if (!changed[index]) return;
        await this.queue.spool.remove(id);
        this.logger.info({ id, by }, 'QUARANTINE_DELETED');
        const row = asked[index];
        if (row?.release_requests) await this.tellNotReleased(toItem(row), 'deleted');
      }),
    );
    // the counts on every open page (the sidebar's, the dashboard's) follow, as after a release
    if (changed.some(Boolean)) this.queue.emit('changed');
    return changed;
  }

  /** Deletes what has been in quarantine longer than `retentionDays`; returns how many. */
  async expire(retentionDays: number): Promise<number> {
    const now = this.clock();
    const ids = this.store.quarantinedBefore(now - retentionDays * DAY_MS);
    let expired = 0;
    for (const id of ids) {
      const row = this.row(id);
      if (!this.finish(id, now, 'EXPIRED', `quarantine kept ${retentionDays} days; removed`)) continue;
      await this.queue.spool.remove(id);
      if (row?.release_requests) await this.tellNotReleased(toItem(row), 'expired');
      expired++;
    }
    if (expired) {
      this.logger.info({ expired, retentionDays }, 'QUARANTINE_EXPIRED');
      this.queue.emit('changed');
    }
    return expired;
  }

  /** How many messages are in quarantine; with `search`, how many of them `list` would find. */
  count(search?: string): number {
    return this.store.quarantineCount(search);
  }

  /** How many quarantined messages a recipient asked to have released: the admin's to answer (listed first). */
  requestCount(): number {
    return this.store.releaseRequestCount();
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
    releaseRequests: row.release_requests ? row.release_requests.split(', ') : [],
  };
}
