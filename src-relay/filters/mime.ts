import { TextDecoder } from 'node:util';
import { Writable, type Readable } from 'node:stream';
import type { MimeNode, SplitterChunk } from 'mailsplit';
import { MimeSplitter } from './mime-splitter.ts';
import { DataEnds } from './data-ends.ts';
import type { MimePart, MimeSummary } from './types.ts';
import { detectFileType, MAGIC_HEAD_BYTES, UNLISTED_ARCHIVE_TYPES } from './file-type.ts';
import { messageStream, STREAM_CHUNK_BYTES } from './message-source.ts';
import { holdsZipEnd, listZip, newInflateBudget, type InflateBudget } from './zip.ts';
import { inspectGzip } from './gzip.ts';
import { TnefReader } from './tnef.ts';
import { decodeEncodedWords, nameReadings, parameterNames, parseHeaderValue, transferEncoding, UuencodeScanner } from './mime-names.ts';
import { pipeChain } from '../util/pipe-chain.ts';

/**
 * Each limit bounds what one message can make the parser hold, so a 25 MB message is read once, streaming, and
 * never kept whole: the decoded text is cut, an attachment leaves only its first bytes and (zips) its last.
 * A limit of the walk itself (parts, depth, header blocks) stops the walk; what was not looked at makes the
 * message "unchecked" (MimeSummary.unchecked), which the pipeline turns into `filters.unchecked`, never a score.
 * A message attached to the message (forwarded as an attachment) is walked as part of it, under the same limits:
 * its parts are listed as "2.1", "2.2" after the attached part "2", and checked like the message's own.
 * A part's names and transfer encoding are read by mime-names.ts: a transfer encoding Moat cannot decode, a name
 * that cannot be read unambiguously, or too many uuencoded files make the message unchecked as well.
 */
/** Decoded text kept for the rules (GTUBE, previews); counting goes on past it. */
export const MAX_TEXT_CHARS = 64 * 1024;
/** HTML kept per part to strip its tags; the rest of a larger part is counted by bytes. */
const MAX_HTML_BYTES = 512 * 1024;
/**
 * HTML kept across the message's parts: stripping costs a second of CPU for 24 MB of tags, and the text kept is
 * 64 KiB at most. Real mail has one HTML body of tens of KiB; the rest is counted by bytes.
 */
export const MAX_HTML_MESSAGE_BYTES = 2 * 1024 * 1024;
/** Bytes a decoder needs for one character at most (UTF-8, GB18030): decoding this much per character wanted is enough. */
const MAX_BYTES_PER_CHAR = 4;
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
 * Lines in one header block, the message's own or a part's (folded lines each count). Real mail needs a few hundred
 * at most; joining folded lines costs mailsplit time that grows with the square of their number (mime-splitter.ts).
 */
export const MAX_HEADER_LINES = 5000;
/**
 * A part's header block (bytes, blank line included): a few Content-* fields and a long RFC 2231 file name
 * need a few KiB; 64 KiB is far past any real one.
 */
export const MAX_PART_HEADER_BYTES = 64 * 1024;
/**
 * A line (bytes up to a line feed) of the message, or of an attached message's decoded content, that the walk may
 * hold: the splitter keeps an unfinished line whole, joining each read to it, so one long line costs memory and
 * copying that grow with its square (a 23 MB line: half a second of copying, on top of its HTML). RFC 5322 lines
 * are at most 998 bytes and binary parts are base64 text; 1 MiB is far past real mail. Longer: unchecked.
 */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Decoded bytes of an attached message handed to its splitter at once (fewer, larger writes). */
const NESTED_WRITE_BYTES = 64 * 1024;
/**
 * Attached messages the walk reads as messages of their own (RFC 2046 5.2.1, RFC 6532 3.7, message/news as the
 * same thing by its old name). mailsplit descends only into an inline, unencoded message/rfc822; every other one
 * (forwarded as attachment, base64-encoded, message/global) is walked by a second splitter over its decoded body.
 */
const MESSAGE_TYPES: ReadonlySet<string> = new Set(['message/rfc822', 'message/global', 'message/news']);
/** Parts whose content cannot be looked at in this message: a fragment, or a pointer to content elsewhere. */
const UNWALKABLE_MESSAGES: Record<string, string> = {
  'message/partial': 'is message/partial, a fragment of a message that cannot be checked whole',
  'message/external-body': 'is message/external-body: its content is elsewhere and cannot be checked',
};
/**
 * S/MIME wrapped whole (RFC 8551 3.2): signed-data ("opaque-signed") or enveloped-data holding the message that a mail
 * program shows. Detached signatures (multipart/signed, application/pkcs7-signature) leave the content plain MIME.
 */
const SMIME_TYPES: ReadonlySet<string> = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime']);
/**
 * Files found uuencoded in the text parts of one message (each "begin 644 name" line). Real mail that still uses
 * uuencode carries a few; past this many the names are no longer listed and the message is unchecked.
 */
