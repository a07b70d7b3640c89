import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';
import type { Route } from '../events.ts';
import { StateStore, type StateKey } from './state-store.ts';
import { decodeHeaderText, senderName } from '../util/header-text.ts';

/** `quarantined`: kept by the filters' decision, never picked for delivery until released (quarantine/). */
export type MessageStatus = 'queued' | 'done' | 'deleted' | 'damaged' | 'quarantined';
export type RecipientStatus = 'pending' | 'delivered' | 'bounced' | 'deleted';
export type MessageKind = 'mail' | 'dsn';

/** What history rows say happened; upper-case so an admin can grep logs and the table alike. */
export type HistoryAction =
  | 'NORMALIZED' | 'REFUSED' | 'DELIVERED' | 'DEFERRED' | 'BOUNCED' | 'EXPIRED' | 'DELAY_WARNED'
  // no bounce notice: SPF showed the sender address forged (a notice would be backscatter)
  | 'DSN_NOT_SENT'
  // the connection ended after the message data with no reply: the server may have it (RFC 1047)
  | 'NO_REPLY'
  | 'HELD' | 'RELEASED' | 'RETRY' | 'DELETED' | 'DAMAGED' | 'QUEUE_HELD' | 'QUEUE_RELEASED' | 'QUEUE_RETRY'
  // an admin took a copy of the message file (.eml download)
  | 'DOWNLOADED'
  // submission: who sent it (account or trusted network), and the DKIM signature added
  | 'SUBMITTED' | 'SIGNED'
  // content filters: refused at the end of DATA (no row but this history), or kept in quarantine
  | 'REJECTED' | 'TEMPFAILED' | 'QUARANTINED'
  // the end users' quarantine page: a recipient asked for a release (approval mode), the admin denied it, a recipient
  // put the sender on a personal list
  | 'RELEASE_REQUESTED' | 'RELEASE_DENIED' | 'SENDER_ALLOWED' | 'SENDER_BLOCKED' | 'SENDER_UNLISTED';

