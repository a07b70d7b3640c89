import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderPeek, MAX_PEEK_BYTES } from '../../../src-relay/smtp/header-peek.ts';
import { StageChain } from '../../../src-relay/smtp/stage-chain.ts';

async function peek(text: string) {
  const peek = new HeaderPeek();
  const stream = new StageChain([peek]);
  let passed = '';
  stream.on('data', (chunk: Buffer) => (passed += chunk.toString()));
  stream.end(Buffer.from(text));
  await new Promise((resolve) => stream.on('end', resolve));
  return { passed, fields: peek.fields() };
}

test('subject, from and message-id are read from the header block, folded or not', async () => {
  const text = 'Subject: a long\r\n subject\r\nFrom: =?utf-8?q?J=C3=BCrgen?=\r\n <j@x.test>\r\nMessage-ID: <id@x.test>\r\n\r\nSubject: not this\r\n';
  const { passed, fields } = await peek(text);
  assert.equal(passed, text);
  // as written: decoding is the reader's (util/header-text.ts)
  assert.deepEqual(fields, { subject: 'a long subject', messageId: 'id@x.test', from: '=?utf-8?q?J=C3=BCrgen?= <j@x.test>' });
});

test('missing fields are null and control characters are dropped', async () => {
  const { fields } = await peek('Subject: a\x00b\r\n\r\nbody');
  assert.deepEqual(fields, { subject: 'a b', messageId: null, from: null });
});

test(`a header block of exactly ${MAX_PEEK_BYTES} bytes is complete; one byte more is not (the submission check refuses it)`, async () => {
  for (const [bytes, complete] of [[MAX_PEEK_BYTES - 1, true], [MAX_PEEK_BYTES, true], [MAX_PEEK_BYTES + 1, false]] as const) {
    const header = `Subject: x\r\nX-Pad: ${'a'.repeat(bytes - 'Subject: x\r\nX-Pad: \r\n'.length)}\r\n`;
    assert.equal(Buffer.byteLength(header), bytes);
    const peek = new HeaderPeek();
    const stream = new StageChain([peek]);
    stream.resume();
    // in pieces, as a socket delivers it
    const message = Buffer.from(`${header}\r\nbody\r\n`);
    for (let at = 0; at < message.length; at += 1000) stream.write(message.subarray(at, at + 1000));
    stream.end();
    await new Promise((resolve) => stream.on('end', resolve));
    const block = peek.headerBlock();
    assert.equal(block.complete, complete, `${bytes} bytes`);
    if (complete) assert.equal(block.text, header);
  }
});

test('a message with no header at all (it starts with the empty line) has no fields, though its body has lines like them, whole or a byte at a time', async () => {
  const text = '\r\nSubject: not this\r\nFrom: nor@this.test\r\n\r\nMessage-ID: <nor-this@x.test>\r\n';
  assert.deepEqual((await peek(text)).fields, { subject: null, messageId: null, from: null });
  const bytewise = new HeaderPeek();
  for (const byte of Buffer.from(text)) bytewise.push(Buffer.from([byte]));
  bytewise.end();
  assert.deepEqual(bytewise.fields(), { subject: null, messageId: null, from: null });
  assert.deepEqual(bytewise.headerBlock(), { text: '', complete: true });
});

test('fields after the empty line are never read, wherever the chunks split it', async () => {
  const text = 'Subject: this\r\n\r\nFrom: not@this.test\r\n';
  for (let split = 1; split < text.length; split++) {
    const peek = new HeaderPeek();
    peek.push(Buffer.from(text.slice(0, split)));
    peek.push(Buffer.from(text.slice(split)));
    peek.end();
    assert.deepEqual(peek.fields(), { subject: 'this', messageId: null, from: null }, `split at ${split}`);
  }
});
