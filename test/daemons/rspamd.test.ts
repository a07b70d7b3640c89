// rspamd (filter "rspamd", HTTP /checkv2) against the real daemon from the Debian package, started offline by the
// test on a temp dir and a free loopback port. Not installed: the test fails and says what to install.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RspamdFilter } from '../../src-relay/filters/rspamd.ts';
import type { MessageContext } from '../../src-relay/filters/types.ts';
import { requireBinary, startRspamd, type Daemon } from '../helpers/spam-daemons.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { message, send } from '../helpers/smtp.ts';

/** The Generic Test for Unsolicited Bulk Email: every junk engine scores it as spam. */
const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

let rspamd: Daemon;
const dir = tempDir('moat-rspamd-test-');

before(async () => {
  rspamd = await startRspamd();
});
after(async () => {
  await rspamd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function context(name: string, body: string): MessageContext {
  const path = join(dir, name);
  writeFileSync(path, body);
  return { queueId: name, clientIp: '192.0.2.1', helo: 'client.sender.test', sender: 'alice@sender.test', recipients: ['bob@example.test'], path, size: Buffer.byteLength(body), headers: [], tls: false, authenticatedUser: null };
}

test('GTUBE scores as spam through rspamd: action reject, the GTUBE symbol among the reasons', async () => {
  const result = await new RspamdFilter({ address: rspamd.address, maxBytes: 1 << 20 }).check(context('gtube', message('gtube', `${GTUBE}\r\n`)), AbortSignal.timeout(30_000));
  assert.equal(result.verdict, 'reject', `${result.reasons.join(' | ')}\n${rspamd.log()}`);
  assert.ok(result.score >= 15, `score ${result.score}`);
  assert.ok(result.reasons.some((reason) => /^GTUBE /.test(reason)), result.reasons.join(' | '));
});

test('an ordinary message is not refused by rspamd, and its score and symbols come back', async () => {
  const result = await new RspamdFilter({ address: rspamd.address, maxBytes: 1 << 20 }).check(context('ham', message('lunch on friday', 'Shall we meet at noon?\r\n')), AbortSignal.timeout(30_000));
  assert.notEqual(result.verdict, 'reject', result.reasons.join(' | '));
  assert.notEqual(result.verdict, 'tempfail', result.reasons.join(' | '));
  assert.match(result.reasons[0]!, /^rspamd: [a-z ]+, score -?\d/);
  assert.ok(result.score < 15);
});

test('through the relay with filters.rspamd set: GTUBE is refused at the end of DATA, an ordinary message is delivered', async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port, { filters: { enabled: true, rspamd: { address: rspamd.address } } });
  try {
    await assert.rejects(send(relay.port, 'alice@sender.test', ['bob@example.test'], message('gtube through the relay', `${GTUBE}\r\n`)), (error: { responseCode?: number; response?: string }) => {
      assert.equal(error.responseCode, 550, error.response);
      assert.match(error.response ?? '', /^550 5\.7\.1 /);
      return true;
    });
    assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('an ordinary message', 'Shall we meet at noon?\r\n'))).response, /^250 /);
    await sink.waitFor(1);
    assert.match(sink.messages[0]!.raw.toString('utf8').replace(/\r\n[ \t]+/g, ' '), /^X-Moat-Status: .*rspamd=/m);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('a daemon that is not installed fails the tier with the packages to install, it is never skipped', () => {
  assert.throws(() => requireBinary('rspamd', ['/nonexistent/rspamd'], 'rspamd'), /rspamd is not installed .*apt-get install -y --no-install-recommends rspamd spamassassin spamd/);
});
