import { z } from 'zod';
import { method } from '../util/contract-kit.ts';

/** A page of the queue viewer has at most this many rows (the queue itself may hold 100,000). */
export const MAX_PAGE_ROWS = 500;
/** One bulk action touches at most this many messages. */
export const MAX_BULK_IDS = 1000;

const empty = z.object({}).strict();
const id = z.string().regex(/^[A-Za-z0-9]{6,40}$/, 'not a queue id');
const search = z.string().trim().max(200);

export const queueSummarySchema = z.object({ size: z.number(), oldest: z.number().nullable(), held: z.number(), queueHeld: z.boolean() });

/** What the viewer's status column says: waiting for a first try, retrying after a failure, or held. */
export const queueRowStatus = z.enum(['waiting', 'deferred', 'held']);

export const queueRowSchema = z.object({
  id: z.string(),
  receivedAt: z.number(),
  sender: z.string(),
  /** The recipients still waiting (a message partly delivered lists only the rest). */
  recipients: z.array(z.string()),
  subject: z.string().nullable(),
  /**
   * Who it says it is from, in plain words: the From header's display name decoded ("Name <from address>" when that
   * address is not the envelope sender), "Moat" for mail Moat wrote; null: show the sender address.
   */
  senderName: z.string().nullable(),
  size: z.number(),
  /** Where the waiting recipients go: the internal server, out to the internet, or both. */
  route: z.enum(['internal', 'outbound', 'mixed']),
  status: queueRowStatus,
  /** The most attempts any waiting recipient has had. */
  attempts: z.number(),
  nextAttemptAt: z.number().nullable(),
  /** The latest failure reply of a waiting recipient ("RCPT TO: 451 4.3.0 mailbox busy"). */
  lastReply: z.string().nullable(),
});

/**
 * Where a message stands, for message tracking. `partial`: finished, some recipients delivered and some bounced;
 * `refused`: never accepted (refused at RCPT or after the content check; `detail` says why).
 */
export const trackingOutcome = z.enum(['queued', 'deferred', 'held', 'delivered', 'bounced', 'partial', 'quarantined', 'deleted', 'damaged', 'refused']);
/** What tracking can be narrowed to: `delivered` and `bounced` each include `partial`; `deferred` is queued after a failed try. */
export const trackingOutcomeFilter = z.enum(['delivered', 'deferred', 'held', 'bounced', 'refused', 'quarantined', 'deleted']);

/** An attachment as a preview lists it (the quarantine's preview and the queue's message text). */
export const attachmentSchema = z.object({
  part: z.string(),
  filename: z.string().nullable(),
  contentType: z.string(),
  size: z.number(),
  /** What the first bytes say it is ("pe-executable", "zip"), whatever its name claims. */
  detectedType: z.string().nullable(),
  /** A zip archive's members as its directory lists them, or a winmail.dat's files (TNEF), or why they could not be listed. */
  archive: z.object({ members: z.array(z.object({ name: z.string(), encrypted: z.boolean(), size: z.number() })), problem: z.string().nullable() }).optional(),
});

/**
 * Where waiting mail goes: the internal server (`domain` null), or a recipient domain of the mail going out.
 * `state`: `down` when the last attempt could not reach the server; `refusing` when it answered but put the whole
 * message off (queue/route-state.ts); `paused` while delivery is paused for the whole
 * queue; `held` when all its messages are held on their own; `deferred` after a failed try; `waiting` otherwise.
 */
export const destinationSchema = z.object({
  route: z.enum(['internal', 'outbound']),
  domain: z.string().nullable(),
  messages: z.number(),
  recipients: z.number(),
  held: z.number(),
  state: z.enum(['waiting', 'deferred', 'held', 'paused', 'refusing', 'down']),
  /** Since when the server has been unreachable or refusing (state `down`, `refusing`). */
  downSince: z.number().nullable(),
  attempts: z.number(),
  nextAttemptAt: z.number().nullable(),
  /** The latest failure: a waiting recipient's reply, else why the server could not be reached or refused. */
  lastError: z.string().nullable(),
  lastErrorAt: z.number().nullable(),
});

