// SpamAssassin's spamd (filter "spamd", SPAMC/1.5 SYMBOLS) against the real daemon from the Debian packages, started
// by the test with --local on a temp dir and a free loopback port. Not installed: the test fails and says what to install.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpamdFilter } from '../../src-relay/filters/spamd.ts';
import type { MessageContext } from '../../src-relay/filters/types.ts';
import { startSpamd, type Daemon } from '../helpers/spam-daemons.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { message, send } from '../helpers/smtp.ts';

/** The Generic Test for Unsolicited Bulk Email: every junk engine scores it as spam. */
const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

let spamd: Daemon;
const dir = tempDir('moat-spamd-test-');

before(async () => {
  spamd = await startSpamd();
});
after(async () => {
  await spamd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function context(name: string, body: string): MessageContext {
  const path = join(dir, name);
  writeFileSync(path, body);
  return { queueId: name, clientIp: '192.0.2.1', helo: 'client.sender.test', sender: 'alice@sender.test', recipients: ['bob@example.test'], path, size: Buffer.byteLength(body), headers: [], tls: false, authenticatedUser: null };
}

test('GTUBE scores as spam through spamd: over its threshold by far, the GTUBE rule among the reasons', async () => {
  const result = await new SpamdFilter({ address: spamd.address, maxBytes: 1 << 20 }).check(context('gtube', message('gtube', `${GTUBE}\r\n`)), AbortSignal.timeout(30_000));
  assert.equal(result.verdict, 'tag', `${result.reasons.join(' | ')}\n${spamd.log()}`);
  assert.ok(result.score >= 1000, `score ${result.score}`);
  assert.ok(result.reasons.some((reason) => /^GTUBE /.test(reason)), result.reasons.join(' | '));
});

test('an ordinary message is not spam to spamd', async () => {
  const result = await new SpamdFilter({ address: spamd.address, maxBytes: 1 << 20 }).check(context('ham', message('lunch on friday', 'Shall we meet at noon?\r\n')), AbortSignal.timeout(30_000));
  assert.equal(result.verdict, 'accept', result.reasons.join(' | '));
  assert.match(result.reasons[0]!, /^spamd: not spam, score -?\d/);
});

test('through the relay with filters.spamd set: GTUBE is over the reject score and refused, an ordinary message is delivered', async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port, { filters: { enabled: true, spamd: { address: spamd.address } } });
  try {
    await assert.rejects(send(relay.port, 'alice@sender.test', ['bob@example.test'], message('gtube through the relay', `${GTUBE}\r\n`)), (error: { responseCode?: number; response?: string }) => {
      assert.equal(error.responseCode, 550, error.response);
      assert.match(error.response ?? '', /^550 5\.7\.1 Message refused as junk/);
      return true;
    });
    assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('an ordinary message', 'Shall we meet at noon?\r\n'))).response, /^250 /);
    await sink.waitFor(1);
    assert.match(sink.messages[0]!.raw.toString('utf8').replace(/\r\n[ \t]+/g, ' '), /^X-Moat-Status: .*spamd=accept/m);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});
