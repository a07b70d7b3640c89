import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import {
  holdsZipEnd,
  listZip,
  MAX_INFLATE_BYTES,
  MAX_MESSAGE_ZIP_MEMBERS,
  MAX_NESTED_ZIP_BYTES,
  MAX_ZIP_DEPTH,
  MAX_ZIP_MEMBERS,
  MAX_ZIP_UNCOMPRESSED_BYTES,
  newInflateBudget,
} from '../../../src-relay/filters/zip.ts';
import { AttachmentFilter } from '../../../src-relay/filters/attachments.ts';
import { DEFAULT_BLOCKED_EXTENSIONS } from '../../../src-relay/config/schema.ts';
import type { FilterResult, MessageContext } from '../../../src-relay/filters/types.ts';
import { makeZip, nestedZip, peExecutable, unicodePathField, zipOfSize, type ZipMember } from '../../helpers/mail-parts.ts';

const list = (zip: Buffer) => listZip(zip, zip.length);
const exe = { name: 'setup.exe', data: peExecutable() };

test('the zip limits are the documented ones', () => {
  assert.equal(MAX_ZIP_DEPTH, 3);
  assert.equal(MAX_ZIP_MEMBERS, 2000);
  assert.equal(MAX_ZIP_UNCOMPRESSED_BYTES, 400 * 1024 * 1024);
  assert.equal(MAX_NESTED_ZIP_BYTES, 1024 * 1024);
  assert.equal(MAX_INFLATE_BYTES, 4 * 1024 * 1024);
});

test('zips inside a zip are opened, stored or deflated, and their members listed as "inner.zip/name"', () => {
  const inner = makeZip([exe]);
  const listing = list(makeZip([{ name: 'readme.txt', data: 'hi' }, { name: 'a.zip', data: inner }, { name: 'b.ZIP', data: inner, deflate: true }]));
  assert.equal(listing.problem, null);
  assert.deepEqual(
    listing.members.map((member) => member.name),
    ['readme.txt', 'a.zip', 'a.zip/setup.exe', 'b.ZIP', 'b.ZIP/setup.exe'],
  );
});

test(`zips nested ${MAX_ZIP_DEPTH} deep are listed to the bottom; one level more is a problem, not a pass`, () => {
  const under = list(nestedZip(MAX_ZIP_DEPTH, [exe]));
  assert.equal(under.problem, null);
  assert.ok(under.members.some((member) => member.name === 'l2.zip/l3.zip/setup.exe'));
  const over = list(nestedZip(MAX_ZIP_DEPTH + 1, [exe]));
  assert.match(over.problem ?? '', new RegExp(`"l4\\.zip": zips nested more than ${MAX_ZIP_DEPTH} deep`));
});

test(`${MAX_ZIP_MEMBERS} members are listed; one more, nested ones counted too, is a problem`, () => {
  const names = (count: number) => Array.from({ length: count }, (_, i) => ({ name: `f${i}.txt`, data: '' }));
  assert.equal(list(makeZip(names(MAX_ZIP_MEMBERS))).problem, null);
  assert.match(list(makeZip(names(MAX_ZIP_MEMBERS + 1))).problem ?? '', /more than 2000 members/);
  const nested = list(makeZip([...names(MAX_ZIP_MEMBERS - 2), { name: 'in.zip', data: makeZip(names(2)) }]));
  assert.match(nested.problem ?? '', /more than 2000 members/);
});