export const MAX_UUENCODED_FILES = 100;
/** Header fields handed to filters. */
const MAX_HEADER_FIELDS = 1000;
/** The transfer encodings that leave content as it is: the only ones a multipart may have (RFC 2045 6.4). */
const IDENTITY_ENCODINGS: ReadonlySet<string> = new Set(['7bit', '8bit', 'binary']);
/** Header fields some mail programs take a part's file name from, beside Content-Type and Content-Disposition. */
const NAME_FIELDS: readonly string[] = ['content-name', 'x-sun-data-name'];
/** Fields that say how to read a part: twice in one part, readers disagree on which counts (ambiguous MIME). */
const SINGLE_FIELDS = ['content-type', 'content-transfer-encoding', 'content-disposition'];

/** Thrown inside the walk to stop it at one of its own limits. */
class WalkStopped extends Error {}

export interface ParsedMessage {
  headers: { name: string; value: string }[];
  summary: MimeSummary;
}

/**
 * One MIME tree being walked: the message itself (prefix ''), or a message attached to it, walked by a splitter
 * of its own with the same walker, so the part count, the depth and the zip inflate budget are the message's.
 */
interface Scope {
  /** Part number of the attached message whose content this tree is; '' for the message itself. */
  prefix: string;
  /** Depth of this tree's root in the whole message (an attached message's root is one below its part). */
  depth: number;
  current: Leaf | null;
}

/** The walk of an attached message, fed with its part's decoded content. */
interface NestedWalk {
  label: string;
  splitter: MimeSplitter;
  /** Settles when the splitter and its sink are done; `error` says why they stopped early. */
  finished: Promise<void>;
  error: Error | null;
  pending: Buffer[];
  pendingBytes: number;
  lineBytes: number;
  /** The content handed over so far ends in a CR (bareCrAsCrlf). */
  endedWithCR: boolean;
}

interface Leaf {
  node: MimeNode;
  /** The walk of the message this part holds (message/rfc822, message/global), when mailsplit does not descend. */
  nested: NestedWalk | null;
  closed: boolean;
  part: MimePart;
  kind: 'plain' | 'html' | 'other';
  /** Its first bytes, and its last for an attachment ('other'): a zip with data glued before it is found from its end. */
  ends: DataEnds;
  base64Rest: string;
  /** Whether a "=" pad was seen in the part's base64, and data after it (checkBase64Padding). */
  base64Padding: 'none' | 'padded' | 'ambiguous';
  text: TextDecoder | null;
  html: string[];
  htmlBytes: number;
  /** In the HTML counted by bytes (past what is kept), whether the last byte was inside a tag. */
  inTag: boolean;
  /** Looks for uuencoded files in a text part (text/*); null for other parts. */
  uuencode: UuencodeScanner | null;
  /** Lists the files of a TNEF (winmail.dat), whatever the part says it is; it lets go of any other part at once. */
  tnef: TnefReader;
}

/**
 * Parses the message in `path` streaming, or its copy in `read.content` when the pipeline read it once
 * (message-source.ts; `read.size` sizes the file's chunks); `signal` aborts the read and the walk.
 */
