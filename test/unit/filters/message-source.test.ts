import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FilterPipeline } from '../../../src-relay/filters/pipeline.ts';
import { READ_ONCE_BYTES } from '../../../src-relay/filters/message-source.ts';
import type { Filter, MessageContext } from '../../../src-relay/filters/types.ts';
import type { Logger } from '../../../src-relay/log/logger.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { message } from '../../helpers/smtp.ts';

const POLICY = { tagScore: 5, quarantineScore: 10, rejectScore: 15, failMode: {} };
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** A pipeline with one filter that keeps what it was given, over a message file of the given body. */
async function run(body: string): Promise<{ seen: MessageContext; file: Buffer; action: string; reasons: string[] }> {
  const dir = tempDir('moat-source-');
  const path = join(dir, 'm');
  writeFileSync(path, message('read once', body));
  const file = readFileSync(path);
  let seen: MessageContext | undefined;
  const keeper: Filter = { name: 'keeper', check: async (context) => ((seen = context), { filter: 'keeper', verdict: 'accept', score: 0, reasons: [] }) };
  try {
    const decision = await new FilterPipeline({ filters: [keeper], timeoutMs: 5000, policy: POLICY, logger: quiet }).run({
      queueId: 'Q1', clientIp: '192.0.2.1', helo: 'x', sender: 'a@sender.test', recipients: ['b@example.test'], path, size: file.length, tls: false, authenticatedUser: null,
    });
    return { seen: seen!, file, action: decision.action, reasons: decision.results.flatMap((result) => result.reasons) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const lines = (bytes: number) => 'x'.repeat(70).concat('\r\n').repeat(Math.ceil(bytes / 72));

test('a message up to READ_ONCE_BYTES is read once: every filter gets the same bytes as the spool file holds', async () => {
  const { seen, file, action } = await run(lines(READ_ONCE_BYTES - 2000));
  assert.ok(file.length <= READ_ONCE_BYTES);
  assert.ok(Buffer.isBuffer(seen.content), 'the filters get the copy read once');
  assert.ok(seen.content.equals(file), 'byte for byte the spool file');
  assert.equal(seen.headers.find((header) => header.name.toLowerCase() === 'subject')?.value, 'read once', 'the MIME walk read the same copy');
  assert.equal(action, 'accept');
});

test('one byte past READ_ONCE_BYTES the message is not held: each reader streams the file, and the walk still sees all of it', async () => {
  const size = READ_ONCE_BYTES + 1 - message('read once', '').length;
  // a blocked file name at the very end: the walk must read past the first chunk to find it
  const tail = '\r\nbegin 644 invoice.exe\r\n`\r\nend\r\n';
  const { seen, file } = await run(lines(size) + tail);
  assert.ok(file.length > READ_ONCE_BYTES);
  assert.equal(seen.content ?? null, null, 'nothing held for a larger message');
  assert.ok(seen.mime?.parts.some((part) => part.names.includes('invoice.exe')), 'the uuencoded file at the end was found');
});
