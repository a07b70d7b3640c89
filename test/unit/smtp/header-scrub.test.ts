import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderScrubber } from '../../../src-relay/smtp/header-scrub.ts';

async function scrub(chunks: string[], hostname = 'relay.example.test') {
  const scrubber = new HeaderScrubber(hostname);
  const out: Buffer[] = [];
  scrubber.on('data', (chunk: Buffer) => out.push(chunk));
  for (const chunk of chunks) scrubber.write(Buffer.from(chunk, 'latin1'));
  await new Promise<void>((resolve) => scrubber.end(resolve));
  return { text: Buffer.concat(out).toString('latin1'), removed: scrubber.removed };
}

test("a sender's own spam verdict and our host's Authentication-Results are removed from the header block", async () => {
  const { text, removed } = await scrub([
    'Received: from x\r\nX-Spam-Flag: NO\r\nX-Moat-Status: accept;\r\n  score=0\r\n',
    'Authentication-Results: relay.example.test; spf=pass\r\nAuthentication-Results: mx.other.test; spf=fail\r\nSubject: hi\r\n\r\nX-Spam-Flag: NO in the body stays\r\n',
  ]);
  assert.equal(removed, 3);
  assert.equal(
    text,
    'Received: from x\r\nAuthentication-Results: mx.other.test; spf=fail\r\nSubject: hi\r\n\r\nX-Spam-Flag: NO in the body stays\r\n',
  );
});

test('a message without such fields passes byte for byte, however it is chunked', async () => {
  const message = 'Received: from x\r\nSubject: hello\r\n folded\r\n\r\nbody\r\n.line\r\n';
  for (let cut = 1; cut < message.length; cut++) {
    const { text, removed } = await scrub([message.slice(0, cut), message.slice(cut)]);
    assert.equal(text, message);
    assert.equal(removed, 0);
  }
});

test('a message that is only headers is scrubbed too', async () => {
  const { text } = await scrub(['Subject: x\r\nX-Spam-Score: -100\r\n']);
  assert.equal(text, 'Subject: x\r\n');
});
