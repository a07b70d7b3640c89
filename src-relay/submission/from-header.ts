// The From (and Sender) header of a submitted message, read the strict way: an account may send only as itself, and
// what the recipient's mail program shows must be an address the account owns, however that program parses the field:
// encoded words decoded, quoted-pairs unescaped, comments dropped or shown, Unicode folded (NFKC, look-alike "@" and
// dots, invisible characters removed). Every "@" that any of those readings shows must sit in an owned address.
//
// Raw bytes are the other way a program's reading can differ from ours. RFC 5322 allows ASCII only; RFC 6532 adds raw
// UTF-8. Every current mail program writes a non-ASCII display name as RFC 2047 encoded words (labelled with their
// charset, decoded here in that charset, ISO-2022-JP and Shift_JIS included) or, with SMTPUTF8, as raw UTF-8. So:
// - ESC and the other C0 controls in From or Sender are refused: raw ISO-2022-JP (RFC 1468, pre-MIME Japanese mailers),
//   ISO-2022-KR/CN are sniffed by programs from their escape sequences, and a name shown that way is not the one read
//   here. (The header scrubber lets ESC through elsewhere in the header: a raw JIS Subject claims no identity.)
// - raw 8-bit bytes that are not UTF-8 are refused: what they show depends on the charset a program guesses.
// - raw UTF-8 is read as UTF-8, and also as the charset(s) the top-level Content-Type declares and as the legacy
//   charsets programs fall back to for unlabelled 8-bit header bytes (Outlook and Exchange read them in the body's
//   charset or the system code page), each by both the WHATWG decoders (Thunderbird, webmail) and iconv-lite (via
//   libmime): an address any of those readings shows counts, so valid UTF-8 crafted to read as "＠" in Shift_JIS fails.
// The refusal for raw bytes says what to do: let the mail program encode the header.
import addressparser from 'nodemailer/lib/addressparser';
import libmime from 'libmime';
import { senderAllowed, type SenderRule } from '../auth/names.ts';
import { checkSender, MAX_AUTHOR_FIELD_CHARS } from '../util/address.ts';
import { closeUpAround, trimEndOf } from '../util/linear-text.ts';

export interface HeaderField {
  name: string;
  /** Unfolded, as written (encoded words not decoded). */
  value: string;
}

/** An address shown when a field's raw bytes are read in a charset other than UTF-8. */
export interface Misread {
  address: string;
  charset: string;
}

export type AuthorCheck =
  | {
      ok: true;
      /** The From addresses, normalised, in order. */
      from: string[];
      /** Every address that appears in From or Sender, for the ownership check. */
      shown: string[];
      /** What only a program reading raw UTF-8 bytes in another charset shows (not in `shown`), also to be owned. */
      misread: Misread[];
    }
  | {
      ok: false;
      /** 'invalid': no single valid From; 'raw-bytes': raw control or non-UTF-8 bytes, which the sender's mail program should have encoded. */
      fault: 'invalid' | 'raw-bytes';
      reason: string;
    };