export async function parseMessageFile(path: string, signal?: AbortSignal, read: { content?: Buffer | null; size?: number } = {}): Promise<ParsedMessage> {
  const walker = new MimeWalker();
  try {
    await walker.walk(read.content ?? messageStream(path, null, read.size ?? STREAM_CHUNK_BYTES), signal);
  } catch (error) {
    walker.close();
    if ((error as Error).name === 'AbortError' || (error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
    // the walk stopped early: keep what was read, and say that the rest was not looked at
    walker.unchecked(whyStopped(error as NodeJS.ErrnoException));
  }
  return walker.finish();
}

function whyStopped(error: NodeJS.ErrnoException): string {
  if (error instanceof WalkStopped) return error.message;
  if (error.code === 'EMAXLEN' && /child nodes/.test(error.message)) return `more than ${MAX_MIME_PARTS} MIME parts`;
  if (error.code === 'EMAXLEN' && /header size/.test(error.message)) return `a header block longer than ${MAX_TOP_HEADER_BYTES} bytes`;
  if (error.code === 'EMAXLEN' && /header lines/.test(error.message)) return `a header block of more than ${MAX_HEADER_LINES} lines`;
  if (error.code === 'EMAXLEN' && /line length/.test(error.message)) return `a line longer than ${MAX_LINE_BYTES} bytes`;
  return `MIME parsing stopped: ${error.message}`;
}

/** How the walk of an attached message stopped, in words naming the limit. */
function whyNestedStopped(error: NodeJS.ErrnoException, label: string): string {
  if (error instanceof WalkStopped) return error.message;
  if (error.code === 'EMAXLEN' && /child nodes/.test(error.message)) return `more than ${MAX_MIME_PARTS} MIME parts`;
  if (error.code === 'EMAXLEN' && /header size/.test(error.message)) return `a header block in ${label} is longer than ${MAX_PART_HEADER_BYTES} bytes`;
  if (error.code === 'EMAXLEN' && /header lines/.test(error.message)) return `a header block in ${label} has more than ${MAX_HEADER_LINES} lines`;
  return `${label}: MIME parsing stopped: ${error.message}`;
}

class MimeWalker {
  private headers: { name: string; value: string }[] = [];
  private readonly parts: MimePart[] = [];
  private readonly anomalies: string[] = [];
  private readonly notChecked: string[] = [];
  private readonly inflateBudget = newInflateBudget();
  private readonly top: Scope = { prefix: '', depth: 0, current: null };
  /** Every tree being walked (the message and the attached messages open now). */
  private readonly scopes = new Set<Scope>([this.top]);
  private nodes = 0;
  private text = '';
  private plainChars = 0;
  private htmlChars = 0;
  /** HTML bytes kept to be stripped, across the parts (MAX_HTML_MESSAGE_BYTES). */
  private htmlKept = 0;
  private htmlText = '';
  private sawRoot = false;
  private uuencodedFiles = 0;
  /** The multiparts no part was found in yet, with their labels. */
  private readonly childless = new Map<MimeNode, string>();
  /** Set when the walk stopped: whatever an attached message's splitter still hands over is dropped. */
  private closed = false;

  /** Walks the message, read from `source` or held whole, its attached messages included. */
  async walk(source: Readable | Buffer, signal?: AbortSignal): Promise<void> {
    // mailsplit's header limit is the larger one (the top block); the walker holds part headers to theirs
    const splitter = new MimeSplitter({ maxHeadSize: MAX_TOP_HEADER_BYTES, maxChildNodes: MAX_MIME_PARTS, maxHeadLines: MAX_HEADER_LINES, maxLineBytes: MAX_LINE_BYTES });
    if (!Buffer.isBuffer(source)) return pipeChain([source, splitter, this.sink(this.top)], signal);
    // a message held whole is written to the splitter: a stream over it would cost a stream and a pipe per message
    const walked = pipeChain([splitter, this.sink(this.top)], signal);
    if (!splitter.destroyed) splitter.end(source);
    return walked;
  }

  anomaly(text: string): void {
    if (!this.anomalies.includes(text)) this.anomalies.push(text);
  }

  /** Something the walk could not look at: the message is not checked whole. */
  unchecked(text: string): void {
    if (!this.notChecked.includes(text)) this.notChecked.push(text);
  }

  /** Parts sealed by their sender (MimeSummary.sealed), at most one line each. */
  readonly sealed: string[] = [];

  /** The walk stopped early: the parts open now are closed with what was read, attached messages' splitters dropped. */
  close(): void {
    this.closed = true;
    for (const scope of this.scopes) {
      if (!scope.current) continue;
      scope.current.nested?.splitter.destroy();
      this.closeLeaf(scope.current);
    }
  }

  finish(): ParsedMessage {
    this.close();
    for (const label of this.childless.values()) this.unchecked(`${label} is a multipart with no parts that Moat could find`);
    if (this.text === '' && this.htmlText !== '') this.text = this.htmlText;
    return {
      headers: this.headers,
      summary: { parts: this.parts, text: this.text, plainChars: this.plainChars, htmlChars: this.htmlChars, anomalies: this.anomalies, unchecked: this.notChecked, sealed: this.sealed },
    };
  }

  /** Where a splitter's output goes: the nodes and body chunks of one tree; its end ends the tree's last part. */
  private sink(scope: Scope): Writable {
    return new Writable({
      objectMode: true,
      write: (chunk: MimeNode | SplitterChunk, _encoding, callback) => {
        this.take(scope, chunk).then(() => callback(), callback);
      },
      final: (callback) => {
        this.endLeaf(scope).then(() => callback(), callback);
      },
    });
  }

  private async take(scope: Scope, chunk: MimeNode | SplitterChunk): Promise<void> {
    if (this.closed) return;
    if (chunk.type === 'node') {
      await this.endLeaf(scope);
      if (chunk.parentNode) this.childless.delete(chunk.parentNode);
      // counted over the whole message, attached messages included (each splitter counts only its own)
      if (++this.nodes > MAX_MIME_PARTS) throw new WalkStopped(`more than ${MAX_MIME_PARTS} MIME parts`);
      this.checkNode(scope, chunk);
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
      if (chunk.multipart) return this.checkMultipart(scope, chunk);
      this.startLeaf(scope, chunk);
      return;
    }
    const leaf = scope.current;
    if (chunk.type === 'body' && leaf && chunk.node === leaf.node && chunk.value) await this.feed(leaf, chunk.value);
  }

  /**
   * A multipart is walked by its boundary: one that readers may take differently (twice, in RFC 2231 pieces, with
   * a comment, empty, or not as mailsplit took it) makes them see different parts, and so does a multipart in an
   * encoding (RFC 2045 6.4 allows none) or one with a boundary but no parts found (checked in finish()).
   */
  private checkMultipart(scope: Scope, node: MimeNode): void {
    const label = nodeLabel(scope, node);
    const type = parseHeaderValue(fieldValue(node, 'content-type') ?? '');
    const boundaries = type.params.filter(({ attribute }) => attribute === 'boundary' || attribute.startsWith('boundary*'));
    const boundary = boundaries.length === 1 && boundaries[0]!.attribute === 'boundary' ? boundaries[0]!.value : '';
    // no boundary at all: mail programs show the body as it is, no part is hidden (an oddity the rules score)
    if (boundaries.length === 0) this.anomaly('a multipart part has no boundary');
    else {
      this.childless.set(node, label);
      if (type.problem || boundary === '' || !node._boundary || !node._boundary.equals(Buffer.from(boundary))) {
        this.unchecked(`${label} has a boundary that mail programs may read differently (ambiguous MIME)`);
      }
    }
    if (node.multipart === 'encrypted') this.sealed.push(`${label} is encrypted (multipart/encrypted, as PGP/MIME): its contents cannot be checked`);
    const { encoding, known } = transferEncoding(fieldValue(node, 'content-transfer-encoding'));
    if (!known) this.unchecked(`${label} is in the unknown transfer encoding "${encoding.slice(0, 40)}", which a mail program may decode`);
    else if (!IDENTITY_ENCODINGS.has(encoding)) this.unchecked(`${label} is a multipart in the ${encoding} transfer encoding, which mail programs read differently`);
  }

  /** The walk's own limits on one node; past one it stops (the rest of the message is not looked at). */
  private checkNode(scope: Scope, node: MimeNode): void {
    const label = nodeLabel(scope, node);
    // an attached message's own header block is held to the part limit, as the inline ones mailsplit descends into are
    if ((scope.prefix !== '' || !node.root) && node._headerlen > MAX_PART_HEADER_BYTES) throw new WalkStopped(`${label} has a header block longer than ${MAX_PART_HEADER_BYTES} bytes`);
    if (nodeDepth(scope, node) > MAX_MIME_DEPTH) throw new WalkStopped(`parts nested more than ${MAX_MIME_DEPTH} deep`);
    const counts = new Map<string, number>();
    for (const { key } of node.headers.getList()) if (SINGLE_FIELDS.includes(key)) counts.set(key, (counts.get(key) ?? 0) + 1);
    for (const [key, count] of counts) {
      if (count > 1) this.unchecked(`${label} has ${count} ${FIELD_NAMES[key]} fields (ambiguous MIME)`);
    }
  }

  private startLeaf(scope: Scope, node: MimeNode): void {
    const number = scope.prefix ? `${scope.prefix}.${partNumber(node)}` : partNumber(node);
    const typeField = fieldValue(node, 'content-type');
    const dispositionField = fieldValue(node, 'content-disposition');
    const type = parseHeaderValue(typeField ?? '');
    const dispositionValue = parseHeaderValue(dispositionField ?? '');
    // RFC 5322 comments are not part of the type ("message/rfc822 (fwd)" is an attached message)
    // RFC 2046 5.1.5: a part of a multipart/digest with no Content-Type is an attached message (mailsplit says text)
    const defaultType = typeField === null && node.parentNode && node.parentNode.multipart === 'digest' ? 'message/rfc822' : null;
    const contentType = defaultType ?? ((typeField !== null && !type.problem && type.value.replace(/\s+/g, '').toLowerCase()) || node.contentType || 'text/plain');
    const { encoding, known } = transferEncoding(fieldValue(node, 'content-transfer-encoding'));
    const isMessage = MESSAGE_TYPES.has(contentType) && !node.messageNode;
    if (!known && !isMessage) this.unchecked(`part ${number} is in the unknown transfer encoding "${encoding.slice(0, 40)}", which a mail program may decode`);
    const filename = node.filename ? String(node.filename) : null;
    const names = new Set<string>(filename ? nameReadings(filename) : []);
    // mailsplit's lax reading (a comment kept as part of a value) and the RFC reading: every one is checked
    for (const raw of [node._parsedContentDisposition && node._parsedContentDisposition.params.filename, node._parsedContentType && node._parsedContentType.params.name]) {
      if (!raw) continue;
      try {
        for (const reading of nameReadings(node.libmime.decodeWords(String(raw)))) names.add(reading);
      } catch {
        names.add(String(raw));
      }
    }
    for (const [field, parsed, base] of [['Content-Disposition', dispositionValue, 'filename'], ['Content-Type', type, 'name']] as const) {
      if (parsed.problem) this.unchecked(`part ${number} has a ${field} field that cannot be read unambiguously: ${parsed.problem}`);
      const found = parameterNames(parsed.params, base);
      for (const name of found.names) for (const reading of nameReadings(name)) names.add(reading);
      for (const problem of found.problems) this.unchecked(`part ${number}: ${problem}`);
    }
    // fields that name a file for some mail programs only (old Sun mailtool, Content-Name of RFC 1154 days)
    for (const field of node.headers.getList()) {
      if (!NAME_FIELDS.includes(field.key)) continue;
      const raw = Buffer.from(field.line, 'latin1').toString('utf8');
      const value = raw.slice(raw.indexOf(':') + 1).replace(/\r?\n(?=[ \t])/g, '').trim();
      const unquoted = /^"(.*)"$/s.exec(value)?.[1];
      for (const name of [value, ...(unquoted === undefined ? [] : [unquoted])]) {
        let decoded = name;
        try {
          decoded = decodeEncodedWords(name);
        } catch (error) {
          this.unchecked(`part ${number}: its ${field.key} field cannot be read: ${(error as Error).message}`);
        }
        for (const reading of new Set([...nameReadings(name), ...nameReadings(decoded)])) if (reading) names.add(reading);
      }
    }
    const disposition = (dispositionField !== null && !dispositionValue.problem && dispositionValue.value.toLowerCase()) || (node.disposition ? String(node.disposition).toLowerCase() : null);
    // any reading of a name makes it a file: mailsplit takes the last of two filename parameters, even an empty one
    const isAttachment = filename !== null || disposition === 'attachment' || [...names].some((name) => name.trim() !== '');
    const kind = isAttachment ? 'other' : contentType === 'text/plain' ? 'plain' : contentType === 'text/html' ? 'html' : 'other';
    let text: TextDecoder | null = null;
    // the text of an attached message is not the message's own text (the junk rules read the message's)
    if (kind !== 'other' && scope.prefix === '') {
      try {
        text = new TextDecoder(node.charset ? String(node.charset).toLowerCase() : 'utf-8');
      } catch {
        this.anomaly(`unknown charset "${String(node.charset).slice(0, 40)}"`);
        text = new TextDecoder('latin1');
      }
    }
    const leaf: Leaf = {
      node,
      nested: null,
      closed: false,
      part: { part: number, contentType, disposition, filename, names: [...names], transferEncoding: encoding, size: 0, detectedType: null },
      kind,
      ends: new DataEnds(kind === 'other'),
      base64Rest: '',
      base64Padding: 'none',
      text,
      html: [],
      htmlBytes: 0,
      inTag: false,
      uuencode: null,
      tnef: new TnefReader(this.inflateBudget),
    };
    // a mail program shows a text part whatever its disposition, and turns its uuencoded files into attachments
    if (contentType.startsWith('text/')) leaf.uuencode = this.uuencodeScanner(leaf);
    scope.current = leaf;
    // listed when it starts, so an attached message comes before the parts inside it
    this.parts.push(leaf.part);
    const unwalkable = UNWALKABLE_MESSAGES[contentType];
    if (unwalkable) this.unchecked(`part ${number} ${unwalkable}`);
    // a mail program opens it as the message (Thunderbird also a .p7m in application/octet-stream); Moat cannot
    if (SMIME_TYPES.has(contentType) || [...names].some((name) => /\.p7m$/i.test(name.trim()))) {
      this.sealed.push(`part ${number} is an S/MIME message (smime.p7m, signed or encrypted as a whole): its contents cannot be checked`);
    }
    // an inline, unencoded message/rfc822 was descended into by mailsplit already (node.messageNode)
    if (isMessage) {
      if (known) leaf.nested = this.startNested(number, nodeDepth(scope, node) + 1);
      else this.unchecked(`part ${number} is an attached message in the unknown transfer encoding "${encoding.slice(0, 40)}"`);
    }
  }

  /** Lists the uuencoded files of a text part as names of that part, so they are checked like attachment names. */
  private uuencodeScanner(leaf: Leaf): UuencodeScanner {
    return new UuencodeScanner({
      name: (name) => {
        if (++this.uuencodedFiles > MAX_UUENCODED_FILES) {
          this.unchecked(`more than ${MAX_UUENCODED_FILES} uuencoded files in the text`);
          return;
        }
        for (const reading of nameReadings(name)) if (!leaf.part.names.includes(reading)) leaf.part.names.push(reading);
      },
      problem: (why) => this.unchecked(`part ${leaf.part.part} has ${why}`),
      file: (file) => {
        const files = (leaf.part.encodedFiles ??= []);
        if (files.length < MAX_UUENCODED_FILES) files.push({ name: file.name, type: detectFileType(file.head, file.size) });
      },
    }, MAGIC_HEAD_BYTES);
  }

  /** A second splitter over an attached message's decoded content, its output walked like the message's own. */
  private startNested(number: string, depth: number): NestedWalk {
    const label = `the message attached as part ${number}`;
    const scope: Scope = { prefix: number, depth, current: null };
    this.scopes.add(scope);
    const splitter = new MimeSplitter({ maxHeadSize: MAX_PART_HEADER_BYTES, maxChildNodes: MAX_MIME_PARTS, maxHeadLines: MAX_HEADER_LINES });
    const nested: NestedWalk = { label, splitter, finished: Promise.resolve(), error: null, pending: [], pendingBytes: 0, lineBytes: 0, endedWithCR: false };
    nested.finished = pipeChain([splitter, this.sink(scope)]).then(
      () => {
        this.scopes.delete(scope);
      },
      (error: NodeJS.ErrnoException) => {
        nested.error = new WalkStopped(whyNestedStopped(error, label));
      },
    );
    return nested;
  }

  private async feed(leaf: Leaf, raw: Buffer): Promise<void> {
    const encoding = leaf.part.transferEncoding;
    let data: Buffer;
    if (encoding === 'base64') {
      this.checkBase64Padding(leaf, raw);
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
    if (leaf.nested && data.length) await this.toNested(leaf.nested, data);
  }

  /**
   * Base64 data after a "=" pad in one part: Moat drops the pads and decodes the rest in line, Thunderbird decodes
   * each group of four on its own, so the two get different bytes (a zip for one of them). Not guessed at: unchecked.
   */
  private checkBase64Padding(leaf: Leaf, raw: Buffer): void {
    if (leaf.base64Padding === 'ambiguous') return;
    let at = 0;
    if (leaf.base64Padding === 'none') {
      at = raw.indexOf(0x3d);
      if (at === -1) return;
      leaf.base64Padding = 'padded';
    }
    for (; at < raw.length; at++) {
      if (!BASE64_DATA[raw[at]!]) continue;
      leaf.base64Padding = 'ambiguous';
      this.unchecked(`part ${leaf.part.part} has base64 data after its "=" padding, which mail programs decode differently (ambiguous base64)`);
      return;
    }
  }

  /** Hands decoded content of an attached message to its splitter, in writes of NESTED_WRITE_BYTES, waiting when it is full. */
  private async toNested(nested: NestedWalk, raw: Buffer): Promise<void> {
    await stopIfFailed(nested);
    const data = bareCrAsCrlf(raw, nested);
    // bytes up to each line feed, counted across writes (the splitter holds an unfinished line whole)
    for (let start = 0; ; ) {
      const lineFeed = data.indexOf(0x0a, start);
      nested.lineBytes += (lineFeed === -1 ? data.length : lineFeed) - start;
      if (nested.lineBytes > MAX_LINE_BYTES) throw new WalkStopped(`${nested.label} has a line longer than ${MAX_LINE_BYTES} bytes`);
      if (lineFeed === -1) break;
      nested.lineBytes = 0;
      start = lineFeed + 1;
    }
    nested.pending.push(Buffer.from(data));
    nested.pendingBytes += data.length;
    if (nested.pendingBytes >= NESTED_WRITE_BYTES) await this.flushNested(nested);
  }

  private async flushNested(nested: NestedWalk): Promise<void> {
    if (nested.pendingBytes === 0) return;
    await stopIfFailed(nested);
    const chunk = Buffer.concat(nested.pending);
    nested.pending = [];
    nested.pendingBytes = 0;
    if (!nested.splitter.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          nested.splitter.off('drain', done);
          resolve();
        };
        nested.splitter.on('drain', done);
        void nested.finished.then(done);
      });
    }
    await stopIfFailed(nested);
  }

  private consume(leaf: Leaf, data: Buffer): void {
    if (data.length === 0) return;
    leaf.part.size += data.length;
    leaf.uuencode?.write(data);
    leaf.tnef.write(data);
    leaf.ends.write(data);
    // a chunk is as long as the line that brought it (one unencoded line of 20 MB is one chunk): only what is kept is
    // decoded, the rest is counted by bytes
    if (leaf.kind === 'plain' && leaf.text) {
      const room = MAX_TEXT_CHARS - this.text.length;
      const kept = room > 0 ? data.subarray(0, room * MAX_BYTES_PER_CHAR) : data.subarray(0, 0);
      if (kept.length) {
        const decoded = leaf.text.decode(kept, { stream: true });
        this.plainChars += visibleChars(decoded);
        this.text += decoded.slice(0, room);
      }
      if (kept.length < data.length) this.plainChars += visibleBytes(data.subarray(kept.length));
    } else if (leaf.kind === 'html' && leaf.text) {
      const room = Math.max(0, Math.min(MAX_HTML_BYTES - leaf.htmlBytes, MAX_HTML_MESSAGE_BYTES - this.htmlKept));
      const kept = data.subarray(0, room);
      if (kept.length) {
        leaf.html.push(leaf.text.decode(kept, { stream: true }));
        this.htmlKept += kept.length;
      }
      if (kept.length < data.length) this.htmlChars += visibleHtmlBytes(data.subarray(kept.length), leaf);
      leaf.htmlBytes += data.length;
    }
  }

  /** The current part of `scope` has ended: the rest of its base64, the walk of an attached message to its end. */
  private async endLeaf(scope: Scope): Promise<void> {
    const leaf = scope.current;
    if (!leaf || this.closed) return;
    if (leaf.base64Rest) {
      const rest = Buffer.from(leaf.base64Rest, 'base64');
      leaf.base64Rest = '';
      this.consume(leaf, rest);
      if (leaf.nested && rest.length) await this.toNested(leaf.nested, rest);
    }
    if (leaf.nested) {
      await this.flushNested(leaf.nested);
      await stopIfFailed(leaf.nested);
      leaf.nested.splitter.end();
      await leaf.nested.finished;
      await stopIfFailed(leaf.nested);
    }
    this.closeLeaf(leaf);
    scope.current = null;
  }

  private closeLeaf(leaf: Leaf): void {
    if (leaf.closed) return;
    leaf.closed = true;
    leaf.uuencode?.end();
    const { head, tail } = leaf.ends.ends();
    leaf.part.detectedType = detectFileType(head, leaf.part.size);
    if (tail && (leaf.part.detectedType === 'zip' || holdsZipEnd(tail))) leaf.part.archive = listZip(tail, leaf.part.size, this.inflateBudget);
    // after the zip listing: a rar with a zip behind it is still a rar that was not looked into
    const unlisted = unlistedProblem(leaf.part, head, this.inflateBudget);
    if (unlisted) leaf.part.archive = { members: leaf.part.archive?.members ?? [], problem: unlisted.problem, unlisted: unlisted.unlisted };
    const tnef = leaf.tnef.end();
    if (tnef) leaf.part.archive = { members: [...(leaf.part.archive?.members ?? []), ...tnef.files], problem: leaf.part.archive?.problem ?? tnef.problem };
    if (leaf.kind === 'html' && leaf.html.length) {
      const links: string[] = [];
      const visible = stripHtml(leaf.html.join(''), links);
      // what the sender wrote: the link notes are ours
      this.htmlChars += visibleChars(visible) - links.reduce((sum, note) => sum + visibleChars(readableText(note)), 0);
      if (this.htmlText.length < MAX_TEXT_CHARS) this.htmlText += visible.slice(0, MAX_TEXT_CHARS - this.htmlText.length);
    }
  }
}

