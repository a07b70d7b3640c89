import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TNEF_DATA_COPIES, MAX_TNEF_DEPTH, MAX_TNEF_FILES, MAX_TNEF_NAME_BYTES, MAX_TNEF_NAMES_PER_FILE, MAX_TNEF_PROPERTY_BYTES, TnefReader, type TnefListing } from '../../../src-relay/filters/tnef.ts';
import { AttachmentFilter } from '../../../src-relay/filters/attachments.ts';
import { DEFAULT_BLOCKED_EXTENSIONS } from '../../../src-relay/config/schema.ts';
import type { MessageContext } from '../../../src-relay/filters/types.ts';
import { makeZip, messageWithAttachments, peExecutable } from '../../helpers/mail-parts.ts';
import { parseRaw } from '../../helpers/parse-message.ts';
import { embeddedMessages, makeTnef, mapiProperties, PR_ATTACH_DATA, PR_ATTACH_EXTENSION, PR_ATTACH_LONG_FILENAME, PR_ATTACH_METHOD, PT_BINARY, PT_LONG, PT_STRING8, PT_UNICODE, type TnefAttachment } from '../../helpers/tnef.ts';

const pdf = Buffer.from('%PDF-1.7\n% a report\n');

function read(tnef: Buffer, chunk = tnef.length): TnefListing | null {
  const reader = new TnefReader();
  for (let at = 0; at < tnef.length; at += chunk) reader.write(tnef.subarray(at, at + chunk));
  return reader.end();
}

const listed = (attachments: TnefAttachment[]) => read(makeTnef(attachments))!;

const filter = new AttachmentFilter({ action: 'reject', blockedExtensions: DEFAULT_BLOCKED_EXTENSIONS, scanArchives: true, unchecked: 'quarantine' });

/** The attachment filter's verdict on a message whose attachment is `tnef`, walked by mime.ts as the relay walks it. */
async function judge(tnef: Buffer, name = 'winmail.dat') {
  const raw = messageWithAttachments('tnef', [{ name, contentType: 'application/ms-tnef', data: tnef }]);
  const parsed = await parseRaw(raw);
  return filter.check({ mime: parsed.summary, headers: parsed.headers } as unknown as MessageContext);
}

test('the TNEF limits are the documented ones', () => {
  assert.equal(MAX_TNEF_FILES, 500);
  assert.equal(MAX_TNEF_NAME_BYTES, 4096);
  assert.equal(MAX_TNEF_PROPERTY_BYTES, 1024 * 1024);
  assert.equal(MAX_TNEF_DEPTH, 3);
  assert.equal(MAX_TNEF_NAMES_PER_FILE, 32);
  assert.equal(MAX_TNEF_DATA_COPIES, 4);
});

test('the files of a winmail.dat are listed with their sizes and what their first bytes say they are', () => {
  const listing = listed([{ title: 'report.pdf', data: pdf }, { title: 'setup.exe', data: peExecutable() }]);
  assert.deepEqual(listing, {
    files: [
      { name: 'report.pdf', encrypted: false, size: pdf.length, type: 'pdf' },
      { name: 'setup.exe', encrypted: false, size: 256, type: 'pe-executable' },
    ],
    problem: null,
  });
});

test('read a byte at a time, or in odd chunks, a TNEF lists the same as read whole', () => {
  const tnef = makeTnef([{ title: 'a.pdf', data: pdf }, { title: 'REPORT~1.PDF', data: peExecutable(), properties: [{ id: PR_ATTACH_LONG_FILENAME, type: PT_UNICODE, value: 'report.pdf.js' }] }]);
  const whole = read(tnef);
  assert.equal(whole?.files.length, 2);
  for (const chunk of [1, 3, 7, 64]) assert.deepEqual(read(tnef, chunk), whole, `chunks of ${chunk}`);
});

