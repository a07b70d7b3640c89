import { decodeQuotedPrintable } from '../../src-relay/filters/mime.ts';

/** One part of a generated MIME message (`text/plain` or `text/html`), its transfer encoding undone; null when absent. */
export function mailPart(raw: string, type: string): string | null {
  // a part ends at a boundary the message declares, not at any line that starts with "--" (a quoted-printable line
  // of a link whose token has "--" where the line is wrapped would)
  const boundaries = [...raw.matchAll(/boundary="?([^";\r\n]+)"?/gi)].map((found) => found[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const end = boundaries.length > 0 ? `\\r\\n--(?:${boundaries.join('|')})` : '\\r\\n--';
  const match = new RegExp(`\\r\\nContent-Type: ${type.replace('/', '\\/')}[^\\r\\n]*\\r\\n((?:[^\\r\\n]+\\r\\n)*)\\r\\n([\\s\\S]*?)${end}`).exec(raw);
  if (!match) return null;
  const encoding = /Content-Transfer-Encoding: (\S+)/i.exec(match[1]!)?.[1]?.toLowerCase();
  const body = match[2]!;
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(Buffer.from(body, 'latin1')).toString('utf8');
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body;
}

/** The user-page links of a digest's text part, in order: `{ url, token }`. */
export function digestLinks(text: string): { url: string; token: string }[] {
  return [...text.matchAll(/Open: (\S+\/q\/([A-Za-z0-9_.-]+))/g)].map((match) => ({ url: match[1]!, token: match[2]! }));
}

/** A header of a raw message (first occurrence, unfolded). */
export function header(raw: string, name: string): string | null {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  return new RegExp(`^${name}: (.*)$`, 'mi').exec(head)?.[1] ?? null;
}