/**
 * Why an archive other than a zip could not be checked (null: it is not one, or it was): gzip's one file is looked
 * at. `unlisted`: a well-formed archive of a kind Moat does not list (not a damaged one).
 */
function unlistedProblem(part: MimePart, head: Buffer, budget: InflateBudget): { problem: string; unlisted: boolean } | null {
  const type = part.detectedType;
  if (type !== null && UNLISTED_ARCHIVE_TYPES.has(type)) return { problem: `Moat cannot look inside ${type} archives`, unlisted: true };
  if (type !== 'gzip') return null;
  const inside = inspectGzip(head, part.names, part.size, budget);
  part.gzip = { names: inside.names, innerType: inside.innerType };
  if (inside.problem) return { problem: inside.problem, unlisted: false };
  const archived = inside.innerType === 'zip' || inside.innerType === 'gzip' || (inside.innerType !== null && UNLISTED_ARCHIVE_TYPES.has(inside.innerType));
  return archived ? { problem: `Moat cannot look inside a ${inside.innerType} archive in a gzip file`, unlisted: true } : null;
}

/** The bytes of the base64 alphabet, "=" left out (RFC 2045 6.8). */
const BASE64_DATA: readonly boolean[] = Array.from({ length: 256 }, (_, byte) => /[A-Za-z0-9+/]/.test(String.fromCharCode(byte)));