test('a part that is no TNEF is let go: a PDF called winmail.dat, a few bytes, nothing at all', () => {
  assert.equal(read(pdf), null);
  assert.equal(read(Buffer.from([0x78, 0x9f])), null);
  assert.equal(read(Buffer.alloc(0)), null);
});

test('a clean winmail.dat passes the attachment filter, its file named in the walk', async () => {
  const result = await judge(makeTnef([{ title: 'report.pdf', data: pdf }]));
  assert.deepEqual({ verdict: result.verdict, reasons: result.reasons }, { verdict: 'accept', reasons: [] });
  const parsed = await parseRaw(messageWithAttachments('tnef', [{ name: 'winmail.dat', contentType: 'application/ms-tnef', data: makeTnef([{ title: 'report.pdf', data: pdf }]) }]));
  const part = parsed.summary.parts.find((found) => found.filename === 'winmail.dat');
  assert.equal(part?.detectedType, 'tnef');
  assert.deepEqual(part?.archive?.members.map((member) => member.name), ['report.pdf']);
});

test('a blocked name inside winmail.dat is refused: the title, the long file name, the extension property, a name cut at a NUL', async () => {
  const cases: [TnefAttachment, RegExp][] = [
    [{ title: 'setup.exe', data: 'x' }, /blocked file type \.exe inside "winmail\.dat": "setup\.exe"/],
    [{ title: 'REPORT~1.PDF', data: 'x', properties: [{ id: PR_ATTACH_LONG_FILENAME, type: PT_UNICODE, value: 'report.pdf.js' }] }, /blocked file type \.js inside "winmail\.dat": "report\.pdf\.js"/],
    [{ title: 'REPORT~1.PDF', data: 'x', properties: [{ id: PR_ATTACH_LONG_FILENAME, type: PT_STRING8, value: 'report.pdf.vbs' }] }, /"report\.pdf\.vbs"/],
    [{ title: 'report', data: 'x', properties: [{ id: PR_ATTACH_EXTENSION, type: PT_STRING8, value: '.hta' }] }, /blocked file type \.hta inside "winmail\.dat": "\*\.hta"/],
    [{ title: Buffer.from('invoice.js\0.pdf\0', 'latin1'), data: 'x' }, /blocked file type \.js inside "winmail\.dat": "invoice\.js"/],
    // a named property (id 0x8000 and up) before the name is read past
    [{ title: 'a.txt', data: 'x', properties: [{ id: 0x8005, type: PT_STRING8, value: 'ignored', named: true }, { id: PR_ATTACH_LONG_FILENAME, type: PT_STRING8, value: 'run.bat' }] }, /"run\.bat"/],
  ];
  for (const [attachment, reason] of cases) {
    const result = await judge(makeTnef([{ title: 'fine.pdf', data: pdf }, attachment]));
    assert.equal(result.verdict, 'reject', JSON.stringify(result.reasons));
    assert.ok(result.reasons.some((why) => reason.test(why)), `${reason} in ${JSON.stringify(result.reasons)}`);
  }
});

