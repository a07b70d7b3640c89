// The From (and Sender) header of a submitted message, read the strict way: an account may send only as itself, and
// what the recipient's mail program shows must be an address the account owns, however that program parses the field:
// encoded words decoded, quoted-pairs unescaped, comments dropped or shown, Unicode folded (NFKC, look-alike "@" and
// dots, invisible characters removed). Every "@" that any of those readings shows must sit in an owned address.
import addressparser from 'nodemailer/lib/addressparser';
import libmime from 'libmime';
import { senderAllowed, type SenderRule } from '../auth/names.ts';
import { checkSender } from '../util/address.ts';

export interface HeaderField {
  name: string;
  /** Unfolded, as written (encoded words not decoded). */
  value: string;
}

export type AuthorCheck =
  | { ok: true; /** The From addresses, normalised, in order. */ from: string[]; /** Every address that appears in From or Sender, for the ownership check. */ shown: string[] }
  | { ok: false; reason: string };

// One token around each "@" of what a field shows: the characters up to the nearest separator on each side (either
// side may be empty, so a lone "@" is a token too: whatever stands beside it is no address the account owns)
const AT_TOKEN = /[^\s<>"'(),;:[\]\\]*@[^\s<>"'(),;:[\]\\]*/g;
// Text still shaped like an encoded word after decoding: one libmime could not read, which some program may
const LEFT_ENCODED_WORD = /=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=/;
// Characters that show nothing but can split or hide an address: zero-width spaces and joiners, soft hyphen, word
// joiner, BOM, Mongolian vowel separator, bidi marks (all Default_Ignorable), removed before anything is matched
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;
// Bidi overrides and embeddings reorder what is shown, so the text read here is not the text seen: refused outright
const BIDI_REORDERING = /[\u202A-\u202E\u2066-\u2069]/u;
// Look-alikes of "@" and "." that NFKC leaves alone (it already maps fullwidth "＠" U+FF20, small "﹫" U+FE6B,
// fullwidth "．" U+FF0E, small "﹒" U+FE52 and one-dot leader "․" U+2024); from Unicode's confusables list
const CONFUSABLE_DOTS = /[\u3002\uFF61\u0701\u0702\uA60E\u0660\u06F0\uA4F8\u{10A50}]/gu;
const SPACE_AROUND_AT = /\s*@\s*/g;

/** The header block's fields in order (the block as HeaderPeek keeps it: CRLF line ends, folded). */
export function headerFields(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const line of block.split(/\r\n(?![ \t])/)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).replace(/\r\n([ \t])/g, '$1').trim() });
  }
  return fields;
}

/** RFC 2047 encoded words decoded (adjacent words joined first), for looking at what a mail program would display (never for sending). */
export function decodeEncodedWords(value: string): string {
  return libmime.decodeWords(value);
}

/**
 * A field value read two ways a mail program may show it: quoted-pairs unescaped and quotes dropped, comments left
 * out (programs that drop them, and the address parser, join what surrounds them) or shown in place.
 */
function readings(value: string): [commentsDropped: string, commentsShown: string] {
  let dropped = '';
  let shown = '';
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < value.length; i++) {
    let char = value[i]!;
    if (char === '\\' && i + 1 < value.length) char = value[++i]!;
    else if (char === '"' && depth === 0) {
      quoted = !quoted;
      continue;
    } else if (char === '(' && !quoted) {
      depth++;
      shown += ' ';
      continue;
    } else if (char === ')' && depth > 0) {
      depth--;
      shown += ' ';
      continue;
    }
    if (depth === 0) dropped += char;
    shown += char;
  }
  return [dropped, shown];
}

/** Text as a reader sees it: invisible characters gone, compatibility forms and look-alike dots folded (NFKC). */
function asSeen(text: string): string {
  return text.replace(INVISIBLE, '').normalize('NFKC').replace(INVISIBLE, '').replace(CONFUSABLE_DOTS, '.').replace(SPACE_AROUND_AT, '@');
}

/** Everything a field may show around an "@", lower-cased: raw and decoded, comments dropped and shown. */
function shownAddresses(value: string): { shown: string[]; problem: string | null } {
  const decoded = decodeEncodedWords(value);
  if (LEFT_ENCODED_WORD.test(decoded)) return { shown: [], problem: 'it holds an encoded word that cannot be decoded' };
  const shown = new Set<string>();
  for (const text of [value, decoded]) {
    for (const reading of readings(text)) {
      if (BIDI_REORDERING.test(reading)) return { shown: [], problem: 'it holds a bidirectional override, which reorders what is shown' };
      for (const match of asSeen(reading).matchAll(AT_TOKEN)) shown.add(match[0].replace(/\.+$/, '').toLowerCase());
    }
  }
  return { shown: [...shown], problem: null };
}

function addressesIn(value: string): { parsed: string[]; shown: string[]; problem: string | null } {
  const parsed: string[] = [];
  for (const entry of addressparser(value)) {
    if ('group' in entry) return { parsed, shown: [], problem: `group syntax ("${entry.name}: ...;") is not accepted` };
    const checked = checkSender(entry.address ?? '');
    if (!checked.ok || checked.address === '') return { parsed, shown: [], problem: `"${entry.address || entry.name}" is not a valid address` };
    parsed.push(checked.address.toLowerCase());
  }
  const seen = shownAddresses(value);
  if (seen.problem) return { parsed, shown: [], problem: seen.problem };
  return { parsed, shown: [...new Set([...parsed, ...seen.shown])], problem: null };
}

/** What an author check shows that the account's sender rules do not cover (empty: it may send this). */
export function addressesNotOwned(shown: readonly string[], rules: readonly SenderRule[]): string[] {
  return shown.filter((address) => !senderAllowed(rules, address));
}

/**
 * Exactly one From field with at least one valid address (RFC 5322 3.6), at most one Sender. Returns the From
 * addresses and everything address-like that From and Sender show, which must all belong to the account.
 */
export function checkAuthorFields(block: string): AuthorCheck {
  const fields = headerFields(block);
  const from = fields.filter((field) => field.name.toLowerCase() === 'from');
  const sender = fields.filter((field) => field.name.toLowerCase() === 'sender');
  if (from.length === 0) return { ok: false, reason: 'the message has no From header' };
  if (from.length > 1) return { ok: false, reason: `the message has ${from.length} From headers` };
  if (sender.length > 1) return { ok: false, reason: `the message has ${sender.length} Sender headers` };
  const author = addressesIn(from[0]!.value);
  if (author.problem) return { ok: false, reason: `From: ${author.problem}` };
  if (author.parsed.length === 0) return { ok: false, reason: 'the From header holds no address' };
  const shown = new Set(author.shown);
  if (sender.length === 1) {
    const agent = addressesIn(sender[0]!.value);
    if (agent.problem) return { ok: false, reason: `Sender: ${agent.problem}` };
    for (const address of agent.shown) shown.add(address);
  }
  return { ok: true, from: author.parsed, shown: [...shown] };
}