const LINE_FEED = Buffer.from('\n');

/**
 * An attached message's content with each bare CR made a CRLF: mailsplit splits lines only at LF, a mail program at
 * a bare CR too, and would see headers and parts where mailsplit sees one long line. `state` carries a CR that ended
 * the content before.
 */
function bareCrAsCrlf(data: Buffer, state: { endedWithCR: boolean }): Buffer {
  if (data.length === 0) return data;
  const pieces: Buffer[] = state.endedWithCR && data[0] !== 0x0a ? [LINE_FEED] : [];
  let from = 0;
  for (let cr = data.indexOf(0x0d); cr !== -1 && cr + 1 < data.length; cr = data.indexOf(0x0d, cr + 1)) {
    if (data[cr + 1] === 0x0a) continue;
    pieces.push(data.subarray(from, cr + 1), LINE_FEED);
    from = cr + 1;
  }
  state.endedWithCR = data[data.length - 1] === 0x0d;
  if (pieces.length === 0) return data;
  pieces.push(data.subarray(from));
  return Buffer.concat(pieces);
}

/** Throws why the walk of an attached message stopped, if it did (never writes to a splitter that is gone). */
async function stopIfFailed(nested: NestedWalk): Promise<void> {
  if (nested.splitter.destroyed && !nested.error) await nested.finished;
  if (nested.error) throw nested.error;
}

