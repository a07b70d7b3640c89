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
