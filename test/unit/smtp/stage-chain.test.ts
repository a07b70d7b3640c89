import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { StageChain, type ChunkStage } from '../../../src-relay/smtp/stage-chain.ts';
import { LineEndingNormalizer } from '../../../src-relay/smtp/line-endings.ts';
import { HeaderScrubber } from '../../../src-relay/smtp/header-scrub.ts';
import { HeaderPeek } from '../../../src-relay/smtp/header-peek.ts';
import { SizeGuard } from '../../../src-relay/smtp/size-guard.ts';

async function run(stages: ChunkStage[], chunks: string[]): Promise<string[]> {
  const chain = new StageChain(stages);
  const out: string[] = [];
  chain.on('data', (chunk: Buffer) => out.push(chunk.toString('latin1')));
  for (const chunk of chunks) chain.write(Buffer.from(chunk, 'latin1'));
  await new Promise<void>((resolve) => chain.end(resolve));
  return out;
}

/** Holds every chunk until the end, with a mark of its own; records what it was given. */
class Holder implements ChunkStage {
  seen: string[] = [];
  private held: Buffer[] = [];
  constructor(private readonly mark: string) {}
  push(chunk: Buffer): undefined {
    this.seen.push(chunk.toString('latin1'));
    this.held.push(chunk);
    return undefined;
  }
  end(): Buffer {
    return Buffer.concat([...this.held, Buffer.from(this.mark)]);
  }
}

test('each chunk goes through the stages in order; a stage that passes nothing stops it there', async () => {
  const upper: ChunkStage = { push: (chunk) => Buffer.from(chunk.toString('latin1').toUpperCase()), end: () => undefined };
  const after = new Holder('!');
  assert.deepEqual(await run([upper, after], ['ab', 'cd']), ['ABCD!']);
  assert.deepEqual(after.seen, ['AB', 'CD']);
  const dropAll: ChunkStage = { push: () => undefined, end: () => undefined };
  const never = new Holder('');
  assert.deepEqual(await run([dropAll, never], ['ab']), []);
  assert.deepEqual(never.seen, [], 'a stage after one that passed nothing is not called with an empty chunk');
});

test("what a stage holds at the end goes through the stages after it, before they end", async () => {
  const first = new Holder('1');
  const second = new Holder('2');
  assert.deepEqual(await run([first, second], ['a', 'b']), ['ab12']);
  assert.deepEqual(second.seen, ['ab1']);
});

test('a bare CR at the very end becomes CRLF and still reaches the scrubber and the peek', async () => {
  const normalizer = new LineEndingNormalizer();
  const scrubber = new HeaderScrubber({ hostname: 'relay.example.test', maxHeaderBytes: 1024 });
  const peek = new HeaderPeek();
  const out = await run([normalizer, scrubber, peek], ['Subject: hi\r\nX-Spam-Flag: NO\r']);
  assert.equal(out.join(''), 'Subject: hi\r\n');
  assert.equal(normalizer.bareLineEndings, 1);
  assert.equal(scrubber.removed, 1);
  assert.deepEqual(peek.headerBlock(), { text: 'Subject: hi\r\n', complete: true });
});

test('a header line sent a byte at a time is held in a buffer of its own: memory grows with the line, not with its pieces', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const measure = async (pieces: Buffer[]) => {
    // the listener's own stages, in its order (listener.ts spoolData)
    const chain = new StageChain([new SizeGuard(() => false), new LineEndingNormalizer(), new HeaderScrubber({ hostname: 'relay.example.test', maxHeaderBytes: 1024 * 1024 }), new HeaderPeek()]);
    chain.resume();
    gc();
    const before = process.memoryUsage();
    chain.write(Buffer.from('X-Long: '));
    for (const piece of pieces) chain.write(piece);
    // the write callback of the last piece: every piece has gone through the stages
    await new Promise((resolve) => chain.write(Buffer.from('a'), resolve));
    gc();
    const after = process.memoryUsage();
    chain.destroy();
    return { heap: after.heapUsed - before.heapUsed, buffers: after.arrayBuffers - before.arrayBuffers };
  };
  const BYTES = 200_000;
  await measure(Array.from({ length: 2_000 }, () => Buffer.from('a'))); // the stages' code compiled, not counted below
  // one byte a piece: an object a piece would be about 100 bytes of heap each (20 MB here)
  const tiny = await measure(Array.from({ length: BYTES }, () => Buffer.from('a')));
  assert.ok(tiny.heap < 10 * BYTES, `${tiny.heap} bytes of heap held for a ${BYTES}-byte line in one-byte pieces`);
  assert.ok(tiny.buffers < 4 * BYTES, `${tiny.buffers} bytes of buffers held for a ${BYTES}-byte line in one-byte pieces`);
});