/** A recipient domain as the admin types it (lower-cased by the engine). */
const domain = z.string().trim().min(1).max(253).regex(/^[^\s@]+$/, 'not a domain');

export const historyEventSchema = z.object({
  at: z.number(),
  action: z.string(),
  recipient: z.string().nullable(),
  /** The event in plain words ("Delivered to the internal server: 250 OK"). */
  text: z.string(),
  detail: z.string().nullable(),
  /** The next hop's reply on a deferral, bounce or expiry, as it came (the screens put it in words too). */
  reply: z.string().nullable(),
});

/** The content filters' decision trace, as kept with the message. */
export const decisionSchema = z.object({
  action: z.enum(['accept', 'tag', 'quarantine', 'tempfail', 'reject']),
  score: z.number(),
  cause: z.enum(['virus', 'junk', 'policy', 'sender', 'unavailable']).nullable(),
  reason: z.string(),
  senderList: z.object({ list: z.enum(['allow', 'deny']), entry: z.string() }).nullable(),
  filters: z.array(z.object({ name: z.string(), verdict: z.string(), said: z.string(), score: z.number(), reasons: z.array(z.string()), ms: z.number(), failed: z.string().nullable() })),
});

export const messageDetailSchema = z.object({
  id: z.string(),
  receivedAt: z.number(),
  clientIp: z.string().nullable(),
  helo: z.string().nullable(),
  sender: z.string(),
  subject: z.string().nullable(),
  /**
   * Who it says it is from, in plain words: the From header's display name decoded ("Name <from address>" when that
   * address is not the envelope sender), "Moat" for mail Moat wrote; null: show the sender address.
   */
  senderName: z.string().nullable(),
  headerMessageId: z.string().nullable(),
  size: z.number(),
  kind: z.enum(['mail', 'dsn']),
  status: z.enum(['queued', 'done', 'deleted', 'damaged', 'quarantined']),
  held: z.boolean(),
  recipients: z.array(
    z.object({
      address: z.string(),
      route: z.enum(['internal', 'outbound']),
      status: z.enum(['pending', 'delivered', 'bounced', 'deleted']),
      attempts: z.number(),
      nextAttemptAt: z.number().nullable(),
      lastReply: z.string().nullable(),
      lastStatus: z.string().nullable(),
    }),
  ),
  decision: decisionSchema.nullable(),
  /** Everything that happened to it, oldest first, in plain words: the decision trace and each delivery attempt. */
  history: z.array(historyEventSchema),
  /**
   * While it waits in the queue: when Moat gives up and returns it to its sender (queue.lifetimeHours after it
   * arrived), and when its sender is told it is delayed (null: never, or it has been told: `senderWarned`).
   */
  retrying: z.object({ givesUpAt: z.number(), lifetimeHours: z.number(), warnsSenderAt: z.number().nullable(), senderWarned: z.boolean() }).nullable(),
});