export interface NewMessage {
  id: string;
  receivedAt: number;
  /** When its queue lifetime starts, if not at receivedAt (a recipient's copy released from quarantine). */
  lifetimeFrom?: number;
  clientIp: string | null;
  helo: string | null;
  sender: string;
  size: number;
  spoolBytes: number;
  headerMessageId: string | null;
  /** Decoded (RFC 2047) for display; rows from before may hold it raw, so readers decode again (a no-op on plain text). */
  subject: string | null;
  /** The From header's display name, decoded; "Moat" for mail Moat wrote. */
  fromName?: string | null;
  kind: MessageKind;
  /** `dropped`: committed as finished (`deleted`), never delivered to (the recipient blocked the sender on their own list). */
  recipients: { address: string; route: Route; dropped?: boolean }[];
  /** Content filters: `quarantined` keeps it from delivery; the decision trace (JSON); the header block prepended at delivery. */
  status?: 'queued' | 'quarantined';
  decision?: string | null;
  addedHeaders?: string | null;
  /** May the envelope sender be sent a bounce or delay notice, and why (queue/dsn-policy.ts, as JSON). */
  senderCheck?: string | null;
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
  from_name: string | null;
  /** When its queue lifetime started, where not at received_at (released from quarantine). */
  lifetime_from: number | null;
  /** queue/dsn-policy.ts SenderCheck as JSON; null for messages from before it was kept. */
  sender_check: string | null;
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
  /** When this copy was listed in a quarantine digest (quarantine/digest.ts); null: not yet. */
  digest_at: number | null;
  /** The step of the retry schedule it is on, and when that step made it due (queue/backoff.ts nextBackoff). */
  backoff_step: number;
  backoff_due_at: number;
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
export interface DueRecipient extends Pick<RecipientRow, 'message_id' | 'address' | 'route' | 'attempts' | 'backoff_step' | 'backoff_due_at'> {
  sender: string;
  /** When its queue lifetime started: received_at, or its release from quarantine. */
  lifetime_from: number;
  kind: MessageKind;
  delay_warned: number;
}

export interface RecipientUpdate {
  address: string;
  status: RecipientStatus;
  attempted: boolean;
  nextAttemptAt: number;
  /** The retry schedule's step after this try (a deferral); absent: unchanged. */
  backoffStep?: number;
  lastReply: string | null;
  lastStatus: string | null;
}

/** What one delivery attempt (or an admin's bounce) changed for one message. */
export interface AttemptRecord {
  messageId: string;
  updates: RecipientUpdate[];
  history: HistoryEntry[];
}

/** What the queue viewer's status column says: waiting for a first try, retrying after a failure, or held. */
export type QueueRowStatus = 'waiting' | 'deferred' | 'held';
/** The queue viewer's columns a page may be sorted on. */
export type QueueSortKey = 'receivedAt' | 'sender' | 'recipient' | 'size' | 'attempts' | 'nextAttemptAt';

export interface QueuePageFilter {
  /** Case-insensitive substring of the sender, a recipient, the subject, the queue id or the Message-ID. */
  search?: string;
  status?: QueueRowStatus;
  /** Messages with a recipient still waiting on this route. */
  route?: Route;
  sort?: QueueSortKey;
  direction?: 'asc' | 'desc';
  offset?: number;
  limit?: number;
}

/** One row of the queue viewer: a queued message and its recipients still waiting. */
export interface QueuePageRow {
  id: string;
  receivedAt: number;
  sender: string;
  /** The recipients still waiting (all of them when none is: a message about to be finished). */
  recipients: string[];
  subject: string | null;
  /** Who it says it is from, in plain words ("Jürgen Weiß", "Moat"); null: show the sender address. */
  senderName: string | null;
  size: number;
  route: Route | 'mixed';
  status: QueueRowStatus;
  /** The most attempts any waiting recipient has had. */
  attempts: number;
  /** The earliest next attempt of a waiting recipient. */
  nextAttemptAt: number | null;
  /** The latest failure reply of a waiting recipient. */
  lastReply: string | null;
}

/** A message for message tracking, in any state. */
export interface TrackedMessageRow {
  id: string;
  received_at: number;
  sender: string;
  subject: string | null;
  header_message_id: string | null;
  status: MessageStatus;
  held: number;
  client_ip: string | null;
  kind: MessageKind;
  from_name: string | null;
  /** The most attempts a waiting recipient has had (0 once none waits). */
  queue_attempts: number;
}

/** A refusal kept in history: mail that was never accepted, so it has no message row. */
export type RefusalRow = Pick<HistoryRow, 'id' | 'at' | 'queue_id' | 'action' | 'client_ip' | 'sender' | 'recipient' | 'detail'>;

export interface TrackingFilter {
  /** Case-insensitive substrings. */
  sender?: string;
  recipient?: string;
  messageId?: string;
  /** Case-insensitive substrings of the client's address and the subject (refused mail has no subject). */
  clientIp?: string;
  subject?: string;
  /**
   * Only messages that ended so (`delivered` and `bounced` each include a message partly delivered and partly
   * bounced; `deferred`: queued after a failed try), or only refused mail.
   */
  outcome?: TrackingOutcomeFilter;
  /** Received (or refused) at or after / at or before, epoch ms. */
  from?: number;
  to?: number;
  limit: number;
}

/** A recipient of a tracked message: where it stands, and whether a try of it has failed. */
export type TrackedRecipient = Pick<RecipientRow, 'address' | 'status' | 'attempts'>;

export type TrackingOutcomeFilter = 'delivered' | 'deferred' | 'held' | 'bounced' | 'refused' | 'quarantined' | 'deleted';

/** A recipient of the message that the search's recipient (if any) names: an outcome is that recipient's. */
const SEARCHED_RECIPIENT_SQL = `(@recipient IS NULL OR r.address LIKE @recipient ESCAPE '\\')`;
/**
 * Whitelisted conditions of the tracking's outcome filter; `refused` selects no message (refusals have no row). They
 * are of recipients: a message delivered to one and still waiting for another is found as delivered and as waiting,
 * and a search for a recipient is answered with what happened to that recipient.
 */
const TRACK_OUTCOME_SQL: Record<TrackingOutcomeFilter, string[]> = {
  // one condition per message status, each its own walk of messages_status by time (merged after): `status IN (…)`
  // sorted every match of the window instead. `+r.status`: the message's own rows by primary key, not every
  // delivered recipient through recipients_due.
  delivered: ['done', 'queued'].map((status) => `m.status = '${status}' AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND +r.status = 'delivered' AND ${SEARCHED_RECIPIENT_SQL})`),
  bounced: ['done', 'queued'].map((status) => `m.status = '${status}' AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND +r.status = 'bounced' AND ${SEARCHED_RECIPIENT_SQL})`),
  deferred: [`m.status = 'queued' AND m.held = 0 AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND +r.status = 'pending' AND r.attempts > 0 AND ${SEARCHED_RECIPIENT_SQL})`],
  held: [`m.status = 'queued' AND m.held = 1 AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND +r.status = 'pending' AND ${SEARCHED_RECIPIENT_SQL})`],
  quarantined: [`m.status = 'quarantined'`],
  deleted: [`m.status = 'deleted'`],
  refused: ['0'],
};

/**
 * A destination of the queue viewer: the internal server (one destination), or one recipient domain of the mail
 * going out. `domain` is null for the internal server.
 */
export interface DestinationRow {
  route: Route;
  domain: string | null;
  messages: number;
  recipients: number;
  /** Messages of the destination held by the admin (or by Moat). */
  held: number;
  /** The most attempts a waiting recipient has had. */
  attempts: number;
  /** The earliest next attempt of a waiting recipient whose message is not held; null when all are held. */
  nextAttemptAt: number | null;
  /** The latest failure reply of a waiting recipient of the destination. */
  lastReply: string | null;
  lastReplyAt: number | null;
}

/** The destination a pending recipient belongs to: the internal server, or its lower-cased domain. */
const DESTINATION_DOMAIN_SQL = `CASE WHEN r.route = 'internal' THEN NULL ELSE lower(substr(r.address, instr(r.address, '@') + 1)) END`;
/** Pending recipients of queued messages at one destination (@route, @domain: null for the internal server). */
const AT_DESTINATION_SQL = `r.status = 'pending' AND r.route = @route AND (@domain IS NULL OR lower(substr(r.address, instr(r.address, '@') + 1)) = @domain)`;
/** The viewer lists at most this many destinations (largest first): more is not a list a person reads. */
export const MAX_DESTINATIONS = 200;

/** Who sent and who got the most, and from which domains, over a window of accepted mail. */
export interface TopTalkers {
  senders: { name: string; count: number }[];
  recipients: { name: string; count: number }[];
  senderDomains: { name: string; count: number }[];
  /** How many messages the counts are over; `capped` when the window held more than MAX_STATISTICS_MESSAGES. */
  messages: number;
  capped: boolean;
}

/**
 * The top lists read at most this many of the window's newest messages: 30 days at a busy site is a few hundred
 * thousand; past this the lists are of the newest ones (and say so), so one click never scans an unbounded table.
 */
export const MAX_STATISTICS_MESSAGES = 100_000;
/** The window's accepted mail (not Moat's own DSNs), newest first, bounded: walks messages_received as a range. */
// mail a client handed in: not Moat's own (its bounce reports, alerts, digests, release answers: no client)
const STATISTICS_WINDOW_SQL = `SELECT id, sender FROM messages INDEXED BY messages_received
  WHERE received_at >= @from AND received_at < @to AND kind = 'mail' AND client_ip IS NOT NULL ORDER BY received_at DESC LIMIT ${MAX_STATISTICS_MESSAGES}`;

/**
 * Message tracking's statement, newest first, with an outcome's condition written in (from the whitelist above): so
 * SQLite sees `m.status = 'done'` and walks messages_status by time instead of testing every message of the window.
 * An outcome of two statuses is two such walks, each cut at the limit, merged by time.
 */
function trackMessagesSql(outcome: TrackingOutcomeFilter | null): string {
  const select = (condition: string | null) => `SELECT m.id, m.received_at, m.sender, m.subject, m.header_message_id, m.status, m.held, m.client_ip, m.kind, m.from_name, m.queue_attempts, m.rowid AS row_order FROM messages m
    WHERE m.received_at BETWEEN @from AND @to
      AND (@sender IS NULL OR m.sender LIKE @sender ESCAPE '\\' OR m.from_name LIKE @sender ESCAPE '\\')
      AND (@messageId IS NULL OR m.header_message_id LIKE @messageId ESCAPE '\\')
      AND (@clientIp IS NULL OR m.client_ip LIKE @clientIp ESCAPE '\\')
      AND (@subject IS NULL OR m.subject LIKE @subject ESCAPE '\\')
      AND (@recipient IS NULL OR m.id IN (SELECT message_id FROM recipients WHERE address LIKE @recipient ESCAPE '\\'))
      ${condition ? `AND ${condition}` : ''}
    ORDER BY m.received_at DESC, m.rowid DESC LIMIT @limit`;
  const conditions = outcome ? TRACK_OUTCOME_SQL[outcome] : [null];
  if (conditions.length === 1) return select(conditions[0]!);
  return `SELECT * FROM (${conditions.map((condition) => `SELECT * FROM (${select(condition)})`).join(' UNION ALL ')}) ORDER BY received_at DESC, row_order DESC LIMIT @limit`;
}

/**
 * Whitelisted ORDER BY expressions: a sort key from the API picks one of these, input never reaches the SQL. Each has
 * an index over the queue whose order, rowid last, is the page's order; the recipient-derived ones read the queue_*
 * columns (insertBatch sets them, a trigger of db.ts keeps them). The page names its index: without statistics
 * (nobody runs ANALYZE) SQLite takes messages_status for `status = 'queued'` and sorts the whole queue instead.
 */
const PAGE_SORT_SQL: Record<QueueSortKey, { sql: string; index: string }> = {
  receivedAt: { sql: 'm.received_at', index: 'messages_status' },
  sender: { sql: 'm.sender COLLATE NOCASE', index: 'messages_queue_sender' },
  size: { sql: 'm.size', index: 'messages_queue_size' },
  recipient: { sql: 'm.queue_first_recipient COLLATE NOCASE', index: 'messages_queue_recipient' },
  attempts: { sql: 'm.queue_attempts', index: 'messages_queue_attempts' },
  nextAttemptAt: { sql: 'm.queue_next_attempt_at', index: 'messages_queue_next' },
};
const PAGE_STATUS_SQL: Record<QueueRowStatus, string> = {
  held: 'm.held = 1',
  deferred: 'm.held = 0 AND m.queue_attempts > 0',
  waiting: 'm.held = 0 AND m.queue_attempts = 0',
};
const PAGE_ROUTE_SQL: Record<Route, string> = { internal: '(m.queue_routes & 1) != 0', outbound: '(m.queue_routes & 2) != 0' };
const PAGE_SEARCH_SQL = `(m.id LIKE @search ESCAPE '\\' OR m.sender LIKE @search ESCAPE '\\' OR m.subject LIKE @search ESCAPE '\\'
  OR m.header_message_id LIKE @search ESCAPE '\\'
  OR m.id IN (SELECT message_id FROM recipients WHERE status = 'pending' AND address LIKE @search ESCAPE '\\'))`;
/** A queue page has at most this many rows (the API's own cap is lower); it bounds the statement's work. */
const MAX_PAGE_LIMIT = 1000;

/** A LIKE pattern that matches `text` anywhere, with LIKE's own wildcards taken literally. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * A message in quarantine as its list and look-up read it: the row, the recipients it still holds (not those released to their own copy) joined by ', ', and the recipients
 * whose release request waits for the admin (approval mode), joined likewise.
 */
export type QuarantinedRow = MessageRow & { recipients: string | null; release_requests: string | null };
/**
 * The recipients a quarantined message still holds: one released to their own copy has it, and is no longer listed.
 * `+status`: found by the message's key; by the status index it read every pending recipient for each row.
 */
const WAITING_RECIPIENTS_SQL = `(SELECT GROUP_CONCAT(address, ', ') FROM recipients r WHERE r.message_id = m.id AND +r.status = 'pending') AS recipients`;
/** The recipients of a quarantined message whose release request is open, as quarantineList and quarantined select it. */
const RELEASE_REQUESTS_SQL = `(SELECT GROUP_CONCAT(q.recipient, ', ') FROM release_requests q WHERE q.message_id = m.id) AS release_requests`;

/** What the quarantine's list and count select: the quarantine, narrowed by @search (a LIKE pattern, or null for all). */
const QUARANTINE_WHERE = `m.status = 'quarantined'
  AND (@search IS NULL OR lower(m.sender) LIKE @search ESCAPE '\\' OR lower(COALESCE(m.from_name, '')) LIKE @search ESCAPE '\\'
       OR lower(COALESCE(m.subject, '')) LIKE @search ESCAPE '\\'
       OR lower(CASE WHEN json_valid(m.decision) THEN COALESCE(json_extract(m.decision, '$.reason'), '') ELSE '' END) LIKE @search ESCAPE '\\'
       OR lower(COALESCE(m.header_message_id, '')) LIKE @search ESCAPE '\\' OR lower(m.id) LIKE @search ESCAPE '\\'
       OR EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND lower(r.address) LIKE @search ESCAPE '\\'))`;

/**
 * A digest's rows: a quarantined message's waiting copy for an internal recipient (route fixed at arrival by
 * Queue.routeFor: one of our domains) not listed yet; @address (any case) narrows to one recipient, null to all.
 */
const DIGEST_WHERE = `m.status = 'quarantined' AND r.status = 'pending' AND r.route = 'internal' AND r.digest_at IS NULL
  AND (@address IS NULL OR r.address = @address COLLATE NOCASE)`;

/** Rows whose spool file must exist: queued mail and quarantined mail (every status but the finished ones). */
const KEEPS_FILE = `status NOT IN ('done', 'deleted', 'damaged')`;
const FINISHED: ReadonlySet<string> = new Set<MessageStatus>(['done', 'deleted', 'damaged']);

/** The quarantine's search: lower case against lower(...) columns; null (no narrowing) for none. */
const quarantinePattern = (search: string | undefined) => (search ? containsPattern(search.toLowerCase()) : null);

export interface QueueListFilter {
  status?: MessageStatus;
  limit?: number;
  offset?: number;
}

/** The SQL behind the queue: every statement prepared once. Synchronous, like better-sqlite3. */
export class QueueStore {
  private readonly statements;
  private readonly state: StateStore;
  /** The queue viewer's page and count statements, one per filter and sort shape, prepared on first use. */
  private readonly pageStatements = new Map<string, Statement>();