/** How deep `node` sits in the whole message: its parents in its own tree, below the tree's root depth. */
function nodeDepth(scope: Scope, node: MimeNode): number {
  let depth = scope.depth;
  for (let parent = node.parentNode; parent; parent = parent.parentNode) depth++;
  return depth;
}

/** A node in words for the reasons: "the message", "part 2.1", "the message attached as part 2". */
function nodeLabel(scope: Scope, node: MimeNode): string {
  if (scope.prefix === '') return node.root ? 'the message' : `part ${partNumber(node)}`;
  return node.root ? `the message attached as part ${scope.prefix}` : `part ${scope.prefix}.${partNumber(node)}`;
}

/** The body of a part's first `key` field (lower-case name), unfolded, UTF-8 as sent; null when it has none. */
function fieldValue(node: MimeNode, key: string): string | null {
  const field = node.headers.getList().find((line) => line.key === key);
  if (!field) return null;
  const text = Buffer.from(field.line, 'latin1').toString('utf8');
  return text.slice(text.indexOf(':') + 1).replace(/\r?\n(?=[ \t])/g, '');
}

const FIELD_NAMES: Record<string, string> = { 'content-type': 'Content-Type', 'content-transfer-encoding': 'Content-Transfer-Encoding', 'content-disposition': 'Content-Disposition' };

