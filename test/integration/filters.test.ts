import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message, send } from '../helpers/smtp.ts';
import { makeZip, messageWithAttachments, peExecutable } from '../helpers/mail-parts.ts';
import { GTUBE } from '../../src-relay/filters/builtin-rules.ts';
import { SenderLists } from '../../src-relay/filters/sender-lists.ts';
import { formatMessageDetail } from '../../src-relay/queue/format.ts';
import type { Filter } from '../../src-relay/filters/types.ts';

/** What the hook saw of a message whose Subject says KEEP: the copy it was handed, and the spool file then. */
const kept: { content: Buffer | null | undefined; file: Buffer }[] = [];

/** A filter the tests steer by the Subject: HANG (past the 3 s deadline), THROW, QUARANTINE; else it accepts. */
const hook: Filter = {
  name: 'test-hook',
  async check(message, signal) {
    const subject = message.headers.find((header) => header.name.toLowerCase() === 'subject')?.value ?? '';
    if (subject.includes('KEEP')) kept.push({ content: message.content, file: readFileSync(message.path) });
    if (subject.includes('HANG')) return new Promise((resolve) => signal.addEventListener('abort', () => resolve({ filter: 'test-hook', verdict: 'accept', score: 0, reasons: ['too late'] })));
    if (subject.includes('THROW')) throw new Error('the test hook broke');
    if (subject.includes('QUARANTINE')) return { filter: 'test-hook', verdict: 'quarantine', score: 0, reasons: ['the test asked for quarantine'] };
    return { filter: 'test-hook', verdict: 'accept', score: 0, reasons: [] };
  },
};

let sink: Sink;
let relay: TestRelay;

before(async () => {
  sink = await Sink.start();
  relay = await startRelay(sink.port, { filters: { enabled: true, timeoutSec: 3 } }, { filters: [hook] });
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

const ids = (response: string) => /queued as ([0-9A-Z]{22})/.exec(response)![1]!;
const history = (id: string) => {
  relay.relay.queue.flushHistory();
  return relay.relay.queue.store.history(id).map((row) => row.action);
};


async function refused(raw: string, from = 'alice@sender.test'): Promise<string> {
  const error = await send(relay.port, from, ['bob@example.test'], raw).then(
    () => assert.fail('the message was accepted'),
    (caught: Error & { response?: string }) => caught,
  );
  return error.response ?? error.message;
}

test('GTUBE is refused at the end of DATA with 550 5.7.1: nothing is queued, the refusal is in the history', async () => {
  const response = await refused(message('gtube', `Hello\r\n${GTUBE}\r\n`));
  assert.match(response, /^550 5\.7\.1 Message refused as junk: score \d+/);
  relay.relay.queue.flushHistory();
  const rows = relay.relay.queue.store.db.prepare(`SELECT * FROM history WHERE action = 'REJECTED'`).all() as { detail: string; queue_id: string }[];
  // the reply the sender was given, then why
  assert.match(rows[0]!.detail, /^550 5\.7\.1 Message refused as junk: score (\d+) \(junk score \1, reject at 15\)$/);
  assert.equal(relay.relay.queue.store.message(rows[0]!.queue_id), undefined);
});

test('the filters get the copy the spool writer kept of a small message, byte for byte the spool file; a large one they read from the file', async () => {
  kept.length = 0;
  await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('KEEP small', 'Hello.\r\n'));
  await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('KEEP large', 'y'.repeat(998).concat('\r\n').repeat(70)));
  assert.equal(kept.length, 2);
  const [small, large] = kept as [(typeof kept)[0], (typeof kept)[0]];
  assert.ok(Buffer.isBuffer(small.content), 'a small message is handed over');
  assert.ok(small.content.equals(small.file), 'the copy is the spool file, our Received header included');
  assert.match(small.file.toString('latin1'), /^Received: from /);
  assert.equal(large.content, null, 'a message over 64 KB is not held');
  assert.ok(large.file.length > 70_000, 'and its file is whole when the filters run');
});

