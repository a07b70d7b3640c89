import { createHash } from 'node:crypto';

/**
 * A ustar archive written and read by hand (no dependency): 512-byte headers, data padded to 512, two zero
 * blocks at the end. An unencrypted backup is therefore a plain tar file (`tar -tvf` lists it). Only regular
 * files; sizes past ustar's 8 GiB use the GNU base-256 form.
 */
const BLOCK = 512;
const OCTAL_SIZE_LIMIT = 8 ** 11;
/** Names in a backup: relative, slash-separated, plain characters, no `..`. */
export const SAFE_NAME = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

/** An entry restore must never write: a link, device or folder entry, or a name that could leave the target. */
export class UnsafeEntryError extends Error {}

// What each tar entry type would create; only regular files ('0', or NUL in old archives) are ever read
const ENTRY_KINDS: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '5': 'a folder',
  '6': 'a FIFO',
  '7': 'a contiguous file',
  x: 'a pax extended header',
  g: 'a pax global header',
  L: 'a GNU long name',
  K: 'a GNU long link name',
};

/** A NUL-terminated header field; bytes after the first NUL must be NUL too (else the name read is not the name stored). */
function readName(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  if (end >= 0 && field.subarray(end).some((byte) => byte !== 0)) throw new UnsafeEntryError('a name in the archive holds a NUL character');
  return field.toString('utf8', 0, end >= 0 ? end : length);
}

export type ByteSink = (chunk: Buffer) => Promise<void>;

function writeString(header: Buffer, text: string, offset: number, length: number): void {
  header.write(text, offset, Math.min(length, Buffer.byteLength(text)), 'utf8');
}

function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  header.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

