import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderScrubber, MAX_SENDER_HEADER_LINES } from '../../../src-relay/smtp/header-scrub.ts';
import { StageChain } from '../../../src-relay/smtp/stage-chain.ts';
import { MAX_HEADER_LINES } from '../../../src-relay/filters/mime.ts';

const MiB = 1024 * 1024;

async function scrub(chunks: (string | Buffer)[], options: { hostname?: string; maxHeaderBytes?: number } = {}) {
  const scrubber = new HeaderScrubber({ hostname: options.hostname ?? 'relay.example.test', maxHeaderBytes: options.maxHeaderBytes ?? MiB });
  const stream = new StageChain([scrubber]);
  const out: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => out.push(chunk));
  for (const chunk of chunks) stream.write(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
  await new Promise<void>((resolve) => stream.end(resolve));
  return { text: Buffer.concat(out).toString('latin1'), removed: scrubber.removed, refusal: scrubber.refusal };
}

/** Every way of cutting `message` in two. */
function everyCut(message: string): string[][] {
  return Array.from({ length: message.length - 1 }, (_, index) => [message.slice(0, index + 1), message.slice(index + 1)]);
}

test("a sender's own spam verdict and our host's Authentication-Results are removed from the header block", async () => {
  const { text, removed, refusal } = await scrub([
    'Received: from x\r\nX-Spam-Flag: NO\r\nX-Moat-Status: accept;\r\n  score=0\r\n',
    'Authentication-Results: relay.example.test; spf=pass\r\nAuthentication-Results: mx.other.test; spf=fail\r\nSubject: hi\r\n\r\nX-Spam-Flag: NO in the body stays\r\n',
  ]);
  assert.equal(removed, 3);
  assert.equal(refusal, null);
  assert.equal(
    text,
    'Received: from x\r\nAuthentication-Results: mx.other.test; spf=fail\r\nSubject: hi\r\n\r\nX-Spam-Flag: NO in the body stays\r\n',
  );
});

test('a message without such fields passes byte for byte, however it is chunked', async () => {
  const message = 'Received: from x\r\nSubject: hello\r\n folded\r\n\r\nbody\r\n.line\r\n';
  for (const chunks of everyCut(message)) {
    const { text, removed } = await scrub(chunks);
    assert.equal(text, message);
    assert.equal(removed, 0);
  }
});

test('forged fields are removed however the message is chunked, also when the cut falls inside CRLF or the empty line', async () => {
  const message = 'Subject: s\r\nX-Spam-Status: No,\r\n\tscore=-5\r\nTo: b@x.test\r\n\r\nbody\r\n';
  for (const chunks of everyCut(message)) {
    const { text, removed } = await scrub(chunks);
    assert.equal(text, 'Subject: s\r\nTo: b@x.test\r\n\r\nbody\r\n');
    assert.equal(removed, 1);
  }
});

test('a message that is only headers is scrubbed too, with or without a final CRLF or an empty line', async () => {
  assert.equal((await scrub(['Subject: x\r\nX-Spam-Score: -100\r\n'])).text, 'Subject: x\r\n');
  assert.equal((await scrub(['Subject: x\r\nX-Spam-Score: -100'])).text, 'Subject: x\r\n');
  assert.equal((await scrub(['Subject: x\r\nX-Moat-Action: accept\r\n\r\n'])).text, 'Subject: x\r\n\r\n');
  assert.equal((await scrub(['X-Moat-Action: accept\r\n'])).text, '');
});

test('a message without header fields passes whole: its first line is the empty line', async () => {
  assert.deepEqual(await scrub(['\r\nX-Spam-Flag: NO\r\n']), { text: '\r\nX-Spam-Flag: NO\r\n', removed: 0, refusal: null });
});

test('fields spelled to slip past a simple match are removed: whitespace before the colon, folded names, comments and versions in Authentication-Results', async () => {
  const { text, removed } = await scrub([
    'X-Spam-Flag : NO\r\n',
    'x-moat-score:\r\n -50\r\n',
    'Authentication-Results:\r\n RELAY.example.test;\r\n dkim=pass\r\n',
    'Authentication-Results: (our (nested) comment) relay.example.test 1; spf=pass\r\n',
    'Authentication-Results: "relay.example.test"; dmarc=pass\r\n',
    'Authentication-Results : relay.example.test; arc=pass\r\n',
    'Authentication-Results: relay.example.test.evil.test; spf=pass\r\n',
    'Subject: kept\r\n\r\n',
  ]);
  assert.equal(removed, 6);
  assert.equal(text, 'Authentication-Results: relay.example.test.evil.test; spf=pass\r\nSubject: kept\r\n\r\n');
});

