// The office's own mail gets the inbound virus and attachment checks: a stolen password must not carry to the
// colleagues (or out) what the mx listener refuses. Real submission listeners over TLS, a real internal server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { Sink } from '../helpers/sink.ts';
import { closedPort } from '../helpers/engine-pings.ts';
import { addUser, officeMessage, startSubmissionRelay, submit } from '../helpers/submission.ts';
import { message, send } from '../helpers/smtp.ts';
import { makeZip } from '../helpers/mail-parts.ts';

const TEST_TIMEOUT_MS = 60_000;
const ALICE = { user: 'alice', senders: ['alice@example.test'] };
const FILTERS_ON = { filters: { enabled: true, senderAuth: { enabled: false } } };

/** A message from alice with one attachment named `file`: `data`, or an .exe's first bytes (MZ), or a PDF's. */
function withAttachment(to: string, file: string, data?: Buffer): string {
  const content = data ?? Buffer.from(file.endsWith('.pdf') ? '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n' : 'MZ\x90\x00\x03\x00\x00\x00', 'latin1');
  const head = officeMessage('alice@example.test', to, `sending ${file}`).split('\r\n\r\n')[0]!.replace('Content-Type: text/plain; charset=utf-8', 'Content-Type: multipart/mixed; boundary="b1"');
  return (
    `${head}\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease see the attachment.\r\n` +
    `--b1\r\nContent-Type: application/octet-stream; name="${file}"\r\nContent-Disposition: attachment; filename="${file}"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
    `${content.toString('base64')}\r\n--b1--\r\n`
  );
}

const refusal = (error: unknown) => (error as { response?: string }).response ?? String(error);

test('a blocked attachment is refused on the submission listeners as on the mx one, to colleagues and out; nothing is queued', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startSubmissionRelay(sink.port, FILTERS_ON);
  try {
    await addUser(relay.dataDir, ALICE.user, ALICE.senders);
    for (const [port, secure] of [[relay.submission, false], [relay.submissions, true]] as const) {
      for (const to of ['colleague@example.test', 'someone@outside.test']) {
        await assert.rejects(
          submit(port, { user: ALICE.user, secure }, 'alice@example.test', [to], withAttachment(to, 'invoice.exe')),
          (error) => {
            assert.match(refusal(error), /^550 5\.7\.1 Message refused by policy: blocked attachment type \.exe: "invoice\.exe"/);
            return true;
          },
        );
      }
    }
    // the mx listener says the same of the same file
    await assert.rejects(send(relay.port, 'x@sender.test', ['colleague@example.test'], withAttachment('colleague@example.test', 'invoice.exe')), /550 5\.7\.1 Message refused by policy: blocked attachment type \.exe/);
    assert.equal(relay.relay.queue.store.summary().size, 0, 'nothing queued');

    // a harmless attachment goes on; the refusals are in the history and counted as policy refusals
    await submit(relay.submission, { user: ALICE.user }, 'alice@example.test', ['colleague@example.test'], withAttachment('colleague@example.test', 'minutes.pdf'));
    await sink.waitFor(1);
    assert.match(sink.messages[0]!.raw.toString(), /filename="minutes\.pdf"/);
    relay.relay.queue.flushHistory();
    const refused = relay.relay.queue.store.db.prepare("SELECT detail FROM history WHERE action = 'REFUSED'").all() as { detail: string }[];
    assert.equal(refused.filter((row) => /^550 5\.7\.1 Message refused by policy \(blocked attachment type \.exe: "invoice\.exe"/.test(row.detail)).length, 4, JSON.stringify(refused));
    const policy = relay.relay.monitor.metrics.counters().find((sample) => sample.name === 'rejected' && sample.labels.reason === 'policy');
    assert.equal(policy?.value, 5, 'four submissions and the mx copy');
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('a virus scanner that cannot be reached is a 451 for submitted mail (fail closed), never a 250 unchecked', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startSubmissionRelay(sink.port, { filters: { enabled: true, senderAuth: { enabled: false }, clamav: { address: await closedPort() } } });
  try {
    await addUser(relay.dataDir, ALICE.user, ALICE.senders);
    await assert.rejects(submit(relay.submission, { user: ALICE.user }, 'alice@example.test', ['colleague@example.test'], officeMessage('alice@example.test', 'colleague@example.test')), (error) => {
      assert.match(refusal(error), /^451 4\.7\.1 /);
      return true;
    });
    assert.equal(relay.relay.queue.store.summary().size, 0);
    assert.equal(sink.messages.length, 0);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('with the filters off, submitted mail is not scanned (as inbound): the admin turned them off', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startSubmissionRelay(sink.port);
  try {
    await addUser(relay.dataDir, ALICE.user, ALICE.senders);
    await submit(relay.submission, { user: ALICE.user }, 'alice@example.test', ['colleague@example.test'], withAttachment('colleague@example.test', 'invoice.exe'));
    await sink.waitFor(1);
    await send(relay.port, 'x@sender.test', ['colleague@example.test'], message('plain'));
    await sink.waitFor(2);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

/**
 * An archive Moat cannot look into, sent by alice: it goes out by default (`submission.encryptedArchives: send`), a
 * program beside it in the same kind of archive is still refused for what can be read, and from the internet the same
 * file is not clean (quarantined); to a colleague, alone or beside an outside recipient, alice's is not clean either
 * (a stolen password must not carry it in past the checks: refused, saying why); with `encryptedArchives: refuse`
 * alice's is refused to outside recipients too.
 */
async function unscannableFromTheOffice(archive: { name: string; data: Buffer }, program: { name: string; data: Buffer; refused: RegExp }, refusedWhenAsked: RegExp): Promise<void> {
  const sink = await Sink.start();
  const sendAs = (file: { name: string; data: Buffer }, to = ['accountant@outside.test']) =>
    submit(relay.submission, { user: ALICE.user }, 'alice@example.test', to, withAttachment(to.join(', '), file.name, file.data));
  let relay = await startSubmissionRelay(sink.port, FILTERS_ON);
  try {
    await addUser(relay.dataDir, ALICE.user, ALICE.senders);
    await sendAs(archive);
    await assert.rejects(sendAs(program), (error) => {
      assert.match(refusal(error), program.refused);
      return true;
    });
    // to a colleague, alone or beside an outside recipient, it is not clean: refused as what cannot be checked
    for (const to of [['colleague@example.test'], ['accountant@outside.test', 'Colleague@EXAMPLE.test']]) {
      await assert.rejects(sendAs(archive, to), (error) => {
        assert.match(refusal(error), /^550 5\.7\.1 Message refused by policy: .*(not checked|cannot be checked)/, to.join(', '));
        return true;
      });
    }
    // from the internet the same file cannot be checked, so it is not clean: quarantined (filters.unchecked)
    await send(relay.port, 'x@sender.test', ['colleague@example.test'], withAttachment('colleague@example.test', archive.name, archive.data));
    assert.deepEqual(relay.relay.queue.store.db.prepare('SELECT status FROM messages ORDER BY received_at').all().map((row) => (row as { status: string }).status), ['queued', 'quarantined']);
  } finally {
    await relay.stop();
  }
  relay = await startSubmissionRelay(sink.port, { ...FILTERS_ON, submission: { encryptedArchives: 'refuse' } });
  try {
    await addUser(relay.dataDir, ALICE.user, ALICE.senders);
    await assert.rejects(sendAs(archive), (error) => {
      assert.match(refusal(error), refusedWhenAsked);
      return true;
    });
  } finally {
    await relay.stop();
    await sink.stop();
  }
}

test('a password-protected zip from the office is sent by default (the names inside still checked), refused when the admin says so; inbound it is not clean', { timeout: TEST_TIMEOUT_MS }, () =>
  unscannableFromTheOffice(
    { name: 'payroll.zip', data: makeZip([{ name: 'payroll.pdf', data: '%PDF-1.4 encrypted bytes', encrypted: true }]) },
    { name: 'payroll.zip', data: makeZip([{ name: 'payroll.exe', data: 'MZ encrypted bytes', encrypted: true }]), refused: /^550 5\.7\.1 Message refused by policy: blocked file type \.exe inside "payroll\.zip"/ },
    /^550 5\.7\.1 Message refused by policy: archive "payroll\.zip" not checked: "payroll\.pdf" is encrypted/,
  ));

test("an office client's 7z goes out by default (as a password-protected zip does) and is refused with encryptedArchives: refuse; a program in a gzip never goes", { timeout: TEST_TIMEOUT_MS }, () =>
  unscannableFromTheOffice(
    { name: 'plans.7z', data: Buffer.concat([Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4]), Buffer.alloc(64, 7)]) },
    { name: 'tool.exe.gz', data: gzipSync(Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1')), refused: /^550 5\.7\.1 Message refused by policy: blocked file type \.exe inside "tool\.exe\.gz": "tool\.exe"/ },
    /^550 5\.7\.1 Message refused by policy: archive "plans\.7z" not checked: Moat cannot look inside 7z archives/,
  ));

test('mail an office client sealed (S/MIME encrypted as a whole) goes out by default like a protected zip, and is refused with encryptedArchives: refuse; from the internet it is not clean', { timeout: TEST_TIMEOUT_MS }, () =>
  unscannableFromTheOffice(
    { name: 'smime.p7m', data: Buffer.from('0\x82\x09\x66\x06\x09*\x86H\x86\xf7\x0d\x01\x07\x03 enveloped data', 'latin1') },
    { name: 'tool.exe', data: Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1'), refused: /^550 5\.7\.1 Message refused by policy: blocked attachment type \.exe: "tool\.exe"/ },
    /^550 5\.7\.1 Message refused by policy: .*part 2 is an S\/MIME message \(smime\.p7m, signed or encrypted as a whole\): its contents cannot be checked/,
  ));
