// Ways to make the MIME walk see other parts than a mail program would, found by an outside review, over real SMTP
// through the default config: a boundary readers may take differently, a multipart in an encoding, a zip whose end
// record hides members, a zip in a part mailsplit took for text, an attached message with bare CR line ends; and
// HTML that made the tag stripper take a minute, holding every other message in the filter thread.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TestRelay } from '../helpers/relay.ts';
import { keptInQuarantine, refusal, startUncheckedRelays, type UncheckedRelays } from '../helpers/unchecked-relays.ts';
import { send } from '../helpers/smtp.ts';
import { makeZip, peExecutable } from '../helpers/mail-parts.ts';

let quarantining: TestRelay;
let rejecting: TestRelay;
let relays: UncheckedRelays;
before(async () => {
  relays = await startUncheckedRelays();
  ({ quarantining, rejecting } = relays);
});
after(() => relays.stop());

let sequence = 0;
const head = (subject: string, contentType: string, extra = '') =>
  `From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\nSubject: ${subject}\r\nDate: ${new Date().toUTCString().replace('GMT', '+0000')}\r\n` +
  `Message-ID: <evasion.${++sequence}.${Date.now()}@sender.test>\r\nMIME-Version: 1.0\r\nContent-Type: ${contentType}\r\n${extra}\r\n`;
const base64 = (data: Buffer | string) => Buffer.from(data).toString('base64').replace(/.{76}/g, '$&\r\n');
const exePart = (b: string) =>
  `--${b}\r\nContent-Type: application/octet-stream; name="evil.exe"\r\nContent-Disposition: attachment; filename="evil.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64(peExecutable())}\r\n`;
/** A text part and a program, split by `b`, under the given Content-Type. */
const withProgram = (subject: string, contentType: string, b: string) => `${head(subject, contentType)}--${b}\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n${exePart(b)}--${b}--\r\n`;

/** Kept in quarantine by the default relay and refused by the one with filters.unchecked 'reject': the reason. */
async function notCheckedWhole(raw: (subject: string) => string, label: string): Promise<string> {
  const reason = await keptInQuarantine(quarantining, raw(`${label} (kept)`));
  assert.match(reason, /not checked/, label);
  assert.match(await refusal(rejecting, raw(`${label} (refused)`)), /^550 5\.7\.1 .*not checked/, label);
  return reason;
}

test('a multipart whose boundary readers may take differently is not checked whole: given twice, in RFC 2231 pieces, behind a comment, empty', async () => {
  const cases: [string, string, string][] = [
    ['twice', 'multipart/mixed; boundary="b1"; boundary="zz"', 'b1'],
    ['as a plain and an RFC 2231 parameter', 'multipart/mixed; boundary="b1"; boundary*0="zz"', 'b1'],
    ['with a comment after it', 'multipart/mixed; boundary="b1" (c)', 'b1'],
    ['empty', 'multipart/mixed; boundary=""', ''],
  ];
  for (const [label, contentType, b] of cases) {
    const reason = await notCheckedWhole((subject) => withProgram(subject, contentType, b), label);
    assert.match(reason, /the message has a boundary that mail programs may read differently \(ambiguous MIME\)/, label);
  }
  // twice, the one mailsplit takes (the last) being the one used: the program is found, and refused for itself
  assert.match(await refusal(quarantining, withProgram('boundary twice, the used one last', 'multipart/mixed; boundary="zz"; boundary="b1"', 'b1')), /blocked attachment type \.exe: "evil\.exe"/);
  // two trees: a harmless part under the boundary mailsplit takes, the program under the one an RFC reader takes
  await notCheckedWhole((subject) => {
    const raw = withProgram(subject, 'multipart/mixed; boundary="b1"; boundary="zz"', 'b1');
    const body = raw.indexOf('\r\n\r\n') + 4;
    return `${raw.slice(0, body)}--zz\r\nContent-Type: text/plain\r\n\r\nNothing attached.\r\n--zz--\r\n${raw.slice(body)}`;
  }, 'two trees');
});

test('a multipart in base64 (RFC 2045 allows no encoding there) is not checked whole; one written plainly is read and refused', async () => {
  const reason = await notCheckedWhole((subject) => {
    const raw = withProgram(subject, 'multipart/mixed; boundary="b1"', 'b1');
    const body = raw.indexOf('\r\n\r\n') + 4;
    return `${raw.slice(0, body - 2)}Content-Transfer-Encoding: base64\r\n\r\n${base64(raw.slice(body))}\r\n`;
  }, 'base64 multipart');
  assert.match(reason, /the message is a multipart in the base64 transfer encoding/);
  assert.match(await refusal(quarantining, withProgram('plain multipart', 'multipart/mixed; boundary="b1"', 'b1')), /blocked attachment type \.exe: "evil\.exe"/);
});

