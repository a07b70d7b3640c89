import { MAGIC_HEAD_BYTES } from './file-type.ts';
import { ZIP_TAIL_BYTES } from './zip.ts';

/** The ends of a file's data as it streams by; the bytes between them are not kept. */
export interface Ends {
  /** Its first MAGIC_HEAD_BYTES: what it is (file-type.ts). */
  head: Buffer;
  /** Its last ZIP_TAIL_BYTES or a little more, where a zip's central directory is; null when not asked for. */
  tail: Buffer | null;
  size: number;
}

/** Keeps a file's first bytes and, when `keepTail`, its last: a zip with data glued before it is found from its end only. */
export class DataEnds {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private readonly tail: Buffer[] | null;
  private tailBytes = 0;
  private size = 0;

  constructor(keepTail: boolean) {
    this.tail = keepTail ? [] : null;
  }

  write(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.headBytes < MAGIC_HEAD_BYTES) {
      const take = chunk.subarray(0, MAGIC_HEAD_BYTES - this.headBytes);
      this.head.push(Buffer.from(take));
      this.headBytes += take.length;
    }
    if (!this.tail) return;
    this.tail.push(Buffer.from(chunk));
    this.tailBytes += chunk.length;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0]!.length >= ZIP_TAIL_BYTES) this.tailBytes -= this.tail.shift()!.length;
  }

  ends(): Ends {
    return { head: Buffer.concat(this.head), tail: this.tail && Buffer.concat(this.tail), size: this.size };
  }
}

/** The ends of data held whole. */
export function wholeEnds(bytes: Buffer): Ends {
  return { head: bytes.subarray(0, MAGIC_HEAD_BYTES), tail: bytes.subarray(Math.max(0, bytes.length - ZIP_TAIL_BYTES)), size: bytes.length };
}
