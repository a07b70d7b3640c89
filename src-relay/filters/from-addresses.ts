import { closeUpAround } from '../util/linear-text.ts';

/**
 * The addresses in the From header field(s), lower-case: every address-like word, wherever it stands (in a group,
 * after a display name, in angle brackets or not). The sender lists' deny check and the built-in rules read From so
 * (more words than a mail program shows: a denial or a suspicion is never missed); DMARC reads `mailboxAddresses`.
 */
export function fromAddresses(headers: readonly { name: string; value: string }[]): string[] {
  const addresses: string[] = [];
  for (const header of headers) {
    if (header.name.toLowerCase() !== 'from') continue;
    // the words between separators with an "@" inside: split, not matched (a match of word@word backtracks over
    // every long word without one, quadratic on a hostile From)
    for (const word of header.value.split(ADDRESS_SEPARATORS)) {
      const at = word.indexOf('@', 1);
      if (at !== -1 && at < word.length - 1) addresses.push(word.toLowerCase());
    }
  }
  return addresses;
}

const ADDRESS_SEPARATORS = /[\s<>"(),;:]+/;

/**
 * The addresses of a From field's mailboxes as RFC 5322 reads them, lower-case: comments dropped (nested, with
 * quoted-pairs), groups flattened ("Board: a@x, b@y;"), the address in angle brackets when there is one (a display
 * name's words are not an address), whitespace around "@" and "." dropped, a quoted local part unquoted, a route
 * ("<@relay:a@x>") dropped. What mail programs show as the sender; DMARC applies to these. `malformed`: the field
 * cannot be read so, and what a reader shows is anybody's guess: an unclosed quote, comment or bracket; anything
 * but space after the brackets; a group name with "@" or brackets in it; an address with words in it, with an
 * encoded word, or angle brackets with no "@". Words with no "@" and no brackets show no address and give nothing
 * (an unquoted "Doe, Jane <a@x>", as some mail programs write it).
 */
export function mailboxAddresses(value: string): { addresses: string[]; malformed: boolean } {
  const addresses: string[] = [];
  const uncommented = withoutComments(value);
  let malformed = uncommented === null;
  for (const mailbox of splitMailboxes(uncommented ?? value)) {
    if (mailbox === null) {
      malformed = true;
      continue;
    }
    if (mailbox.trim() === '') continue;
    const found = addressSpec(mailbox);
    if (found === null) {
      malformed = true;
      continue;
    }
    const compact = closeUpAround(found.spec.trim(), '@.');
    const at = lastOutsideQuotes(compact, '@');
    if (at === -1 && !found.angle) continue;
    if (at <= 0 || at === compact.length - 1 || /\s/.test(unquoted(compact)) || ENCODED_WORD.test(compact)) {
      malformed = true;
      continue;
    }
    const local = compact.slice(0, at).replace(/^"(.*)"$/s, '$1').replace(/\\(.)/gs, '$1');
    addresses.push(`${local}@${compact.slice(at + 1)}`.toLowerCase());
  }
  return { addresses, malformed };
}

/** An RFC 2047 encoded word: a mail program may decode one even where an address goes. */
const ENCODED_WORD = /=\?[^?]*\?[bq]\?/i;

/** The text with each quoted string emptied (what stands outside quotes); an unclosed quote and what follows stay as they are. */
function unquoted(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '"') {
      out += text[i++];
      continue;
    }
    let close = i + 1;
    while (close < text.length && text[close] !== '"') close += text[close] === '\\' ? 2 : 1;
    if (close >= text.length) return out + text.slice(i);
    out += '""';
    i = close + 1;
  }
  return out;
}

/** The text with its comments replaced by a space, quoted strings kept as they are; null when a comment or quote is left open. */
function withoutComments(value: string): string | null {
  let text = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && (quoted || depth > 0)) {
      if (depth === 0) text += c + (value[i + 1] ?? '');
      i++;
    } else if (depth > 0) {
      if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '(' && !quoted) {
      depth = 1;
      text += ' ';
    } else {
      if (c === '"') quoted = !quoted;
      text += c;
    }
  }
  return depth > 0 || quoted ? null : text;
}

/** The mailboxes: split at "," and ";" outside quotes and angle brackets, a group's name (up to its ":") dropped; null for one left open. */
function splitMailboxes(text: string): (string | null)[] {
  const mailboxes: (string | null)[] = [];
  let current = '';
  let quoted = false;
  let angle = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quoted) {
      current += c + (text[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '<') angle = true;
    else if (!quoted && c === '>') angle = false;
    else if (!quoted && !angle && (c === ',' || c === ';')) {
      mailboxes.push(current);
      current = '';
      continue;
    } else if (!quoted && !angle && c === ':') {
      // a group's name is words: an address or brackets before the ":" is no group (a reader shows that address)
      if (/[@<>]/.test(unquoted(current))) mailboxes.push(null);
      current = '';
      continue;
    }
    current += c;
  }
  mailboxes.push(quoted || angle ? null : current);
  return mailboxes;
}

/** A mailbox's address: what its angle brackets hold (less a route), else the whole mailbox; null for anything after the brackets or a second pair. */
function addressSpec(mailbox: string): { spec: string; angle: boolean } | null {
  const open = lastOutsideQuotes(mailbox, '<');
  if (open === -1) return /[<>]/.test(unquoted(mailbox)) ? null : { spec: mailbox, angle: false };
  const close = mailbox.indexOf('>', open);
  if (close === -1 || mailbox.slice(close + 1).trim() !== '' || /[<>]/.test(unquoted(mailbox.slice(0, open)))) return null;
  const inside = mailbox.slice(open + 1, close);
  const route = lastOutsideQuotes(inside, ':');
  return { spec: route === -1 ? inside : inside.slice(route + 1), angle: true };
}

function lastOutsideQuotes(text: string, char: string): number {
  let found = -1;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === char && !quoted) found = i;
  }
  return found;
}
