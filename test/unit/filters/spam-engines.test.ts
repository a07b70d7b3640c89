// The rspamd and spamd filters without their daemons: how an answer maps to verdict, score and reasons, what an
// engine that cannot be reached gives, and the size limit. The daemons themselves: test/daemons/.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RspamdFilter, rspamdVerdict } from '../../../src-relay/filters/rspamd.ts';
import { SpamdFilter, parseSpamdResponse, spamdVerdict } from '../../../src-relay/filters/spamd.ts';
import type { MessageContext } from '../../../src-relay/filters/types.ts';
import { ConfigSchema } from '../../../src-relay/config/schema.ts';
import { reservePort } from '../../helpers/sink.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { message } from '../../helpers/smtp.ts';

const dir = tempDir('moat-spam-engines-');
after(() => rmSync(dir, { recursive: true, force: true }));

function context(body = message('engines')): MessageContext {
  const path = join(dir, `msg-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, body);
  return { queueId: 'TEST', clientIp: '192.0.2.1', helo: 'client.test', sender: 'alice@sender.test', recipients: ['bob@example.test'], path, size: Buffer.byteLength(body), headers: [], tls: false, authenticatedUser: null };
}

test('the defaults: both engines off (no address), rspamd up to 20 MiB, spamd up to 2 MiB', () => {
  const { rspamd, spamd } = ConfigSchema.parse({}).filters;
  assert.deepEqual(rspamd, { maxBytes: 20 * 1024 * 1024 });
  assert.deepEqual(spamd, { maxBytes: 2 * 1024 * 1024 });
});

test("rspamd's actions become verdicts: reject, soft reject -> tempfail, add header and rewrite subject -> tag, the rest accept", () => {
  const verdicts = ['reject', 'soft reject', 'rewrite subject', 'add header', 'greylist', 'no action', 'something new'].map(
    (action) => rspamdVerdict({ action, score: 1, required_score: 15 }).verdict,
  );
  assert.deepEqual(verdicts, ['reject', 'tempfail', 'tag', 'tag', 'accept', 'accept', 'accept']);
});

test("rspamd's score is ours, and its symbols are reasons, highest first, the ones that scored nothing left out", () => {
  const result = rspamdVerdict({
    action: 'add header',
    score: 7.3,
    required_score: 15,
    symbols: {
      MISSING_MID: { name: 'MISSING_MID', score: 2.5, description: 'Message id is missing' },
      ARC_NA: { name: 'ARC_NA', score: 0 },
      BAYES_HAM: { name: 'BAYES_HAM', score: -3 },
      HFILTER_HOSTNAME_UNKNOWN: { name: 'HFILTER_HOSTNAME_UNKNOWN', score: 2.5 },
    },
  });
  assert.equal(result.score, 7.3);
  assert.deepEqual(result.reasons, ['rspamd: add header, score 7.3 / 15', 'BAYES_HAM -3', 'HFILTER_HOSTNAME_UNKNOWN 2.5', 'MISSING_MID 2.5 Message id is missing']);
  const gtube = rspamdVerdict({ action: 'reject', score: 15, required_score: 15, symbols: { GTUBE: { name: 'GTUBE', score: 0 } }, messages: { smtp_message: 'Gtube pattern' } });
  assert.deepEqual(gtube.reasons, ['rspamd: reject, score 15 / 15 (Gtube pattern)', 'GTUBE 0'], 'on a reject every symbol counts');
});

test("spamd's answer is parsed: status, Spam header, and the rule names of a SYMBOLS answer", () => {
  const spam = parseSpamdResponse('SPAMD/1.1 0 EX_OK\r\nContent-length: 24\r\nSpam: True ; 1003.3 / 5.0\r\n\r\nGTUBE,MISSING_DATE,NO_RELAYS');
  assert.deepEqual(spam, { status: 0, message: 'EX_OK', spam: true, score: 1003.3, threshold: 5, rules: ['GTUBE', 'MISSING_DATE', 'NO_RELAYS'] });
  const ham = parseSpamdResponse('SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.5 / 5.0\r\n\r\n');
  assert.deepEqual(ham, { status: 0, message: 'EX_OK', spam: false, score: -0.5, threshold: 5, rules: [] });
  assert.deepEqual(parseSpamdResponse('SPAMD/1.0 76 Bad header line: (EOF)\r\n'), { status: 76, message: 'Bad header line: (EOF)', spam: null, score: 0, threshold: 0, rules: [] });
  assert.equal(parseSpamdResponse('HTTP/1.1 400 Bad Request\r\n\r\n'), null);
  assert.deepEqual(parseSpamdResponse('SPAMD/1.1 0 EX_OK\r\nSpam: True ; 9 / 5\r\n\r\nGOOD_RULE,bad rule\r\n<script>')!.rules, ['GOOD_RULE', 'bad', 'rule'], 'only rule-name words are kept');
});

test("spamd's verdict: over its threshold is tagged, under it accepted; the score is SpamAssassin's", () => {
  assert.deepEqual(spamdVerdict({ status: 0, message: 'EX_OK', spam: true, score: 1003.3, threshold: 5, rules: ['GTUBE'] }), {
    verdict: 'tag',
    score: 1003.3,
    reasons: ['spamd: spam, score 1003.3 / 5', 'GTUBE (SpamAssassin rule)'],
  });
  assert.equal(spamdVerdict({ status: 0, message: 'EX_OK', spam: false, score: 1.2, threshold: 5, rules: [] }).verdict, 'accept');
});

test('an engine that cannot be reached gives tempfail marked unavailable, so the fail mode (filters.failMode) decides', async () => {
  const port = await reservePort();
  for (const filter of [new RspamdFilter({ address: `127.0.0.1:${port}`, maxBytes: 1 << 20 }), new SpamdFilter({ address: `127.0.0.1:${port}`, maxBytes: 1 << 20 })]) {
    const result = await filter.check(context(), AbortSignal.timeout(5000));
    assert.equal(result.verdict, 'tempfail', filter.name);
    assert.equal(result.unavailable, true, filter.name);
    assert.match(result.reasons[0]!, new RegExp(`^${filter.name} at 127\\.0\\.0\\.1:${port} did not answer: .*ECONNREFUSED`));
  }
});

test('a message over maxBytes is not sent to the engine and passes unscored, saying why', async () => {
  const port = await reservePort();
  for (const filter of [new RspamdFilter({ address: `127.0.0.1:${port}`, maxBytes: 1024 }), new SpamdFilter({ address: `127.0.0.1:${port}`, maxBytes: 1024 })]) {
    const result = await filter.check(context(message('big', `${'x'.repeat(78)}\r\n`.repeat(20))), AbortSignal.timeout(5000));
    assert.deepEqual([result.verdict, result.score], ['accept', 0], filter.name);
    assert.match(result.reasons[0]!, /^not scanned: \d+ bytes is over the 1024-byte limit/);
  }
});

test('an engine that accepts the connection but never answers is stopped at the deadline', async () => {
  const { createServer } = await import('node:net');
  const sockets: import('node:net').Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(silent.address() as { port: number }).port}`;
  try {
    for (const filter of [new RspamdFilter({ address, maxBytes: 1 << 20 }), new SpamdFilter({ address, maxBytes: 1 << 20 })]) {
      const started = Date.now();
      // the pipeline's runner owns the deadline; the filter only has to stop and let the abort through
      await assert.rejects(filter.check(context(), AbortSignal.timeout(300)), (error: Error) => /^(TimeoutError|AbortError)$/.test(error.name), filter.name);
      assert.ok(Date.now() - started < 2000, `${filter.name} stopped at the deadline`);
    }
  } finally {
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
});
