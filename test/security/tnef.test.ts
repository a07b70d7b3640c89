// winmail.dat (TNEF), over real SMTP through the default config: Outlook unwraps it on the recipient's side, so the
// files inside are judged like attachments of their own. A blocked name or a program inside is refused with 550; a
// winmail.dat Moat cannot read whole is not checked, so never clean: quarantine, or 550 when filters.unchecked is
// reject. One holding a PDF is delivered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keptInQuarantine, refusal, uncheckedRelaysForFile } from '../helpers/unchecked-relays.ts';
import { send } from '../helpers/smtp.ts';
import { messageWithAttachments, peExecutable } from '../helpers/mail-parts.ts';
import { makeTnef, PR_ATTACH_LONG_FILENAME, PT_UNICODE } from '../helpers/tnef.ts';

const relays = uncheckedRelaysForFile();
const pdf = Buffer.from('%PDF-1.7\n% quarterly report\n');
const winmail = (subject: string, tnef: Buffer, name = 'winmail.dat') => messageWithAttachments(subject, [{ name, contentType: 'application/ms-tnef', data: tnef }]);

test('a winmail.dat holding a file with a blocked name is refused with 550, the name taken from the long file name', async () => {
  const tnef = makeTnef([{ title: 'report.pdf', data: pdf }, { title: 'INVOIC~1.PDF', data: 'x', properties: [{ id: PR_ATTACH_LONG_FILENAME, type: PT_UNICODE, value: 'invoice.pdf.js' }] }]);
  const response = await refusal(relays.quarantining, winmail('tnef js', tnef));
  assert.match(response, /^550 5\.7\.1 Message refused by policy: /);
  assert.match(response, /blocked file type \.js inside "winmail\.dat": "invoice\.pdf\.js"/);
});

test('a winmail.dat holding a program under a harmless name is refused with 550, whatever the part is called', async () => {
  const response = await refusal(relays.quarantining, winmail('tnef program', makeTnef([{ title: 'photo.jpg', data: peExecutable() }]), 'mail.bin'));
  assert.match(response, /^550 5\.7\.1 /);
  assert.match(response, /"mail\.bin" holds a program \(pe-executable\): "photo\.jpg"/);
});

test('a damaged winmail.dat is kept in quarantine by default and refused with 550 when filters.unchecked is reject', async () => {
  const whole = makeTnef([{ title: 'report.pdf', data: pdf }]);
  const damaged = whole.subarray(0, whole.length - 6);
  assert.match(await keptInQuarantine(relays.quarantining, winmail('tnef damaged', damaged)), /archive "winmail\.dat" not checked: it ends inside an item \(damaged\)/);
  const response = await refusal(relays.rejecting, winmail('tnef damaged (reject)', damaged));
  assert.match(response, /^550 5\.7\.1 /);
  assert.match(response, /not checked: it ends inside an item/);
  assert.ok(!relays.sink.messages.some((sunk) => sunk.raw.includes('Subject: tnef damaged')));
});

test('a winmail.dat holding a PDF is delivered', async () => {
  await send(relays.quarantining.port, 'alice@sender.test', ['bob@example.test'], winmail('tnef clean', makeTnef([{ title: 'report.pdf', data: pdf }])));
  await relays.sink.waitForSubject('tnef clean');
});
