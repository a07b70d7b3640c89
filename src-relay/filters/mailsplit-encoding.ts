// mailsplit's MimeNode.parseHeaders (mailsplit 5.4.6, pinned) reads a part's Content-Transfer-Encoding with
// .replace(/\(.*\)/g, ''): on a value of 250,000 "(" and no ")" that backtracks for 40 s, in the filter thread for
// each part and on the relay's own thread when a held message is previewed. The value it reads is given here with
// that replacement already done in one pass, and each "(" left (one no ")" follows) as "?", so its own replace finds
// nothing to backtrack over; an encoding with a stray "(" stays an unknown encoding, as before.

const LINE_BREAK = /([\n\r\u2028\u2029])/;

/** `/\(.*\)/g` removed (per line: from the first "(" to the last ")"), in one pass; a "(" left over becomes "?". */
export function encodingWithoutComments(value: string): string {
  if (!value.includes('(')) return value;
  return value
    .split(LINE_BREAK)
    .map((line) => {
      const open = line.indexOf('(');
      const close = line.lastIndexOf(')');
      const kept = open !== -1 && close > open ? line.slice(0, open) + line.slice(close + 1) : line;
      return kept.replaceAll('(', '?');
    })
    .join('');
}

/**
 * Puts the one-pass reading into mailsplit's Headers.prototype.getFirst for that one field (parseHeaders makes the
 * node's Headers itself, so it is the class that is changed); returns the method it wraps. The header lines
 * themselves are not touched: a second Content-Transfer-Encoding still counts as one.
 */
export function installLinearEncoding(prototype: { getFirst(key: string): string }): (key: string) => string {
  const original = prototype.getFirst;
  prototype.getFirst = function getFirst(this: unknown, key: string): string {
    const value = original.call(this, key);
    return typeof key === 'string' && key.toLowerCase() === 'content-transfer-encoding' ? encodingWithoutComments(value) : value;
  };
  return original;
}
