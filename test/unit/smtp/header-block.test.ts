import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderPeek } from '../../../src-relay/smtp/header-peek.ts';
import { StageChain } from '../../../src-relay/smtp/stage-chain.ts';

async function through(chunks: string[]) {
  const peek = new HeaderPeek();
  const stream = new StageChain([peek]);
  stream.resume();
  for (const chunk of chunks) stream.write(Buffer.from(chunk));
  stream.end();
  await new Promise((resolve) => stream.on('end', resolve));
  return peek.headerBlock();
}

test('the header block ends at the first empty line, even when it is split across chunks', async () => {
  assert.deepEqual(await through(['From: a@x.test\r\nSubject: s\r', '\n\r', '\nFrom: body@x.test\r\n']), { text: 'From: a@x.test\r\nSubject: s\r\n', complete: true });
});

test('a message of headers only is complete at its end; an empty header block is complete and empty', async () => {
  assert.deepEqual(await through(['From: a@x.test\r\n']), { text: 'From: a@x.test\r\n', complete: true });
  assert.deepEqual(await through(['\r\nbody only\r\n']), { text: '', complete: true });
});

test('a header block longer than what is kept is reported incomplete, so nothing past it is trusted', async () => {
  const long = `X-Filler: ${'a'.repeat(70 * 1024)}\r\nFrom: ceo@x.test\r\n\r\nbody\r\n`;
  const block = await through([long.slice(0, 30000), long.slice(30000)]);
  assert.equal(block.complete, false);
  assert.doesNotMatch(block.text, /From: ceo/);
});