/** Part number as IMAP counts them ("1" for the message itself or a single-part one). */
function partNumber(node: MimeNode): string {
  return (node.partNr || []).filter((n) => n !== 'TEXT').join('.') || '1';
}

/**
 * RFC 2045 6.7, for whole lines (mailsplit hands body data over line by line). Spaces and tabs that end a line are
 * transport padding and deleted (rule 3), also after a "=", which makes that a soft line break: kept, they shifted
 * a program's bytes so that its header was no longer where Windows (and Moat) look for it.
 */
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
  // the end of the run of spaces and tabs from `at`, and whether a line end (or the end of the input) follows it
  const padding = (at: number) => {
    let end = at;
    while (input[end] === 0x20 || input[end] === 0x09) end++;
    return { end, atLineEnd: end === input.length || input[end] === 0x0a || (input[end] === 0x0d && input[end + 1] === 0x0a) };
  };
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    if (byte === 0x20 || byte === 0x09) {
      const { end, atLineEnd } = padding(i);
      if (!atLineEnd) {
        input.copy(out, length, i, end);
        length += end - i;
      }
      i = end - 1;
      continue;
    }
    if (byte !== 0x3d) {
      out[length++] = byte;
      continue;
    }
    const high = hex(input[i + 1]);
    const low = hex(input[i + 2]);
    if (high >= 0 && low >= 0) {
      out[length++] = high * 16 + low;
      i += 2;
      continue;
    }
    const { end, atLineEnd } = padding(i + 1);
    if (!atLineEnd) {
      out[length++] = byte;
      continue;
    }
    // a soft line break: "=", its padding and the line end go
    i = end === input.length ? end - 1 : input[end] === 0x0d ? end + 1 : end;
  }
  return out.subarray(0, length);
}

