import { mkdirSync, readdirSync, statSync, createReadStream, type ReadStream } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { QUEUE_ID_PATTERN } from '../util/ids.ts';

/** Windows cannot fsync a directory; there the rename is as durable as NTFS makes it. */
const CAN_SYNC_DIRECTORIES = process.platform !== 'win32';

/**
 * Message bodies as files: written under tmp/, fsync'd, then renamed into msg/ (habit: files appear whole
 * or not at all). A file in msg/ without a queue row is an unacknowledged leftover.
 */
export class Spool {
  readonly tmpDir: string;
  readonly msgDir: string;

  constructor(root: string) {
    this.tmpDir = join(root, 'tmp');
    this.msgDir = join(root, 'msg');
    mkdirSync(this.tmpDir, { recursive: true });
    mkdirSync(this.msgDir, { recursive: true });
  }

  path(id: string): string {
    if (!QUEUE_ID_PATTERN.test(id)) throw new Error(`not a queue id: ${JSON.stringify(id)}`);
    return join(this.msgDir, id);
  }

  /** Opens a temp file for a new message; `commit()` makes it durable under its final name. */
  async create(id: string): Promise<SpoolWriter> {
    const tempPath = join(this.tmpDir, `${id}.tmp`);
    const handle = await open(tempPath, 'wx', 0o600);
    return new SpoolWriter(handle, tempPath, this.path(id));
  }

  read(id: string, start = 0): ReadStream {
    return createReadStream(this.path(id), { start });
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

  /** One fsync of msg/ makes every rename done before it durable: the group-commit step. */
  async syncDirectory(): Promise<void> {
    if (!CAN_SYNC_DIRECTORIES) return;
    const handle = await open(this.msgDir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** A Writable onto the temp file. */
export class SpoolWriter extends Writable {
  bytes = 0;
  private handleClosed = false;

  constructor(
    private readonly handle: FileHandle,
    readonly tempPath: string,
    readonly finalPath: string,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.handle.write(chunk).then(() => {
      this.bytes += chunk.length;
      callback();
    }, callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((entry) => entry.chunk);
    this.handle.writev(buffers).then((result) => {
      this.bytes += result.bytesWritten;
      callback();
    }, callback);
  }

  /** fsync, close, rename into msg/. The caller still has to sync the directory before acknowledging. */
  async commit(): Promise<void> {
    await this.handle.sync();
    await this.closeHandle();
    await rename(this.tempPath, this.finalPath);
  }

  /** Gives up on the message: the temp file is removed. Safe to call more than once. */
  async discard(): Promise<void> {
    await this.closeHandle();
    await unlink(this.tempPath).catch(() => {});
  }

  private async closeHandle(): Promise<void> {
    if (this.handleClosed) return;
    this.handleClosed = true;
    await this.handle.close();
  }
}