test(`a message's zips list ${MAX_MESSAGE_ZIP_MEMBERS} members in all; one more, in another zip, is a problem there`, () => {
  assert.equal(MAX_MESSAGE_ZIP_MEMBERS, 10_000);
  const full = makeZip(Array.from({ length: MAX_ZIP_MEMBERS }, (_, i) => ({ name: `f${i}.txt`, data: '' })));
  const budget = newInflateBudget();
  for (let i = 0; i < MAX_MESSAGE_ZIP_MEMBERS / MAX_ZIP_MEMBERS; i++) assert.equal(listZip(full, full.length, budget).problem, null);
  assert.equal(budget.members, 0);
  const one = makeZip([exe]);
  const over = listZip(one, one.length, budget);
  assert.match(over.problem ?? '', /the message holds more than 10000 zip members in all/);
  assert.equal(over.members.length, 0);
  assert.equal(listZip(one, one.length, newInflateBudget()).problem, null);
});

test('declared sizes adding up to the uncompressed limit pass; one byte more is a zip bomb, whatever the data', () => {
  const half = MAX_ZIP_UNCOMPRESSED_BYTES / 2;
  assert.equal(list(makeZip([{ name: 'a.bin', data: 'x', declaredSize: half }, { name: 'b.bin', data: 'x', declaredSize: half }])).problem, null);
  const over = list(makeZip([{ name: 'a.bin', data: 'x', declaredSize: half }, { name: 'b.bin', data: 'x', declaredSize: half + 1 }]));
  assert.match(over.problem ?? '', /more than 419430400 bytes uncompressed/);
});

test(`a nested zip of ${MAX_NESTED_ZIP_BYTES} bytes is opened; one byte larger is not, and that is a problem`, () => {
  const under = list(makeZip([{ name: 'in.zip', data: zipOfSize(MAX_NESTED_ZIP_BYTES, [exe]), deflate: true }]));
  assert.equal(under.problem, null);
  assert.ok(under.members.some((member) => member.name === 'in.zip/setup.exe'));
  const over = list(makeZip([{ name: 'in.zip', data: zipOfSize(MAX_NESTED_ZIP_BYTES + 1, [exe]), deflate: true }]));
  assert.match(over.problem ?? '', /"in\.zip" is larger than 1048576 bytes and is not opened/);
});

test('a 1 GB zip bomb is never inflated: a declared 1 GB is refused unread, a lying small size stops zlib at it', () => {
  const started = process.hrtime.bigint();
  const declared = list(makeZip([{ name: 'bomb.zip', data: 'x', declaredSize: 1024 ** 3 }]));
  assert.match(declared.problem ?? '', /uncompressed \(a zip bomb\?\)/);
  // 64 MiB of zeros deflate to 64 KiB; the entry says 1000 bytes, so inflating stops there
  const lying = deflateRawSync(Buffer.alloc(64 * 1024 * 1024));
  assert.match(list(makeZipRaw('bomb.zip', lying, 1000)).problem ?? '', /"bomb\.zip" cannot be inflated \(damaged, or larger than it says\)/);
  assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'listing the bombs took no real work');
});

test(`nested archives share the message's ${MAX_INFLATE_BYTES}-byte inflate budget: the last one past it is a problem`, () => {
  const inner = zipOfSize(MAX_NESTED_ZIP_BYTES, [exe]);
  const four = Array.from({ length: MAX_INFLATE_BYTES / MAX_NESTED_ZIP_BYTES }, (_, i) => ({ name: `i${i}.zip`, data: inner, deflate: true }));
  assert.equal(list(makeZip(four)).problem, null);
  const over = list(makeZip([...four, { name: 'last.zip', data: makeZip([exe]), deflate: true }]));
  assert.match(over.problem ?? '', /"last\.zip" is not opened: the message used up its 4194304 bytes for nested archives/);
});

test('data before the first entry is a problem; a zip glued behind other data is recognised from its end', () => {
  const zip = makeZip([exe]);
  const glued = Buffer.concat([Buffer.from('GIF89a not really an image'), zip]);
  assert.equal(holdsZipEnd(glued), true);
  assert.equal(holdsZipEnd(Buffer.from('%PDF-1.4 ... %%EOF')), false);
  assert.match(list(glued).problem ?? '', /26 bytes of other data before the first zip entry/);
});

