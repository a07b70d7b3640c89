/**
 * Delivery status notifications (RFC 3464) as a complete RFC 5322 message: multipart/report
 * (RFC 6522) with a plain-text explanation, a message/delivery-status part and the original
 * headers as text/rfc822-headers. The result uses CRLF only, is 7bit and keeps every line short,
 * so it can be spooled as it is and sent with a null envelope sender (RFC 5321 4.5.5).
 *
 * Every value from outside (addresses, the remote reply, the original headers) enters through
 * singleLine() or returnedHeaders(); what is not ASCII then leaves either quoted-printable (text
 * parts) or escaped (header fields and the delivery-status part).
 */
import { randomBytes } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { encodeWord } from 'nodemailer/lib/mime-funcs';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp';

export interface DsnRecipient {
  /** Final recipient, written as rfc822;address. */
  address: string;
  action: 'failed' | 'delayed';
  /** RFC 3463 status, e.g. '5.1.1'. */
  status: string;
  /** Host name of the server that answered, written as dns;host. */
  remoteMta?: string;
  /** No server was asked: the diagnostic is this relay's own refusal (the recipient's mail hosts are private addresses, a null MX). */
  decidedHere?: boolean;
  /** The remote reply, e.g. '550 5.1.1 user unknown'; written as smtp;... when it is an SMTP reply. */
  diagnostic?: string;
  lastAttempt?: Date;
  /** Only written for 'delayed'. */
  willRetryUntil?: Date;
}

export interface DsnInput {
  /** Our host name. */
  reportingMta: string;
  /** E.g. 'MAILER-DAEMON@relay.example.com'. */
  from: string;
  /** The original envelope sender; never empty, a null sender gets no DSN. */
  to: string;
  /** Ours, written as the per-message field X-Moat-Queue-ID. */
  queueId: string;
  arrivalDate: Date;
  /** All 'failed' or all 'delayed'. */
  recipients: DsnRecipient[];
  /** Header block of the original message; the fields returnedHeaders() picks are returned as text/rfc822-headers. */
  originalHeaders: string;
  now: Date;
  /** Message-ID value without angle brackets, supplied by the caller. */
  messageId: string;
}

/**
 * The fields of the original header block a DSN quotes back (RFC 6522 text/rfc822-headers may hold a subset): what
 * the sender needs to know which message it was. Not the whole block: that is whatever the sender wrote, and a notice
 * that returns 64 KiB of an attacker's header lines to a forged address carries their advertising (backscatter).
 */
export const RETURNED_HEADER_FIELDS: readonly string[] = ['from', 'to', 'subject', 'date', 'message-id'];
/** The first Received fields are returned too (ours and the hop before it: where the message came from). */
export const MAX_RETURNED_RECEIVED = 2;
/** One returned field is cut (at a fold, else inside) to this many bytes: a long To of a mailing still names the message. */
export const MAX_RETURNED_FIELD_BYTES = 1024;
/** What the returned fields come to at most (7 fields of MAX_RETURNED_FIELD_BYTES and their line ends: 7182 bytes). */
export const MAX_RETURNED_HEADER_BYTES = (RETURNED_HEADER_FIELDS.length + MAX_RETURNED_RECEIVED) * (MAX_RETURNED_FIELD_BYTES + 2);

/** A remote reply is cut to this many characters: four full RFC 5321 4.5.3.1.5 reply lines (512 octets each); beyond that it is noise in a DSN. */
export const MAX_DIAGNOSTIC_CHARS = 2048;

// RFC 5322 2.1.1: lines SHOULD stay within 78 characters and MUST stay within 998.
const FOLD_WIDTH = 78;
const MAX_LINE_CHARS = 998;
// RFC 2045 6.7 limits quoted-printable lines to 76; the plain text follows the same width.
const TEXT_WIDTH = 76;

const CRLF = '\r\n';

