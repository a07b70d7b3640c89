// Archives other than zip, over real SMTP through the default config. Windows 11 opens gzip, tar, rar, 7z and cab
// itself: a gzip's one file is checked by the name it is saved under and by its first bytes; an archive Moat cannot
// list (tar, rar, 7z, cab, or one inside a gzip) is not checked, so never clean: quarantine, or 550 when
// filters.unchecked is reject. A gzip of harmless data (a DMARC report) is delivered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { keptInQuarantine, refusal, uncheckedRelaysForFile } from '../helpers/unchecked-relays.ts';
import { send } from '../helpers/smtp.ts';
import { makeZip, messageWithAttachments, peExecutable } from '../helpers/mail-parts.ts';

const relays = uncheckedRelaysForFile();
const keptSubjects: string[] = [];

const attached = (subject: string, name: string, data: Buffer) => messageWithAttachments(subject, [{ name, contentType: 'application/octet-stream', data }]);

/** A gzip whose header names the file inside (RFC 1952 FNAME), as `gzip file` writes it. */
function gzipNamed(inner: string, data: Buffer): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3]);
  return Buffer.concat([header, Buffer.from(`${inner}\0`, 'latin1'), deflateRawSync(data), Buffer.alloc(8)]);
}

/** A tar of one file: ustar, or the old v7 format without a magic (`tar --format=v7`). */
function tarOf(name: string, data: Buffer, format: 'ustar' | 'v7' = 'ustar'): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'latin1');
  header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  if (format === 'ustar') header.write('ustar\u000000', 257, 'latin1');
  return Buffer.concat([header, data, Buffer.alloc(512 - (data.length % 512)), Buffer.alloc(1024)]);
}

/** A gzip whose deflate data starts with `empty` empty stored blocks (5 bytes each, no output) before `data`. */
function gzipPadded(data: Buffer, empty: number): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  const nothing = Buffer.concat(Array.from({ length: empty }, () => Buffer.from([0, 0, 0, 0xff, 0xff])));
  return Buffer.concat([header, nothing, deflateRawSync(data), Buffer.alloc(8)]);
}

async function refused(raw: string, reason: RegExp): Promise<void> {
  const response = await refusal(relays.quarantining, raw);
  assert.match(response, /^550 5\.7\.1 Message refused by policy: /);
  assert.match(response, reason);
}

test('a gzip named evil.exe.gz is refused with 550 for the name its file is saved under', async () => {
  await refused(attached('exe.gz', 'evil.exe.gz', gzipSync(peExecutable())), /blocked file type \.exe inside "evil\.exe\.gz": "evil\.exe"/);
});

test('a gzip whose header names the file inside evil.js is refused, whatever the attachment is called', async () => {
  await refused(attached('named gzip', 'invoice.gz', gzipNamed('evil.js', Buffer.from('WScript.Echo(1)'))), /blocked file type \.js inside "invoice\.gz": "evil\.js"/);
});

test('a gzip called data.gz that holds a program is refused for what it holds', async () => {
  await refused(attached('program gzip', 'data.gz', gzipSync(peExecutable())), /"data\.gz" holds a program \(pe-executable\)/);
});

for (const [name, data, why] of [
  ['invoice.tar', tarOf('evil.exe', peExecutable()), /archive "invoice\.tar" not checked: Moat cannot look inside tar archives/],
  ['invoice.tar.gz', gzipSync(tarOf('evil.exe', peExecutable())), /archive "invoice\.tar\.gz" not checked: Moat cannot look inside a tar archive in a gzip file/],
  ['invoice.rar', Buffer.concat([Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1'), Buffer.alloc(64, 7)]), /archive "invoice\.rar" not checked: Moat cannot look inside rar archives/],
  ['invoice.7z', Buffer.concat([Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0, 4]), Buffer.alloc(64, 7)]), /archive "invoice\.7z" not checked: Moat cannot look inside 7z archives/],
  ['evil.exe.bz2', Buffer.concat([Buffer.from('BZh91AY&SY', 'latin1'), Buffer.alloc(64, 7)]), /archive "evil\.exe\.bz2" not checked: Moat cannot look inside bzip2 archives/],
  ['docs.zip', makeZip([{ name: 'docs.rar', data: 'Rar!\x1a\x07\x01\x00 data' }]), /archive "docs\.zip" not checked: "docs\.rar" is a \.rar archive, which Moat cannot look inside/],
  ['tools.zip', makeZip([{ name: 'evil.exe.gz', data: gzipSync(peExecutable()) }]), /archive "tools\.zip" not checked: "evil\.exe\.gz" is a \.gz archive/],
  ['old.tgz', gzipSync(tarOf('evil.exe', peExecutable(), 'v7')), /archive "old\.tgz" not checked: "old\.tar" is a \.tar archive/],
  ['padded.gz', gzipPadded(peExecutable(), 210), /archive "padded\.gz" not checked: what the gzip holds does not start within its first 1024 bytes/],
  // a .cab is blocked by its name; one called otherwise is still a cab
  ['setup.dat', Buffer.concat([Buffer.from('MSCF\0\0\0\0', 'latin1'), Buffer.alloc(64, 7)]), /archive "setup\.dat" not checked: Moat cannot look inside cab archives/],
  ['invoice.gz', Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(64, 0xff)]), /archive "invoice\.gz" not checked: damaged gzip data/],
] as const) {
  test(`${name}, which Moat cannot look inside, is kept in quarantine by default and refused with 550 when filters.unchecked is reject`, async () => {
    const subject = `unlisted ${name}`;
    keptSubjects.push(subject);
    assert.match(await keptInQuarantine(relays.quarantining, attached(subject, name, data)), why);
    const response = await refusal(relays.rejecting, attached(`${subject} (reject)`, name, data));
    assert.match(response, /^550 5\.7\.1 /);
    assert.match(response, why);
  });
}

test('an archive uuencoded into the text is not checked either: kept in quarantine', async () => {
  const subject = 'uuencoded rar';
  const raw = attached(subject, 'notes.txt', Buffer.from('plain notes')).replace('Please find the file attached.', 'Here:\r\n\r\nbegin 644 docs.rar\r\n#_]C_\r\n`\r\nend\r\n');
  keptSubjects.push(subject);
  assert.match(await keptInQuarantine(relays.quarantining, raw), /"docs\.rar" is a \.rar archive, which Moat cannot look inside/);
});

test('a gzipped DMARC report (XML) is delivered, and nothing kept in quarantine reached the internal server', async () => {
  const subject = 'Report domain: example.test';
  await send(relays.quarantining.port, 'noreply-dmarc@sender.test', ['bob@example.test'], attached(subject, 'sender.test!example.test!1733356800!1733443200.xml.gz', gzipSync('<?xml version="1.0"?><feedback></feedback>')));
  await relays.sink.waitForSubject(subject);
  assert.equal(keptSubjects.length, 12);
  for (const kept of keptSubjects) assert.ok(!relays.sink.messages.some((sunk) => sunk.raw.includes(`Subject: ${kept}`)), kept);
});