test("a zip end record is found as unzip finds it: with data after it too, within the last 65,558 bytes (Python's zipfile), not before", () => {
  const zip = makeZip([exe]);
  const bothEnds = Buffer.concat([Buffer.from('X'), zip, Buffer.from('\n')]);
  assert.equal(holdsZipEnd(bothEnds), true);
  assert.match(list(bothEnds).problem ?? '', /1 bytes of other data before the first zip entry/);
  const after = Buffer.concat([zip, Buffer.from('\n')]);
  assert.equal(list(after).problem, null);
  assert.deepEqual(list(after).members.map((member) => member.name), ['setup.exe']);
  const farAfter = Buffer.concat([Buffer.from('X'), zip, Buffer.alloc(0x10000)]);
  assert.equal(holdsZipEnd(farAfter), true);
  assert.notEqual(list(farAfter).problem, null);
  assert.equal(holdsZipEnd(Buffer.concat([Buffer.from('X'), zip, Buffer.alloc(0x10001)])), false);
});

// ---- names: every name an extractor may use is checked (issue 11, F5/F6) ----

const filter = new AttachmentFilter({ action: 'reject', blockedExtensions: DEFAULT_BLOCKED_EXTENSIONS, scanArchives: true, unchecked: 'quarantine' });

/** The attachment filter's result for a message whose only attachment is `zip`, listed as mime.ts lists it. */
async function judge(zip: Buffer): Promise<FilterResult> {
  const archive = list(zip);
  const message = {
    queueId: 'Q', clientIp: '192.0.2.1', helo: 'x', sender: 'a@sender.test', recipients: ['b@example.test'], path: '/nonexistent', size: zip.length,
    headers: [], tls: false, authenticatedUser: null,
    mime: {
      parts: [{ part: '2', contentType: 'application/zip', disposition: 'attachment', filename: 'files.zip', names: ['files.zip'], transferEncoding: 'base64', size: zip.length, detectedType: 'zip', archive }],
      text: '', plainChars: 0, htmlChars: 0, anomalies: [], unchecked: [], sealed: [],
    },
  } as unknown as MessageContext;
  return filter.check(message);
}

/** A member whose directory and local header carry a Unicode Path field naming it `shown` while its raw name is `raw`. */
const unicodeMember = (raw: string, shown: string, extra: Partial<ZipMember> = {}): ZipMember => ({ name: raw, data: 'x', extra: unicodePathField(shown, raw), ...extra });

test('a Unicode Path field naming a member evil.exe is checked although the raw name is a.txt: refused', async () => {
  const listing = list(makeZip([unicodeMember('a.txt', 'evil.exe')]));
  assert.equal(listing.problem, null);
  assert.equal(listing.members[0]!.name, 'evil.exe', 'the name extractors show comes first');
  assert.deepEqual(listing.members[0]!.otherNames, ['a.txt']);
  const result = await judge(makeZip([unicodeMember('a.txt', 'evil.exe')]));
  assert.equal(result.verdict, 'reject');
  assert.match(result.reasons.join('\n'), /\.exe inside "files\.zip": "evil\.exe"/);
});

test('a Unicode Path field only in the central directory, or only in the local header, is checked all the same', async () => {
  const centralOnly = await judge(makeZip([{ name: 'a.txt', data: 'x', extra: unicodePathField('evil.exe', 'a.txt'), localExtra: Buffer.alloc(0) }]));
  assert.equal(centralOnly.verdict, 'reject');
  const localOnly = await judge(makeZip([{ name: 'a.txt', data: 'x', localExtra: unicodePathField('evil.scr', 'a.txt') }]));
  assert.equal(localOnly.verdict, 'reject');
  assert.match(localOnly.reasons.join('\n'), /\.scr inside "files\.zip": "evil\.scr"/);
});

