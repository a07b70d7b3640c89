import { TextDecoder } from 'node:util';
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Splitter, type MimeNode, type SplitterChunk } from 'mailsplit';
import type { MimePart, MimeSummary } from './types.ts';
import { detectFileType, MAGIC_HEAD_BYTES } from './file-type.ts';
import { endsWithZip, listZip, newInflateBudget, ZIP_TAIL_BYTES } from './zip.ts';

/**
 * Each limit bounds what one message can make the parser hold, so a 25 MB message is read once, streaming, and
 * never kept whole: the decoded text is cut, an attachment leaves only its first bytes and (zips) its last.
 * A limit of the walk itself (parts, depth, header blocks) stops the walk; what was not looked at makes the
 * message "unchecked" (MimeSummary.unchecked), which the pipeline turns into `filters.unchecked`, never a score.
 */
/** Decoded text kept for the rules (GTUBE, previews); counting goes on past it. */
export const MAX_TEXT_CHARS = 64 * 1024;
/** HTML kept per part to strip its tags; the rest of a larger part is counted by bytes. */
const MAX_HTML_BYTES = 512 * 1024;
/**
 * MIME nodes in one message, as mailsplit counts them: the message itself, each multipart and each leaf part.
 * Real mail has a handful, a long thread with inline images a few dozen; more stops the walk (mailsplit refuses).
 */
export const MAX_MIME_PARTS = 500;
/**
 * How deep parts nest (the message is depth 0, the parts of a multipart/mixed depth 1). A forward of a forward
 * with alternatives and inline images stays under 10; deeper nesting is made to lose a parser.
 */
export const MAX_MIME_DEPTH = 20;
/**
 * The message's own header block as the walk sees it (bytes, our Received line and the blank line included):
 * Received chains make it long, 256 KiB is far past any real one.
 */
export const MAX_TOP_HEADER_BYTES = 256 * 1024;
/**
 * A part's header block (bytes, blank line included): a few Content-* fields and a long RFC 2231 file name
 * need a few KiB; 64 KiB is far past any real one.
 */
export const MAX_PART_HEADER_BYTES = 64 * 1024;
/** Header fields handed to filters. */
const MAX_HEADER_FIELDS = 1000;
const READ_CHUNK_BYTES = 256 * 1024;
/** Fields that say how to read a part: twice in one part, readers disagree on which counts (ambiguous MIME). */
const SINGLE_FIELDS = ['content-type', 'content-transfer-encoding', 'content-disposition'];

/** Thrown inside the walk to stop it at one of its own limits. */
class WalkStopped extends Error {}

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
  // mailsplit's header limit is the larger one (the top block); the walker holds part headers to theirs
  const splitter = new Splitter({ maxHeadSize: MAX_TOP_HEADER_BYTES, maxChildNodes: MAX_MIME_PARTS });
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
    // the walk stopped early: keep what was read, and say that the rest was not looked at
    parser.unchecked(whyStopped(error as NodeJS.ErrnoException));
  }
  return parser.finish();
}

function whyStopped(error: NodeJS.ErrnoException): string {
  if (error instanceof WalkStopped) return error.message;
  if (error.code === 'EMAXLEN' && /child nodes/.test(error.message)) return `more than ${MAX_MIME_PARTS} MIME parts`;
  if (error.code === 'EMAXLEN' && /header size/.test(error.message)) return `a header block longer than ${MAX_TOP_HEADER_BYTES} bytes`;
  return `MIME parsing stopped: ${error.message}`;
}

class MimeWalker {
  private headers: { name: string; value: string }[] = [];
  private readonly parts: MimePart[] = [];
  private readonly anomalies: string[] = [];
  private readonly notChecked: string[] = [];
  private readonly inflateBudget = newInflateBudget();
  private current: Leaf | null = null;
  private text = '';
  private plainChars = 0;
  private htmlChars = 0;
  private htmlText = '';
  private sawRoot = false;

  anomaly(text: string): void {
    if (!this.anomalies.includes(text)) this.anomalies.push(text);
  }

  /** Something the walk could not look at: the message is not checked whole. */
  unchecked(text: string): void {
    if (!this.notChecked.includes(text)) this.notChecked.push(text);
  }

  take(chunk: MimeNode | SplitterChunk): void {
    if (chunk.type === 'node') {
      this.endLeaf();
      this.checkNode(chunk);
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
      summary: { parts: this.parts, text: this.text, plainChars: this.plainChars, htmlChars: this.htmlChars, anomalies: this.anomalies, unchecked: this.notChecked },
    };
  }

  /** The walk's own limits on one node; past one it stops (the rest of the message is not looked at). */
  private checkNode(node: MimeNode): void {
    const label = node.root ? 'the message' : `part ${partNumber(node)}`;
    if (!node.root && node._headerlen > MAX_PART_HEADER_BYTES) throw new WalkStopped(`${label} has a header block longer than ${MAX_PART_HEADER_BYTES} bytes`);
    let depth = 0;
    for (let parent = node.parentNode; parent; parent = parent.parentNode) depth++;
    if (depth > MAX_MIME_DEPTH) throw new WalkStopped(`parts nested more than ${MAX_MIME_DEPTH} deep`);
    const counts = new Map<string, number>();
    for (const { key } of node.headers.getList()) if (SINGLE_FIELDS.includes(key)) counts.set(key, (counts.get(key) ?? 0) + 1);
    for (const [key, count] of counts) {
      if (count > 1) this.unchecked(`${label} has ${count} ${FIELD_NAMES[key]} fields (ambiguous MIME)`);
    }
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
    const number = partNumber(node);
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
    if (!leaf.zipChecked) {
      // the end of every attachment is kept to read a zip's central directory: a zip starts with "PK", but one
      // with other data glued before it (a self-extractor, a zip behind an image) is found from its end only
      leaf.zipChecked = true;
      if (leaf.kind === 'other') leaf.tail = [];
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
    if (leaf.tail) {
      const tail = Buffer.concat(leaf.tail);
      if (leaf.part.detectedType === 'zip' || endsWithZip(tail)) leaf.part.archive = listZip(tail, leaf.part.size, this.inflateBudget);
    }
    if (leaf.kind === 'html' && leaf.html.length) {
      const visible = stripHtml(leaf.html.join(''));
      this.htmlChars += visibleChars(visible);
      if (this.htmlText.length < MAX_TEXT_CHARS) this.htmlText += visible.slice(0, MAX_TEXT_CHARS - this.htmlText.length);
    }
    this.parts.push(leaf.part);
  }
}

const FIELD_NAMES: Record<string, string> = { 'content-type': 'Content-Type', 'content-transfer-encoding': 'Content-Transfer-Encoding', 'content-disposition': 'Content-Disposition' };

/** Part number as IMAP counts them ("1" for the message itself or a single-part one). */
function partNumber(node: MimeNode): string {
  return (node.partNr || []).filter((n) => n !== 'TEXT').join('.') || '1';
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