/** The start of an element whose content a reader never sees as text (sticky: tried at one position). */
const HIDDEN_START = /<(script|style|head)\b/iy;
const HIDDEN_END: Record<string, RegExp> = { script: /<\/script\s*>/gi, style: /<\/style\s*>/gi, head: /<\/head\s*>/gi };

/** Where a link goes, as far as its tag is read for it (a tag can be 512 KiB; an href is near its start). */
const LINK_TAG_READ = 2048;
const LINK_OPEN = /<a\b/iy;
const LINK_CLOSE = /<\/a\s*>/iy;
const HREF = /\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i;
/** A link target shown longer than this is cut (the start names the host, which is what a person judges). */
const MAX_LINK_SHOWN = 200;

/** The target of an `<a href>` tag, as it stands; null for none, or one within the page ("#top"). */
function linkTarget(tag: string): string | null {
  const match = HREF.exec(tag.slice(0, LINK_TAG_READ));
  const target = (match?.[1] ?? match?.[2] ?? match?.[3] ?? '').trim();
  if (target === '' || target.startsWith('#')) return null;
  return target.length > MAX_LINK_SHOWN ? `${target.slice(0, MAX_LINK_SHOWN)}…` : target;
}

/**
 * The text a reader would see in an HTML part: no tags, scripts, styles or comments; entities for spaces decoded.
 * One pass from left to right: each search for an end ("-->", ">", "</script>") that finds none is remembered, so
 * a part of 512 KiB of "<" or "<!--" costs one scan, not one per "<" (a regex per tag type did: a minute).
 * Given `links`, each link's target follows its words (" [→ http://…]"), since the words of a phishing link hide
 * where it goes; each note added is pushed to `links`, for counts of what the sender wrote to leave them out.
 */
export function stripHtml(html: string, links?: string[]): string {
  const out: string[] = [];
  // from which position on each end is known to be missing
  const missing = new Map<string, number>();
  const find = (key: string, from: number, search: (from: number) => { at: number; length: number } | null) => {
    if (from >= (missing.get(key) ?? Infinity)) return null;
    const found = search(from);
    if (!found) missing.set(key, Math.min(from, missing.get(key) ?? Infinity));
    return found;
  };
  const literal = (text: string) => (from: number) => {
    const at = html.indexOf(text, from);
    return at === -1 ? null : { at, length: text.length };
  };
  let at = 0;
  let pendingLink: string | null = null;
  const noteLink = () => {
    if (pendingLink === null) return;
    const note = ` [→ ${pendingLink}] `;
    out.push(note);
    links!.push(note);
    pendingLink = null;
  };
  while (at < html.length) {
    const open = html.indexOf('<', at);
    if (open === -1) break;
    let end: { at: number; length: number } | null = null;
    if (html.startsWith('<!--', open)) end = find('-->', open + 4, literal('-->'));
    HIDDEN_START.lastIndex = open;
    const hidden = end ? undefined : HIDDEN_START.exec(html)?.[1]?.toLowerCase();
    if (hidden) {
      end = find(`</${hidden}`, open + hidden.length + 1, (from) => {
        const closing = HIDDEN_END[hidden]!;
        closing.lastIndex = from;
        const match = closing.exec(html);
        return match ? { at: match.index, length: match[0].length } : null;
      });
    }
    end ??= find('>', open + 1, literal('>'));
    // no end: the rest is text, as a reader would see it
    if (!end) break;
    out.push(html.slice(at, open), ' ');
    if (links) {
      LINK_CLOSE.lastIndex = open;
      LINK_OPEN.lastIndex = open;
      if (LINK_CLOSE.test(html)) noteLink();
      else if (LINK_OPEN.test(html)) {
        noteLink();
        pendingLink = linkTarget(html.slice(open, Math.min(end.at, open + LINK_TAG_READ)));
      }
    }
    at = end.at + end.length;
  }
  out.push(html.slice(at));
  if (links) noteLink();
  return readableText(out.join(''));
}

/** Text out of HTML as a reader sees it: the entities for spaces and markup decoded, whitespace runs one space. */
function readableText(text: string): string {
  return text
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

/** Visible bytes outside tags, in HTML counted rather than stripped (`state.inTag` carries over between chunks). */
function visibleHtmlBytes(data: Buffer, state: { inTag: boolean }): number {
  let count = 0;
  let inTag = state.inTag;
  for (const byte of data) {
    if (inTag) inTag = byte !== 0x3e;
    else if (byte === 0x3c) inTag = true;
    else if (byte > 0x20) count++;
  }
  state.inTag = inTag;
  return count;
}

function visibleBytes(data: Buffer): number {
  let count = 0;
  for (const byte of data) if (byte > 0x20) count++;
  return count;
}