  constructor(readonly db: Db) {
    this.state = new StateStore(db);
    this.statements = {
      insertMessage: db.prepare(
        `INSERT INTO messages (id, received_at, client_ip, helo, sender, size, spool_bytes, header_message_id, subject, kind, status, decision, added_headers,
           queue_first_recipient, queue_next_attempt_at, queue_routes, from_name, lifetime_from, sender_check)
         VALUES (@id, @receivedAt, @clientIp, @helo, @sender, @size, @spoolBytes, @headerMessageId, @subject, @kind, @status, @decision, @addedHeaders,
           @firstRecipient, @dueAt, @routes, @fromName, @lifetimeFrom, @senderCheck)`,
      ),
      insertRecipient: db.prepare(
        `INSERT OR IGNORE INTO recipients (message_id, address, route, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
      ),
      insertDroppedRecipient: db.prepare(
        `INSERT OR IGNORE INTO recipients (message_id, address, route, status, next_attempt_at, updated_at) VALUES (?, ?, ?, 'deleted', ?, ?)`,
      ),
      insertHistory: db.prepare(
        `INSERT INTO history (at, queue_id, action, client_ip, helo, sender, recipient, size, detail)
         VALUES (@at, @queueId, @action, @clientIp, @helo, @sender, @recipient, @size, @detail)`,
      ),
      due: db.prepare(
        `SELECT r.message_id, r.address, r.route, r.attempts, r.backoff_step, r.backoff_due_at, m.sender, COALESCE(m.lifetime_from, m.received_at) AS lifetime_from, m.kind, m.delay_warned
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
         backoff_step = COALESCE(@backoffStep, backoff_step), backoff_due_at = CASE WHEN @backoffStep IS NULL THEN backoff_due_at ELSE @nextAttemptAt END, last_reply = @lastReply, last_status = @lastStatus, updated_at = @now
         WHERE message_id = @messageId AND address = @address AND status = 'pending'`,
      ),
      // `+status`: one message's rows by primary key; SQLite otherwise picks recipients_due and walks the whole queue
      pendingCount: db.prepare(`SELECT COUNT(*) AS n FROM recipients WHERE message_id = ? AND +status = 'pending'`),
      finish: db.prepare(`UPDATE messages SET status = @status, finished_at = @now WHERE id = @id AND status = 'queued'`),
      setHeld: db.prepare(`UPDATE messages SET held = ? WHERE id = ? AND status = 'queued'`),
      // SQLite counts the rows a WHERE matches as changed: `held != @held` makes it count the ones that change
      changeHeld: db.prepare(`UPDATE messages SET held = @held WHERE id = @id AND status = 'queued' AND held != @held`),
      setAllHeld: db.prepare(`UPDATE messages SET held = ? WHERE status = 'queued' AND held != ?`),
      retry: db.prepare(`UPDATE recipients SET next_attempt_at = ? WHERE message_id = ? AND +status = 'pending'`),
      dropPending: db.prepare(`UPDATE recipients SET status = 'deleted', updated_at = ? WHERE message_id = ? AND +status = 'pending'`),
      // a message held on its own is not tried until released (which makes it due): a retry leaves it alone
      retryAll: db.prepare(`UPDATE recipients SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at > ? AND message_id IN (SELECT id FROM messages WHERE held = 0)`),
      // setAllHeld's and retryAll's history: one row for each message they are about to change
      historyOfAllHeld: db.prepare(
        `INSERT INTO history (at, queue_id, action, detail) SELECT @at, id, @action, @detail FROM messages WHERE status = 'queued' AND held != @held`,
      ),
      historyOfWaiting: db.prepare(
        `INSERT INTO history (at, queue_id, action, detail)
         SELECT DISTINCT @at, r.message_id, @action, @detail FROM recipients r JOIN messages m ON m.id = r.message_id
         WHERE r.status = 'pending' AND r.next_attempt_at > @at AND m.status = 'queued' AND m.held = 0`,
      ),
      retryRoute: db.prepare(`UPDATE recipients SET next_attempt_at = @now WHERE status = 'pending' AND route = @route AND next_attempt_at > @now AND updated_at >= @since AND updated_at < @now`),
      setDelayWarned: db.prepare(`UPDATE messages SET delay_warned = 1 WHERE id = ?`),
      // LIKE is case-blind for ASCII, as domains are; the status index finds the waiting ones
      pendingAtDomain: db.prepare(`SELECT COUNT(*) AS n FROM recipients WHERE status = 'pending' AND address LIKE ?`),
      countSince: db.prepare(
        `SELECT COUNT(*) AS n FROM history WHERE queue_id = @id AND action = @action
           AND id > COALESCE((SELECT MAX(id) FROM history WHERE queue_id = @id AND action = @since), 0)`,
      ),
      addedHeaders: db.prepare(`SELECT added_headers FROM messages WHERE id = ?`),
      // the quarantine (quarantine/quarantine.ts): quarantined rows, their release to the queue, their end
      // the list is the messages a recipient asked to have released (few), then the rest: each part newest first,
      // read down the (status, received_at) index; one ORDER BY over both sorted the whole quarantine for each page
      quarantineRequested: db.prepare(
        `SELECT m.*, ${WAITING_RECIPIENTS_SQL}, ${RELEASE_REQUESTS_SQL}
         FROM messages m WHERE ${QUARANTINE_WHERE} AND m.id IN (SELECT message_id FROM release_requests)
         ORDER BY m.received_at DESC LIMIT @limit OFFSET @offset`,
      ),
      quarantineRequestedCount: db.prepare(
        `SELECT COUNT(*) AS n FROM messages m WHERE ${QUARANTINE_WHERE} AND m.id IN (SELECT message_id FROM release_requests)`,
      ),
      quarantineUnrequested: db.prepare(
        `SELECT m.*, ${WAITING_RECIPIENTS_SQL}, NULL AS release_requests
         FROM messages m WHERE ${QUARANTINE_WHERE} AND NOT EXISTS (SELECT 1 FROM release_requests q WHERE q.message_id = m.id)
         ORDER BY m.received_at DESC LIMIT @limit OFFSET @offset`,
      ),
      quarantineCount: db.prepare(`SELECT COUNT(*) AS n FROM messages m WHERE ${QUARANTINE_WHERE}`),
      releaseRequestCount: db.prepare(
        `SELECT COUNT(DISTINCT q.message_id) AS n FROM release_requests q JOIN messages m ON m.id = q.message_id WHERE m.status = 'quarantined'`,
      ),
      quarantined: db.prepare(
        `SELECT m.*, ${WAITING_RECIPIENTS_SQL}, ${RELEASE_REQUESTS_SQL}
         FROM messages m WHERE m.id = ? AND m.status = 'quarantined'`,
      ),
      // one recipient of a quarantined message (the user page): its row taken out of the quarantined message, and
      // release requests (approval mode)
      pendingRecipients: db.prepare(`SELECT COUNT(*) AS n FROM recipients WHERE message_id = ? AND +status = 'pending'`),
      takeQuarantinedRecipient: db.prepare(
        `UPDATE recipients SET status = 'deleted', last_reply = @note, updated_at = @now
         WHERE message_id = @id AND address = @address AND +status = 'pending' AND message_id IN (SELECT id FROM messages WHERE id = @id AND status = 'quarantined')`,
      ),
      addReleaseRequest: db.prepare(
        `INSERT OR IGNORE INTO release_requests (message_id, recipient, requested_at)
         SELECT @id, @address, @now WHERE EXISTS (SELECT 1 FROM messages m JOIN recipients r ON r.message_id = m.id
           WHERE m.id = @id AND m.status = 'quarantined' AND r.address = @address AND r.status = 'pending')`,
      ),
      dropReleaseRequest: db.prepare(`DELETE FROM release_requests WHERE message_id = ? AND recipient = ?`),
      dropReleaseRequests: db.prepare(`DELETE FROM release_requests WHERE message_id = ?`),
      quarantinedBefore: db.prepare(`SELECT id FROM messages WHERE status = 'quarantined' AND received_at < ?`),
      releaseQuarantined: db.prepare(
        `UPDATE messages SET status = 'queued', held = 0, lifetime_from = @now, added_headers = @headers WHERE id = @id AND status = 'quarantined'`,
      ),
      finishQuarantined: db.prepare(`UPDATE messages SET status = 'deleted', finished_at = ? WHERE id = ? AND status = 'quarantined'`),
      // the quarantine digest (quarantine/digest.ts): internal recipients' quarantined copies not yet listed
      digestRecipients: db.prepare(
        `SELECT MIN(r.address) AS address, COUNT(*) AS count FROM messages m JOIN recipients r ON r.message_id = m.id
         WHERE ${DIGEST_WHERE} GROUP BY r.address COLLATE NOCASE ORDER BY MIN(m.received_at), MIN(r.address) LIMIT @limit`,
      ),
      digestMessages: db.prepare(
        `SELECT m.* FROM messages m JOIN recipients r ON r.message_id = m.id
         WHERE ${DIGEST_WHERE} ORDER BY m.received_at, m.id LIMIT @limit`,
      ),
      markDigested: db.prepare(`UPDATE recipients SET digest_at = @at WHERE message_id = @id AND address = @address COLLATE NOCASE AND digest_at IS NULL`),
      // a backup's snapshot and a restored database (backup/backup.ts)
      keptFiles: db.prepare(`SELECT id, spool_bytes FROM messages WHERE ${KEEPS_FILE}`),
      queuedCount: db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE status = 'queued'`),
      messageEnd: db.prepare(`SELECT status, finished_at FROM messages WHERE id = ?`),
      recipientStates: db.prepare(`SELECT address, status, attempts, next_attempt_at, last_reply, last_status, updated_at FROM recipients WHERE message_id = ?`),
      setMessageEnd: db.prepare(`UPDATE messages SET status = ?, finished_at = ? WHERE id = ?`),
      setRecipientState: db.prepare(
        `UPDATE recipients SET status = @status, attempts = @attempts, next_attempt_at = @next_attempt_at, last_reply = @last_reply,
         last_status = @last_status, updated_at = @updated_at WHERE message_id = @id AND address = @address`,
      ),
      allPendingDue: db.prepare(`UPDATE recipients SET next_attempt_at = ? WHERE status = 'pending'`),
      queuedIds: db.prepare(`SELECT id, spool_bytes FROM messages WHERE status = 'queued'`),
      idsExist: db.prepare(`SELECT status FROM messages WHERE id = ?`),
      spoolBytes: db.prepare(`SELECT spool_bytes FROM messages WHERE id = ?`),
      // from indexes (messages_status, messages_lifetime, messages_queue_held): the dashboard asks on every change;
      // the oldest wait is since arrival, or since the release from quarantine (lifetime_from)
      summary: db.prepare(
        `SELECT COUNT(*) AS size,
           (SELECT MIN(received_at) FROM messages WHERE status = 'queued' AND lifetime_from IS NULL) AS arrived,
           (SELECT MIN(lifetime_from) FROM messages INDEXED BY messages_lifetime WHERE lifetime_from IS NOT NULL AND status = 'queued') AS released,
           (SELECT COUNT(*) FROM messages WHERE status = 'queued' AND held = 1) AS held FROM messages WHERE status = 'queued'`,
      ),
      pageRecipients: db.prepare(
        `SELECT message_id, address, route, status, attempts, next_attempt_at, last_reply, updated_at FROM recipients
         WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY message_id, address`,
      ),
      recipientsOf: db.prepare(`SELECT message_id, address, status, attempts FROM recipients WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY message_id, address`),
      // Pending recipients belong to queued or quarantined messages only (finishing a message ends its pending
      // ones): leaving out the quarantine's few ids once is far cheaper than joining 100,000 messages by id.
      destinations: db.prepare(
        `SELECT r.route AS route, ${DESTINATION_DOMAIN_SQL} AS domain, COUNT(DISTINCT r.message_id) AS messages, COUNT(*) AS recipients,
                COUNT(DISTINCT CASE WHEN r.message_id IN (SELECT id FROM messages WHERE status = 'queued' AND held = 1) THEN r.message_id END) AS held,
                MAX(r.attempts) AS attempts,
                MIN(CASE WHEN r.message_id NOT IN (SELECT id FROM messages WHERE status = 'queued' AND held = 1) THEN r.next_attempt_at END) AS nextAttemptAt
         FROM recipients r
         WHERE r.status = 'pending' AND r.message_id NOT IN (SELECT id FROM messages WHERE status = 'quarantined')
         GROUP BY 1, 2 ORDER BY recipients DESC, route, domain LIMIT ${MAX_DESTINATIONS}`,
      ),
      // one aggregate, MAX: SQLite then takes the bare column (last_reply) from the row that has the maximum
      destinationLastReplies: db.prepare(
        `SELECT r.route AS route, ${DESTINATION_DOMAIN_SQL} AS domain, r.last_reply AS reply, MAX(r.updated_at) AS at
         FROM recipients r
         WHERE r.status = 'pending' AND r.last_reply IS NOT NULL AND r.message_id NOT IN (SELECT id FROM messages WHERE status = 'quarantined')
         GROUP BY 1, 2`,
      ),
      destinationMessages: db.prepare(
        `SELECT DISTINCT r.message_id AS id FROM recipients r JOIN messages m ON m.id = r.message_id
         WHERE ${AT_DESTINATION_SQL} AND m.status = 'queued' ORDER BY r.message_id`,
      ),
      // one message's recipients at the destination (primary key, `+status` as in `retry`)
      retryAtDestination: db.prepare(
        `UPDATE recipients AS r SET next_attempt_at = @now WHERE r.message_id = @id AND +${AT_DESTINATION_SQL} AND r.next_attempt_at > @now
           AND (SELECT held FROM messages WHERE id = @id) = 0`,
      ),
      topSenders: db.prepare(
        `SELECT sender AS name, COUNT(*) AS count FROM (${STATISTICS_WINDOW_SQL}) WHERE sender != '' GROUP BY sender COLLATE NOCASE ORDER BY count DESC, name LIMIT @limit`,
      ),
      topSenderDomains: db.prepare(
        `SELECT lower(substr(sender, instr(sender, '@') + 1)) AS name, COUNT(*) AS count FROM (${STATISTICS_WINDOW_SQL})
         WHERE instr(sender, '@') > 0 GROUP BY 1 ORDER BY count DESC, name LIMIT @limit`,
      ),
      topRecipients: db.prepare(
        `SELECT r.address AS name, COUNT(*) AS count FROM (${STATISTICS_WINDOW_SQL}) w JOIN recipients r ON r.message_id = w.id
         GROUP BY r.address COLLATE NOCASE ORDER BY count DESC, name LIMIT @limit`,
      ),
      windowCount: db.prepare(`SELECT COUNT(*) AS n FROM (${STATISTICS_WINDOW_SQL})`),
      trackMessages: db.prepare(trackMessagesSql(null)),
      // REFUSED rows have no queue id; REJECTED and TEMPFAILED ones name the id the refused message would have had.
      // The action list is the partial index history_refusals' own condition, word for word, so SQLite can use it.
      trackRefusals: db.prepare(
        `SELECT h.id, h.at, h.queue_id, h.action, h.client_ip, h.sender, h.recipient, h.detail FROM history h
         WHERE h.action IN ('REFUSED', 'REJECTED', 'TEMPFAILED')
           AND h.at BETWEEN @from AND @to
           AND (@sender IS NULL OR h.sender LIKE @sender ESCAPE '\\')
           AND (@recipient IS NULL OR h.recipient LIKE @recipient ESCAPE '\\')
           AND (@clientIp IS NULL OR h.client_ip LIKE @clientIp ESCAPE '\\')
         ORDER BY h.at DESC, h.id DESC LIMIT @limit`,
      ),
    };
  }

