import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { HELD_BYTES, Spool, type SpoolWriter } from '../../../src-relay/store/spool.ts';
import { pipeChain } from '../../../src-relay/util/pipe-chain.ts';
import { Readable } from 'node:stream';
import { tempDir } from '../../helpers/temp-dir.ts';

const dir = tempDir('moat-spool-writer-');
after(() => rmSync(dir, { recursive: true, force: true }));
const spool = new Spool(dir);
let counter = 0;
const newId = () => `000000000000${String(counter++).padStart(10, '0')}`;

/** `total` bytes, each its position modulo 251 (so a misplaced chunk shows). */
function bytes(total: number): Buffer {
  const all = Buffer.alloc(total);
  for (let i = 0; i < total; i++) all[i] = i % 251;
  return all;
}
function chunks(all: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < all.length; at += size) out.push(all.subarray(at, at + size));
  return out;
}
const fileSize = (writer: SpoolWriter) => statSync(writer.tempPath).size;
/** The writer's copy, read afresh (a getter, which TypeScript would otherwise keep narrowed). */
const copyOf = (writer: SpoolWriter): Buffer | null => writer.content;

test(`a message of exactly HELD_BYTES (${HELD_BYTES}) is kept while it arrives, then written whole when it ends; its copy is the file`, async () => {
  const writer = await spool.create(newId());
  const all = bytes(HELD_BYTES);
  const parts = chunks(all, 1000);
  for (const part of parts.slice(0, -1)) writer.write(part);
  assert.equal(fileSize(writer), 0, 'nothing written before the end');
  assert.equal(copyOf(writer), null, 'no copy before the end');
  await pipeChain([Readable.from([parts.at(-1)!]), writer]);
  assert.equal(writer.bytes, HELD_BYTES);
  assert.ok(readFileSync(writer.tempPath).equals(all), 'the file holds every byte, in order');
  assert.ok(copyOf(writer)?.equals(all), 'the copy is byte for byte the file');
  await writer.commit();
  assert.ok(readFileSync(writer.finalPath).equals(all));
});

test('one byte past HELD_BYTES: what was kept goes to the file at once, the rest as it comes, and no copy is kept', async () => {
  const writer = await spool.create(newId());
  const all = bytes(HELD_BYTES + 1);
  const parts = chunks(all, 4096);
  for (const part of parts.slice(0, -1)) writer.write(part);
  assert.equal(fileSize(writer), 0, 'up to HELD_BYTES nothing is written');
  writer.write(parts.at(-1)!);
  assert.equal(fileSize(writer), HELD_BYTES + 1, 'the byte past the limit writes everything');
  await pipeChain([Readable.from([]), writer]);
  assert.equal(writer.content, null);
  assert.ok(readFileSync(writer.tempPath).equals(all));
  await writer.discard();
});

test('past HELD_BYTES a large message is written as it arrives, chunk by chunk', async () => {
  const writer = await spool.create(newId());
  const all = bytes(5 * HELD_BYTES);
  let written = 0;
  for (const part of chunks(all, HELD_BYTES / 2)) {
    writer.write(part);
    written += part.length;
    if (written > HELD_BYTES) assert.equal(fileSize(writer), written, `on disk after ${written} bytes`);
  }
  await pipeChain([Readable.from([]), writer]);
  assert.equal(writer.content, null);
  assert.ok(readFileSync(writer.tempPath).equals(all));
  await writer.discard();
});

test('a discarded message leaves no file and no copy, also when it is given up before its end', async () => {
  const ended = await spool.create(newId());
  await pipeChain([Readable.from([Buffer.from('Subject: x\r\n\r\nbody\r\n')]), ended]);
  assert.ok(copyOf(ended));
  await ended.discard();
  assert.equal(copyOf(ended), null);
  assert.equal(existsSync(ended.tempPath), false);

  const cut = await spool.create(newId());
  cut.on('error', () => {});
  cut.write(Buffer.from('Subject: half'));
  await cut.discard();
  cut.end();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(cut.writableFinished, false, 'ended after the discard, it never finishes as if whole');
  assert.equal(copyOf(cut), null);
  assert.equal(existsSync(cut.tempPath), false);
  assert.equal(existsSync(cut.finalPath), false);
});

test('a message in thousands of 3-byte pieces (a dot-stuffed body arrives so) is kept in one buffer and written whole', async () => {
  const writer = await spool.create(newId());
  const all = bytes(HELD_BYTES - 1);
  const parts = chunks(all, 3);
  assert.ok(parts.length > 20_000);
  for (const part of parts.slice(0, -1)) writer.write(part);
  assert.equal(fileSize(writer), 0);
  await pipeChain([Readable.from([parts.at(-1)!]), writer]);
  assert.ok(readFileSync(writer.tempPath).equals(all));
  const copy = copyOf(writer)!;
  assert.ok(copy.equals(all));
  assert.equal(copy.buffer.byteLength, all.length, 'the copy has a buffer of its own, exactly the message');
  await writer.discard();
});