test('a multipart with a boundary but no part that can be found is not checked whole', async () => {
  const reason = await notCheckedWhole((subject) => `${head(subject, 'multipart/mixed; boundary="b1"')}--other\r\nContent-Type: text/plain\r\n\r\nhello\r\n--other--\r\n`, 'no parts');
  assert.match(reason, /the message is a multipart with no parts that Moat could find/);
});

/** A zip whose end record counts one entry fewer than its directory holds (Info-ZIP's unzip extracts them all). */
function zipCountingOneLess(): Buffer {
  const zip = makeZip([{ name: 'readme.txt', data: 'hello' }, { name: 'evil.exe', data: peExecutable() }]);
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  zip.writeUInt16LE(1, end + 8);
  zip.writeUInt16LE(1, end + 10);
  return zip;
}

test('a zip whose end record counts fewer entries than its directory holds is not checked whole; the same zip counted right is refused', async () => {
  const zipped = (zip: Buffer) => (subject: string) =>
    `${head(subject, 'multipart/mixed; boundary="b1"')}--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b1\r\nContent-Type: application/zip; name="docs.zip"\r\nContent-Disposition: attachment; filename="docs.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64(zip)}\r\n--b1--\r\n`;
  const reason = await notCheckedWhole(zipped(zipCountingOneLess()), 'count lie');
  assert.match(reason, /zip central directory holds more than its end record counts/);
  const honest = makeZip([{ name: 'readme.txt', data: 'hello' }, { name: 'evil.exe', data: peExecutable() }]);
  assert.match(await refusal(quarantining, zipped(honest)('honest zip')), /blocked file type \.exe inside "docs\.zip": "evil\.exe"/);
});

test('a zip in a text part named by one of two filename parameters (mailsplit takes the last, empty one) is listed and its program refused', async () => {
  const zip = makeZip([{ name: 'evil.exe', data: peExecutable() }]);
  for (const disposition of ['inline; filename="docs.zip"; filename=""', 'inline; filename=""; filename="docs.zip"']) {
    const raw = `${head(`inline zip ${disposition}`, 'multipart/mixed; boundary="b1"')}--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b1\r\nContent-Type: text/plain\r\nContent-Disposition: ${disposition}\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64(zip)}\r\n--b1--\r\n`;
    assert.match(await refusal(quarantining, raw), /blocked file type \.exe inside "docs\.zip": "evil\.exe"/, disposition);
  }
});

test('an attached message whose lines end in bare CR is read as a mail program reads it: its program is refused', async () => {
  const inner = ['From: x@y.test', 'Subject: inner', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="in"', '', '--in', 'Content-Type: text/plain', '', 'hi', exePart('in').trimEnd(), '--in--', ''];
  for (const [label, lineEnd] of [['CRLF', '\r\n'], ['bare CR', '\r'], ['bare LF', '\n']] as const) {
    const body = inner.join('\r\n').replace(/\r\n/g, lineEnd);
    const raw = `${head(`forwarded, ${label}`, 'multipart/mixed; boundary="b1"')}--b1\r\nContent-Type: text/plain\r\n\r\nFwd\r\n--b1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd.eml"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64(body)}\r\n--b1--\r\n`;
    assert.match(await refusal(quarantining, raw), /blocked attachment type \.exe: "evil\.exe"/, label);
  }
  // a uuencoded program in a base64 text part with bare CR lines
  const uu = `${head('uuencode, bare CR', 'text/plain', 'Content-Transfer-Encoding: base64\r\n')}${base64('See tool:\rbegin 644 evil.exe\rM35H\r`\rend\r')}\r\n`;
  assert.match(await refusal(quarantining, uu), /\.exe: "evil\.exe"/);
});

test('HTML parts of 512 KiB made of unclosed "<", "<!--", "<script" and "<style>" get their verdict, and a message sent beside them is not held up', async () => {
  for (const unit of ['<', '<!--', '<script', '<style>', '<a ']) {
    const line = `${unit.repeat(Math.floor(990 / unit.length))}\r\n`;
    const bomb = `${head(`html of ${unit}`, 'multipart/alternative; boundary="b1"')}${[1, 2, 3].map(() => `--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${line.repeat(530)}`).join('')}--b1--\r\n`;
    const bombed = send(quarantining.port, 'alice@sender.test', ['bob@example.test'], bomb).then(
      (info) => info.response,
      (caught: Error & { response?: string }) => caught.response ?? caught.message,
    );
    const innocent = await send(quarantining.port, 'carol@sender.test', ['bob@example.test'], `${head(`beside ${unit}`, 'text/plain')}Lunch at noon?\r\n`);
    assert.match(innocent.response, /^250 /, `the message beside ${unit}`);
    // whatever the rules make of the HTML, it is a verdict, not "could not be checked now"
    assert.doesNotMatch(await bombed, /^4\d\d/, unit);
  }
});