/** Builds the DSN for one message and its failed or delayed recipients. */
export function buildDsn(input: DsnInput): string {
  const first = input.recipients[0];
  if (!first) throw new RangeError('a DSN needs at least one recipient');
  const action = first.action;
  if (input.recipients.some((r) => r.action !== action)) {
    throw new RangeError('a DSN reports either failed or delayed recipients, not both');
  }
  const sender = singleLine(input.to);
  if (sender === '') throw new RangeError('a DSN is never sent to the null sender (RFC 5321 4.5.5)');

  const messageId = singleLine(input.messageId).replace(/[^\x21-\x7e]|[<>]/g, '');
  if (messageId === '') throw new RangeError('a DSN needs a Message-ID');

  // 144 random bits that nobody writing the original headers or a remote reply can know, and
  // "=_" never occurs in quoted-printable text (RFC 2045 6.7), the trick nodemailer uses too.
  const boundary = `=_moat_${randomBytes(18).toString('base64url')}`;
  const headers = [
    // from is our own configured address; ascii() only keeps a bad setting from breaking 7bit
    `From: Mail Delivery System <${ascii(singleLine(input.from))}>`,
    `To: ${headerAddress(sender)}`,
    `Subject: ${action === 'failed' ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)'}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: <${messageId}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
  ];
  const parts = [notificationPart(input, action), deliveryStatusPart(input), headersPart(input.originalHeaders)];
  return (
    headers.map(fold).join(CRLF) +
    CRLF +
    CRLF +
    'This is a MIME-encapsulated message.' +
    CRLF +
    parts.map((part) => `${CRLF}--${boundary}${CRLF}${part}`).join('') +
    `${CRLF}--${boundary}--${CRLF}`
  );
}

function notificationPart(input: DsnInput, action: DsnRecipient['action']): string {
  const arrived = rfc5322Date(input.arrivalDate);
  const paragraphs = [`This is the mail system at ${singleLine(input.reportingMta)}.`];
  if (action === 'failed') {
    paragraphs.push(
      `Your message of ${arrived} could not be delivered to one or more recipients. ` +
        'Delivery has stopped for them; the message will not be sent again.',
    );
  } else {
    paragraphs.push(
      `Your message of ${arrived} has not yet been delivered to one or more recipients. ` +
        'This is only a warning: you do not need to send it again.',
    );
  }
  for (const r of input.recipients) {
    const address = `<${singleLine(r.address)}>`;
    const lines =
      r.action === 'failed'
        ? [`It could not be delivered to ${address} (status ${singleLine(r.status)}).`]
        : [
            `It has not yet been delivered to ${address} (status ${singleLine(r.status)}).`,
            r.willRetryUntil
              ? `The mail system will keep trying until ${rfc5322Date(r.willRetryUntil)}.`
              : 'The mail system will keep trying.',
          ];
    if (r.diagnostic !== undefined) {
      const diagnostic = diagnosticText(r.diagnostic);
      const who = r.remoteMta === undefined ? 'The receiving server' : `The server ${singleLine(r.remoteMta)}`;
      lines.push(
        r.decidedHere ? `No receiving server was asked: this mail system did not send it (${diagnostic}).` : isSmtpReply(diagnostic) ? `${who} answered: ${diagnostic}` : `The last attempt failed: ${diagnostic}`,
      );
    }
    paragraphs.push(lines.join(' '));
  }
  paragraphs.push(
    `Queue ID ${singleLine(input.queueId)}. The headers of your message are attached below.`,
  );
  const plain = paragraphs.every(isPlainAscii);
  // Wrapped by encoded width, so the quoted-printable lines need no soft breaks mid-sentence.
  const width = plain ? (word: string) => word.length : (word: string) => qpEncode(word).length;
  const text = paragraphs.map((p) => wrapText(p, TEXT_WIDTH, width).join(CRLF)).join(CRLF + CRLF) + CRLF;
  if (plain) {
    return ['Content-Type: text/plain; charset=us-ascii', 'Content-Description: Notification', 'Content-Transfer-Encoding: 7bit', '', text].join(CRLF);
  }
  return ['Content-Type: text/plain; charset=utf-8', 'Content-Description: Notification', 'Content-Transfer-Encoding: quoted-printable', '', qpWrap(qpEncode(text), TEXT_WIDTH)].join(CRLF);
}

function deliveryStatusPart(input: DsnInput): string {
  const perMessage = [
    `Reporting-MTA: dns; ${hostName(input.reportingMta)}`,
    `X-Moat-Queue-ID: ${ascii(singleLine(input.queueId))}`,
    `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`,
  ];
  const perRecipient = input.recipients.map((r) => {
    const fields = [
      `Final-Recipient: ${addressField(r.address)}`,
      `Action: ${r.action}`,
      `Status: ${ascii(singleLine(r.status))}`,
    ];
    if (r.remoteMta !== undefined) fields.push(`Remote-MTA: dns; ${hostName(r.remoteMta)}`);
    if (r.diagnostic !== undefined) {
      const diagnostic = ascii(diagnosticText(r.diagnostic));
      // RFC 3464 2.3.6: the smtp type is for SMTP replies; anything else is our own wording.
      const type = isSmtpReply(diagnostic) ? 'smtp' : 'X-Moat';
      fields.push(`Diagnostic-Code: ${type}; ${diagnostic}`);
    }
    if (r.lastAttempt) fields.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttempt)}`);
    if (r.action === 'delayed' && r.willRetryUntil) {
      fields.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
    }
    return fields;
  });
  const groups = [perMessage, ...perRecipient].map((fields) => fields.map(fold).join(CRLF));
  return ['Content-Type: message/delivery-status', 'Content-Description: Delivery report', '', groups.join(CRLF + CRLF) + CRLF].join(CRLF);
}

