/**
 * Bounce or defer after a failed delivery attempt: a rule table read top to bottom and one pure
 * function, in the spirit of zone-mta's config/bounces.txt and lib/bounces.js.
 *
 * The reply class decides the action (RFC 5321 4.2.1: 4yz transient, 5yz permanent); the rules
 * add a category and a default status, and only greylisting and 503 override the class. A failure
 * without a reply is looked up by its error code. Anything unknown is deferred: a deferral that
 * keeps failing still ends in a bounce when the queue lifetime runs out, a wrong bounce loses the
 * message at once.
 */

export type Action = 'defer' | 'bounce';

export type Category =
  | 'network'
  | 'dns'
  | 'tls'
  | 'greylist'
  | 'mailbox-unknown'
  | 'mailbox-full'
  | 'size'
  | 'spam'
  | 'policy'
  | 'other';

/** What a delivery attempt left behind; a nodemailer error fits as it is. */
export interface DeliveryFailure {
  /** SMTP reply code, e.g. 550; read from the start of `response` when absent. */
  responseCode?: number;
  /** The remote reply, multi-line replies joined with \n as nodemailer does. */
  response?: string;
  /** Error code: ECONNREFUSED, ETIMEDOUT, EDNS, ESOCKET, ECONNECTION, EENVELOPE, EPROTOCOL, ETLS... */
  code?: string;
  /** The code before nodemailer set its own, e.g. ECONNREFUSED under ESOCKET. */
  originalCode?: string;
}

export interface Classification {
  action: Action;
  category: Category;
  /** RFC 3463 enhanced status, its class always matching the action (4 defer, 5 bounce). */
  status: string;
}

interface ReplyRule {
  /** What the rule says; its test is named with the same words. */
  readonly rule: string;
  /** The rule matches when any of text, status or codes matches. */
  readonly text?: RegExp;
  /** Matched against the enhanced status the server wrote, never a derived one. */
  readonly status?: RegExp;
  readonly codes?: readonly number[];
  /** Restricts the rule to one reply class. */
  readonly replyClass?: 4 | 5;
  readonly category: Category;
  /** Overrides the action the reply class gives. */
  readonly action?: Action;
  /** Status when the server wrote none; X is replaced by the class. */
  readonly defaultStatus?: string;
}

