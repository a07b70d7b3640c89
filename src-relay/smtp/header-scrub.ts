import { MAX_HEADER_LINES } from '../filters/mime.ts';
import type { ChunkStage } from './stage-chain.ts';
import { appendGrowing } from '../util/growing-buffer.ts';

const NUL = 0x00;
const HT = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const ESC = 0x1b;
const SP = 0x20;
const DEL = 0x7f;

const EMPTY: Buffer = Buffer.alloc(0);

/** Why the content of a message is refused at the end of DATA; the listener picks the reply (smtp/replies.ts). */
export type ContentRefusal = 'header-too-big' | 'header-lines' | 'nul' | 'header-control' | 'too-many-hops';

/**
 * Received fields a message may already carry; one more is a mail loop (RFC 5321 6.3: a threshold of at least
 * 100), refused before it goes round again, between Moat and the internal server or through another relay.
 */
export const MAX_RECEIVED_FIELDS = 100;

/**
 * Lines in the header section a sender may send (each folded line counts): the content filters' limit less room for
 * the Received field the relay writes on top, so that nothing accepted here is stopped by the walk's limit. Past it
 * the message is refused: mailauth and mailsplit join folded lines in time that grows with the square of their
 * number (60,000 lines: minutes), and the event loop waits for it.
 */
export const MAX_SENDER_HEADER_LINES = MAX_HEADER_LINES - 50;

/**
 * Bytes refused inside a header line: the C0 controls and DEL, which RFC 5322 2.2 keeps out of field bodies (they
 * survive only in its obsolete syntax) and which Exchange and mail clients mishandle (truncated or split fields).
 * Allowed: HTAB (folding whitespace) and ESC (raw ISO-2022-JP, RFC 1468, still written by some Japanese mailers).
 * CR and LF only as the line's end; NUL is refused anywhere in the message (see HeaderScrubber).
 */
const HEADER_CONTROL = (() => {
  const table = new Uint8Array(256);
  for (let byte = 0; byte < SP; byte++) if (byte !== HT && byte !== ESC) table[byte] = 1;
  table[DEL] = 1;
  return table;
})();

export interface HeaderScrubberOptions {
  /** Our host name: an Authentication-Results field with it as authserv-id claims to be ours. */
  hostname: string;
  /** Largest header section, in bytes: every header line with its CRLF, not the empty line that ends the section. */
  maxHeaderBytes: number;
}

/**
 * Streams over the whole header section, whatever its size, and removes from it the fields by which the internal
 * server trusts the relay: X-Spam-* and X-Moat-* (ours alone; a sender's own "X-Spam-Flag: NO" must not reach an
 * Exchange transport rule) and Authentication-Results that name our host as their authserv-id (RFC 8601 section 5).
 * It also judges the message's bytes, and after the first fault passes nothing on (the listener refuses it):
 * - a header section over `maxHeaderBytes` ('header-too-big'): no part of it goes unscrubbed;
 * - a header section of more than MAX_SENDER_HEADER_LINES lines ('header-lines');
 * - a NUL byte anywhere, header or body ('nul'): RFC 5322 2.1 / RFC 2045 2.7-2.8 forbid it and no SMTP peer may
 *   send it raw (no BINARYMIME here); refusing loses nothing silently, the sender gets the reason;
 * - any other control byte in a header line but HTAB and ESC ('header-control');
 * - more than MAX_RECEIVED_FIELDS Received fields ('too-many-hops').
 * Other control bytes in the body pass unchanged: RFC 2045 allows them in 7bit and 8bit text (form feeds in plain
 * text, ESC in ISO-2022-JP). Works on CRLF input (behind LineEndingNormalizer); a line ends at LF.
 */
export class HeaderScrubber implements ChunkStage {
  /** Header fields removed so far. */
  removed = 0;
  /** Set at the first fault; from then on nothing is passed on. */
  refusal: ContentRefusal | null = null;
  private readonly hostname: string;
  private readonly maxHeaderBytes: number;
  private inBody = false;
  /** Bytes of the complete header lines seen so far. */
  private headerBytes = 0;
  private headerLines = 0;
  private receivedFields = 0;
  /**
   * The start of a header line whose LF has not come yet, copied into one buffer: a view of each piece would keep
   * its whole chunk, and a line sent a byte at a time would cost an object a byte (over 100 MB for a 1 MB line).
   */
  private partial: Buffer = EMPTY;
  private partialBytes = 0;
  /** The lines of the field being read: its first line and the continuation lines seen so far. */
  private field: Buffer[] = [];

  constructor(options: HeaderScrubberOptions) {
    this.hostname = options.hostname.toLowerCase();
    this.maxHeaderBytes = options.maxHeaderBytes;
  }