test('a Unicode Path field whose CRC does not match the raw name is still checked (not every extractor compares)', async () => {
  const stale = await judge(makeZip([{ name: 'a.txt', data: 'x', extra: unicodePathField('evil.js', 'a.txt', { crc: 1234 }) }]));
  assert.equal(stale.verdict, 'reject');
  assert.equal(list(makeZip([{ name: 'a.txt', data: 'x', extra: unicodePathField('b.txt', 'a.txt', { crc: 1234 }) }])).members[0]!.name, 'a.txt');
});

test('a legitimate Unicode Path field naming the same file (Bericht-ü.pdf, raw CP437) is listed by it and accepted', async () => {
  const raw = Buffer.from('Bericht-\x81.pdf', 'latin1'); // ü is 0x81 in CP437
  const zip = makeZip([{ name: 'Bericht-ü.pdf', rawName: raw, utf8: false, data: '%PDF-1.4', extra: unicodePathField('Bericht-ü.pdf', raw) }]);
  const listing = list(zip);
  assert.equal(listing.problem, null);
  assert.equal(listing.members[0]!.name, 'Bericht-ü.pdf');
  assert.equal((await judge(zip)).verdict, 'accept');
});

test('a malformed Unicode Path field (wrong version, too short, cut short, not UTF-8) makes the archive unchecked, never clean', async () => {
  const cases: [string, Buffer, RegExp][] = [
    ['version 2', unicodePathField('a.txt', 'a.txt', { version: 2 }), /Unicode Path extra field has version 2, not 1 \(malformed\)/],
    ['no name', unicodePathField('', 'a.txt'), /Unicode Path extra field is 5 bytes, too short/],
    ['declared longer than the extra block', unicodePathField('a.txt', 'a.txt', { size: 40 }), /Unicode Path extra field is cut short/],
    ['invalid UTF-8', Buffer.concat([unicodePathField('', 'a.txt', { size: 6 }), Buffer.from([0xff])]), /Unicode Path extra field is not UTF-8/],
  ];
  for (const [what, field, reason] of cases) {
    const zip = makeZip([{ name: 'a.txt', data: 'x', extra: field }]);
    assert.match(list(zip).problem ?? '', reason, what);
    const result = await judge(zip);
    assert.equal(result.verdict, 'quarantine', what);
    assert.match(result.reasons.join('\n'), /archive "files\.zip" not checked/, what);
  }
  // only in the local header: as unreadable
  assert.match(list(makeZip([{ name: 'a.txt', data: 'x', localExtra: unicodePathField('a.txt', 'a.txt', { version: 0 }) }])).problem ?? '', /version 0/);
});

test('other extra fields and a few bytes of padding (zipalign) beside the Unicode Path field are read past', async () => {
  const ntfs = Buffer.alloc(4 + 8);
  ntfs.writeUInt16LE(0x000a, 0);
  ntfs.writeUInt16LE(8, 2);
  const zip = makeZip([{ name: 'a.txt', data: 'x', extra: Buffer.concat([ntfs, unicodePathField('evil.hta', 'a.txt'), Buffer.alloc(3)]) }]);
  assert.equal(list(zip).problem, null);
  assert.equal((await judge(zip)).verdict, 'reject');
  assert.equal((await judge(makeZip([{ name: 'a.txt', data: 'x', extra: Buffer.concat([ntfs, Buffer.alloc(3)]) }]))).verdict, 'accept');
});

test('a raw name is checked as UTF-8 and as CP437, whatever bit 11 says', async () => {
  // bit 11 clear, but a UTF-8 name: listed as CP437 (what Windows shows) and as UTF-8 (what macOS and Linux show)
  const listing = list(makeZip([{ name: 'ü.txt', data: 'x', utf8: false }]));
  assert.deepEqual([listing.members[0]!.name, ...(listing.members[0]!.otherNames ?? [])], ['├╝.txt', 'ü.txt']);
  // 0xff is a no-break space in CP437, which Windows does not drop but our cleaning does: both readings are checked
  assert.equal((await judge(makeZip([{ name: 'evil.exe', rawName: Buffer.from('evil.exe\xff', 'latin1'), data: 'x', utf8: false }]))).verdict, 'reject');
  assert.equal((await judge(makeZip([{ name: 'ok.txt', data: 'x', utf8: false }]))).verdict, 'accept');
});

