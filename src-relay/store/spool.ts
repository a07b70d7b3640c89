import { closeSync, createReadStream, existsSync, fsync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, type ReadStream } from 'node:fs';
import { link, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { QUEUE_ID_PATTERN } from '../util/ids.ts';
import { syncFolder } from '../util/write-whole.ts';
import { appendGrowing } from '../util/growing-buffer.ts';

/** Messages up to this size are read in one call for delivery; larger ones are streamed. */
const READ_WHOLE_BYTES = 256 * 1024;

/** Files set aside in orphans/ are removed at a start this long after they were set aside. */
export const ORPHAN_KEEP_MS = 30 * 24 * 3600_000;

/**
 * Message bodies as files: written under tmp/, fsync'd, then renamed into msg/ (habit: files appear whole
 * or not at all). A file in msg/ without a queue row is a leftover of a crash before its commit (no 250 was
 * sent), or the sign of a database that lost rows: it is set aside in orphans/, never deleted at once.
 */
export class Spool {
  readonly tmpDir: string;
  readonly msgDir: string;
  readonly orphansDir: string;

  constructor(root: string) {
    this.tmpDir = join(root, 'tmp');
    this.msgDir = join(root, 'msg');
    this.orphansDir = join(root, 'orphans');
    mkdirSync(this.tmpDir, { recursive: true });
    mkdirSync(this.msgDir, { recursive: true });
  }

  path(id: string): string {
    if (!QUEUE_ID_PATTERN.test(id)) throw new Error(`not a queue id: ${JSON.stringify(id)}`);
    return join(this.msgDir, id);
  }

  /**
   * Opens a temp file for a new message; `commit()` makes it durable under its final name. Opened synchronously, like
   * the writes (SpoolWriter): a metadata change in the page cache, where libuv's pool would queue it behind fsyncs.
   */
  async create(id: string): Promise<SpoolWriter> {
    const tempPath = join(this.tmpDir, `${id}.tmp`);
    return new SpoolWriter(openSync(tempPath, 'wx', 0o600), tempPath, this.path(id));
  }

  /** A small message whole (one read from the page cache), a large one as a stream: never a large one in memory. */
  content(id: string): Buffer | ReadStream {
    const path = this.path(id);
    const size = statSync(path).size;
    return size <= READ_WHOLE_BYTES ? readFileSync(path) : createReadStream(path);
  }

  /**
   * Gives message `from`'s file a second name, `to` (a hard link: spool files never change once written, so two queue
   * rows may share one), durable once this resolves. One quarantined message released to one of its recipients.
   */
  async share(from: string, to: string): Promise<void> {
    await link(this.path(from), this.path(to));
    await this.syncDirectory();
  }

  async remove(id: string): Promise<void> {
    await unlink(this.path(id)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  size(id: string): number | null {
    try {
      return statSync(this.path(id)).size;
    } catch {
      return null;
    }
  }

  /** Queue ids of every file in msg/, and the names of half-written temp files. */
  list(): { ids: string[]; temps: string[] } {
    return {
      ids: readdirSync(this.msgDir).filter((name) => QUEUE_ID_PATTERN.test(name)),
      temps: readdirSync(this.tmpDir).map((name) => join(this.tmpDir, name)),
    };
  }

  /** Moves a file without a queue row to orphans/ (same name), where it stays ORPHAN_KEEP_MS. */
  setAside(id: string): void {
    mkdirSync(this.orphansDir, { recursive: true });
    renameSync(this.path(id), join(this.orphansDir, id));
  }

  /** Removes the files set aside before `before` (ms); returns how many. */
  forgetOrphans(before: number): number {
    let removed = 0;
    for (const name of existsSync(this.orphansDir) ? readdirSync(this.orphansDir) : []) {
      const path = join(this.orphansDir, name);
      // what cannot go (a folder an admin made there) stays: it must not keep the relay from starting
      try {
        if (statSync(path).ctimeMs >= before) continue;
        unlinkSync(path);
        removed++;
      } catch {
        continue;
      }
    }
    return removed;
  }

  /** One fsync of msg/ makes every rename done before it durable: the group-commit step. */
  async syncDirectory(): Promise<void> {
    await syncFolder(this.msgDir);
  }
}

/**
 * Messages up to this size (bytes) are kept in memory while they arrive and written to the temp file in one call
 * when they end; the content filters then read that copy instead of the file (filters/message-source.ts). 200
 * connections in DATA at once hold at most 12.8 MB so, in one buffer each however the bytes arrive; a larger message
 * is written as it comes, chunk by chunk.
 */
export const HELD_BYTES = 64 * 1024;

/**
 * A Writable onto the temp file. Writes go to the page cache synchronously (microseconds, and off libuv's small
 * thread pool, which the fsyncs of concurrent messages keep busy); only the fsync waits for the disk. A message of
 * at most HELD_BYTES is one write: on this kind of small virtual box every system call costs tens of microseconds.
 * The file is whole once the stream has finished.
 */
export class SpoolWriter extends Writable {
  bytes = 0;
  private fd: number | null;
  private synced: Promise<void> | null = null;
  /** The bytes so far while they fit in HELD_BYTES (one buffer, grown by doubling: never a Buffer per chunk); else null. */
  private held: Buffer | null = Buffer.allocUnsafeSlow(4096);
  private whole: Buffer | null = null;

  constructor(
    fd: number,
    readonly tempPath: string,
    readonly finalPath: string,
  ) {
    super({ highWaterMark: 256 * 1024 });
    this.fd = fd;
  }

  /** The whole message as written, once the stream has finished and if it was at most HELD_BYTES; else null. */
  get content(): Buffer | null {
    return this.whole;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      if (this.held && this.bytes + chunk.length <= HELD_BYTES) {
        this.held = appendGrowing(this.held, this.bytes, chunk, HELD_BYTES);
      } else {
        if (this.held) this.writeAll(this.held.subarray(0, this.bytes));
        this.held = null;
        this.writeAll(chunk);
      }
      this.bytes += chunk.length;
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      if (this.held) {
        // a buffer of its own, exactly the message: a copy handed to the filter thread carries nothing else
        const whole = Buffer.allocUnsafeSlow(this.bytes);
        this.held.copy(whole, 0, 0, this.bytes);
        this.held = null;
        this.writeAll(whole);
        this.whole = whole;
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  private writeAll(bytes: Buffer): void {
    let written = 0;
    while (written < bytes.length) written += writeSync(this.fd!, bytes, written);
  }

  /**
   * fsync of the temp file, started once: the mx listener starts it as DATA ends and runs the content filters on
   * the temp file meanwhile; `commit()` waits for the same fsync.
   */
  sync(): Promise<void> {
    const fd = this.fd!;
    this.synced ??= new Promise<void>((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
    return this.synced;
  }

  /** fsync, close, rename into msg/ (synchronously, as create() opens). The caller still has to sync the directory before acknowledging. */
  async commit(): Promise<void> {
    await this.sync();
    this.closeFd();
    renameSync(this.tempPath, this.finalPath);
  }

  /** Gives up on the message: the temp file is removed. Safe to call more than once. */
  async discard(): Promise<void> {
    this.held = null;
    this.whole = null;
    // a stream ended after this must not finish as if whole
    this.destroy();
    this.closeFd();
    await unlink(this.tempPath).catch(() => {});
  }

  private closeFd(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