  /**
   * One page of the queue viewer: queued messages filtered, searched and sorted in SQL, with the number that match.
   * Sort keys and filters pick whitelisted SQL; the values are bound parameters. Count and page read one snapshot.
   */
  page(filter: QueuePageFilter = {}): { total: number; rows: QueuePageRow[] } {
    const sort = filter.sort ?? 'receivedAt';
    const direction = filter.direction === 'desc' ? 'DESC' : 'ASC';
    if (!Object.hasOwn(PAGE_SORT_SQL, sort)) throw new RangeError(`cannot sort the queue by ${JSON.stringify(sort)}`);
    if (filter.status && !Object.hasOwn(PAGE_STATUS_SQL, filter.status)) throw new RangeError(`no queue status ${JSON.stringify(filter.status)}`);
    if (filter.route && !Object.hasOwn(PAGE_ROUTE_SQL, filter.route)) throw new RangeError(`no route ${JSON.stringify(filter.route)}`);
    const conditions = [`m.status = 'queued'`];
    if (filter.status) conditions.push(PAGE_STATUS_SQL[filter.status]);
    if (filter.route) conditions.push(PAGE_ROUTE_SQL[filter.route]);
    const search = filter.search?.trim() ? containsPattern(filter.search.trim()) : undefined;
    if (search) conditions.push(PAGE_SEARCH_SQL);
    const where = conditions.join(' AND ');
    const count = this.pageStatement(`SELECT COUNT(*) AS n FROM messages m WHERE ${where}`);
    const order = PAGE_SORT_SQL[sort];
    const select = this.pageStatement(
      `SELECT m.id, m.received_at, m.sender, m.subject, m.size, m.held, m.client_ip, m.kind, m.from_name FROM messages m INDEXED BY ${order.index} WHERE ${where}
       ORDER BY ${order.sql} ${direction}, m.rowid ${direction} LIMIT @limit OFFSET @offset`,
    );
    const params: Record<string, string | number> = search ? { search } : {};
    const limit = Math.max(1, Math.min(filter.limit ?? 50, MAX_PAGE_LIMIT));
    const offset = Math.max(0, filter.offset ?? 0);
    return this.db.transaction(() => {
      const { n } = count.get(params) as { n: number };
      const messages = select.all({ ...params, limit, offset }) as PageMessage[];
      const byMessage = this.groupRecipients(messages.map((message) => message.id));
      return { total: n, rows: messages.map((message) => toPageRow(message, byMessage.get(message.id) ?? [])) };
    })();
  }