test('a NUL or control byte inside a name does not hide the extension before it: evil.js\\0.txt is refused', async () => {
  for (const raw of ['evil.js\0.txt', 'evil.js\x01.txt', 'dir/evil.js\0.txt']) {
    const result = await judge(makeZip([{ name: raw, data: 'x' }]));
    assert.equal(result.verdict, 'reject', JSON.stringify(raw));
    assert.match(result.reasons.join('\n'), /\.js inside "files\.zip"/, JSON.stringify(raw));
  }
  // the same in a Unicode Path name, and a macOS "Icon\r" file (a control byte, harmless) still passes
  assert.equal((await judge(makeZip([unicodeMember('a.txt', 'evil.exe\0.pdf')]))).verdict, 'reject');
  assert.equal((await judge(makeZip([{ name: 'folder/Icon\r', data: '' }, { name: 'b.pdf', data: 'x' }]))).verdict, 'accept');
});

test('the extension judged is the one Windows uses: trailing dots and spaces, backslash paths, NTFS streams', async () => {
  for (const raw of ['evil.exe.', 'evil.exe ', 'evil.exe. . ', 'dir\\evil.exe', 'a.txt\\evil.exe', 'evil.exe:zone.txt', 'evil.exe::$DATA']) {
    assert.equal((await judge(makeZip([{ name: raw, data: 'x' }]))).verdict, 'reject', JSON.stringify(raw));
  }
  for (const raw of ['Meeting 10:30.pdf', 'dir\\report.pdf', 'notes.txt.']) {
    assert.equal((await judge(makeZip([{ name: raw, data: 'x' }]))).verdict, 'accept', JSON.stringify(raw));
  }
});

test('a local header naming a member differently from the central directory makes the archive unchecked', async () => {
  const zip = makeZip([{ name: 'a.txt', localName: 'evil.exe', data: 'x' }]);
  assert.match(list(zip).problem ?? '', /"a\.txt": its local header names it "evil\.exe" \(extractors differ in which name they use\)/);
  assert.equal((await judge(zip)).verdict, 'quarantine');
  // the same bytes in both: fine
  assert.equal(list(makeZip([{ name: 'a.txt', localName: 'a.txt', data: 'x' }])).problem, null);
});

test('a damaged local header, or a zip64 offset with no zip64 field to read it from, makes the archive unchecked', async () => {
  const zip = makeZip([{ name: 'a.txt', data: 'x' }]);
  const damaged = Buffer.from(zip);
  damaged.writeUInt32LE(0, 0);
  assert.match(list(damaged).problem ?? '', /"a\.txt": has a damaged local header/);
  const zip64 = Buffer.from(zip);
  zip64.writeUInt32LE(0xffffffff, zip.length - 22 - 46 - 5 + 42);
  assert.match(list(zip64).problem ?? '', /"a\.txt": its sizes are in a zip64 extra field that is missing/);
  assert.equal((await judge(zip64)).verdict, 'quarantine');
});

/** One stored member written as streaming zip64 writers do: sizes and offset as all ones, the values in the zip64 extra field. */
function zip64Member(name: string, data: Buffer, extraValues = 3): Buffer {
  const values = [BigInt(data.length), BigInt(data.length), 0n].slice(0, extraValues);
  const extra = Buffer.alloc(4 + values.length * 8);
  extra.writeUInt16LE(1, 0);
  extra.writeUInt16LE(values.length * 8, 2);
  values.forEach((value, i) => extra.writeBigUInt64LE(value, 4 + i * 8));
  const zip = makeZip([{ name, data, extra, localExtra: Buffer.alloc(0) }]);
  const entry = zip.length - 22 - (46 + Buffer.byteLength(name) + extra.length);
  for (const field of [20, 24, 42]) zip.writeUInt32LE(0xffffffff, entry + field);
  return zip;
}

