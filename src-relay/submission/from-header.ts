// The From (and Sender) header of a submitted message, read the strict way: an account may send only as itself, and
// what the recipient's mail program shows must be an address the account owns, however that program parses the field.
import addressparser from 'nodemailer/lib/addressparser';
import { checkSender } from '../smtp/address.ts';

export interface HeaderField {
  name: string;
  /** Unfolded, as written (encoded words not decoded). */
  value: string;
}

export type AuthorCheck =
  | { ok: true; /** The From addresses, normalised, in order. */ from: string[]; /** Every address that appears in From or Sender, for the ownership check. */ shown: string[] }
  | { ok: false; reason: string };

// Something shaped like an address anywhere in a field, in a display name or a comment too: a mail program may show it
const ADDRESS_LIKE = /[^\s<>"'(),;:[\]\\]+@[^\s<>"'(),;:[\]\\]+/g;
const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

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

/** RFC 2047 encoded words decoded, for looking at what a mail program would display (never for sending). */
export function decodeEncodedWords(value: string): string {
  return value.replace(ENCODED_WORD, (_whole, charsetText: string, encoding: string, text: string) => {
    const charset = charsetText.split('*')[0]!.toLowerCase();
    const bytes =
      encoding.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
    try {
      return new TextDecoder(charset).decode(bytes);
    } catch {
      return bytes.toString('latin1');
    }
  });
}

function addressesIn(value: string): { parsed: string[]; shown: string[]; problem: string | null } {
  const parsed: string[] = [];
  for (const entry of addressparser(value, { flatten: true })) {
    const checked = checkSender(entry.address ?? '');
    if (!checked.ok || checked.address === '') return { parsed, shown: [], problem: `"${entry.address || entry.name}" is not a valid address` };
    parsed.push(checked.address.toLowerCase());
  }
  const shown = new Set(parsed);
  for (const text of [value, decodeEncodedWords(value)]) {
    for (const match of text.matchAll(ADDRESS_LIKE)) shown.add(match[0].replace(/\.+$/, '').toLowerCase());
  }
  return { parsed, shown: [...shown], problem: null };
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