function headersPart(originalHeaders: string): string {
  const text = returnedHeaders(originalHeaders);
  const lines = text.split(CRLF);
  if (isPlainAscii(text) && lines.every((line) => line.length < MAX_LINE_CHARS)) {
    return ['Content-Type: text/rfc822-headers', 'Content-Description: Undelivered Message Headers', 'Content-Transfer-Encoding: 7bit', '', text].join(CRLF);
  }
  // 8-bit (RFC 6532) or overlong headers go quoted-printable: the text stays byte for byte the same.
  return ['Content-Type: text/rfc822-headers; charset=utf-8', 'Content-Description: Undelivered Message Headers', 'Content-Transfer-Encoding: quoted-printable', '', qpWrap(qpEncode(text), TEXT_WIDTH)].join(CRLF);
}

/**
 * The fields of the original header block a DSN returns (RETURNED_HEADER_FIELDS and the first MAX_RETURNED_RECEIVED
 * Received fields), in their order, CRLF line ends, each cut to MAX_RETURNED_FIELD_BYTES (so all of them to
 * MAX_RETURNED_HEADER_BYTES). Each of the named fields is returned once (the first), as a reader shows it.
 */
export function returnedHeaders(block: string): string {
  const normalised = block.replace(/\r\n|\r|\n/g, CRLF).replace(/(\r\n)+$/, '');
  const fields: string[] = [];
  for (const line of normalised.split(CRLF)) {
    if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1] += CRLF + line;
    else fields.push(line);
  }
  const seen = new Set<string>();
  let received = 0;
  const kept: string[] = [];
  for (const field of fields) {
    const name = /^([^:\s]+)[ \t]*:/.exec(field)?.[1]?.toLowerCase();
    if (!name) continue;
    if (name === 'received') {
      if (received++ >= MAX_RETURNED_RECEIVED) continue;
    } else if (!RETURNED_HEADER_FIELDS.includes(name) || seen.has(name)) {
      continue;
    }
    seen.add(name);
    kept.push(cutField(field));
  }
  return kept.map((field) => field + CRLF).join('');
}

/** A field cut to MAX_RETURNED_FIELD_BYTES: at its last fold inside the limit, else inside a line (whole characters). */
function cutField(field: string): string {
  const bytes = Buffer.from(field, 'utf8');
  if (bytes.length <= MAX_RETURNED_FIELD_BYTES) return field;
  const cut = bytes.subarray(0, MAX_RETURNED_FIELD_BYTES);
  const fold = cut.lastIndexOf(CRLF);
  // A cut inside a UTF-8 sequence decodes to U+FFFD; drop it rather than return a broken character.
  return (fold > 0 ? cut.subarray(0, fold) : cut).toString('utf8').replace(/\uFFFD+$/, '');
}