/** `zip` (one member) with zip64 end records between its directory and its end record, giving `entries` entries. */
function withZip64Records(zip: Buffer, entries: number): Buffer {
  const end = zip.length - 22;
  const cdSize = zip.readUInt32LE(end + 12);
  const cdOffset = zip.readUInt32LE(end + 16);
  const record = Buffer.alloc(56);
  record.writeUInt32LE(0x06064b50, 0);
  record.writeBigUInt64LE(44n, 4);
  record.writeBigUInt64LE(BigInt(entries), 24);
  record.writeBigUInt64LE(BigInt(entries), 32);
  record.writeBigUInt64LE(BigInt(cdSize), 40);
  record.writeBigUInt64LE(BigInt(cdOffset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(end), 8);
  locator.writeUInt32LE(1, 16);
  return Buffer.concat([zip.subarray(0, end), record, locator, zip.subarray(end)]);
}

test('zip64 end records are read whenever their locator is there: agreeing with the classic end record they are listed; disagreeing, or directory records inside an entry comment, the archive is not checked', () => {
  const zip = makeZip([{ name: 'report.pdf', data: '%PDF-1.4' }]);
  assert.deepEqual(list(withZip64Records(zip, 1)).members.map((member) => member.name), ['report.pdf'], 'as Info-ZIP\'s zip -fz writes it');
  assert.match(list(withZip64Records(zip, 2)).problem ?? '', /its zip64 end record and its classic one describe different directories/);
  // an entry comment holding a central directory record
  const commented = Buffer.from(zip);
  const entry = commented.length - 22 - (46 + 'report.pdf'.length);
  const comment = Buffer.from('PK\x01\x02 a directory entry hides here', 'latin1');
  commented.writeUInt16LE(comment.length, entry + 32);
  const end = Buffer.from(commented.subarray(commented.length - 22));
  end.writeUInt32LE(end.readUInt32LE(12) + comment.length, 12);
  const hiding = Buffer.concat([commented.subarray(0, commented.length - 22), comment, end]);
  assert.match(list(hiding).problem ?? '', /an entry comment holds zip directory records/);
});

test('a zip64 member (sizes and offset in its zip64 extra field, as streaming writers make small files) is listed by its real size; one with too short a field is damaged', async () => {
  const small = zip64Member('report.pdf', Buffer.from('%PDF-1.4 a small report'));
  assert.deepEqual(list(small), { members: [{ name: 'report.pdf', encrypted: false, size: 23 }], problem: null, onlyEncrypted: false });
  assert.equal((await judge(small)).verdict, 'accept', 'not "a zip bomb"');
  const program = await judge(zip64Member('setup.exe', peExecutable()));
  assert.equal(program.verdict, 'reject');
  assert.match(program.reasons.join(' '), /setup\.exe/);
  assert.match(list(zip64Member('report.pdf', Buffer.from('%PDF-1.4'), 2)).problem ?? '', /"report\.pdf": its zip64 extra field is too short/);
});

test('a member called a.txt whose Unicode Path name is inner.zip is opened as the zip it is shown as', async () => {
  const listing = list(makeZip([{ name: 'a.txt', data: makeZip([exe]), extra: unicodePathField('inner.zip', 'a.txt') }]));
  assert.equal(listing.problem, null);
  assert.ok(listing.members.some((member) => member.name === 'inner.zip/setup.exe'), JSON.stringify(listing.members));
  // and inside a nested zip, the Unicode Path name counts as much
  const nested = await judge(makeZip([{ name: 'in.zip', data: makeZip([unicodeMember('a.txt', 'evil.exe')]) }]));
  assert.equal(nested.verdict, 'reject');
  assert.match(nested.reasons.join('\n'), /"in\.zip\/evil\.exe"/);
});

/** One deflated member whose directory claims `declaredSize`, with `deflated` as its data. */
function makeZipRaw(name: string, deflated: Buffer, declaredSize: number): Buffer {
  const template = makeZip([{ name, data: Buffer.alloc(declaredSize), deflate: true }]);
  const nameLength = Buffer.byteLength(name);
  const oldData = template.readUInt32LE(18);
  const local = Buffer.from(template.subarray(0, 30 + nameLength));
  local.writeUInt32LE(deflated.length, 18);
  const central = Buffer.from(template.subarray(30 + nameLength + oldData, template.length - 22));
  central.writeUInt32LE(deflated.length, 20);
  const end = Buffer.from(template.subarray(template.length - 22));
  end.writeUInt32LE(local.length + deflated.length, 16);
  return Buffer.concat([local, deflated, central, end]);
}

test('a zip whose only problem is a password-protected member says so (onlyEncrypted); one that also breaks a limit after it does not', () => {
  const encrypted = list(makeZip([{ name: 'payroll.pdf', data: 'x', encrypted: true }, { name: 'notes.txt', data: 'x' }]));
  assert.match(encrypted.problem ?? '', /"payroll\.pdf" is encrypted and cannot be checked/);
  assert.equal(encrypted.onlyEncrypted, true);
  // an encrypted member first, then more members than the limit: the listing stopped, so names went unchecked
  const names = Array.from({ length: MAX_ZIP_MEMBERS }, (_, i) => ({ name: `f${i}.txt`, data: '' }));
  const stopped = list(makeZip([{ name: 'decoy.pdf', data: 'x', encrypted: true }, ...names, { name: 'evil.exe', data: 'x' }]));
  assert.match(stopped.problem ?? '', /"decoy\.pdf" is encrypted/, 'the first problem is the one named');
  assert.equal(stopped.onlyEncrypted, false);
  assert.equal(list(makeZip([{ name: 'a.txt', data: 'x' }])).onlyEncrypted, false, 'no problem at all');
});

test("the office's attachment filter lets a zip that is only password-protected pass, never one with a blocked name inside nor one not listed whole", async () => {
  const office = new AttachmentFilter({ action: 'reject', blockedExtensions: DEFAULT_BLOCKED_EXTENSIONS, scanArchives: true, unchecked: 'reject', encryptedArchivesPass: () => true });
  const judgeWith = async (zip: Buffer) => {
    const archive = list(zip);
    const message = {
      mime: { parts: [{ part: '2', contentType: 'application/zip', disposition: 'attachment', filename: 'files.zip', names: ['files.zip'], transferEncoding: 'base64', size: zip.length, detectedType: 'zip', archive }], text: '', plainChars: 0, htmlChars: 0, anomalies: [], unchecked: [], sealed: [] },
    } as unknown as MessageContext;
    return office.check(message);
  };
  assert.equal((await judgeWith(makeZip([{ name: 'payroll.pdf', data: 'x', encrypted: true }]))).verdict, 'accept');
  assert.equal((await judgeWith(makeZip([{ name: 'payroll.exe', data: 'x', encrypted: true }]))).verdict, 'reject', 'the names inside are still checked');
  const names = Array.from({ length: MAX_ZIP_MEMBERS }, (_, i) => ({ name: `f${i}.txt`, data: '' }));
  assert.equal((await judgeWith(makeZip([{ name: 'decoy.pdf', data: 'x', encrypted: true }, ...names, { name: 'evil.exe', data: 'x' }]))).verdict, 'reject');
  // inbound (no such option): the same encrypted zip is not checked, so not clean
  assert.equal((await judge(makeZip([{ name: 'payroll.pdf', data: 'x', encrypted: true }]))).verdict, 'quarantine');
});