test('a blocked file is found however its TNEF is written: a name after a string-named property, ids with another type word, data or names in unusual types; a winmail.dat in a winmail.dat is not checked', async () => {
  const cases: [TnefAttachment[], RegExp, 'reject' | 'quarantine'][] = [
    // Outlook writes string-named properties ("AttachmentOriginalUrl"); the name after one must still be read
    [[{ title: 'report.pdf', data: pdf, properties: [{ id: 0x8001, type: PT_STRING8, value: 'https://example.test/x', named: 'AttachmentOriginalUrl' }, { id: PR_ATTACH_LONG_FILENAME, type: PT_STRING8, value: 'report.pdf.js' }] }], /"report\.pdf\.js"/, 'reject'],
    [[{ title: 'evil.exe', data: 'x', typeWord: 0x0007 }], /blocked file type \.exe inside "winmail\.dat": "evil\.exe"/, 'reject'],
    [[{ title: 'photo.jpg', data: peExecutable(), typeWord: 0x0001 }], /holds a program \(pe-executable\): "photo\.jpg"/, 'reject'],
    [[{ title: 'report.pdf', data: pdf, typeWord: 0x0002, properties: [{ id: PR_ATTACH_LONG_FILENAME, type: PT_STRING8, value: 'report.pdf.js' }] }], /"report\.pdf\.js"/, 'reject'],
    [[{ title: 'photo.jpg', properties: [{ id: PR_ATTACH_DATA, type: 0x0000, value: peExecutable() }] }], /holds a program \(pe-executable\)/, 'reject'],
    [[{ title: 'photo.jpg', properties: [{ id: PR_ATTACH_DATA, type: PT_STRING8, value: peExecutable().toString('latin1') }] }], /holds a program \(pe-executable\)/, 'reject'],
    [[{ title: 'report.pdf', data: pdf, properties: [{ id: PR_ATTACH_LONG_FILENAME, type: PT_BINARY, value: Buffer.from('report.pdf.js\0') }] }], /"report\.pdf\.js"/, 'reject'],
    [[{ title: 'winmail.dat', data: makeTnef([{ title: 'evil.exe', data: peExecutable() }]) }], /archive "winmail\.dat" not checked: "winmail\.dat" is a tnef archive, which Moat cannot look inside/, 'quarantine'],
  ];
  for (const [attachments, reason, verdict] of cases) {
    const result = await judge(makeTnef(attachments));
    assert.equal(result.verdict, verdict, JSON.stringify(result.reasons));
    assert.match(result.reasons.join('\n'), reason);
  }
});

test(`a file carries ${MAX_TNEF_NAMES_PER_FILE} names and ${MAX_TNEF_DATA_COPIES} copies of its data at most; one more of either is not checked, and the reading stops there`, () => {
  const names = (count: number) => Array.from({ length: count }, (_, i) => ({ id: 0x3001, type: PT_UNICODE, value: `n${i}.txt` }));
  assert.equal(listed([{ properties: names(MAX_TNEF_NAMES_PER_FILE) }]).problem, null);
  assert.equal(listed([{ properties: names(MAX_TNEF_NAMES_PER_FILE + 1) }]).problem, `a file carries more than ${MAX_TNEF_NAMES_PER_FILE} names`);
  const copies = (count: number) => Array.from({ length: count }, () => ({ id: PR_ATTACH_DATA, type: PT_BINARY, value: pdf }));
  assert.equal(listed([{ properties: copies(MAX_TNEF_DATA_COPIES) }]).problem, null);
  assert.equal(listed([{ properties: copies(MAX_TNEF_DATA_COPIES + 1) }]).problem, `a file carries its data more than ${MAX_TNEF_DATA_COPIES} times`);
  // attAttachData repeated: a hundred thousand empty copies are stopped at the fifth
  const repeated = makeTnef([{ title: 'a.txt', data: '' }]);
  const item = repeated.subarray(repeated.length - 11);
  const many = Buffer.concat([repeated, ...Array.from({ length: 100_000 }, () => item)]);
  assert.equal(read(many)?.problem, `a file carries its data more than ${MAX_TNEF_DATA_COPIES} times`);
});

test('a program inside winmail.dat is refused whatever it is called, in attAttachData or in the data property', async () => {
  for (const attachment of [
    { title: 'photo.jpg', data: peExecutable() },
    { title: 'photo.jpg', properties: [{ id: PR_ATTACH_DATA, type: PT_BINARY, value: peExecutable() }] },
    // two copies of the data: the harmless one does not hide the other
    { title: 'photo.jpg', data: Buffer.from([0xff, 0xd8, 0xff, 0xe0]), properties: [{ id: PR_ATTACH_DATA, type: PT_BINARY, value: peExecutable() }] },
  ]) {
    const result = await judge(makeTnef([attachment]));
    assert.equal(result.verdict, 'reject');
    assert.match(result.reasons.join('\n'), /"winmail\.dat" holds a program \(pe-executable\): "photo\.jpg"/);
  }
});

