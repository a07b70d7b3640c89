// A zip member goes by more than one name and extractors differ in which they use (issue 11, F5/F6). Over real SMTP
// through the default filter settings: a member whose Info-ZIP Unicode Path name (what 7-Zip, WinRAR and others show
// and write) is evil.exe while its raw name is a.txt is refused, as is evil.js\0.txt; an archive whose names cannot be
// trusted (a malformed Unicode Path field, a local header naming the member otherwise) is kept in quarantine
// (filters.unchecked) or refused, never delivered; a legitimate archive with a matching Unicode Path name is delivered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Sink } from '../helpers/sink.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { keptInQuarantine, refusal, startUncheckedRelays, type UncheckedRelays } from '../helpers/unchecked-relays.ts';
import { send } from '../helpers/smtp.ts';
import { makeZip, messageWithAttachments, unicodePathField, type ZipMember } from '../helpers/mail-parts.ts';

const zipped = (subject: string, members: ZipMember[]) =>
  messageWithAttachments(subject, [{ name: 'Unterlagen.zip', contentType: 'application/zip', data: makeZip(members) }]);
/** Bericht-ü.pdf as Windows' own zip folder writes it: a CP437 raw name (ü = 0x81) and a matching Unicode Path field. */
const berichtRaw = Buffer.from('Bericht-\x81.pdf', 'latin1');
const bericht: ZipMember = { name: 'Bericht-ü.pdf', rawName: berichtRaw, utf8: false, data: '%PDF-1.4 a report', extra: unicodePathField('Bericht-ü.pdf', berichtRaw) };

let sink: Sink;
let quarantining: TestRelay;
let rejecting: TestRelay;
const notDelivered: string[] = [];
let relays: UncheckedRelays;

before(async () => {
  relays = await startUncheckedRelays();
  ({ sink, quarantining, rejecting } = relays);
});
after(() => relays.stop());

/** Sends `raw`, expects it queued and kept in quarantine: the quarantine reason. */
async function quarantined(subject: string, raw: string): Promise<string> {
  notDelivered.push(subject);
  return keptInQuarantine(quarantining, raw);
}

test('a zip member raw-named a.txt whose Unicode Path name is evil.exe is refused with 550, the shown name given', async () => {
  const subject = 'unicode path exe';
  notDelivered.push(subject);
  const response = await refusal(quarantining, zipped(subject, [{ name: 'a.txt', data: 'MZ', extra: unicodePathField('evil.exe', 'a.txt') }, bericht]));
  assert.match(response, /^550 5\.7\.1 Message refused by policy: /);
  assert.match(response, /\.exe inside "Unterlagen\.zip": "evil\.exe"/);
});

test('a zip member named evil.js\\0.txt is refused with 550 as the .js file it is extracted as', async () => {
  const subject = 'nul in name';
  notDelivered.push(subject);
  const response = await refusal(quarantining, zipped(subject, [{ name: 'evil.js\0.txt', data: 'WScript.Echo(1)' }]));
  assert.match(response, /^550 5\.7\.1 .*\.js inside "Unterlagen\.zip": "evil\.js"/);
});

test('a malformed Unicode Path field leaves the zip unchecked: kept in quarantine, or refused with filters.unchecked = reject', async () => {
  const members = (): ZipMember[] => [{ name: 'a.txt', data: 'x', extra: unicodePathField('evil.exe', 'a.txt', { version: 2 }) }];
  assert.match(await quarantined('malformed unicode path', zipped('malformed unicode path', members())), /archive "Unterlagen\.zip" not checked: "a\.txt": its Unicode Path extra field has version 2/);
  notDelivered.push('malformed unicode path (reject)');
  assert.match(await refusal(rejecting, zipped('malformed unicode path (reject)', members())), /^550 5\.7\.1 Message refused by policy: .*not checked/);
});

test('a local header naming a member otherwise than the central directory leaves the zip unchecked: kept in quarantine', async () => {
  const reason = await quarantined('local name differs', zipped('local name differs', [{ name: 'a.txt', localName: 'evil.exe', data: 'x' }]));
  assert.match(reason, /not checked: "a\.txt": its local header names it "evil\.exe"/);
});

test('a zip with a legitimate Unicode Path name (Bericht-ü.pdf) is delivered, and none of the others reached the internal server', async () => {
  await send(quarantining.port, 'alice@sender.test', ['bob@example.test'], zipped('bericht delivered', [bericht]));
  const delivered = await sink.waitForSubject('bericht delivered');
  assert.ok(delivered.includes('Unterlagen.zip'));
  for (const subject of notDelivered) assert.ok(!sink.messages.some((sunk) => sunk.raw.includes(`Subject: ${subject}\r\n`)), subject);
  assert.equal(notDelivered.length, 5);
});