// The separators around a token of what a field shows: each token with an "@" in it counts (either side of the "@"
// may be empty, so a lone "@" is a token too: whatever stands beside it is no address the account owns). Split, not
// matched: a match of x*@x* backtracks over every long token without "@", quadratic on a hostile field.
const TOKEN_SEPARATORS = /[\s<>"'(),;:[\]\\]+/;
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
// Raw control characters in a field that names the author: ESC starts ISO-2022 shifts (JIS, KR, CN), SO/SI shift
// ISO-2022-KR, the rest have no business there (RFC 5322 2.2); HTAB is folding whitespace and stays
const RAW_CONTROL = /[\x00-\x08\x0A-\x1F\x7F]/;
// What HeaderPeek's UTF-8 reading puts where the raw bytes were not UTF-8 (a literal U+FFFD shows nothing either)
const NOT_UTF8 = /\uFFFD/;
const NON_ASCII = /[^\x00-\x7F]/;
// Charsets mail programs fall back to for raw 8-bit header bytes that nothing labels: the system code pages of
// Windows (Outlook, Exchange) and the encodings Japanese, Chinese and Korean programs sniff. iso-2022-jp needs ESC,
// which is refused before any of these is tried.
const SNIFFED_CHARSETS = [
  'shift_jis', 'euc-jp', 'gb18030', 'gbk', 'big5', 'euc-kr', 'windows-1250', 'windows-1251', 'windows-1252', 'windows-1253',
  'windows-1254', 'windows-1255', 'windows-1256', 'windows-1257', 'windows-1258', 'windows-874', 'koi8-r', 'koi8-u',
  'iso-8859-2', 'iso-8859-3', 'iso-8859-4', 'iso-8859-5', 'iso-8859-6', 'iso-8859-7', 'iso-8859-8', 'iso-8859-10',
  'iso-8859-13', 'iso-8859-14', 'iso-8859-15', 'iso-8859-16',
] as const;
// Charset names of encoded words that iconv-lite (libmime) decodes but the WHATWG list does not name; any other
// name the WHATWG list does not know is refused, since libmime would read it as UTF-8 and a program may not
const EXTRA_CHARSET_NAMES: Record<string, string> = { 'utf-7': 'utf-7', utf7: 'utf-7', 'unicode-1-1-utf-7': 'utf-7', cp932: 'shift_jis', ms932: 'shift_jis', cp936: 'gbk', cp949: 'euc-kr', cp950: 'big5' };
const ENCODED_WORD_CHARSET = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?[bBqQ]\?/g;

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

/** A charset name as a mail program may know it (WHATWG labels, plus the few iconv-lite names above), or null. */
function knownCharset(name: string): string | null {
  const lower = name.trim().toLowerCase();
  if (EXTRA_CHARSET_NAMES[lower]) return EXTRA_CHARSET_NAMES[lower];
  try {
    return new TextDecoder(lower).encoding;
  } catch {
    return /^cp(125\d)$/.test(lower) ? `windows-${lower.slice(2)}` : null;
  }
}

/** Bytes as each decoder at hand reads them in one charset: iconv-lite (libmime) and WHATWG (Thunderbird, browsers). */
function decodedAs(bytes: Buffer, charset: string): string[] {
  const texts: string[] = [libmime.decodeWord(charset, 'B', bytes.toString('base64'))];
  try {
    texts.push(new TextDecoder(charset).decode(bytes));
  } catch {
    // a name only iconv-lite knows (utf-7): its reading above is the one there is
  }
  return texts;
}

/** The charsets the header block's Content-Type field(s) declare (a program may read raw header bytes in them). */
function declaredCharsets(fields: readonly HeaderField[]): string[] {
  const charsets: string[] = [];
  for (const field of fields) {
    if (field.name.toLowerCase() !== 'content-type') continue;
    const charset = libmime.parseHeaderValue(field.value).params['charset'];
    if (typeof charset === 'string' && charset.trim() !== '') charsets.push(charset.trim().toLowerCase());
  }
  return charsets;
}

/**
 * The field as the programs that meet its raw bytes may read them (see the top of this file), or why it is refused.
 * The first reading is the UTF-8 one, as written.
 */
function rawReadings(value: string, declared: readonly string[]): { texts: { text: string; charset: string }[]; problem: string | null } {
  if (RAW_CONTROL.test(value)) {
    const what = value.includes('\x1B') ? 'a raw ESC byte (an unencoded ISO-2022 text such as JIS)' : 'a raw control character';
    return { texts: [], problem: `it holds ${what}; let the mail program encode the name (RFC 2047)` };
  }
  if (NOT_UTF8.test(value)) return { texts: [], problem: 'it holds raw 8-bit bytes that are not UTF-8; let the mail program encode the name (RFC 2047)' };
  const bytes = Buffer.from(value, 'utf8');
  const charsets = new Set<string>(declared);
  if (NON_ASCII.test(value)) for (const charset of SNIFFED_CHARSETS) charsets.add(charset);
  const texts = new Map<string, string>([[value, 'utf-8']]);
  for (const charset of charsets) for (const text of decodedAs(bytes, charset)) if (!texts.has(text)) texts.set(text, charset);
  return { texts: [...texts].map(([text, charset]) => ({ text, charset })), problem: null };
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
  return closeUpAround(text.replace(INVISIBLE, '').normalize('NFKC').replace(INVISIBLE, '').replace(CONFUSABLE_DOTS, '.'), '@');
}

/**
 * Everything a field may show around an "@", lower-cased: each reading of its raw bytes, as written and with encoded
 * words decoded, comments dropped and shown.
 */
interface Shown {
  /** What the field shows read as UTF-8 (RFC 6532), the way this relay and every current program reads it. */
  shown: string[];
  /** What only another charset's reading of its raw bytes shows. */
  misread: Misread[];
  problem: string | null;
  /** The problem is raw bytes the sender's program should have encoded. */
  rawBytes?: true;
}

function shownAddresses(value: string, declared: readonly string[]): Shown {
  const refused = (problem: string, rawBytes?: true): Shown => ({ shown: [], misread: [], problem, ...(rawBytes ? { rawBytes } : {}) });
  const raw = rawReadings(value, declared);
  if (raw.problem) return refused(raw.problem, true);
  for (const [, charset] of value.matchAll(ENCODED_WORD_CHARSET)) {
    if (!knownCharset(charset!)) return refused(`it holds an encoded word in an unknown charset ("${charset}")`);
  }
  const shown = new Set<string>();
  const misread = new Map<string, string>();
  for (const [index, { text, charset }] of raw.texts.entries()) {
    const decoded = decodeEncodedWords(text);
    if (LEFT_ENCODED_WORD.test(decoded)) return refused('it holds an encoded word that cannot be decoded');
    if (RAW_CONTROL.test(decoded)) return refused('it holds an encoded word that decodes to control characters');
    for (const version of [text, decoded]) {
      for (const reading of readings(version)) {
        if (BIDI_REORDERING.test(reading)) return refused('it holds a bidirectional override, which reorders what is shown');
        for (const token of asSeen(reading).split(TOKEN_SEPARATORS)) {
          if (!token.includes('@')) continue;
          const address = trimEndOf(token, /\./).toLowerCase();
          if (index === 0) shown.add(address);
          else if (!misread.has(address)) misread.set(address, charset);
        }
      }
    }
  }
  return { shown: [...shown], misread: [...misread].filter(([address]) => !shown.has(address)).map(([address, charset]) => ({ address, charset })), problem: null };
}

function addressesIn(value: string, declared: readonly string[]): { parsed: string[]; shown: string[]; misread: Misread[]; problem: string | null; rawBytes?: true } {
  // raw bytes first: the address parser below reads them as UTF-8 only
  const seen = shownAddresses(value, declared);
  if (seen.rawBytes) return { parsed: [], shown: [], misread: [], problem: seen.problem, rawBytes: true };
  const parsed: string[] = [];
  for (const entry of addressparser(value)) {
    if ('group' in entry) return { parsed, shown: [], misread: [], problem: `group syntax ("${entry.name}: ...;") is not accepted` };
    const checked = checkSender(entry.address ?? '');
    if (!checked.ok || checked.address === '') return { parsed, shown: [], misread: [], problem: `"${entry.address || entry.name}" is not a valid address` };
    parsed.push(checked.address.toLowerCase());
  }
  if (seen.problem) return { parsed, shown: [], misread: [], problem: seen.problem };
  return { parsed, shown: [...new Set([...parsed, ...seen.shown])], misread: seen.misread.filter((entry) => !parsed.includes(entry.address)), problem: null };
}

/** What an author check shows that the account's sender rules do not cover (empty: it may send this). */
export function addressesNotOwned(shown: readonly string[], rules: readonly SenderRule[]): string[] {
  return shown.filter((address) => !senderAllowed(rules, address));
}

/**
 * Exactly one From field with at least one valid address (RFC 5322 3.6), at most one Sender. Returns the From
 * addresses and everything address-like that From, Sender, Resent-From and Resent-Sender show, which must all belong
 * to the account.
 */
export function checkAuthorFields(block: string): AuthorCheck {
  const fields = headerFields(block);
  const from = fields.filter((field) => field.name.toLowerCase() === 'from');
  const sender = fields.filter((field) => field.name.toLowerCase() === 'sender');
  const invalid = (reason: string): AuthorCheck => ({ ok: false, fault: 'invalid', reason });
  if (from.length === 0) return invalid('the message has no From header');
  if (from.length > 1) return invalid(`the message has ${from.length} From headers`);
  if (sender.length > 1) return invalid(`the message has ${sender.length} Sender headers`);
  // the Sender, and every Resent-From and Resent-Sender: mail programs show them as who sent it (one shows the first,
  // another the last), and an office client's own message has no older resent blocks of someone else's
  const agents = fields.filter((field) => ['sender', 'resent-from', 'resent-sender'].includes(field.name.toLowerCase()));
  const tooLong = [...from, ...agents].find((field) => field.value.length > MAX_AUTHOR_FIELD_CHARS);
  if (tooLong) return invalid(`the ${tooLong.name} field is ${tooLong.value.length} characters long, over the limit of ${MAX_AUTHOR_FIELD_CHARS}`);
  const declared = declaredCharsets(fields);
  const author = addressesIn(from[0]!.value, declared);
  if (author.problem) return { ok: false, fault: author.rawBytes ? 'raw-bytes' : 'invalid', reason: `From: ${author.problem}` };
  if (author.parsed.length === 0) return invalid('the From header holds no address');
  const shown = new Set(author.shown);
  const misread = [...author.misread];
  for (const field of agents) {
    const agent = addressesIn(field.value, declared);
    if (agent.problem) return { ok: false, fault: agent.rawBytes ? 'raw-bytes' : 'invalid', reason: `${field.name}: ${agent.problem}` };
    for (const address of agent.shown) shown.add(address);
    misread.push(...agent.misread);
  }
  return { ok: true, from: author.parsed, shown: [...shown], misread: misread.filter((entry) => !shown.has(entry.address)) };
}
