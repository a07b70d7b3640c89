import { Transform, type TransformCallback } from 'node:stream';

/** Header blocks longer than this pass untouched (and the filters judge them as they are). */
const MAX_SCRUB_BYTES = 256 * 1024;

/**
 * Removes, from the header block only, the fields by which the internal server trusts the relay: X-Spam-* and
 * X-Moat-* (ours alone; a sender's own "X-Spam-Flag: NO" must not reach an Exchange transport rule) and
 * Authentication-Results that claim our host name as their authserv-id (RFC 8601 section 5). Works on CRLF input.
 */
export class HeaderScrubber extends Transform {
  /** Header fields removed so far. */
  removed = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private passing = false;
  private readonly ownAuthResults: RegExp;

  constructor(hostname: string) {
    super();
    const escaped = hostname.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.ownAuthResults = new RegExp(`^authentication-results:\\s*${escaped}\\s*(;|$)`, 'i');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.passing) return callback(null, chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const buffered = Buffer.concat(this.pending);
    const end = buffered.indexOf('\r\n\r\n');
    if (end === -1 && this.pendingBytes < MAX_SCRUB_BYTES) return callback();
    this.passing = true;
    this.pending = [];
    if (end === -1) return callback(null, buffered);
    callback(null, Buffer.concat([this.scrub(buffered.subarray(0, end + 2)), buffered.subarray(end + 2)]));
  }

  override _flush(callback: TransformCallback): void {
    if (this.passing || this.pending.length === 0) return callback();
    const buffered = Buffer.concat(this.pending);
    callback(null, buffered.subarray(buffered.length - 2).toString() === '\r\n' ? this.scrub(buffered) : buffered);
  }

  /** `block` ends with CRLF; fields are a line plus its folded continuation lines. */
  private scrub(block: Buffer): Buffer {
    const fields = block.toString('latin1').split(/\r\n(?![ \t])/);
    const kept = fields.filter((field) => {
      if (field === '') return true;
      const drop = /^x-(spam|moat)-[^:]*:/i.test(field) || this.ownAuthResults.test(field.replace(/\r\n[ \t]+/g, ' '));
      if (drop) this.removed++;
      return !drop;
    });
    return Buffer.from(kept.join('\r\n'), 'latin1');
  }
}