  /** Messages in any state (queued, done, deleted, quarantined), newest first; `limit` rows at most. */
  trackMessages(filter: TrackingFilter): (TrackedMessageRow & { recipients: TrackedRecipient[] })[] {
    const { outcome, ...params } = trackingParams(filter);
    const statement = outcome ? this.pageStatement(trackMessagesSql(outcome)) : this.statements.trackMessages;
    const rows = statement.all(params) as TrackedMessageRow[];
    const recipients = new Map<string, TrackedRecipient[]>();
    for (const { message_id, ...recipient } of this.statements.recipientsOf.all(JSON.stringify(rows.map((message) => message.id))) as (TrackedRecipient & { message_id: string })[]) {
      const list = recipients.get(message_id);
      if (list) list.push(recipient);
      else recipients.set(message_id, [recipient]);
    }
    return rows.map((row) => ({ ...row, recipients: recipients.get(row.id) ?? [] }));
  }

  /** Mail refused before it was accepted (history rows without a message), newest first; `limit` rows at most. */
  trackRefusals(filter: Omit<TrackingFilter, 'messageId' | 'subject' | 'outcome'>): RefusalRow[] {
    const { messageId: _id, subject: _subject, outcome: _outcome, ...params } = trackingParams(filter);
    return this.statements.trackRefusals.all(params) as RefusalRow[];
  }

