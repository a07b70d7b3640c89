// Text operations on what the network sends (header values up to HeaderPeek's 256 KiB), each in one pass. The
// regular expressions they replace (/\s*@\s*/, /\([^)]*\)/, /\.+$/) backtrack over a long run that never matches:
// quadratic, seconds to minutes of the relay's one thread for a 60 KB From or Date.

const WHITESPACE_RUN = /(\s+)/;

/** The text with the whitespace next to any character of `marks` dropped ("a @ b . c" → "a@b.c" for "@."). */
export function closeUpAround(text: string, marks: string): string {
  const parts = text.split(WHITESPACE_RUN);
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    // split with a captured separator: odd places hold the whitespace runs
    if (i % 2 === 1 && (marks.includes(parts[i - 1]!.slice(-1) || '\0') || marks.includes(parts[i + 1]![0] ?? '\0'))) continue;
    out += part;
  }
  return out;
}

/** The text with each "(" up to the next ")" dropped (comments in a Date); an unclosed "(" and what follows stay. */
export function withoutParenthesized(text: string): string {
  let out = '';
  let from = 0;
  for (let open = text.indexOf('('); open !== -1; open = text.indexOf('(', from)) {
    const close = text.indexOf(')', open);
    if (close === -1) break;
    out += text.slice(from, open);
    from = close + 1;
  }
  return out + text.slice(from);
}

/** The text without the run at its end of the characters `trimmed` matches, one at a time (/[\s.]/). */
export function trimEndOf(text: string, trimmed: RegExp): string {
  let end = text.length;
  while (end > 0 && trimmed.test(text[end - 1]!)) end--;
  return text.slice(0, end);
}