/** First match wins, so the narrow rules come before the broad ones. */
export const REPLY_RULES: readonly ReplyRule[] = [
  {
    rule: 'a reply that says greylisting is deferred, even when it wrongly comes with a 5xx code',
    text: /\bgr[ae]y-?list/i,
    category: 'greylist',
    action: 'defer',
  },
  {
    rule: 'a 4xx reply that asks to try again later is greylisting',
    text: /\btry again later\b/i,
    replyClass: 4,
    category: 'greylist',
  },
  {
    // nodemailer's isPermanentResponseCode makes the same exception: 503 says the session was
    // in the wrong state, so the same message can go through on a new connection.
    rule: '503 bad sequence of commands is deferred, because a new session can succeed',
    codes: [503],
    category: 'other',
    action: 'defer',
  },
  {
    rule: 'a reply about STARTTLS or encryption is a TLS failure',
    status: /^\d\.7\.(5|10|11)$/, // RFC 3463 cryptographic failure; RFC 5248 encryption needed
    text: /\bstarttls\b|\btls\b|\bencryption\b/i,
    category: 'tls',
    defaultStatus: 'X.7.10',
  },
  {
    rule: 'a reply about a full mailbox or quota is mailbox-full',
    status: /^\d\.2\.2$/,
    text: /\b(mail ?box|inbox)\b[^.]*\b(full|quota|size limit)\b|\bover ?quota\b|\bquota\b[^.]*\bexceeded\b|\bout of storage\b|\bexceeded storage allocation\b/i,
    category: 'mailbox-full',
    defaultStatus: 'X.2.2',
  },
  {
    rule: 'a reply about message size is a size failure',
    status: /^\d\.(3\.4|2\.3)$/,
    text: /\btoo (big|large)\b|\bsize\b[^.]*\b(exceed\w*|limit)\b|\bexceed\w*\b[^.]*\bsize\b/i,
    category: 'size',
    defaultStatus: 'X.3.4',
  },
  {
    rule: 'a reply that says the user does not exist is mailbox-unknown',
    status: /^\d\.1\.1$/,
    text: /\b(user|recipient|mailbox|account)\b[^.]*\b(unknown|not found|does not exist|doesn'?t exist)\b|\bno such (user|mailbox|recipient)\b|\binvalid recipient\b/i,
    category: 'mailbox-unknown',
    defaultStatus: 'X.1.1',
  },
  {
    rule: 'a reply about spam, blocklists or reputation is spam',
    text: /\bspam\w*|\bjunk\b|\b(black|block) ?list|\bdnsbl\b|\brbl\b|\breputation\b/i,
    category: 'spam',
    defaultStatus: 'X.7.1',
  },
  {
    rule: 'any other security or policy reply is policy',
    status: /^\d\.7\.\d{1,3}$/,
    text: /\bpolicy\b|\brelay(ing)?\b[^.]*\b(denied|not (permitted|allowed))\b|\bnot authori[sz]ed\b|\baccess denied\b|\b(SPF|DKIM|DMARC)\b/i,
    category: 'policy',
    defaultStatus: 'X.7.1',
  },
  {
    rule: 'a routing or name-server status is dns',
    status: /^\d\.(1\.2|1\.10|4\.3|4\.4)$/, // X.1.10 is a null MX (RFC 7505)
    category: 'dns',
  },
  {
    rule: 'any other network status, or 421, is network',
    status: /^\d\.4\.\d{1,3}$/,
    codes: [421],
    category: 'network',
  },
  {
    rule: 'a bare 552 is a full mailbox, as RFC 5321 defines it',
    codes: [552],
    category: 'mailbox-full',
  },
];

/** Status for a reply that carries no enhanced code and matched no rule default (RFC 3463 meanings of the RFC 5321 and 4954 codes). */
export const STATUS_BY_REPLY_CODE: Readonly<Record<number, string>> = {
  421: '4.4.2', // service closing the channel: connection dropped
  451: '4.3.0', // local error in processing
  452: '4.3.1', // insufficient system storage: mail system full
  454: '4.7.0', // TLS (RFC 3207) or authentication (RFC 4954) temporarily unavailable
  500: '5.5.2', // syntax error
  501: '5.5.4', // syntax error in parameters
  502: '5.5.1', // command not implemented
  503: '5.5.1', // bad sequence of commands
  504: '5.5.4', // parameter not implemented
  530: '5.7.0', // authentication required (RFC 4954)
  535: '5.7.8', // authentication credentials invalid (RFC 4954)
  552: '5.2.2', // exceeded storage allocation
  553: '5.1.3', // mailbox name not allowed: bad address syntax
};

interface ErrorRule {
  readonly rule: string;
  readonly codes: readonly string[];
  readonly action: Action;
  readonly category: Category;
  readonly status: string;
}

/**
 * The code delivery.ts gives a connection that ended (closed, reset, timed out) after the whole message was sent and
 * before the server answered the final dot. RFC 1047: the server may have delivered the message, so retrying can
 * duplicate it, and giving up can lose it; Moat retries, a bounded number of times (the scheduler's
 * MAX_NO_REPLY_AFTER_DATA), then holds the message for the admin.
 */
export const NO_REPLY_AFTER_DATA = 'ENOREPLY';

/** For failures that carry no 4xx or 5xx reply. */
export const ERROR_RULES: readonly ErrorRule[] = [
  {
    rule: 'no reply after the message data is deferred as connection dropped, never bounced: the server may have the message',
    codes: [NO_REPLY_AFTER_DATA],
    action: 'defer',
    category: 'network',
    status: '4.4.2',
  },
  {
    rule: 'a refused or timed-out connection is deferred as no answer from host',
    codes: ['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'],
    action: 'defer',
    category: 'network',
    status: '4.4.1',
  },
  {
    rule: 'a connection that dropped is deferred as connection dropped',
    codes: ['ECONNRESET', 'EPIPE', 'ESOCKET', 'ECONNECTION'],
    action: 'defer',
    category: 'network',
    status: '4.4.2',
  },
  {
    rule: 'a DNS failure is deferred as a temporary routing-server failure',
    codes: ['EDNS', 'ENOTFOUND', 'EAI_AGAIN'],
    action: 'defer',
    category: 'dns',
    status: '4.4.3',
  },
  {
    rule: 'a TLS handshake failure is deferred as a cryptographic failure',
    codes: ['ETLS'],
    action: 'defer',
    category: 'tls',
    status: '4.7.5',
  },
  {
    rule: 'an unexpected reply is deferred as a protocol failure',
    codes: ['EPROTOCOL'],
    action: 'defer',
    category: 'other',
    status: '4.5.0',
  },
  {
    // nodemailer refuses these envelopes before talking to the server; a retry refuses them again
    rule: 'an envelope the client refuses to send is bounced as a bad address',
    codes: ['EENVELOPE'],
    action: 'bounce',
    category: 'other',
    status: '5.1.3',
  },
];

const UNKNOWN_FAILURE: Classification = { action: 'defer', category: 'other', status: '4.0.0' };

// RFC 3463 2: class.subject.detail with up to three digits each; RFC 2034 puts it right after
// the reply code. The lookahead keeps the start of an IP address from passing for a status.
const REPLY_START = /^\s*(?:([2-5]\d\d)[ -]+)?(?:([245]\.\d{1,3}\.\d{1,3})(?!\.?\d))?/;

/** The part of a reply its rules read: as much as is kept of it (queue/delivery.ts MAX_REPLY_CHARS). */
const MAX_CLASSIFIED_CHARS = 512;

/** Decides whether a failed recipient is retried or bounced, and with which RFC 3463 status. */
export function classifyResponse(failure: DeliveryFailure): Classification {
  // the start of a reply says what it is; its rules' gaps ([^.]*) would backtrack over a long one
  const text = (failure.response ?? '').slice(0, MAX_CLASSIFIED_CHARS);
  const start = REPLY_START.exec(text);
  const responseCode = failure.responseCode ?? (start?.[1] ? Number(start[1]) : undefined);
  const written = start?.[2];

  if (responseCode === undefined || responseCode < 400 || responseCode > 599) {
    return classifyError(failure);
  }
  const replyClass = responseCode < 500 ? 4 : 5;
  const rule = REPLY_RULES.find(
    (r) =>
      (r.replyClass === undefined || r.replyClass === replyClass) &&
      ((r.text?.test(text) ?? false) ||
        (written !== undefined && (r.status?.test(written) ?? false)) ||
        (r.codes?.includes(responseCode) ?? false)),
  );
  const action = rule?.action ?? (replyClass === 4 ? 'defer' : 'bounce');
  const status =
    written ?? rule?.defaultStatus ?? STATUS_BY_REPLY_CODE[responseCode] ?? `${replyClass}.0.0`;
  return { action, category: rule?.category ?? 'other', status: inClass(status, action) };
}

function classifyError(failure: DeliveryFailure): Classification {
  const byCode = (code: string | undefined) =>
    code === undefined ? undefined : ERROR_RULES.find((r) => r.codes.includes(code));
  const rule = byCode(failure.originalCode) ?? byCode(failure.code);
  if (!rule) return { ...UNKNOWN_FAILURE };
  return { action: rule.action, category: rule.category, status: rule.status };
}

// RFC 3463 2: the class must agree with the outcome; a DSN for a deferral carries 4.x.x and
// one for a bounce 5.x.x, whatever class a confused server wrote.
function inClass(status: string, action: Action): string {
  return (action === 'defer' ? '4' : '5') + status.slice(1);
}