export const queueContract = {
  'queue.summary': method({ summary: 'Queue size, oldest message, held count, whether delivery is paused', input: empty, output: queueSummarySchema }),
  'queue.list': method({
    summary: 'One page of queued messages, filtered, searched and sorted on the server',
    input: z
      .object({
        search: search.optional(),
        status: queueRowStatus.optional(),
        route: z.enum(['internal', 'outbound']).optional(),
        sort: z.enum(['receivedAt', 'sender', 'recipient', 'size', 'attempts', 'nextAttemptAt']).default('receivedAt'),
        direction: z.enum(['asc', 'desc']).default('asc'),
        offset: z.number().int().min(0).default(0),
        limit: z.number().int().min(1).max(MAX_PAGE_ROWS).default(50),
      })
      .strict(),
    output: z.object({ total: z.number(), rows: z.array(queueRowSchema) }),
  }),
  'queue.show': method({
    summary: 'One message: envelope, decision trace, every attempt (one finished meanwhile is shown as it ended)',
    input: z.object({ id }).strict(),
    output: messageDetailSchema,
  }),
  'queue.act': method({
    summary: 'Retry, hold, release, delete or bounce one message or a selection',
    input: z.object({ action: z.enum(['retry', 'hold', 'release', 'delete', 'bounce']), ids: z.array(id).min(1).max(MAX_BULK_IDS) }).strict(),
    // unchanged: already in the asked-for state (held, or not held); an undo must not touch them
    output: z.object({ done: z.array(z.string()), unchanged: z.array(z.string()), gone: z.array(z.string()) }),
  }),
  'queue.destinations': method({
    summary: 'The queue by destination: the internal server and each domain mail goes out to, with state and last error',
    input: empty,
    output: z.object({ destinations: z.array(destinationSchema), queueHeld: z.boolean(), truncated: z.boolean() }),
  }),
  'queue.actOnDestination': method({
    summary: 'Retry now, hold or release everything waiting for one destination (one transaction)',
    input: z
      .object({ action: z.enum(['retry', 'hold', 'release']), route: z.enum(['internal', 'outbound']), domain: domain.nullable() })
      .strict()
      .refine((value) => (value.route === 'internal') === (value.domain === null), { message: 'the internal server has no domain; a domain needs the outbound route', path: ['domain'] }),
    output: z.object({ done: z.array(z.string()) }),
  }),
  'queue.body': method({
    summary: "A queued or quarantined message's text, safe to show: header fields and text only (HTML's tags removed), attachments listed",
    input: z.object({ id }).strict(),
    output: z.object({
      /** As received, unfolded; control characters and bidi overrides replaced by U+FFFD. Show as text, never as HTML. */
      headers: z.array(z.object({ name: z.string(), value: z.string() })),
      /** The plain text (or the HTML's text, tags removed), at most 8 KiB, controls replaced as in headers. */
      text: z.string(),
      /** The text was longer than shown. */
      truncated: z.boolean(),
      attachments: z.array(attachmentSchema),
    }),
  }),
  'queue.download': method({
    summary: 'A one-time link (for this session, valid one minute) to download the message file as .eml; the download is logged',
    input: z.object({ id }).strict(),
    output: z.object({ url: z.string(), expiresAt: z.number() }),
  }),
  'queue.retryAll': method({ summary: 'Every waiting recipient is due now', input: empty, output: z.object({ count: z.number() }) }),
  'queue.holdAll': method({ summary: 'Pause delivery: nothing leaves until released', input: empty, output: queueSummarySchema }),
  'queue.releaseAll': method({ summary: 'Resume delivery and release every held message', input: empty, output: queueSummarySchema }),
  'queue.resume': method({ summary: 'Resume delivery; messages held on their own stay held', input: empty, output: queueSummarySchema }),
  'tracking.search': method({
    summary: 'Find messages (delivered, bounced, queued, quarantined or refused) by sender, recipient, Message-ID, client address, subject, outcome or time',
    input: z
      .object({
        sender: search.optional(),
        recipient: search.optional(),
        messageId: search.optional(),
        clientIp: search.optional(),
        subject: search.optional(),
        outcome: trackingOutcomeFilter.optional(),
        from: z.number().optional(),
        to: z.number().optional(),
        limit: z.number().int().min(1).max(MAX_PAGE_ROWS).default(100),
      })
      .strict(),
    output: z.object({
      rows: z.array(
        z.object({
          id: z.string().nullable(),
          at: z.number(),
          sender: z.string(),
          recipients: z.array(z.string()),
          subject: z.string().nullable(),
          senderName: z.string().nullable(),
          headerMessageId: z.string().nullable(),
          outcome: trackingOutcome,
          /** Each recipient's own outcome where the message is queued or done (one delivered, another waiting); else empty. */
          recipientOutcomes: z.array(z.object({ address: z.string(), outcome: trackingOutcome })),
          /** For refused mail (no queue id): why, in plain words. */
          detail: z.string().nullable(),
        }),
      ),
      truncated: z.boolean(),
    }),
  }),
  'tracking.trace': method({ summary: 'What happened to one message, in plain words', input: z.object({ id }).strict(), output: messageDetailSchema }),
} as const;
