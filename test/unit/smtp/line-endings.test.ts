import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineEndingNormalizer } from '../../../src-relay/smtp/line-endings.ts';
import { StageChain } from '../../../src-relay/smtp/stage-chain.ts';

async function normalise(chunks: string[]): Promise<{ text: string; bare: number }> {
  const normalizer = new LineEndingNormalizer();
  const stream = new StageChain([normalizer]);
  const out: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => out.push(chunk));
  for (const chunk of chunks) stream.write(Buffer.from(chunk, 'latin1'));
  await new Promise<void>((resolve) => stream.end(resolve));
  return { text: Buffer.concat(out).toString('latin1'), bare: normalizer.bareLineEndings };
}

test('CRLF passes through untouched', async () => {
  assert.deepEqual(await normalise(['a\r\nb\r\n']), { text: 'a\r\nb\r\n', bare: 0 });
});

test('bare LF and bare CR become CRLF and are counted', async () => {
  assert.deepEqual(await normalise(['a\nb\rc\r\n']), { text: 'a\r\nb\r\nc\r\n', bare: 2 });
});

test('a CRLF split across chunks stays one line ending', async () => {
  assert.deepEqual(await normalise(['a\r', '\nb']), { text: 'a\r\nb', bare: 0 });
});

test('a CR at the end of a chunk followed by text is a bare CR', async () => {
  assert.deepEqual(await normalise(['a\r', 'b']), { text: 'a\r\nb', bare: 1 });
});

test('a CR at the very end is completed', async () => {
  assert.deepEqual(await normalise(['a\r']), { text: 'a\r\n', bare: 1 });
});

test('the smuggling sequences come out as plain CRLF lines', async () => {
  const { text } = await normalise(['x\n.\nMAIL FROM:<a@b>\r.\r', '\r\n.\r\nDATA\n']);
  assert.equal(text, 'x\r\n.\r\nMAIL FROM:<a@b>\r\n.\r\n\r\n.\r\nDATA\r\n');
  assert.doesNotMatch(text.replace(/\r\n/g, ''), /[\r\n]/);
});

test('an empty chunk between a CR and its LF changes nothing (the stage alone, as StageChain never hands it one)', () => {
  const normalizer = new LineEndingNormalizer();
  assert.equal(normalizer.push(Buffer.from('a\r'))?.toString(), 'a');
  assert.equal(normalizer.push(Buffer.alloc(0)), undefined);
  assert.equal(normalizer.push(Buffer.from('\nb'))?.toString(), '\r\nb');
  assert.equal(normalizer.bareLineEndings, 0);
});

test('a chunk whose lines already end in CRLF is passed on as it is (no copy); any chunking of any mix gives what the whole text gives', async () => {
  const crlf = Buffer.from('Subject: x\r\n\r\nbody\r\n');
  assert.equal(new LineEndingNormalizer().push(crlf), crlf);
  // a fixed pseudo-random sequence: 2,000 texts of CR, LF, CRLF and letters, each cut into chunks at random places
  let seed = 14;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let round = 0; round < 2_000; round++) {
    const text = Array.from({ length: 1 + random(24) }, () => ['a', '\r', '\n', '\r\n', '\r\n'][random(5)]).join('');
    const cuts = [...new Set(Array.from({ length: random(4) }, () => random(text.length)))].sort((a, b) => a - b);
    const chunks = [0, ...cuts].map((start, i) => text.slice(start, [...cuts, text.length][i])).filter((chunk) => chunk.length > 0);
    const bare = (text.match(/\r(?!\n)|(?<!\r)\n/g) ?? []).length;
    assert.deepEqual(await normalise(chunks), { text: text.replace(/\r\n|\r|\n/g, '\r\n'), bare }, JSON.stringify(chunks));
  }
});