test('forged fields at the very end of a header section just under the limit are removed', async () => {
  const tail = 'X-Spam-Status: No\r\nX-Moat-Action: accept\r\nAuthentication-Results: relay.example.test; spf=pass\r\n';
  const filler = `X-Filler: ${'a'.repeat(1024 - 'X-Filler: \r\n'.length)}\r\n`;
  const head = filler.repeat(Math.floor((MiB - tail.length) / filler.length));
  const pad = `X-Pad: ${'b'.repeat(MiB - head.length - tail.length - 'X-Pad: \r\n'.length)}\r\n`;
  const header = head + pad + tail;
  assert.equal(header.length, MiB);
  const chunks = [];
  const message = `${header}\r\nbody\r\n`;
  for (let at = 0; at < message.length; at += 65536) chunks.push(message.slice(at, at + 65536));
  const { text, removed, refusal } = await scrub(chunks);
  assert.equal(refusal, null);
  assert.equal(removed, 3);
  assert.equal(text, `${head}${pad}\r\nbody\r\n`);
});

test('a header section one byte over the limit is refused and nothing more is passed on', async () => {
  const limit = 16 * 1024;
  const line = `X-Filler: ${'a'.repeat(limit - 'X-Filler: \r\n'.length)}\r\n`;
  assert.equal((await scrub([`${line}\r\nbody\r\n`], { maxHeaderBytes: limit })).refusal, null);
  const over = await scrub([`${line.slice(0, -2)}x\r\n\r\nbody\r\n`], { maxHeaderBytes: limit });
  assert.equal(over.refusal, 'header-too-big');
  assert.equal(over.text, '');
  // a header line that never ends is refused as soon as it passes the limit, not buffered to the end of DATA
  const endless = new HeaderScrubber({ hostname: 'relay.example.test', maxHeaderBytes: limit });
  const stream = new StageChain([endless]);
  stream.resume();
  stream.write(Buffer.from(`X-Filler: ${'a'.repeat(limit)}`));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(endless.refusal, 'header-too-big');
  stream.destroy();
});

test(`a header section of ${MAX_SENDER_HEADER_LINES} lines passes; one folded line more is refused`, async () => {
  assert.equal(MAX_SENDER_HEADER_LINES, MAX_HEADER_LINES - 50, 'room for our Received field under the walk limit');
  const section = (lines: number) => `Subject: many${'\r\n folded'.repeat(lines - 1)}\r\n`;
  const at = await scrub([`${section(MAX_SENDER_HEADER_LINES)}\r\nbody\r\n`]);
  assert.equal(at.refusal, null);
  assert.ok(at.text.endsWith('\r\n\r\nbody\r\n'));
  const over = await scrub([`${section(MAX_SENDER_HEADER_LINES + 1)}\r\nbody\r\n`]);
  assert.equal(over.refusal, 'header-lines');
  assert.equal(over.text, '');
  // short lines in many chunks count the same as one chunk
  const chunked = await scrub(section(MAX_SENDER_HEADER_LINES + 1).match(/[\s\S]{1,7}/g)!.concat('\r\nbody\r\n'));
  assert.equal(chunked.refusal, 'header-lines');
});

test('the empty line that ends the section does not count towards the limit, even when its CR comes alone', async () => {
  const limit = 16 * 1024;
  const line = `X-Filler: ${'a'.repeat(limit - 'X-Filler: \r\n'.length)}\r\n`;
  const { text, refusal } = await scrub([line, '\r', '\nbody\r\n'], { maxHeaderBytes: limit });
  assert.equal(refusal, null);
  assert.equal(text, `${line}\r\nbody\r\n`);
});

test('a NUL byte is refused in the header section and in the body', async () => {
  assert.equal((await scrub(['Subject: a\0b\r\n\r\nbody\r\n'])).refusal, 'nul');
  assert.equal((await scrub(['Subject: ab\r\n\r\nbo', 'dy\0\r\n'])).refusal, 'nul');
  assert.equal((await scrub(['Subject: ab\r\n\r\nbody\0\r\n'])).text, '');
});

test('control characters in header lines are refused; HTAB and ESC (ISO-2022-JP) are allowed', async () => {
  for (const byte of [0x01, 0x08, 0x0b, 0x0c, 0x0e, 0x1f, 0x7f, 0x0d]) {
    const { refusal } = await scrub([Buffer.concat([Buffer.from('Subject: a'), Buffer.from([byte]), Buffer.from('b\r\n\r\nbody\r\n')])]);
    assert.equal(refusal, 'header-control', `byte 0x${byte.toString(16)}`);
  }
  const jis = 'Subject: \x1b$B$3$s$K$A$O\x1b(B\r\n\tnext\r\n\r\nbody\r\n';
  assert.deepEqual(await scrub([jis]), { text: jis, removed: 0, refusal: null });
});

test('control characters other than NUL pass unchanged in the body', async () => {
  const message = 'Subject: page breaks\r\n\r\npage one\x0c\r\npage two\x01\x7f\x1b$B\r\n';
  assert.deepEqual(await scrub([message]), { text: message, removed: 0, refusal: null });
});
