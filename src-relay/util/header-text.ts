// Header values as a person reads them: RFC 2047 encoded words decoded (libmime, the decoder nodemailer and mailsplit
// use), then made safe to show: no control characters, no bidi controls that reorder what is seen.
import addressparser from 'nodemailer/lib/addressparser';
import libmime from 'libmime';
import { MAX_AUTHOR_FIELD_CHARS } from './address.ts';

/** A shown header value is cut to this many characters: RFC 5322 2.1.1's line limit, a subject line not a body. */
export const MAX_DISPLAY_CHARS = 998;

/** What Moat calls itself as the sender of the mail it writes (bounce reports, delay warnings, alerts). */
export const MOAT_SENDER_NAME = 'Moat';

// C0/C1 controls and DEL would break a line or a terminal; bidi embeddings, overrides and isolates reorder the text
// on screen, so what is read differs from what is stored (the "RLO attachment name" trick): they become U+FFFD, so
// the trick shows; the invisible direction marks just go
const CONTROLS = /[\p{Cc}]+/gu;
const BIDI_REORDERING = /[\u202A-\u202E\u2066-\u2069]/gu;
const BIDI_MARKS = /[\u200E\u200F\u061C]/gu;

/** Text made safe to show on one line: controls become a space, bidi reordering U+FFFD, runs of space shrink, cut to length. */
export function displayText(text: string): string {
  const flat = text.replace(CONTROLS, ' ').replace(BIDI_REORDERING, '\ufffd').replace(BIDI_MARKS, '').replace(/\s+/g, ' ').trim();
  return flat.length > MAX_DISPLAY_CHARS ? `${flat.slice(0, MAX_DISPLAY_CHARS - 1)}…` : flat;
}

/**
 * A header value as it is meant to be read: encoded words (RFC 2047, any charset iconv-lite knows) decoded, then
 * displayText. A word libmime cannot read stays as written. Decoding text that has none is a no-op, so values
 * stored decoded and values stored raw (rows from before this existed) come out the same. Null and empty give null.
 */
export function decodeHeaderText(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  let decoded = raw;
  try {
    decoded = libmime.decodeWords(raw);
  } catch {
    // an unknown charset or broken encoding: the raw text is still better than nothing
  }
  // a broken word that decodes to nothing: show what was written rather than an empty subject
  return displayText(decoded) || displayText(raw) || null;
}

/**
 * The display name of a From header's first mailbox ("Jürgen Weiß" from `=?utf-8?Q?J=C3=BCrgen_Wei=C3=9F?= <j@x>`), or
 * null when it has none. When the From address is not the envelope sender (given), the name is returned with the
 * From address ("Jürgen Weiß <j@x>"), and a From with no name is the address alone: what the recipients will read
 * as the sender must be seen beside the envelope sender it did not come with.
 */
export function fromDisplayName(raw: string | null | undefined, envelopeSender?: string | null): string | null {
  if (!raw) return null;
  // a name to show: the start of a From past the bound is enough (the parser's time grows with the square of it)
  const mailboxes = addressparser(raw.slice(0, MAX_AUTHOR_FIELD_CHARS), { flatten: true });
  const first = mailboxes[0];
  const name = angleFree(decodeHeaderText(first?.name ?? null));
  if (envelopeSender === undefined) return name;
  // a From of several mailboxes (or a group) is shown whole: the one a mail program shows may be any of them
  if (mailboxes.length > 1) return displayText(mailboxes.map((mailbox) => mailboxText(mailbox.name, mailbox.address)).join(', ')) || null;
  const address = displayText(first?.address ?? '');
  const elsewhere = Boolean(address) && address.toLowerCase() !== (envelopeSender ?? '').toLowerCase();
  if (!name) return elsewhere ? address : null;
  return elsewhere ? `${name} <${address}>` : name;
}

/**
 * A display name's angle brackets as look-alikes (‹ ›): "Name <address>" then has one reading, the address Moat put
 * there. A name of "IT Helpdesk <admin@example.test>" was read as its From address by every screen.
 */
function angleFree(name: string | null): string | null {
  return name === null ? null : name.replaceAll('<', '\u2039').replaceAll('>', '\u203a');
}

/** A display name is cut to this many characters beside its address: it must never push the address out of sight. */
export const MAX_SHOWN_NAME_CHARS = 60;

/**
 * A sender as a person should read it: "Name <address>", the name cut short; a name holding an address itself
 * ("it-helpdesk@example.test", or with a full-width ＠) comes after the real address, in quotes, never first.
 */
export function nameWithAddress(name: string | null, address: string): string {
  if (!name || name.toLowerCase() === address.toLowerCase()) return address;
  const shown = name.length > MAX_SHOWN_NAME_CHARS ? `${name.slice(0, MAX_SHOWN_NAME_CHARS - 1).trimEnd()}…` : name;
  return name.normalize('NFKC').includes('@') ? `${address}, named "${shown}"` : `${shown} <${address}>`;
}

function mailboxText(name: string | undefined, address: string | undefined): string {
  const shown = angleFree(decodeHeaderText(name ?? null));
  return shown ? `${shown} <${address ?? ''}>` : (address ?? '');
}

/**
 * Who a message says it is from, in plain words: Moat for mail Moat wrote (a null envelope sender with no client:
 * nothing outside put it in the queue), else the From header's display name as stored, else null (show the address).
 */
export function senderName(row: { fromName: string | null; sender: string; clientIp: string | null; kind?: string }): string | null {
  if (row.kind === 'dsn' || (row.sender === '' && row.clientIp === null)) return MOAT_SENDER_NAME;
  return decodeHeaderText(row.fromName);
}