/** One line of text: control characters (CR and LF among them) become spaces, runs of space collapse. */
function singleLine(value: string): string {
  return value
    .replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]+/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
}

// A multi-line reply repeats its code on every line (RFC 5321 4.2.1); keep the first one only,
// as zone-mta's formatSMTPResponse does.
function diagnosticText(value: string): string {
  const [first = '', ...more] = value.split(/\r?\n/);
  const continued = more.map((line) => line.replace(/^\d{3}[ -](?:[245]\.\d{1,3}\.\d{1,3} )?/, ''));
  const text = singleLine([first.replace(/^(\d{3})-/, '$1 '), ...continued].join(' '));
  return text.length > MAX_DIAGNOSTIC_CHARS ? `${text.slice(0, MAX_DIAGNOSTIC_CHARS)} [...]` : text;
}

function isSmtpReply(text: string): boolean {
  return /^[2-5]\d\d(?:[ -]|$)/.test(text);
}

function isPlainAscii(text: string): boolean {
  return /^[\t\r\n\x20-\x7e]*$/.test(text);
}

/** Non-ASCII as RFC 6533 \x{HEX} escapes, so the delivery-status part stays 7bit (RFC 3464 2.1). */
function ascii(value: string): string {
  return value.replace(/[^\x20-\x7e]/gu, escapeCodePoint);
}

function escapeCodePoint(ch: string): string {
  return `\\x{${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase()}}`;
}

// RFC 6533 3: a non-ASCII address is written with the utf-8 address type in xtext form, where
// "+", "=", "\" and anything outside printable ASCII are escaped.
function addressField(address: string): string {
  const value = singleLine(address);
  if (isPlainAscii(value)) return `rfc822; ${value}`;
  return `utf-8; ${value.replace(/[^\x21-\x2a\x2c-\x3c\x3e-\x5b\x5d-\x7e]/gu, escapeCodePoint)}`;
}

function hostName(host: string): string {
  const value = singleLine(host);
  if (isPlainAscii(value)) return value;
  return domainToASCII(value) || ascii(value);
}

// A non-ASCII address cannot appear in a 7bit header (RFC 6532 needs 8bit), so it becomes the
// RFC 2047 encoded name of an empty group: readers still show the address, nothing routes on it.
function headerAddress(address: string): string {
  const value = address.replace(/[<>]/g, '');
  if (isPlainAscii(value)) return `<${value}>`;
  return `${encodeWord(value, 'Q', 40)}:;`;
}

/** RFC 5322 3.3 date-time in UTC. */
function rfc5322Date(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new RangeError('invalid date in DSN input');
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/** Folds one header field (RFC 5322 2.2.3) at spaces; a word too long for a line is split, which adds a space when unfolded. */
function fold(field: string): string {
  const [head = '', ...rest] = splitWords(field, FOLD_WIDTH - 1);
  let line = head;
  const lines: string[] = [];
  for (const word of rest) {
    if (line.length + 1 + word.length <= FOLD_WIDTH) {
      line += ` ${word}`;
    } else {
      lines.push(line);
      line = ` ${word}`;
    }
  }
  lines.push(line);
  return lines.join(CRLF);
}

/** Word-wraps one paragraph to `width` as `measure` counts; a word longer than the width is split. */
function wrapText(paragraph: string, width: number, measure: (word: string) => number): string[] {
  const lines: string[] = [];
  let line = '';
  let used = 0;
  for (const word of splitWords(paragraph, width)) {
    const size = measure(word);
    if (line === '') {
      line = word;
      used = size;
    } else if (used + 1 + size <= width) {
      line += ` ${word}`;
      used += 1 + size;
    } else {
      lines.push(line);
      line = word;
      used = size;
    }
  }
  lines.push(line);
  return lines;
}

function splitWords(text: string, maxWord: number): string[] {
  return text
    .split(' ')
    .filter((word) => word !== '')
    .flatMap((word) => {
      if (word.length <= maxWord) return [word];
      const chars = Array.from(word); // whole code points, so a split never halves a surrogate pair
      const pieces: string[] = [];
      for (let i = 0; i < chars.length; i += maxWord) pieces.push(chars.slice(i, i + maxWord).join(''));
      return pieces;
    });
}