export function tarHeader(name: string, size: number, mtimeMs: number, mode = 0o600): Buffer {
  if (!SAFE_NAME.test(name)) throw new Error(`not a safe archive name: ${JSON.stringify(name)}`);
  const header = Buffer.alloc(BLOCK);
  let base = name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`archive name too long: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  writeString(header, base, 0, 100);
  writeOctal(header, mode, 100, 8);
  writeOctal(header, 0, 108, 8);
  writeOctal(header, 0, 116, 8);
  if (size < OCTAL_SIZE_LIMIT) writeOctal(header, size, 124, 12);
  else {
    header[124] = 0x80;
    header.writeBigUInt64BE(BigInt(size), 128);
  }
  writeOctal(header, Math.floor(mtimeMs / 1000), 136, 12);
  header.fill(0x20, 148, 156);
  header[156] = 0x30; // '0': regular file
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  writeString(header, 'moat', 265, 32);
  writeString(header, 'moat', 297, 32);
  writeString(header, prefix, 345, 155);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

/** Writes entries to a sink; returns each entry's SHA-256 so the trailer can list them. */
export class TarWriter {
  readonly sums = new Map<string, string>();
  bytes = 0;

  constructor(private readonly sink: ByteSink) {}

  private async put(chunk: Buffer): Promise<void> {
    this.bytes += chunk.length;
    await this.sink(chunk);
  }

  /** Adds one file; `source` must yield exactly `size` bytes (a file that changed meanwhile is an error). */
  async add(name: string, size: number, source: Buffer | AsyncIterable<Buffer | string>, mtimeMs = Date.now(), mode = 0o600): Promise<string> {
    await this.put(tarHeader(name, size, mtimeMs, mode));
    const hash = createHash('sha256');
    let written = 0;
    const chunks = Buffer.isBuffer(source) ? [source] : source;
    for await (const piece of chunks) {
      const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
      if (written + chunk.length > size) throw new Error(`${name} grew while it was being archived`);
      hash.update(chunk);
      written += chunk.length;
      await this.put(chunk);
    }
    if (written !== size) throw new Error(`${name} shrank while it was being archived (${written} of ${size} bytes)`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) await this.put(Buffer.alloc(pad));
    const digest = hash.digest('hex');
    this.sums.set(name, digest);
    return digest;
  }

  async finish(): Promise<void> {
    await this.put(Buffer.alloc(BLOCK * 2));
  }
}

/** Reads exact byte counts from an async stream of chunks. */
export class ByteReader {
  private buffered: Buffer[] = [];
  private length = 0;
  private done = false;
  private readonly iterator: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(wanted: number): Promise<void> {
    while (this.length < wanted && !this.done) {
      const next = await this.iterator.next();
      if (next.done) this.done = true;
      else if (next.value.length) {
        this.buffered.push(next.value);
        this.length += next.value.length;
      }
    }
  }

  /** Exactly `count` bytes, or fewer when the stream ended first. */
  async read(count: number): Promise<Buffer> {
    await this.fill(count);
    const all = Buffer.concat(this.buffered, this.length);
    const out = all.subarray(0, Math.min(count, all.length));
    const rest = all.subarray(out.length);
    this.buffered = rest.length ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** `count` bytes as a series of chunks (never all in memory). */
  async *chunks(count: number): AsyncGenerator<Buffer> {
    let left = count;
    while (left > 0) {
      if (this.length === 0) await this.fill(1);
      if (this.length === 0) throw new Error('the archive ends in the middle of a file (truncated?)');
      const head = this.buffered[0]!;
      const take = Math.min(left, head.length);
      yield head.subarray(0, take);
      if (take === head.length) this.buffered.shift();
      else this.buffered[0] = head.subarray(take);
      this.length -= take;
      left -= take;
    }
  }

  /** Drains whatever is left (so a decryption can reach its authentication tag). */
  async drain(): Promise<void> {
    this.buffered = [];
    this.length = 0;
    while (!this.done) {
      const next = await this.iterator.next();
      if (next.done) this.done = true;
    }
  }
}

export interface TarEntry {
  name: string;
  size: number;
  mtimeMs: number;
  body: AsyncGenerator<Buffer>;
}

function readOctal(block: Buffer, offset: number, length: number): number {
  if (block[offset]! & 0x80) return Number(block.readBigUInt64BE(offset + length - 8));
  const text = block.toString('ascii', offset, offset + length).replace(/\0.*$/s, '').trim();
  if (!/^[0-7]*$/.test(text)) throw new Error('not a tar header (bad number)');
  return text ? parseInt(text, 8) : 0;
}

/**
 * Walks a tar stream entry by entry; each entry's body must be consumed (or it is skipped) before the next.
 * Anything but a regular file with a safe name is refused.
 */
export async function* readTar(reader: ByteReader): AsyncGenerator<TarEntry> {
  for (;;) {
    const block = await reader.read(BLOCK);
    if (block.length < BLOCK) throw new Error('the archive ends without its end marker (truncated?)');
    if (block.every((byte) => byte === 0)) return;
    const stored = readOctal(block, 148, 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
    if (sum !== stored) throw new Error('not a Moat backup, or a damaged one (tar header checksum)');
    const type = String.fromCharCode(block[156]!);
    const base = readName(block, 0, 100);
    const prefix = readName(block, 345, 155);
    const name = prefix ? `${prefix}/${base}` : base;
    const size = readOctal(block, 124, 12);
    if (type !== '0' && type !== '\0') throw new UnsafeEntryError(`${JSON.stringify(name)} is ${ENTRY_KINDS[type] ?? `an entry of unknown type ${JSON.stringify(type)}`}, not a plain file`);
    if (!SAFE_NAME.test(name)) throw new UnsafeEntryError(`unsafe name in the archive: ${JSON.stringify(name)}`);
    const body = reader.chunks(size);
    yield { name, size, mtimeMs: readOctal(block, 136, 12) * 1000, body };
    for await (const _ of body) {
      // the consumer skipped (part of) the body
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad && (await reader.read(pad)).length < pad) throw new Error('the archive is truncated');
  }
}
