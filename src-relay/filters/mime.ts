import { TextDecoder } from 'node:util';
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Splitter, type MimeNode, type SplitterChunk } from 'mailsplit';
import type { MimePart, MimeSummary } from './types.ts';
import { detectFileType, MAGIC_HEAD_BYTES } from './file-type.ts';
import { listZip, ZIP_TAIL_BYTES } from './zip.ts';

/**
 * Each limit bounds what one message can make the parser hold, so a 25 MB message is read once, streaming, and
 * never kept whole: the decoded text is cut, an attachment leaves only its first bytes and (zips) its last.
 */
/** Decoded text kept for the rules (GTUBE, previews); counting goes on past it. */
export const MAX_TEXT_CHARS = 64 * 1024;
/** HTML kept per part to strip its tags; the rest of a larger part is counted by bytes. */
const MAX_HTML_BYTES = 512 * 1024;
/** MIME parts in one message; more is an anomaly and the rest is not looked at (mailsplit refuses past it). */
export const MAX_MIME_PARTS = 500;
/** One part's header block; Received chains make the top one long, 256 KiB is far past any real one. */
const MAX_HEAD_BYTES = 256 * 1024;
/** Header fields handed to filters. */
const MAX_HEADER_FIELDS = 1000;
const READ_CHUNK_BYTES = 256 * 1024;

export interface ParsedMessage {
  headers: { name: string; value: string }[];
  summary: MimeSummary;
}

interface Leaf {
  node: MimeNode;
  part: MimePart;
  kind: 'plain' | 'html' | 'other';
  head: Buffer[];
  headBytes: number;
  zipChecked: boolean;
  tail: Buffer[] | null;
  tailBytes: number;
  base64Rest: string;
  text: TextDecoder | null;
  html: string[];
  htmlBytes: number;
}

