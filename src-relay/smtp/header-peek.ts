import { Transform, type TransformCallback } from 'node:stream';

/** Only this much of the header block is kept for tracking; the message itself passes through untouched. */
const MAX_PEEK_BYTES = 64 * 1024;
/** Tracking fields are cut to this length. */
const MAX_FIELD_CHARS = 998;

/** Passes the message through and remembers its Subject and Message-ID for tracking (search by message-id). */
export class HeaderPeek extends Transform {
  private chunks: Buffer[] = [];
  private seen = 0;
  private done = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.done) {
      this.chunks.push(chunk);
      this.seen += chunk.length;
      if (this.seen >= MAX_PEEK_BYTES || chunk.includes('\r\n\r\n')) this.done = true;
    }
    callback(null, chunk);
  }

  /** Header fields (unfolded), from the captured part only. */
  fields(): { subject: string | null; messageId: string | null } {
    const text = Buffer.concat(this.chunks).subarray(0, MAX_PEEK_BYTES).toString('utf8');
    const end = text.indexOf('\r\n\r\n');
    const block = (end === -1 ? text : text.slice(0, end)).replace(/\r\n[ \t]+/g, ' ');
    const field = (name: string) => {
      const match = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(block);
      return match ? match[1]!.replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, MAX_FIELD_CHARS) || null : null;
    };
    return { subject: field('Subject'), messageId: field('Message-ID')?.replace(/^<|>$/g, '') ?? null };
  }
}