  /**
   * The queue by destination: the waiting recipients of queued messages grouped by the internal server and by
   * recipient domain (mail going out), largest first, MAX_DESTINATIONS at most; each with its latest failure reply.
   */
  destinations(): DestinationRow[] {
    return this.db.transaction(() => {
      const rows = this.statements.destinations.all() as Omit<DestinationRow, 'lastReply' | 'lastReplyAt'>[];
      const key = (row: Pick<DestinationRow, 'route' | 'domain'>) => `${row.route} ${row.domain ?? ''}`;
      type Last = Pick<DestinationRow, 'route' | 'domain'> & { reply: string; at: number };
      const last = new Map((this.statements.destinationLastReplies.all() as Last[]).map((row) => [key(row), row]));
      return rows.map((row) => ({ ...row, lastReply: last.get(key(row))?.reply ?? null, lastReplyAt: last.get(key(row))?.at ?? null }));
    })();
  }

  /** The queued messages with a recipient waiting at the destination (`domain` null: the internal server). */
  destinationMessages(route: Route, domain: string | null): string[] {
    return (this.statements.destinationMessages.all({ route, domain }) as { id: string }[]).map((row) => row.id);
  }

  /**
   * Makes the destination's waiting recipients due `now`, with one `history` row for each message moved, in one
   * transaction; returns the ids of the messages moved.
   */
  retryDestination(route: Route, domain: string | null, now: number, history: Pick<HistoryEntry, 'action' | 'detail'>): string[] {
    return this.db.transaction(() => {
      const moved = this.destinationMessages(route, domain).filter((id) => this.statements.retryAtDestination.run({ id, route, domain, now }).changes > 0);
      for (const id of moved) this.statements.insertHistory.run(historyParams({ at: now, queueId: id, ...history }));
      return moved;
    })();
  }

  /**
   * Holds or releases every queued message with a recipient waiting at the destination, one `history` row for each
   * message changed, in one transaction (a release makes its waiting recipients due `now`); returns the ids changed.
   */
  holdDestination(route: Route, domain: string | null, held: boolean, now: number, history: Pick<HistoryEntry, 'action' | 'detail'>): string[] {
    return this.db.transaction(() => {
      const changed = this.destinationMessages(route, domain).filter((id) => this.statements.changeHeld.run({ held: held ? 1 : 0, id }).changes > 0);
      for (const id of changed) {
        if (!held) this.statements.retry.run(now, id);
        this.statements.insertHistory.run(historyParams({ at: now, queueId: id, ...history }));
      }
      return changed;
    })();
  }

  /** The top `limit` senders, recipients and sender domains of the mail accepted in [from, to). */
  topTalkers(from: number, to: number, limit: number): TopTalkers {
    const params = { from, to, limit };
    return this.db.transaction(() => {
      const { n } = this.statements.windowCount.get({ from, to }) as { n: number };
      return {
        senders: this.statements.topSenders.all(params) as TopTalkers['senders'],
        recipients: this.statements.topRecipients.all(params) as TopTalkers['recipients'],
        senderDomains: this.statements.topSenderDomains.all(params) as TopTalkers['senderDomains'],
        messages: n,
        capped: n >= MAX_STATISTICS_MESSAGES,
      };
    })();
  }

  /** The SQL is built only from the whitelists above, so the cache holds at most a few hundred statements. */
  private pageStatement(sql: string): Statement {
    let statement = this.pageStatements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.pageStatements.set(sql, statement);
    }
    return statement;
  }

  private groupRecipients(ids: string[]): Map<string, PageRecipient[]> {
    const byMessage = new Map<string, PageRecipient[]>();
    if (ids.length === 0) return byMessage;
    for (const row of this.statements.pageRecipients.all(JSON.stringify(ids)) as PageRecipient[]) {
      const list = byMessage.get(row.message_id);
      if (list) list.push(row);
      else byMessage.set(row.message_id, [row]);
    }
    return byMessage;
  }

  /** Inserts messages and history rows in one transaction (one WAL fsync: the group commit). */
  insertBatch(messages: readonly NewMessage[], history: readonly HistoryEntry[]): void {
    const s = this.statements;
    this.db.transaction(() => {
      for (const message of messages) {
        const dueAt = message.lifetimeFrom ?? message.receivedAt;
        s.insertMessage.run({ ...message, status: message.status ?? 'queued', decision: message.decision ?? null, addedHeaders: message.addedHeaders ?? null, fromName: message.fromName ?? null, lifetimeFrom: message.lifetimeFrom ?? null, senderCheck: message.senderCheck ?? null, dueAt, ...queueColumns(message) });
        for (const recipient of message.recipients) {
          (recipient.dropped ? s.insertDroppedRecipient : s.insertRecipient).run(message.id, recipient.address, recipient.route, dueAt, dueAt);
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
          s.updateRecipient.run({ ...update, attempted: update.attempted ? 1 : 0, backoffStep: update.backoffStep ?? null, messageId: record.messageId, now });
        }
        for (const entry of record.history) s.insertHistory.run(historyParams(entry));
        const { n } = s.pendingCount.get(record.messageId) as { n: number };
        if (n === 0 && s.finish.run({ id: record.messageId, status: 'done', now }).changes > 0) finished.push(record.messageId);
      }
      return finished;
    })();
  }