test('a filter that hangs past its deadline gets 451 4.7.1, and the same session goes on to send a message', async () => {
  const client = await RawSmtp.connect(relay.port);
  await client.hello();
  const sendOne = async (subject: string) => {
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('DATA'), /^354/);
    client.write(`${message(subject)}.\r\n`);
    return client.reply(15_000);
  };
  assert.match(await sendOne('please HANG'), /^451 4\.7\.1 /);
  assert.match(await sendOne('after the hang'), /^250 /);
  assert.match(await sendOne('now THROW'), /^451 4\.7\.1 /);
  assert.match(await sendOne('after the throw'), /^250 /);
  client.close();
});

test('tagged junk reaches the internal server with the X-Spam headers and X-Moat-Status; the spool file stays as received', async () => {
  // no Date, no Message-ID, HTML only with hardly any text: 1.5 + 1.5 + 0.5 + 2.5 = 6, over the tag score
  const raw = 'From: promo@sender.test\r\nTo: bob@example.test\r\nSubject: deal\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<a href="http://x.test"><img src="http://x.test/a.png"></a>\r\n';
  const id = ids((await send(relay.port, 'promo@sender.test', ['bob@example.test'], raw)).response);
  const spooled = readFileSync(relay.relay.queue.spool.path(id));
  const got = await sink.waitForSubject('deal');
  assert.match(got, /\r\nX-Spam-Flag: YES\r\nX-Spam-Score: 6\.0\r\nX-Spam-Status: Yes, score=6\.0 required=5\.0\s+tests=MISSING_DATE,MISSING_MESSAGE_ID,HTML_ONLY,HTML_LITTLE_TEXT\r\n/);
  assert.match(got, /\r\nX-Moat-Status: tag; score=6;/);
  assert.ok(got.endsWith(spooled.toString('utf8')), 'the delivered message is the header block + the spool file');
  assert.match(spooled.toString('utf8'), /^Received: /);
  const detail = formatMessageDetail(relay.relay.queue, id)!;
  assert.match(detail, /filters: +tag, score 6 — junk score 6 \(tag at 5\)/);
  assert.match(detail, /builtin-rules +accept \+6/);
});

test('a clean message is delivered with X-Spam-Flag: NO', async () => {
  await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('clean'));
  assert.match(await sink.waitForSubject('clean'), /\r\nX-Spam-Flag: NO\r\n/);
});

test('quarantine: kept with its decision, not delivered; released, it arrives with who released it', async () => {
  const id = ids((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('QUARANTINE me'))).response);
  const { quarantine } = relay.relay;
  const listed = quarantine.list({ search: 'quarantine me' });
  assert.deepEqual(listed.map((row) => row.id), [id]);
  assert.equal(listed[0]!.reason, 'test-hook: the test asked for quarantine');
  assert.deepEqual(history(id), ['QUARANTINED']);
  const preview = await quarantine.preview(id);
  assert.equal(preview!.text, 'Hello from the test.\r\n');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.ok(!sink.messages.some((sunk) => sunk.raw.includes('Subject: QUARANTINE me')), 'nothing delivered while in quarantine');
  assert.deepEqual(quarantine.release(id, { by: 'test-admin' }), { released: true, allowed: null, notAllowed: null });
  const got = await sink.waitForSubject('QUARANTINE me');
  assert.match(got, /^X-Moat-Released: released from quarantine by test-admin at\s+\d{4}-/);
  assert.match(got, /\r\nX-Spam-Flag: NO\r\n/);
  assert.deepEqual(quarantine.list({ search: id }), []);
  assert.ok(history(id).includes('RELEASED'));
});

