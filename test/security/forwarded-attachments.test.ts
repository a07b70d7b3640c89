// A message forwarded as an attachment (Outlook's "forward as attachment": message/rfc822 with Content-Disposition:
// attachment, often base64-encoded) is a message inside the message. Over real SMTP: what it carries is checked like
// what the message carries itself, a clean one is delivered, and parts that cannot be looked at (message/partial,
// message/external-body) are kept in quarantine (filters.unchecked), never delivered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Sink } from '../helpers/sink.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { refusal, startUncheckedRelays, type UncheckedRelays } from '../helpers/unchecked-relays.ts';
import { send } from '../helpers/smtp.ts';
import { makeZip, messageForwardedTimes, messageForwarding, messageWithAttachments, peExecutable, type ForwardOptions } from '../helpers/mail-parts.ts';

const exe = { name: 'tool.exe', data: peExecutable() };
const withExe = () => messageWithAttachments('the original', [exe], { text: 'The original message.' });
const withZippedExe = () => messageWithAttachments('the original', [{ name: 'files.zip', contentType: 'application/zip', data: makeZip([{ name: 'setup.exe', data: peExecutable() }]) }]);
const clean = () => messageWithAttachments('the original', [{ name: 'notes.txt', data: 'meeting at ten' }], { text: 'The original message.' });
const partial = (subject: string) => messageForwarding(subject, clean(), { contentType: 'message/partial; id="part.1@sender.test"; number=1; total=2', disposition: null });

let sink: Sink;
let quarantining: TestRelay;
let rejecting: TestRelay;
const keptSubjects: string[] = [];

let relays: UncheckedRelays;

before(async () => {
  relays = await startUncheckedRelays();
  ({ sink, quarantining, rejecting } = relays);
});
after(() => relays.stop());


/** Sends `raw`, expects it queued, and returns the quarantine reason of its queue id ('' when not in quarantine). */
async function quarantineReason(raw: string, subject: string): Promise<string> {
  keptSubjects.push(subject);
  const sent = await send(quarantining.port, 'alice@sender.test', ['bob@example.test'], raw);
  const id = /queued as ([0-9A-Z]{22})/.exec(sent.response)![1]!;
  const [row] = quarantining.relay.quarantine.list({ search: id });
  if (row) assert.equal(quarantining.relay.queue.store.message(id)!.status, 'quarantined');
  return row?.reason ?? '';
}

const REFUSED: { what: string; raw: (subject: string) => string; reason: RegExp }[] = [
  { what: 'forwarded as an attachment (7bit, as Outlook sends it)', raw: (s) => messageForwarding(s, withExe()), reason: /\.exe: "tool\.exe"/ },
  { what: 'forwarded as a base64-encoded attachment', raw: (s) => messageForwarding(s, withExe(), { encoding: 'base64' }), reason: /\.exe: "tool\.exe"/ },
  { what: 'forwarded as message/global (RFC 6532)', raw: (s) => messageForwarding(s, withExe(), { contentType: 'message/global' }), reason: /\.exe: "tool\.exe"/ },
  { what: 'forwarded twice, each time as an attachment', raw: (s) => messageForwardedTimes(s, 2, withExe(), { encoding: 'base64' }), reason: /\.exe: "tool\.exe"/ },
  { what: 'forwarded as an attachment, zipped inside it', raw: (s) => messageForwarding(s, withZippedExe()), reason: /\.exe inside "files\.zip": "setup\.exe"/ },
];

test('a program attached directly is refused with 550 (the reference for the forwarded ones)', async () => {
  const response = await refusal(quarantining, messageWithAttachments('direct exe', [exe]));
  assert.match(response, /^550 5\.7\.1 Message refused by policy: .*\.exe: "tool\.exe"/);
});

for (const c of REFUSED) {
  test(`a program inside a message ${c.what} is refused with 550 like one attached directly`, async () => {
    const response = await refusal(quarantining, c.raw(`exe ${c.what}`));
    assert.match(response, /^550 5\.7\.1 Message refused by policy: /);
    assert.match(response, c.reason);
  });
}

test('a clean message forwarded as an attachment is delivered to the internal server, the attached message intact', async () => {
  for (const options of [{}, { encoding: 'base64' }] as ForwardOptions[]) {
    const subject = `clean forward ${options.encoding ?? '7bit'}`;
    const inner = clean();
    const raw = messageForwarding(subject, inner, options);
    await send(quarantining.port, 'alice@sender.test', ['bob@example.test'], raw);
    const delivered = await sink.waitForSubject(subject);
    const body = options.encoding === 'base64' ? Buffer.from(inner).toString('base64').slice(0, 76) : inner;
    assert.ok(delivered.includes(body), 'the attached message arrives as it was sent');
  }
});

test('message/partial (a fragment, whose reassembly could hide anything) is kept in quarantine by default, refused with 550 when filters.unchecked is reject', async () => {
  assert.match(await quarantineReason(partial('partial kept'), 'partial kept'), /not checked whole: part 2 is message\/partial, a fragment of a message that cannot be checked whole/);
  assert.match(await refusal(rejecting, partial('partial refused')), /^550 5\.7\.1 Message refused by policy: /);
});

test('message/external-body (content fetched from elsewhere) is kept in quarantine', async () => {
  const raw = messageForwarding('external body', 'Content-Type: application/octet-stream\r\n\r\n', { contentType: 'message/external-body; access-type=URL; URL="http://files.sender.test/a.exe"', disposition: null });
  assert.match(await quarantineReason(raw, 'external body'), /not checked whole: part 2 is message\/external-body: its content is elsewhere and cannot be checked/);
});

test('a bounce report with message/delivery-status and text/rfc822-headers parts is delivered', async () => {
  const subject = 'bounce report';
  const raw =
    `From: MAILER-DAEMON@elsewhere.test\r\nTo: bob@example.test\r\nSubject: ${subject}\r\nMessage-ID: <bounce.${Date.now()}@elsewhere.test>\r\nMIME-Version: 1.0\r\n` +
    'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n' +
    '--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n' +
    '--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.elsewhere.test\r\n\r\nFinal-Recipient: rfc822; someone@elsewhere.test\r\nAction: failed\r\nStatus: 5.1.1\r\n' +
    '--r\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: bob@example.test\r\nTo: someone@elsewhere.test\r\nSubject: the returned message\r\n' +
    '--r--\r\n';
  await send(quarantining.port, '', ['bob@example.test'], raw);
  await sink.waitForSubject(subject);
});

test('sent all at once, forwarded programs are refused, fragments kept and clean forwards delivered, each as when sent alone', async () => {
  const verdicts = await Promise.all([
    ...REFUSED.map((c) => refusal(quarantining, c.raw(`burst ${c.what}`)).then((response) => /^550 5\.7\.1 /.test(response) && c.reason.test(response))),
    ...[1, 2, 3].map((n) => quarantineReason(partial(`burst partial ${n}`), `burst partial ${n}`).then((reason) => /message\/partial/.test(reason))),
    ...[1, 2, 3].map((n) =>
      send(quarantining.port, 'alice@sender.test', ['bob@example.test'], messageForwarding(`burst clean ${n}`, clean(), { encoding: 'base64' })).then(() => sink.waitForSubject(`burst clean ${n}`).then(() => true)),
    ),
  ]);
  assert.deepEqual(verdicts, verdicts.map(() => true));
});

test('no message kept in quarantine reached the internal server', () => {
  assert.ok(keptSubjects.length >= 5);
  for (const subject of keptSubjects) assert.ok(!sink.messages.some((sunk) => sunk.raw.includes(`\r\nSubject: ${subject}\r\n`)), subject);
});
