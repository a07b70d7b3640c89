// The MIME walk and sender authentication (DKIM, ARC) read the message's bytes from one place. A message up to
// READ_ONCE_BYTES, which is most mail, is read once, whole, and each reader gets that copy (the mx listener hands over
// the copy its spool writer kept as the message arrived, store/spool.ts, so it is not read at all); a larger
// one is streamed from the file by each reader in chunks sized to the message, so no reader holds more than a chunk.
// (ClamAV, rspamd and spamd stream the file to their engines themselves.)
import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { HELD_BYTES } from '../store/spool.ts';

/**
 * Messages up to this size (bytes) are read once for all filters and held while they run: 100 sessions in their
 * filters at once hold at most 6.4 MB so. Most mail is smaller (a 4 KB text message is one read, not two).
 */
export const READ_ONCE_BYTES = HELD_BYTES;
/** The largest chunk a reader of a bigger message asks the file for at a time (bytes). */
export const STREAM_CHUNK_BYTES = 256 * 1024;
/** The smallest, whatever size it is told: a wrong size never makes a reader crawl through a file a byte at a time. */
const MIN_CHUNK_BYTES = 16 * 1024;

/**
 * The message's bytes when it is small enough to read once (`READ_ONCE_BYTES`), else null: read it with
 * `messageStream`. Read at once: the file was just written, so this is a copy from the page cache of at most 64 KB
 * (tens of microseconds), where an asynchronous read is four round trips through libuv's thread pool.
 */
export function readOnce(path: string, size: number): Buffer | null {
  return size <= READ_ONCE_BYTES ? readFileSync(path) : null;
}

/**
 * The message as a stream: its copy read once, or the file in chunks of at most STREAM_CHUNK_BYTES. Node's file
 * streams take a whole chunk of memory per read whatever the file's size, so the chunk is sized to the message.
 */
export function messageStream(path: string, content: Buffer | null | undefined, size: number): Readable {
  if (content) return Readable.from([content], { objectMode: false });
  return createReadStream(path, { highWaterMark: Math.min(STREAM_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, size + 1)) });
}