test('a deleted quarantined message is gone, file and all; expiry removes old ones', async () => {
  const id = ids((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('QUARANTINE to delete'))).response);
  assert.equal(await relay.relay.quarantine.delete(id, 'test-admin'), true);
  assert.equal(relay.relay.queue.spool.size(id), null);
  assert.equal(relay.relay.queue.store.message(id)!.status, 'deleted');
  const old = ids((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('QUARANTINE to expire'))).response);
  relay.relay.queue.store.db.prepare('UPDATE messages SET received_at = received_at - ? WHERE id = ?').run(31 * 86400_000, old);
  assert.equal(await relay.relay.quarantine.expire(30), 1);
  assert.ok(history(old).includes('EXPIRED'));
});

test('attachments: a double extension, an RFC 2231-hidden name, an exe in a zip, a program named like a photo', async () => {
  const cases: [string, RegExp][] = [
    [messageWithAttachments('double', [{ name: 'invoice.pdf.exe', data: 'MZ' }]), /blocked attachment type \.exe: "invoice\.pdf\.exe"/],
    [messageWithAttachments('rfc2231', [{ disposition: "filename*0*=utf-8''Rechnung%20M%C3%A4rz;\r\n filename*1*=.js", data: 'x' }]), /\.js: "Rechnung März\.js"/],
    [messageWithAttachments('zip', [{ name: 'docs.zip', data: makeZip([{ name: 'readme.txt', data: 'x' }, { name: 'setup.scr', data: 'y' }]) }]), /\.scr inside "docs\.zip": "setup\.scr"/],
    [messageWithAttachments('magic', [{ name: 'holiday.jpg', contentType: 'image/jpeg', data: peExecutable() }]), /"holiday\.jpg" is a program \(pe-executable\)/],
  ];
  for (const [raw, reason] of cases) {
    const response = await refused(raw);
    assert.match(response, /^550 5\.7\.1 Message refused by policy: /);
    assert.match(response, reason);
  }
  const fine = await send(relay.port, 'alice@sender.test', ['bob@example.test'], messageWithAttachments('fine', [{ name: 'report.pdf', data: '%PDF-1.4' }]));
  assert.match(fine.response, /^250 /);
});

test('sender lists: denied senders are refused, allowed ones skip junk scoring but not the attachment check', async () => {
  const lists = new SenderLists(relay.relay.queue.store.db);
  lists.set('deny', '@spammer.test', 'test', null, Date.now());
  lists.set('allow', 'friend@partner.test', 'test', null, Date.now());
  assert.match(await refused(message('hi'), 'anyone@mail.spammer.test'), /^550 5\.7\.1 Sender refused by policy/);
  const gtube = await send(relay.port, 'friend@partner.test', ['bob@example.test'], message('allowed gtube', `${GTUBE}\r\n`));
  const decision = relay.relay.queue.store.message(ids(gtube.response))!.decision!;
  assert.match(decision, /"senderList":\{"list":"allow","entry":"friend@partner.test"\}/);
  assert.doesNotMatch(decision, /builtin-rules/);
  assert.match(await refused(messageWithAttachments('allowed exe', [{ name: 'tool.exe', data: 'MZ' }]), 'friend@partner.test'), /^550 5\.7\.1 Message refused by policy/);
});

test('GTUBE is found in a base64 text part and in a nested multipart too', async () => {
  const base64 = messageWithAttachments('b64 gtube', []).replace(
    'Content-Type: text/plain; charset=utf-8\r\n\r\nPlease find the file attached.\r\n',
    `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(`Buy now ${GTUBE}`).toString('base64')}\r\n`,
  );
  const nestedRaw =
    'From: a@sender.test\r\nTo: bob@example.test\r\nSubject: nested gtube\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n' +
    '--o\r\nContent-Type: multipart/alternative; boundary="i"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\n' +
    `${GTUBE}\r\n--i\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--i--\r\n--o--\r\n`;
  for (const raw of [base64, nestedRaw]) assert.match(await refused(raw), /^550 5\.7\.1 Message refused as junk/);
});
