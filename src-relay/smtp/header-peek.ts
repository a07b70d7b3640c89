import type { ChunkStage } from './stage-chain.ts';
import { appendGrowing } from '../util/growing-buffer.ts';

/** Only this much of the header block is kept for tracking; the message itself passes through untouched. */
export const MAX_PEEK_BYTES = 64 * 1024;
/** Kept of the stream: a header block of MAX_PEEK_BYTES and the empty line after it, which shows it is complete. */
const CAPTURE_BYTES = MAX_PEEK_BYTES + 2;
/** Tracking fields are cut to this length. */
const MAX_FIELD_CHARS = 998;
const LINE_END = Buffer.from('\r\n');
const EMPTY_LINE = Buffer.from('\r\n\r\n');

/** Passes the message through and remembers its Subject, From and Message-ID for tracking (search by message-id). */
export class HeaderPeek implements ChunkStage {
  /** What is kept, copied (a view would keep its whole chunk, and a header sent a byte at a time an object a byte). */
  private captured: Buffer = Buffer.alloc(0);
  private capturedBytes = 0;
  /** Bytes seen until the capture was done: past MAX_PEEK_BYTES the block is not all here. */
  private seen = 0;
  private done = false;
  private ended = false;

  push(chunk: Buffer): Buffer {
    if (!this.done) {
      this.seen += chunk.length;
      const end = this.headerEndIn(chunk);
      const take = chunk.subarray(0, Math.min(end === -1 ? chunk.length : end, CAPTURE_BYTES - this.capturedBytes));
      this.captured = appendGrowing(this.captured, this.capturedBytes, take, CAPTURE_BYTES);
      this.capturedBytes += take.length;
      if (end !== -1 || this.capturedBytes >= CAPTURE_BYTES) this.done = true;
    }
    return chunk;
  }

  /**
   * How many bytes of the chunk reach through the header's empty line, or -1. The line may straddle two chunks, so
   * the search starts three bytes back in what is kept; a message is read as if after a line end, so that one
   * starting with the empty line (no header at all) ends there.
   */
  private headerEndIn(chunk: Buffer): number {
    const before = this.capturedBytes >= 3 ? this.kept() : Buffer.concat([LINE_END, this.kept()]);
    const tail = before.subarray(Math.max(0, before.length - 3));
    const seam = Buffer.concat([tail, chunk.subarray(0, 3)]).indexOf(EMPTY_LINE);
    if (seam !== -1) return seam + EMPTY_LINE.length - tail.length;
    const inside = chunk.indexOf(EMPTY_LINE);
    return inside === -1 ? -1 : inside + EMPTY_LINE.length;
  }

  private kept(): Buffer {
    return this.captured.subarray(0, this.capturedBytes);
  }

  end(): undefined {
    this.ended = true;
    return undefined;
  }

  /**
   * The header block as captured (CRLF line ends, still folded), and whether it is all there: false when the
   * header block is longer than what is kept, so a check of it must not pass what it could not see.
   */
  headerBlock(): { text: string; complete: boolean } {
    const captured = this.kept().toString('utf8');
    if (captured.startsWith('\r\n')) return { text: '', complete: true };
    const end = captured.indexOf('\r\n\r\n');
    if (end !== -1) return { text: captured.slice(0, end + 2), complete: true };
    return { text: captured.slice(0, MAX_PEEK_BYTES), complete: this.ended && this.seen <= MAX_PEEK_BYTES };
  }

  /** Header fields (unfolded), from the captured part only. */
  fields(): { subject: string | null; messageId: string | null; from: string | null } {
    const text = this.kept().subarray(0, MAX_PEEK_BYTES).toString('utf8');
    const end = text.indexOf('\r\n\r\n');
    const block = (end === -1 ? text : text.slice(0, end)).replace(/\r\n[ \t]+/g, ' ');
    const field = (name: string) => {
      const match = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(block);
      return match ? match[1]!.replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, MAX_FIELD_CHARS) || null : null;
    };
    return { subject: field('Subject'), messageId: field('Message-ID')?.replace(/^<|>$/g, '') ?? null, from: field('From') };
  }
}
