import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { message, send } from '../helpers/smtp.ts';
import { EICAR, makeZip, messageWithAttachments } from '../helpers/mail-parts.ts';
import { clamdVersion } from '../../src-relay/filters/clamav.ts';
import { startClamd, type Clamd } from './clamd.ts';
import { addUser, startSubmissionRelay, submit } from '../helpers/submission.ts';

let clamd: Clamd;
let sink: Sink;
let relay: TestRelay;

before(async () => {
  clamd = await startClamd();
  sink = await Sink.start();
  relay = await startRelay(sink.port, { filters: { enabled: true, clamav: { address: clamd.socket } } });
});
after(async () => {
  await relay?.stop();
  await sink?.stop();
  await clamd?.stop();
});

async function reply(port: number, raw: string): Promise<string> {
  return send(port, 'alice@sender.test', ['bob@example.test'], raw).then(
    (info) => info.response,
    (error: Error & { response?: string }) => error.response ?? error.message,
  );
}

const nested = (inner: string) => {
  const embedded = messageWithAttachments('embedded', [{ name: 'note.txt', contentType: 'text/plain', data: inner }]);
  return (
    'From: a@sender.test\r\nTo: bob@example.test\r\nSubject: nested\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <n@sender.test>\r\n' +
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="outer"\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary="inner"\r\n\r\n' +
    '--inner\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--inner--\r\n' +
    `--outer\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd.eml"\r\n\r\n${embedded}\r\n--outer--\r\n`
  );
};

test("clamd's VERSION gives the engine version for the patch checklist", async () => {
  const version = await clamdVersion(clamd.socket);
  assert.match(version.engine, /^ClamAV \d+\.\d+/);
});

test('EICAR is refused with 554 5.7.1 in every form: plain, base64, zip, nested multipart, RFC 2231-named', async () => {
  const forms: [string, string][] = [
    ['plain', message('plain eicar', `${EICAR}\r\n`)],
    ['base64 attachment', messageWithAttachments('b64', [{ name: 'eicar.txt', contentType: 'text/plain', data: EICAR }])],
    ['zip', messageWithAttachments('zip', [{ name: 'files.zip', data: makeZip([{ name: 'docs/eicar.txt', data: EICAR }]) }])],
    ['nested multipart', nested(EICAR)],
    ['RFC 2231 name', messageWithAttachments('2231', [{ disposition: "filename*0*=utf-8''%E2%82%AC-test;\r\n filename*1*=.txt", data: EICAR }])],
  ];
  for (const [form, raw] of forms) {
    assert.match(await reply(relay.port, raw), /^554 5\.7\.1 Message refused: virus found: Eicar-Test-Signature/, form);
  }
});

test('a clean message passes clamd and is delivered', async () => {
  const before = sink.messages.length;
  assert.match(await reply(relay.port, messageWithAttachments('clean zip', [{ name: 'files.zip', data: makeZip([{ name: 'a.txt', data: 'harmless' }]) }])), /^250 /);
  await sink.waitFor(before + 1);
});

test('an encrypted archive is never "clean": quarantined by default', async () => {
  const raw = messageWithAttachments('locked', [{ name: 'locked.zip', data: makeZip([{ name: 'a.txt', data: 'x', encrypted: true }]) }]);
  const id = /queued as (\S+)/.exec(await reply(relay.port, raw))?.[1];
  assert.ok(id, 'accepted into quarantine');
  assert.equal(relay.relay.queue.store.message(id)!.status, 'quarantined');
  assert.match(relay.relay.quarantine.get(id)!.message.reason ?? '', /clamav: not scanned: /);
});

test('over TCP, and with infected mail set to quarantine', async () => {
  const other = await startRelay(sink.port, { filters: { enabled: true, clamav: { address: clamd.tcp, infected: 'quarantine' } } });
  try {
    const id = /queued as (\S+)/.exec(await reply(other.port, message('tcp eicar', `${EICAR}\r\n`)))?.[1];
    assert.ok(id);
    assert.equal(other.relay.queue.store.message(id)!.status, 'quarantined');
  } finally {
    await other.stop();
  }
});

test('clamd unreachable: 451 4.7.1 by default (fail closed), tagged and delivered when set to fail open', async () => {
  const closed = await startRelay(sink.port, { filters: { enabled: true, clamav: { address: `${clamd.socket}.missing` } } });
  const open = await startRelay(sink.port, { filters: { enabled: true, failMode: { clamav: 'open' }, clamav: { address: `${clamd.socket}.missing` } } });
  try {
    assert.match(await reply(closed.port, message('clamd down')), /^451 4\.7\.1 /);
    const before = sink.messages.length;
    assert.match(await reply(open.port, message('clamd down, fail open')), /^250 /);
    await sink.waitFor(before + 1);
    const got = sink.messages.find((sunk) => sunk.raw.includes('Subject: clamd down, fail open'))!.raw.toString('utf8');
    assert.match(got, /X-Spam-Flag: YES/);
    assert.match(got, /clamav=tag/);
  } finally {
    await closed.stop();
    await open.stop();
  }
});

test('a 22 MB message is scanned streaming: EICAR behind a big attachment is still found', async () => {
  const big = Buffer.alloc(16 * 1024 * 1024); // 22 MB once base64-encoded, under the 25 MB limit
  for (let i = 0; i < big.length; i += 4096) big.write('filler data for a large attachment ', i, 'latin1');
  const raw = messageWithAttachments('big', [{ name: 'big.bin', data: big }, { name: 'eicar.txt', contentType: 'text/plain', data: EICAR }]);
  assert.match(await reply(relay.port, raw), /^554 5\.7\.1 Message refused: virus found: Eicar-Test-Signature/);
});

test('submitted mail is scanned too: EICAR from a logged-in office client is refused with 554, never queued', async () => {
  const own = await startSubmissionRelay(sink.port, { filters: { enabled: true, senderAuth: { enabled: false }, clamav: { address: clamd.socket } } });
  try {
    await addUser(own.dataDir, 'alice', ['alice@example.test']);
    const raw = messageWithAttachments('office eicar', [{ name: 'eicar.txt', contentType: 'text/plain', data: EICAR }]).replace(/^From: .*$/m, 'From: alice@example.test');
    for (const to of ['colleague@example.test', 'someone@outside.test']) {
      await assert.rejects(submit(own.submission, { user: 'alice' }, 'alice@example.test', [to], raw), (error: Error & { response?: string }) => {
        assert.match(error.response ?? error.message, /^554 5\.7\.1 Message refused: virus found: Eicar-Test-Signature/);
        return true;
      });
    }
    assert.equal(own.relay.queue.store.summary().size, 0);
  } finally {
    await own.stop();
  }
});