  push(chunk: Buffer): Buffer | undefined {
    if (this.refusal) return undefined;
    if (this.inBody) return this.body(chunk);
    const out: Buffer[] = [];
    let start = 0;
    while (start < chunk.length && !this.refusal) {
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        const rest = chunk.subarray(start);
        // a lone CR may be the start of the empty line that ends the section
        const maybeEnd = this.partialBytes === 0 && rest.length === 1 && rest[0] === CR;
        if (!maybeEnd && this.headerBytes + this.partialBytes + rest.length > this.maxHeaderBytes) {
          this.refusal = 'header-too-big';
          this.dropPartial();
          this.field = [];
        } else this.holdPartial(rest);
        break;
      }
      const piece = chunk.subarray(start, lf + 1);
      start = lf + 1;
      const line = this.partialBytes > 0 ? Buffer.concat([this.partial.subarray(0, this.partialBytes), piece]) : piece;
      this.dropPartial();
      if (isEmptyLine(line)) {
        out.push(...this.endField(), line);
        this.inBody = true;
        if (start < chunk.length) out.push(this.body(chunk.subarray(start)));
        break;
      }
      this.headerLine(line, out);
    }
    return this.refusal ? undefined : Buffer.concat(out);
  }

  end(): Buffer | undefined {
    if (this.refusal || this.inBody) return undefined;
    // a message that is all header section (no empty line); its last line may lack its CRLF
    const out: Buffer[] = [];
    if (this.partialBytes > 0) this.headerLine(this.partial.subarray(0, this.partialBytes), out);
    this.dropPartial();
    out.push(...this.endField());
    return this.refusal ? undefined : Buffer.concat(out);
  }

  /** Adds to the unfinished line (bounded by maxHeaderBytes, checked before; a lone CR may come first). */
  private holdPartial(bytes: Buffer): void {
    this.partial = appendGrowing(this.partial, this.partialBytes, bytes, this.maxHeaderBytes + 1);
    this.partialBytes += bytes.length;
  }

  private dropPartial(): void {
    this.partial = EMPTY;
    this.partialBytes = 0;
  }

  private body(chunk: Buffer): Buffer {
    if (chunk.indexOf(NUL) === -1) return chunk;
    this.refusal = 'nul';
    return Buffer.alloc(0);
  }

  /** One header line, LF included: counted, checked, then added to its field (or it starts a new one). */
  private headerLine(line: Buffer, out: Buffer[]): void {
    this.headerBytes += line.length;
    if (this.headerBytes > this.maxHeaderBytes) {
      this.refusal = 'header-too-big';
      return;
    }
    if (++this.headerLines > MAX_SENDER_HEADER_LINES) {
      this.refusal = 'header-lines';
      return;
    }
    const fault = controlFault(line);
    if (fault) {
      this.refusal = fault;
      return;
    }
    if (line[0] === SP || line[0] === HT) {
      this.field.push(line);
      return;
    }
    out.push(...this.endField());
    this.field = [line];
    if (isReceived(line) && ++this.receivedFields > MAX_RECEIVED_FIELDS) this.refusal = 'too-many-hops';
  }

  /** The field just finished, or nothing when it claims to be ours. */
  private endField(): Buffer[] {
    const field = this.field;
    this.field = [];
    if (field.length === 0 || !this.forged(Buffer.concat(field).toString('latin1'))) return field;
    this.removed++;
    return [];
  }

  private forged(field: string): boolean {
    // RFC 5322 2.2.3: unfolding removes the line breaks; obsolete syntax allows whitespace before the colon
    const unfolded = field.replace(/\r?\n/g, '');
    if (/^x-(spam|moat)-[^:]*:/i.test(unfolded)) return true;
    const results = /^authentication-results[ \t]*:(.*)$/is.exec(unfolded);
    return results !== null && authservId(results[1]!) === this.hostname;
  }
}

/** "Received:" at the start of a field, in any letter case (obsolete syntax: whitespace before the colon). */
function isReceived(line: Buffer): boolean {
  if (line.length < 9 || (line[0]! | 0x20) !== 0x72) return false;
  return /^received[ \t]*:/i.test(line.toString('latin1', 0, Math.min(line.length, 40)));
}

function isEmptyLine(line: Buffer): boolean {
  return (line.length === 2 && line[0] === CR) || line.length === 1;
}

/** The first fault among the line's bytes before its line end. */
function controlFault(line: Buffer): ContentRefusal | null {
  let end = line.length;
  if (line[end - 1] === LF) end--;
  if (end > 0 && line[end - 1] === CR) end--;
  let fault: ContentRefusal | null = null;
  for (let i = 0; i < end; i++) {
    const byte = line[i]!;
    if (byte === NUL) return 'nul';
    if (HEADER_CONTROL[byte]) fault = 'header-control';
  }
  return fault;
}

/**
 * The authserv-id of an Authentication-Results field body (RFC 8601 2.2: a token or quoted string, after optional
 * comments, perhaps followed by a version), lower-cased; comments anywhere are dropped first, nested ones too.
 */
function authservId(value: string): string {
  // the comments out in one pass, innermost first as they close (a quoted-pair stands for one letter): a loop of
  // replacements, one level each, took minutes for a field of 240,000 "(" and as many ")"
  const kept: string[] = [];
  const opened: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      kept.push('x');
      i++;
    } else if (c === '(') {
      opened.push(kept.length);
      kept.push(c);
    } else if (c === ')' && opened.length > 0) {
      kept.length = opened.pop()!;
      kept.push(' ');
    } else kept.push(c);
  }
  const match = /^\s*"?([^\s;"]*)/.exec(kept.join(''));
  return match ? match[1]!.toLowerCase() : '';
}