  /** Ends a queued message; one deleted or damaged takes its waiting recipients along (no retry counts them again). */
  finish(id: string, status: MessageStatus, now: number, history: HistoryEntry): boolean {
    return this.db.transaction(() => {
      const changed = this.statements.finish.run({ id, status, now }).changes > 0;
      if (changed && status !== 'done') this.statements.dropPending.run(now, id);
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

  /** Holds or releases every queued message; with `history`, one row for each message it changes. */
  setAllHeld(held: boolean, history?: Pick<HistoryEntry, 'at' | 'action' | 'detail'>): number {
    return this.db.transaction(() => {
      if (history) this.statements.historyOfAllHeld.run({ at: history.at, action: history.action, detail: history.detail ?? null, held: held ? 1 : 0 });
      return this.statements.setAllHeld.run(held ? 1 : 0, held ? 1 : 0).changes;
    })();
  }

  retry(id: string, now: number): number {
    return this.statements.retry.run(now, id).changes;
  }

  /** Makes every waiting recipient due now (returns how many); with `history`, one row for each queued message it touches. */
  retryAll(now: number, history?: Pick<HistoryEntry, 'action' | 'detail'>): number {
    return this.db.transaction(() => {
      if (history) this.statements.historyOfWaiting.run({ at: now, action: history.action, detail: history.detail ?? null });
      return this.statements.retryAll.run(now, now).changes;
    })();
  }

  /**
   * Makes due `now` the route's waiting recipients whose outcome was written from `since` (0: all), but for those
   * written at `now` or later (a try at `now` wrote them).
   */
  retryRoute(route: Route, since: number, now: number): number {
    return this.statements.retryRoute.run({ now, route, since }).changes;
  }


  /** Recipients still waiting at `domain` (an Apply that removed it says how many). Reads the waiting ones by the status index. */
  pendingAtDomain(domain: string): number {
    return (this.statements.pendingAtDomain.get(`%@${domain}`) as { n: number }).n;
  }

  /** How many `action` rows the message's history has since its last `since` row (all of them when it has none). */
  countHistorySince(id: string, action: HistoryAction, since: HistoryAction): number {
    return (this.statements.countSince.get({ id, action, since }) as { n: number }).n;
  }

  markDelayWarned(id: string): void {
    this.statements.setDelayWarned.run(id);
  }

  /** The header block the filters added, prepended to the message at delivery; null when there is none. */
  addedHeaders(id: string): string | null {
    return (this.statements.addedHeaders.get(id) as { added_headers: string | null } | undefined)?.added_headers ?? null;
  }

  /** The queue's values in the state table (the table's owner is store/state-store.ts). */
  getState(key: StateKey): string | undefined {
    return this.state.get(key);
  }

  setState(key: StateKey, value: string): void {
    this.state.put(key, value);
  }

  /**
   * Runs `work` in one transaction (one commit): a selection of the operations here, or of these and another store's
   * on this connection (a release that allows its sender), is written whole or not at all. Nests (as a savepoint).
   */
  atomically<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  /**
   * Quarantined messages, newest first; `search` (a case-insensitive substring of the sender, a recipient, the
   * subject, the Message-ID or the queue id) narrows them, an empty one does not.
   */
  /** One page of the quarantine: messages a recipient asked to have released first, then the rest, each newest first. */
  quarantineList(filter: { search?: string; limit: number; offset: number }): QuarantinedRow[] {
    const s = this.statements;
    const search = quarantinePattern(filter.search);
    const requested = s.quarantineRequested.all({ search, limit: filter.limit, offset: filter.offset }) as QuarantinedRow[];
    if (requested.length === filter.limit) return requested;
    const before = requested.length > 0 ? 0 : Math.max(0, filter.offset - (s.quarantineRequestedCount.get({ search }) as { n: number }).n);
    const rest = s.quarantineUnrequested.all({ search, limit: filter.limit - requested.length, offset: before }) as QuarantinedRow[];
    return [...requested, ...rest];
  }

  /** How many quarantined messages a user asked to have released (approval mode), waiting for the admin's answer. */
  releaseRequestCount(): number {
    return (this.statements.releaseRequestCount.get() as { n: number }).n;
  }

  /** How many messages `quarantineList` would find with `search`, without its limit. */
  quarantineCount(search?: string): number {
    return (this.statements.quarantineCount.get({ search: quarantinePattern(search) }) as { n: number }).n;
  }

  /** The message when it is in quarantine, else undefined. */
  quarantined(id: string): QuarantinedRow | undefined {
    return this.statements.quarantined.get(id) as QuarantinedRow | undefined;
  }

  /** The ids of the messages put in quarantine before `cutoff` (ms). */
  quarantinedBefore(cutoff: number): string[] {
    return (this.statements.quarantinedBefore.all(cutoff) as { id: string }[]).map((row) => row.id);
  }

  /**
   * Turns a quarantined message into a queued one received `now`, with `headers` as its added header block, its
   * waiting recipients due now. False (and nothing changed) when it is not in quarantine. Call it inside `atomically`
   * with its history row.
   */
  releaseQuarantined(id: string, now: number, headers: string | null): boolean {
    return this.db.transaction(() => {
      if (this.statements.releaseQuarantined.run({ id, now, headers }).changes === 0) return false;
      this.statements.retry.run(now, id);
      this.statements.dropReleaseRequests.run(id);
      return true;
    })();
  }

  /**
   * Takes one waiting recipient out of a quarantined message and queues `copy` (the same spool file under its own id,
   * linked beforehand, for that recipient only), with `history`, in one transaction: the other recipients stay in
   * quarantine. False (and nothing changed) when the message is no longer in quarantine or `address` no longer waits
   * in it. `address` is the recipient row's own spelling.
   */
  releaseRecipient(id: string, address: string, copy: NewMessage, now: number, history: readonly HistoryEntry[]): { released: boolean; emptied: boolean } {
    const s = this.statements;
    return this.db.transaction(() => {
      if (s.takeQuarantinedRecipient.run({ id, address, now, note: `released from quarantine to this recipient as ${copy.id}` }).changes === 0) return { released: false, emptied: false };
      s.dropReleaseRequest.run(id, address);
      this.insertBatch([copy], history);
      // the others released their own copies meanwhile: nobody waits for the original any more, so it is finished
      const emptied = (s.pendingRecipients.get(id) as { n: number }).n === 0;
      if (emptied) {
        s.finishQuarantined.run(now, id);
        s.dropReleaseRequests.run(id);
        s.insertHistory.run(historyParams({ at: now, queueId: id, action: 'RELEASED', detail: 'every recipient has had their own copy released; nothing left in quarantine' }));
      }
      return { released: true, emptied };
    })();
  }

  /** Records `address`'s request to have quarantined message `id` released; false when it is not waiting there (or asked already). */
  addReleaseRequest(id: string, address: string, now: number, history: HistoryEntry): boolean {
    return this.db.transaction(() => {
      if (this.statements.addReleaseRequest.run({ id, address, now }).changes === 0) return false;
      this.statements.insertHistory.run(historyParams(history));
      return true;
    })();
  }

  /** Drops `address`'s release request for message `id` (all of the message's requests without `address`); true when there was one. */
  dropReleaseRequest(id: string, address?: string): boolean {
    return (address === undefined ? this.statements.dropReleaseRequests.run(id) : this.statements.dropReleaseRequest.run(id, address)).changes > 0;
  }

  /** Ends a quarantined message (deleted), its waiting recipients with it, and writes `history`; false when it is not in quarantine. */
  finishQuarantined(id: string, now: number, history: HistoryEntry): boolean {
    return this.db.transaction(() => {
      const changed = this.statements.finishQuarantined.run(now, id).changes > 0;
      if (changed) {
        this.statements.dropPending.run(now, id);
        this.statements.dropReleaseRequests.run(id);
        this.statements.insertHistory.run(historyParams(history));
      }
      return changed;
    })();
  }

  /**
   * The internal recipients with quarantined copies not yet listed in a digest, with how many, the longest waiting
   * first; `address` (any case) narrows it to that one. At most `limit` recipients.
   */
  digestRecipients(filter: { address?: string; limit: number }): { address: string; count: number }[] {
    return this.statements.digestRecipients.all({ address: filter.address ?? null, limit: filter.limit }) as { address: string; count: number }[];
  }

  /** The quarantined messages for `address` (any case) not yet listed in a digest, oldest first, at most `limit`. */
  digestMessages(address: string, limit: number): MessageRow[] {
    return this.statements.digestMessages.all({ address, limit }) as MessageRow[];
  }

  /** Records that these copies were listed in a digest at `at` (one transaction); a copy listed before keeps its time. */
  markDigested(entries: readonly { id: string; address: string }[], at: number): void {
    this.db.transaction(() => {
      for (const entry of entries) this.statements.markDigested.run({ id: entry.id, address: entry.address, at });
    })();
  }

  /** The messages whose spool file must exist: queued and quarantined ones (every status but the finished ones). */
  keptFiles(): { id: string; spool_bytes: number }[] {
    return this.statements.keptFiles.all() as { id: string; spool_bytes: number }[];
  }

  queuedCount(): number {
    return (this.statements.queuedCount.get() as { n: number }).n;
  }

  /**
   * Copies from `live` the end of each of `ids` (status, finish time, every recipient's state), in one transaction:
   * a backup's snapshot takes the state of the messages that finished while it was made. Returns the ids `live` has
   * not finished (nothing of those is copied).
   */
  takeFinished(live: QueueStore, ids: readonly string[]): string[] {
    const unfinished: string[] = [];
    this.db.transaction(() => {
      for (const id of ids) {
        const row = live.statements.messageEnd.get(id) as { status: string; finished_at: number | null } | undefined;
        if (!row || !FINISHED.has(row.status)) {
          unfinished.push(id);
          continue;
        }
        this.statements.setMessageEnd.run(row.status, row.finished_at, id);
        for (const recipient of live.statements.recipientStates.all(id) as Record<string, unknown>[]) this.statements.setRecipientState.run({ ...recipient, id });
      }
    })();
    return unfinished;
  }

  /** Makes every waiting recipient due at `now` (a restored queue starts over); returns how many. */
  allPendingDue(now: number): number {
    return this.statements.allPendingDue.run(now).changes;
  }

  queued(): { id: string; spool_bytes: number }[] {
    return this.statements.queuedIds.all() as { id: string; spool_bytes: number }[];
  }

  /** The size its spool file was committed with; undefined for no such message. */
  spoolBytesOf(id: string): number | undefined {
    return (this.statements.spoolBytes.get(id) as { spool_bytes: number } | undefined)?.spool_bytes;
  }

  statusOf(id: string): MessageStatus | undefined {
    return (this.statements.idsExist.get(id) as { status: MessageStatus } | undefined)?.status;
  }

  /** Queued messages, the start of the longest wait among them (arrival, or release from quarantine), and those held. */
  summary(): { size: number; oldest: number | null; held: number } {
    const row = this.statements.summary.get() as { size: number; arrived: number | null; released: number | null; held: number | null };
    const waiting = [row.arrived, row.released].filter((at): at is number => at !== null);
    return { size: row.size, oldest: waiting.length > 0 ? Math.min(...waiting) : null, held: row.held ?? 0 };
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

type PageRecipient = Pick<RecipientRow, 'message_id' | 'address' | 'route' | 'status' | 'attempts' | 'next_attempt_at' | 'last_reply' | 'updated_at'>;

/** The viewer's row from the message and its recipients: the same definitions of status and route as the SQL above. */
type PageMessage = Pick<MessageRow, 'id' | 'received_at' | 'sender' | 'subject' | 'size' | 'held' | 'client_ip' | 'kind' | 'from_name'>;

function toPageRow(message: PageMessage, all: PageRecipient[]): QueuePageRow {
  const pending = all.filter((recipient) => recipient.status === 'pending');
  const shown = pending.length > 0 ? pending : all;
  const attempts = Math.max(0, ...pending.map((recipient) => recipient.attempts));
  const routes = new Set(shown.map((recipient) => recipient.route));
  let lastReply: PageRecipient | null = null;
  for (const recipient of pending) {
    if (recipient.last_reply !== null && (!lastReply || recipient.updated_at > lastReply.updated_at)) lastReply = recipient;
  }
  return {
    id: message.id,
    receivedAt: message.received_at,
    sender: message.sender,
    recipients: shown.map((recipient) => recipient.address),
    subject: decodeHeaderText(message.subject),
    senderName: senderName({ fromName: message.from_name, sender: message.sender, clientIp: message.client_ip, kind: message.kind }),
    size: message.size,
    route: routes.size > 1 ? 'mixed' : (routes.values().next().value ?? 'internal'),
    status: message.held ? 'held' : attempts > 0 ? 'deferred' : 'waiting',
    attempts,
    nextAttemptAt: pending.length > 0 ? Math.min(...pending.map((recipient) => recipient.next_attempt_at)) : null,
    lastReply: lastReply?.last_reply ?? null,
  };
}

/** SQLite's NOCASE folds ASCII only. */
const asciiLower = (text: string) => text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());

/** The queue viewer's keys of a new message, as the trigger of db.ts works them out once recipients change. */
function queueColumns(message: NewMessage): { firstRecipient: string | null; routes: number } {
  let first: string | null = null;
  let routes = 0;
  for (const recipient of message.recipients) {
    if (recipient.dropped) continue;
    if (first === null || asciiLower(recipient.address) < asciiLower(first)) first = recipient.address;
    routes |= recipient.route === 'internal' ? 1 : 2;
  }
  return { firstRecipient: first, routes };
}

/** Bound values only; an open end of the time window is a bound too, so the time index is walked as a range. */
function trackingParams(filter: TrackingFilter) {
  const pattern = (text: string | undefined) => (text?.trim() ? containsPattern(text.trim()) : null);
  return {
    from: filter.from ?? 0,
    to: filter.to ?? Number.MAX_SAFE_INTEGER,
    sender: pattern(filter.sender),
    recipient: pattern(filter.recipient),
    // Message-IDs are kept without their angle brackets; an admin pastes them with or without
    messageId: pattern(filter.messageId?.trim().replace(/^<|>$/g, '')),
    clientIp: pattern(filter.clientIp),
    subject: pattern(filter.subject),
    outcome: filter.outcome && Object.hasOwn(TRACK_OUTCOME_SQL, filter.outcome) ? filter.outcome : null,
    limit: filter.limit,
  };
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