test('a zip inside winmail.dat is listed: a blocked name in it is refused; an archive Moat cannot open there is not checked', async () => {
  const zipped = await judge(makeTnef([{ title: 'files.zip', data: makeZip([{ name: 'evil.exe', data: peExecutable() }]) }]));
  assert.equal(zipped.verdict, 'reject');
  assert.match(zipped.reasons.join('\n'), /blocked file type \.exe inside "winmail\.dat": "files\.zip\/evil\.exe"/);
  const rar = await judge(makeTnef([{ title: 'files.dat', data: Buffer.concat([Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1'), Buffer.alloc(64, 7)]) }]));
  assert.equal(rar.verdict, 'quarantine');
  assert.match(rar.reasons.join('\n'), /archive "winmail\.dat" not checked: "files\.dat" is a rar archive, which Moat cannot look inside/);
});

test(`messages embedded ${MAX_TNEF_DEPTH} levels deep are opened to the bottom; one level more is not checked, never passed`, async () => {
  const deepest = read(makeTnef([embeddedMessages(MAX_TNEF_DEPTH, [{ title: 'run.exe', data: 'x' }])]))!;
  assert.equal(deepest.problem, null);
  assert.equal(deepest.files.at(-1)?.name, 'level.msg/level.msg/level.msg/run.exe');
  const result = await judge(makeTnef([embeddedMessages(MAX_TNEF_DEPTH, [{ title: 'run.exe', data: 'x' }])]));
  assert.match(result.reasons.join('\n'), /blocked file type \.exe inside "winmail\.dat": "level\.msg\/level\.msg\/level\.msg\/run\.exe"/);

  const beyond = read(makeTnef([embeddedMessages(MAX_TNEF_DEPTH + 1, [{ title: 'run.exe', data: 'x' }])]))!;
  assert.match(beyond.problem ?? '', /messages embedded more than 3 deep/);
  const unchecked = await judge(makeTnef([embeddedMessages(MAX_TNEF_DEPTH + 1, [{ title: 'notes.txt', data: 'x' }])]));
  assert.equal(unchecked.verdict, 'quarantine');
  assert.match(unchecked.reasons.join('\n'), /archive "winmail\.dat" not checked: level\.msg: .*messages embedded more than 3 deep/);
});

test('an attached Outlook item is judged as the .msg Outlook saves it as, not by its subject: "Your booking at Booking.com" passes, a program inside it does not', async () => {
  const item = (subject: string, inner: TnefAttachment[]): TnefAttachment => ({ ...embeddedMessages(1, inner), title: subject });
  const booking = read(makeTnef([item('Ihre Reservierung bei Booking.com', [{ title: 'Rechnung.pdf', data: pdf }])]))!;
  assert.deepEqual(booking.files.map((file) => file.name), ['Ihre Reservierung bei Booking.com.msg', 'Ihre Reservierung bei Booking.com.msg/Rechnung.pdf']);
  assert.equal((await judge(makeTnef([item('Ihre Reservierung bei Booking.com', [{ title: 'Rechnung.pdf', data: pdf }])]))).verdict, 'accept');
  const inside = await judge(makeTnef([item('Ihre Reservierung bei Booking.com', [{ title: 'Rechnung.pdf.exe', data: 'x' }])]));
  assert.equal(inside.verdict, 'reject');
  assert.match(inside.reasons.join('\n'), /"Ihre Reservierung bei Booking\.com\.msg\/Rechnung\.pdf\.exe"/);
  // a file (it has data) is still judged by its own name
  assert.equal((await judge(makeTnef([{ title: 'Booking.com', data: 'x' }]))).verdict, 'reject');
  // data that only starts like a TNEF is a file: by value (attach method 1) under its own name, which Outlook saves
  // it as; and an embedded message without method 5 is judged by its names as given
  const byValue = await judge(makeTnef([{ title: 'INVOICE.BAT', properties: [{ id: PR_ATTACH_METHOD, type: PT_LONG, value: 1 }, { id: PR_ATTACH_LONG_FILENAME, type: PT_STRING8, value: 'invoice.bat' }, { id: PR_ATTACH_DATA, type: PT_BINARY, value: makeTnef([]) }] }]));
  assert.equal(byValue.verdict, 'reject');
  assert.match(byValue.reasons.join('\n'), /blocked file type \.bat inside "winmail\.dat": "invoice\.bat"/);
  const noMethod = embeddedMessages(1, [{ title: 'Rechnung.pdf', data: pdf }]);
  noMethod.properties = noMethod.properties!.filter((property) => property.id !== PR_ATTACH_METHOD);
  assert.equal((await judge(makeTnef([{ ...noMethod, title: 'Booking.com' }]))).verdict, 'reject');
});

test(`${MAX_TNEF_FILES} files are listed; one more is not checked`, () => {
  const files = (count: number) => Array.from({ length: count }, (_, i) => ({ title: `f${i}.txt`, data: 'x' }));
  assert.equal(listed(files(MAX_TNEF_FILES)).problem, null);
  assert.equal(listed(files(MAX_TNEF_FILES)).files.length, MAX_TNEF_FILES);
  assert.equal(listed(files(MAX_TNEF_FILES + 1)).problem, `it holds more than ${MAX_TNEF_FILES} files`);
  // a zip's members count as they are listed, and the reading stops there: nothing after it is looked at
  const zipOf = (count: number) => makeZip(Array.from({ length: count }, (_, i) => ({ name: `m${i}.txt`, data: 'x' })));
  const atLimit = listed([{ title: 'many.zip', data: zipOf(MAX_TNEF_FILES - 1) }]);
  assert.deepEqual([atLimit.problem, atLimit.files.length], [null, MAX_TNEF_FILES]);
  const beyond = listed([{ title: 'many.zip', data: zipOf(MAX_TNEF_FILES) }, { title: 'after.txt', data: 'x' }]);
  assert.equal(beyond.problem, `it holds more than ${MAX_TNEF_FILES} files`);
  assert.ok(!beyond.files.some((file) => file.name === 'after.txt'), 'nothing after the limit was read');
});

test(`a file name of ${MAX_TNEF_NAME_BYTES} bytes is read; one byte longer is not checked (its extension could be cut off)`, () => {
  const title = (bytes: number) => Buffer.from(`${'a'.repeat(bytes - 5)}.exe\0`, 'latin1');
  const atLimit = listed([{ title: title(MAX_TNEF_NAME_BYTES), data: 'x' }]);
  assert.deepEqual({ problem: atLimit.problem, exe: atLimit.files[0]?.name.endsWith('.exe') }, { problem: null, exe: true });
  assert.equal(listed([{ title: title(MAX_TNEF_NAME_BYTES + 1), data: 'x' }]).problem, `a file name is longer than ${MAX_TNEF_NAME_BYTES} bytes`);
});

test(`an attachment's properties of ${MAX_TNEF_PROPERTY_BYTES} bytes are read; one byte more is not checked`, () => {
  const block = (bytes: number) => {
    const head = mapiProperties([{ id: PR_ATTACH_LONG_FILENAME, type: PT_STRING8, value: 'run.exe' }]);
    // a binary property fills the block up to `bytes` (its value padded to 4 bytes)
    const fill = bytes - head.length - 12;
    const tail = mapiProperties([{ id: 0x3702, type: PT_BINARY, value: Buffer.alloc(fill) }]).subarray(4);
    const whole = Buffer.concat([head, tail]);
    whole.writeUInt32LE(2, 0);
    return whole;
  };
  assert.equal(block(MAX_TNEF_PROPERTY_BYTES).length, MAX_TNEF_PROPERTY_BYTES);
  const atLimit = listed([{ title: 'a.txt', data: 'x', rawProperties: block(MAX_TNEF_PROPERTY_BYTES) }]);
  assert.deepEqual({ problem: atLimit.problem, name: atLimit.files[0]?.name }, { problem: null, name: 'run.exe' });
  const beyond = listed([{ title: 'a.txt', data: 'x', rawProperties: Buffer.concat([block(MAX_TNEF_PROPERTY_BYTES), Buffer.alloc(1)]) }]);
  assert.equal(beyond.problem, `an attachment's properties are larger than ${MAX_TNEF_PROPERTY_BYTES} bytes`);
});

test('a damaged TNEF is not checked, never passed: cut inside an item, without its last checksum, properties that run past their block or of an unknown type, an attachment item before its attachment', async () => {
  const whole = makeTnef([{ title: 'report.pdf', data: pdf }]);
  const unknownType = Buffer.concat([Buffer.from([1, 0, 0, 0]), Buffer.from([0x99, 0x00, 0x07, 0x37]), Buffer.alloc(8)]);
  const cases: [Buffer, RegExp][] = [
    [whole.subarray(0, whole.length - 10), /it ends inside an item \(damaged\)/],
    [whole.subarray(0, 5), /it ends inside an item \(damaged\)/],
    [makeTnef([{ title: 'a.txt', rawProperties: Buffer.from([5, 0, 0, 0, 0x1e, 0, 0x07, 0x37, 1, 0, 0, 0, 0xff, 0, 0, 0]) }]), /its attachment properties are damaged/],
    [makeTnef([{ title: 'a.txt', rawProperties: unknownType }]), /its attachment properties are damaged \(a property of unknown type 0x99\)/],
    [Buffer.concat([whole.subarray(0, 6), Buffer.from([2, 0x10, 0x80, 0x01, 0x00, 2, 0, 0, 0, 0x61, 0, 0x61, 0])]), /an attachment item comes before its attachment/],
  ];
  for (const [tnef, problem] of cases) {
    assert.match(read(tnef)?.problem ?? 'no problem', problem);
    const result = await judge(tnef);
    assert.equal(result.verdict, 'quarantine', JSON.stringify(result.reasons));
    assert.match(result.reasons.join('\n'), /archive "winmail\.dat" not checked: /);
  }
});

test('a TNEF whose items were all read whole passes without its last checksum, or with a few stray bytes after it (as Outlook samples have)', () => {
  const whole = makeTnef([{ title: 'report.pdf', data: pdf }]);
  const expected = { files: [{ name: 'report.pdf', encrypted: false, size: pdf.length, type: 'pdf' }], problem: null };
  assert.deepEqual(read(whole.subarray(0, whole.length - 2)), expected);
  assert.deepEqual(read(whole.subarray(0, whole.length - 1)), expected);
  assert.deepEqual(read(Buffer.concat([whole, Buffer.alloc(8, 0xff)])), expected);
  // nine stray bytes are a header, of an item that is not there
  assert.match(read(Buffer.concat([whole, Buffer.from([2, 0x0f, 0x80, 0x06, 0x00, 0xff, 0xff, 0, 0])]))?.problem ?? '', /it ends inside an item/);
});

test('what a damaged TNEF named before its damage is still judged: a blocked name refuses it', async () => {
  const tnef = makeTnef([{ title: 'setup.exe', data: 'x' }, { title: 'b.pdf', data: pdf }]);
  const result = await judge(tnef.subarray(0, tnef.length - 4));
  assert.equal(result.verdict, 'reject');
  assert.match(result.reasons.join('\n'), /blocked file type \.exe inside "winmail\.dat": "setup\.exe"/);
  assert.match(result.reasons.join('\n'), /not checked: it ends inside an item/);
});