/** Parses the message in `path` streaming (one read of the file); `signal` aborts the read. */
export async function parseMessageFile(path: string, signal?: AbortSignal): Promise<ParsedMessage> {
  const parser = new MimeWalker();
  const splitter = new Splitter({ maxHeadSize: MAX_HEAD_BYTES, maxChildNodes: MAX_MIME_PARTS });
  const sink = new Writable({
    objectMode: true,
    write(chunk: MimeNode | SplitterChunk, _encoding, callback) {
      try {
        parser.take(chunk);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
  try {
    await pipeline(createReadStream(path, { highWaterMark: READ_CHUNK_BYTES, signal }), splitter, sink);
  } catch (error) {
    if ((error as Error).name === 'AbortError' || (error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
    // mailsplit's own limits (too many parts, a header block too long): keep what was read, say what happened
    parser.anomaly((error as NodeJS.ErrnoException).code === 'EMAXLEN' ? `MIME structure over the limits: ${(error as Error).message}` : `MIME parsing stopped: ${(error as Error).message}`);
  }
  return parser.finish();
}

class MimeWalker {
  private headers: { name: string; value: string }[] = [];
  private readonly parts: MimePart[] = [];
  private readonly anomalies: string[] = [];
  private current: Leaf | null = null;
  private text = '';
  private plainChars = 0;
  private htmlChars = 0;
  private htmlText = '';
  private sawRoot = false;

  anomaly(text: string): void {
    if (!this.anomalies.includes(text)) this.anomalies.push(text);
  }

  take(chunk: MimeNode | SplitterChunk): void {
    if (chunk.type === 'node') {
      this.endLeaf();
      if (!this.sawRoot) {
        this.sawRoot = true;
        this.headers = chunk.headers
          .getList()
          .slice(0, MAX_HEADER_FIELDS)
          .map(({ line }) => {
            const text = Buffer.from(line, 'latin1').toString('utf8');
            const colon = text.indexOf(':');
            return { name: text.slice(0, Math.max(0, colon)).trim(), value: text.slice(colon + 1).replace(/\r?\n[ \t]+/g, ' ').trim() };
          })
          .filter((field) => field.name !== '');
      }
      if (chunk.multipart) {
        if (!chunk.headers.getFirst('Content-Type').toLowerCase().includes('boundary')) this.anomaly('a multipart part has no boundary');
        return;
      }
      this.startLeaf(chunk);
      return;
    }
    if (chunk.type === 'body' && this.current && chunk.node === this.current.node && chunk.value) this.feed(this.current, chunk.value);
  }

  finish(): ParsedMessage {
    this.endLeaf();
    if (this.text === '' && this.htmlText !== '') this.text = this.htmlText;
    return {
      headers: this.headers,
      summary: { parts: this.parts, text: this.text, plainChars: this.plainChars, htmlChars: this.htmlChars, anomalies: this.anomalies },
    };
  }

  private startLeaf(node: MimeNode): void {
    const contentType = node.contentType || 'text/plain';
    const encoding = (node.encoding || '7bit').toLowerCase();
    if (!['7bit', '8bit', 'binary', 'base64', 'quoted-printable'].includes(encoding)) this.anomaly(`unknown transfer encoding "${encoding.slice(0, 40)}"`);
    const filename = node.filename ? String(node.filename) : null;
    const names = new Set<string>(filename ? [filename] : []);
    for (const raw of [node._parsedContentDisposition && node._parsedContentDisposition.params.filename, node._parsedContentType && node._parsedContentType.params.name]) {
      if (!raw) continue;
      try {
        names.add(node.libmime.decodeWords(String(raw)));
      } catch {
        names.add(String(raw));
      }
    }
    const disposition = node.disposition ? String(node.disposition).toLowerCase() : null;
    const isAttachment = filename !== null || disposition === 'attachment';
    const kind = isAttachment ? 'other' : contentType === 'text/plain' ? 'plain' : contentType === 'text/html' ? 'html' : 'other';
    let text: TextDecoder | null = null;
    if (kind !== 'other') {
      try {
        text = new TextDecoder(node.charset ? String(node.charset).toLowerCase() : 'utf-8');
      } catch {
        this.anomaly(`unknown charset "${String(node.charset).slice(0, 40)}"`);
        text = new TextDecoder('latin1');
      }
    }
    const number = (node.partNr || []).filter((n) => n !== 'TEXT').join('.');
    this.current = {
      node,
      part: { part: number || '1', contentType, disposition, filename, names: [...names], transferEncoding: encoding, size: 0, detectedType: null },
      kind,
      head: [],
      headBytes: 0,
      zipChecked: false,
      tail: null,
      tailBytes: 0,
      base64Rest: '',
      text,
      html: [],
      htmlBytes: 0,
    };
  }

  private feed(leaf: Leaf, raw: Buffer): void {
    const encoding = leaf.part.transferEncoding;
    let data: Buffer;
    if (encoding === 'base64') {
      const chars = leaf.base64Rest + raw.toString('latin1').replace(/[^A-Za-z0-9+/]/g, '');
      const usable = chars.length - (chars.length % 4);
      leaf.base64Rest = chars.slice(usable);
      data = Buffer.from(chars.slice(0, usable), 'base64');
    } else if (encoding === 'quoted-printable') {
      data = decodeQuotedPrintable(raw);
    } else {
      data = raw;
    }
    this.consume(leaf, data);
  }

  private consume(leaf: Leaf, data: Buffer): void {
    if (data.length === 0) return;
    leaf.part.size += data.length;
    if (leaf.headBytes < MAGIC_HEAD_BYTES) {
      const take = data.subarray(0, MAGIC_HEAD_BYTES - leaf.headBytes);
      leaf.head.push(Buffer.from(take));
      leaf.headBytes += take.length;
    }
    if (!leaf.zipChecked && leaf.headBytes >= 2) {
      // a zip is recognised from its first bytes ("PK"); from then on its end is kept to read the central directory
      leaf.zipChecked = true;
      const start = leaf.head.length === 1 ? leaf.head[0]! : Buffer.concat(leaf.head);
      if (start[0] === 0x50 && start[1] === 0x4b) leaf.tail = [];
    }
    if (leaf.tail) {
      leaf.tail.push(Buffer.from(data));
      leaf.tailBytes += data.length;
      while (leaf.tail.length > 1 && leaf.tailBytes - leaf.tail[0]!.length >= ZIP_TAIL_BYTES) leaf.tailBytes -= leaf.tail.shift()!.length;
    }
    if (leaf.kind === 'plain' && leaf.text) {
      if (this.text.length < MAX_TEXT_CHARS) {
        const decoded = leaf.text.decode(data, { stream: true });
        this.plainChars += visibleChars(decoded);
        this.text += decoded.slice(0, MAX_TEXT_CHARS - this.text.length);
      } else {
        this.plainChars += visibleBytes(data);
      }
    } else if (leaf.kind === 'html' && leaf.text) {
      if (leaf.htmlBytes < MAX_HTML_BYTES) {
        leaf.html.push(leaf.text.decode(data, { stream: true }));
      } else {
        this.htmlChars += Math.round(visibleBytes(data) / 2);
      }
      leaf.htmlBytes += data.length;
    }
  }

  private endLeaf(): void {
    const leaf = this.current;
    if (!leaf) return;
    this.current = null;
    if (leaf.base64Rest) {
      this.consume(leaf, Buffer.from(leaf.base64Rest, 'base64'));
      leaf.base64Rest = '';
    }
    const head = Buffer.concat(leaf.head);
    leaf.part.detectedType = detectFileType(head);
    if (leaf.part.detectedType === 'zip' && leaf.tail) {
      leaf.part.archive = listZip(Buffer.concat(leaf.tail), leaf.part.size);
    }
    if (leaf.kind === 'html' && leaf.html.length) {
      const visible = stripHtml(leaf.html.join(''));
      this.htmlChars += visibleChars(visible);
      if (this.htmlText.length < MAX_TEXT_CHARS) this.htmlText += visible.slice(0, MAX_TEXT_CHARS - this.htmlText.length);
    }
    this.parts.push(leaf.part);
  }
}

/** RFC 2045 6.7, for whole lines (mailsplit hands body data over line by line). */
export function decodeQuotedPrintable(input: Buffer): Buffer {
  const out = Buffer.allocUnsafe(input.length);
  let length = 0;
  const hex = (byte: number | undefined) => {
    if (byte === undefined) return -1;
    if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
    if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
    if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
    return -1;
  };
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    if (byte !== 0x3d) {
      out[length++] = byte;
      continue;
    }
    const high = hex(input[i + 1]);
    const low = hex(input[i + 2]);
    if (high >= 0 && low >= 0) {
      out[length++] = high * 16 + low;
      i += 2;
    } else if (input[i + 1] === 0x0d && input[i + 2] === 0x0a) {
      i += 2; // soft line break
    } else if (input[i + 1] === 0x0a) {
      i += 1;
    } else if (i + 1 < input.length) {
      out[length++] = byte;
    }
  }
  return out.subarray(0, length);
}

/** The text a reader would see in an HTML part: no tags, scripts, styles or comments; entities for spaces decoded. */
export function stripHtml(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;|&#160;|&#xa0;/gi, ' ')
    .replace(/&amp;/gi, '&')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/&quot;/gi, '"')
    .replace(/[ \t\r\n]+/g, ' ')
    .trim();
}

function visibleChars(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x20 && code !== 0xa0) count++;
  }
  return count;
}

function visibleBytes(data: Buffer): number {
  let count = 0;
  for (const byte of data) if (byte > 0x20) count++;
  return count;
}
