import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMessageFile, decodeQuotedPrintable, stripHtml, MAX_HTML_MESSAGE_BYTES, MAX_LINE_BYTES, MAX_MIME_PARTS, MAX_MIME_DEPTH, MAX_PART_HEADER_BYTES, MAX_TOP_HEADER_BYTES, MAX_HEADER_LINES } from '../../../src-relay/filters/mime.ts';
import { listZip, MAX_INFLATE_BYTES, MAX_NESTED_ZIP_BYTES } from '../../../src-relay/filters/zip.ts';
import { detectFileType } from '../../../src-relay/filters/file-type.ts';
import { parseRaw } from '../../helpers/parse-message.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import {
  EICAR,
  makeZip,
  messageForwardedTimes,
  messageForwarding,
  messageNested,
  messageWithAttachments,
  messageWithNodes,
  messageWithHeaderLines,
  messageWithPartHeader,
  messageWithTopHeader,
  peExecutable,
  zipOfSize,
} from '../../helpers/mail-parts.ts';

const parse = parseRaw;

test('attachment names are decoded from RFC 2231 continuations and RFC 2047 encoded words', async () => {
  const { summary } = await parse(
    messageWithAttachments('names', [
      { disposition: "filename*0*=utf-8''invoice%20m%C3%A4rz;\r\n filename*1*=.pdf.exe", data: 'x' },
      { disposition: 'filename="=?utf-8?B?cmVwb3J0LnZicw==?="', data: 'y' },
    ]),
  );
  const names = summary.parts.map((part) => part.filename);
  assert.deepEqual(names, [null, 'invoice märz.pdf.exe', 'report.vbs']);
});

test('every name a part gives itself is kept: Content-Type name and Content-Disposition filename may differ', async () => {
  const { summary } = await parse(
    messageWithAttachments('two names', [{ contentType: 'application/octet-stream; name="setup.exe"', disposition: 'filename="photo.jpg"', data: 'z' }]),
  );
  assert.deepEqual(summary.parts[1]!.names.sort(), ['photo.jpg', 'setup.exe']);
});

test('a part is typed by its first bytes whatever its name, and zip members are listed from the central directory (an encrypted one is a problem)', async () => {
  const zip = makeZip([{ name: 'readme.txt', data: 'hello' }, { name: 'dir/setup.exe', data: peExecutable() }, { name: 'secret.doc', data: 'x', encrypted: true }]);
  const { summary } = await parse(messageWithAttachments('types', [{ name: 'holiday.jpg', data: peExecutable() }, { name: 'files.zip', data: zip }]));
  assert.equal(summary.parts[1]!.detectedType, 'pe-executable');
  assert.equal(summary.parts[2]!.detectedType, 'zip');
  assert.deepEqual(summary.parts[2]!.archive, {
    members: [
      { name: 'readme.txt', encrypted: false, size: 5 },
      { name: 'dir/setup.exe', encrypted: false, size: 256 },
      { name: 'secret.doc', encrypted: true, size: 1 },
    ],
    problem: '"secret.doc" is encrypted and cannot be checked',
    onlyEncrypted: true,
  });
});

test('the text of quoted-printable and base64 parts is decoded, HTML is reduced to its visible text', async () => {
  const raw =
    'From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="x"\r\n\r\n' +
    '--x\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe, soft=\r\n break\r\n' +
    `--x\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from('<html><style>p{}</style><p>Hi <b>there</b></p><script>x()</script></html>').toString('base64')}\r\n--x--\r\n`;
  const { summary, headers } = await parse(raw);
  assert.equal(summary.text, 'Grüße, soft break');
  assert.equal(summary.htmlChars, 'Hithere'.length);
  assert.equal(headers[0]!.name, 'From');
});

test('a 20 MB attachment is parsed streaming with bounded memory for the text', async () => {
  const big = Buffer.alloc(20 * 1024 * 1024, 0x41);
  const { summary } = await parse(messageWithAttachments('big', [{ name: 'big.bin', data: big }], { text: `${EICAR}\r\n` }));
  assert.equal(summary.parts[1]!.size, big.length);
  assert.ok(summary.text.includes(EICAR));
});

test('the walk stops at its deadline: an AbortError (the pipeline\'s tempfail), not a message half walked and called checked', async () => {
  const big = messageWithAttachments('big', [{ name: 'big.bin', data: Buffer.alloc(20 * 1024 * 1024, 0x41) }]);
  const controller = new AbortController();
  const walked = parse(big, controller.signal);
  setImmediate(() => controller.abort(new Error('deadline')));
  await assert.rejects(walked, { name: 'AbortError' });
  await assert.rejects(parse(big, AbortSignal.abort()), { name: 'AbortError' });
});

test('a small message held whole stops at its deadline too, whether it passed before the walk or during it', async () => {
  const content = Buffer.from(messageWithAttachments('small', [{ name: 'a.txt', data: 'x' }]));
  const dir = tempDir('moat-mime-');
  try {
    const path = join(dir, 'message');
    writeFileSync(path, content);
    await assert.rejects(parseMessageFile(path, AbortSignal.abort(), { content, size: content.length }), { name: 'AbortError' });
    const controller = new AbortController();
    const walked = parseMessageFile(path, controller.signal, { content, size: content.length });
    controller.abort(new Error('deadline'));
    await assert.rejects(walked, { name: 'AbortError' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('quoted-printable: hex escapes, soft line breaks, a lone "=" kept', () => {
  assert.equal(decodeQuotedPrintable(Buffer.from('a=3Db=\r\nc = d')).toString(), 'a=bc = d');
  // spaces and tabs that end a line are transport padding (RFC 2045 6.7 rule 3), after a "=" too: a soft line break
  assert.equal(decodeQuotedPrintable(Buffer.from('MZ   \r\n')).toString(), 'MZ\r\n');
  assert.equal(decodeQuotedPrintable(Buffer.from('M=  \t\r\nZ=\t\nx')).toString(), 'MZx');
  assert.equal(decodeQuotedPrintable(Buffer.from('end \t')).toString(), 'end');
  assert.equal(decodeQuotedPrintable(Buffer.from('a = b\t=3D\tc=\r')).toString(), 'a = b\t=\tc=\r');
});

test('stripHtml leaves no tags, comments, scripts or styles', () => {
  assert.equal(stripHtml('<!-- x --><head><title>t</title></head><b>a</b>&nbsp;b<script>evil()</script>'), 'a b');
});

test("stripHtml given a list puts each link's target after its words, where a person judging a phishing message needs it; without, the text alone", () => {
  const html = '<p>Your mailbox is full. <A class="btn" HREF="http://login.example.invalid/?u=1&amp;x=2">Keep password</a> today.</p><a href="#top">top</a> <a href=\'mailto:it@example.test\'>IT</a> <a name="x">no link</a> <a href=https://unclosed.example.invalid/>last';
  const links: string[] = [];
  assert.equal(
    stripHtml(html, links),
    'Your mailbox is full. Keep password [→ http://login.example.invalid/?u=1&x=2] today. top IT [→ mailto:it@example.test] no link last [→ https://unclosed.example.invalid/]',
  );
  assert.equal(links.length, 3);
  assert.equal(stripHtml(html), 'Your mailbox is full. Keep password today. top IT no link last');
  // a target past 200 characters is cut; an href past the first 2 KiB of its tag is not looked for
  assert.equal(stripHtml(`<a href="http://x.invalid/${'a'.repeat(300)}">go</a>`, []), `go [→ http://x.invalid/${'a'.repeat(200 - 'http://x.invalid/'.length)}…]`);
  assert.equal(stripHtml(`<a ${'x'.repeat(3000)} href="http://far.invalid/">go</a>`, []), 'go');
});

test('an HTML part shows its link targets in the text (previews), not in the count of what the sender wrote (the HTML_ONLY rule)', async () => {
  const raw = 'From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>Hi <a href="http://login.example.invalid/">Keep password</a></p>\r\n';
  const { summary } = await parse(raw);
  assert.equal(summary.text, 'Hi Keep password [→ http://login.example.invalid/]');
  assert.equal(summary.htmlChars, 'HiKeeppassword'.length);
  // entities in a link's target are decoded in its note as in the text: the count stays what the sender wrote
  const tracked = await parse(`From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>See <a href="https://news.example.test/t?${'p=v&amp;'.repeat(20)}&nbsp;x">here</a></p>\r\n`);
  assert.equal(tracked.summary.htmlChars, 'Seehere'.length);
});

test('magic numbers: PE, DOS stub, ELF, zip, ISO at 32769, and nothing for text', () => {
  assert.equal(detectFileType(peExecutable()), 'pe-executable');
  assert.equal(detectFileType(Buffer.from('MZ\x90\x00\x03\x00', 'latin1')), 'dos-executable');
  assert.equal(detectFileType(Buffer.from('\x7fELF....', 'latin1')), 'elf-executable');
  const iso = Buffer.alloc(32774);
  iso.write('CD001', 32769, 'latin1');
  assert.equal(detectFileType(iso), 'iso-image');
  assert.equal(detectFileType(Buffer.from('hello')), null);
});

test('text that starts with "MZ" or holds "ustar" at byte 257 is no program and no tar; programs with odd DOS headers still are', () => {
  const text = (value: string) => detectFileType(Buffer.from(value), Buffer.byteLength(value));
  assert.equal(text('MZ-AB 1234: Ihr Fahrzeug ist fertig und kann ab morgen abgeholt werden. Mit freundlichen Grüßen'), null);
  assert.equal(text('MZ-Nummer;Name;Betrag\r\n4711;Muster;12,50\r\n'), null);
  // a line ending at byte 63 puts a small e_lfanew together: past the end of the text, so no program
  const line = `MZ${'x'.repeat(61)}\n${'y'.repeat(200)}`;
  assert.equal(text(line), null);
  assert.equal(text('MZ'), null);
  assert.equal(text(`${' '.repeat(256)}mustard and custard${' '.repeat(300)}`), null);
  const tar = Buffer.alloc(1024);
  tar.write('ustar\0', 257, 'latin1');
  assert.equal(detectFileType(tar), 'tar');
  tar.write('ustar  \0', 257, 'latin1');
  assert.equal(detectFileType(tar), 'tar', 'GNU tar');
  // Windows reads only "MZ" and e_lfanew: a PE whose other DOS fields are text is still one
  const crafted = Buffer.alloc(1024);
  crafted.write('MZ-Nummer;', 0, 'latin1');
  crafted.writeUInt32LE(0x100, 0x3c);
  crafted.write('PE\0\0', 0x100, 'latin1');
  assert.equal(detectFileType(crafted, crafted.length), 'pe-executable');
  crafted.write('XX', 0x100, 'latin1');
  assert.equal(detectFileType(crafted, crafted.length), 'dos-executable', 'its header offset inside the file, whatever is there: a program read askew');
  crafted.write('NE', 0x100, 'latin1');
  assert.equal(detectFileType(crafted, crafted.length), 'dos-executable', 'a 16-bit Windows program');
  // its PE header beyond the head kept, inside the file: not ruled out
  const far = Buffer.alloc(1024);
  far.write('MZ-Nummer;', 0, 'latin1');
  far.writeUInt32LE(40_000, 0x3c);
  assert.equal(detectFileType(far, 100_000), 'dos-executable');
  assert.equal(detectFileType(far, 30_000), null, 'pointing past the end of the file: no program');
});

test('a program in quoted-printable with spaces ending its lines (padding, deleted by every decoder) is still found: its header is where Windows looks', async () => {
  const program = peExecutable();
  const qp = [...program].map((byte) => `=${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  // lines of 24 escapes, each ended by padding, or by "=" and padding (a soft break)
  const lines = qp.match(/.{1,72}/g)!.map((line, i) => (i % 2 ? `${line}=   ` : `${line}=\t`)).join('\r\n');
  const raw = `From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="setup"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${lines}\r\n--b--\r\n`;
  const { summary } = await parseRaw(raw);
  assert.equal(summary.parts[1]!.size, program.length);
  assert.equal(summary.parts[1]!.detectedType, 'pe-executable');
});

test('a damaged zip is reported, not trusted', () => {
  assert.match(listZip(Buffer.from('PK\x03\x04 not really a zip'), 24).problem ?? '', /no zip central directory/);
});

const exe = { name: 'tool.exe', data: peExecutable() };
const lastName = (summary: { parts: { names: string[] }[] }) => summary.parts.at(-1)?.names[0];

test('the walk limits are the documented ones', () => {
  assert.equal(MAX_MIME_PARTS, 500);
  assert.equal(MAX_MIME_DEPTH, 20);
  assert.equal(MAX_PART_HEADER_BYTES, 64 * 1024);
  assert.equal(MAX_TOP_HEADER_BYTES, 256 * 1024);
  assert.equal(MAX_LINE_BYTES, 1024 * 1024);
});

test(`${MAX_MIME_PARTS} MIME nodes are walked to the last part; one more stops the walk and the message is unchecked`, async () => {
  const under = (await parse(messageWithNodes('parts', MAX_MIME_PARTS, exe))).summary;
  assert.deepEqual(under.unchecked, []);
  assert.equal(under.parts.length, MAX_MIME_PARTS - 1);
  assert.equal(lastName(under), 'tool.exe');
  const over = (await parse(messageWithNodes('parts', MAX_MIME_PARTS + 1, exe))).summary;
  assert.deepEqual(over.unchecked, [`more than ${MAX_MIME_PARTS} MIME parts`]);
  assert.notEqual(lastName(over), 'tool.exe');
  assert.deepEqual(over.anomalies, [], 'a limit is not a mere oddity to score');
});

test(`a part at depth ${MAX_MIME_DEPTH} is walked; one level deeper stops the walk and the message is unchecked`, async () => {
  const under = (await parse(messageNested('deep', MAX_MIME_DEPTH, exe))).summary;
  assert.deepEqual(under.unchecked, []);
  assert.equal(lastName(under), 'tool.exe');
  const over = (await parse(messageNested('deep', MAX_MIME_DEPTH + 1, exe))).summary;
  assert.deepEqual(over.unchecked, [`parts nested more than ${MAX_MIME_DEPTH} deep`]);
  assert.equal(over.parts.length, 0);
});

test(`a part header block of ${MAX_PART_HEADER_BYTES} bytes is read; one byte more stops the walk at that part`, async () => {
  const under = (await parse(messageWithPartHeader('part header', MAX_PART_HEADER_BYTES, exe))).summary;
  assert.deepEqual(under.unchecked, []);
  assert.equal(lastName(under), 'tool.exe');
  const over = (await parse(messageWithPartHeader('part header', MAX_PART_HEADER_BYTES + 1, exe))).summary;
  assert.deepEqual(over.unchecked, [`part 2 has a header block longer than ${MAX_PART_HEADER_BYTES} bytes`]);
  assert.notEqual(lastName(over), 'tool.exe');
});

test(`the message's header block of ${MAX_TOP_HEADER_BYTES} bytes is read; one byte more stops the walk`, async () => {
  const under = await parse(messageWithTopHeader('top header', MAX_TOP_HEADER_BYTES, exe));
  assert.deepEqual(under.summary.unchecked, []);
  assert.equal(lastName(under.summary), 'tool.exe');
  const over = await parse(messageWithTopHeader('top header', MAX_TOP_HEADER_BYTES + 1, exe));
  assert.deepEqual(over.summary.unchecked, [`a header block longer than ${MAX_TOP_HEADER_BYTES} bytes`]);
  assert.equal(over.summary.parts.length, 0);
});

test(`a header block of ${MAX_HEADER_LINES} lines is read; one line more stops the walk (each folded line counts)`, async () => {
  assert.equal(MAX_HEADER_LINES, 5000);
  const under = await parse(messageWithHeaderLines('lines', MAX_HEADER_LINES, exe));
  assert.deepEqual(under.summary.unchecked, []);
  assert.equal(lastName(under.summary), 'tool.exe');
  const over = await parse(messageWithHeaderLines('lines', MAX_HEADER_LINES + 1, exe));
  assert.deepEqual(over.summary.unchecked, [`a header block of more than ${MAX_HEADER_LINES} lines`]);
  assert.equal(over.summary.parts.length, 0);
});

test('a header block folded over 60,000 lines (under the byte limit) is stopped at the line limit, not joined line by line', async () => {
  // mailsplit joins folded lines in time that grows with the square of their number: this one alone took minutes
  const message = messageWithHeaderLines('many lines', 60_000, exe);
  assert.ok(message.indexOf('\r\n\r\n') < MAX_TOP_HEADER_BYTES);
  const { summary } = await parse(message);
  assert.deepEqual(summary.unchecked, [`a header block of more than ${MAX_HEADER_LINES} lines`]);
});

test(`a header block in an attached message is held to ${MAX_HEADER_LINES} lines too`, async () => {
  await heldInAttachedMessage((lines) => messageWithHeaderLines('inner', lines, exe), MAX_HEADER_LINES, `a header block in the message attached as part 2 has more than ${MAX_HEADER_LINES} lines`);
});

test('two Content-Type, Content-Transfer-Encoding or Content-Disposition fields in one part are ambiguous: unchecked', async () => {
  const plain = messageWithAttachments('dup', [{ name: 'a.txt', data: 'x' }]);
  assert.deepEqual((await parse(plain)).summary.unchecked, []);
  const cases: [string, string][] = [
    ['Content-Type: application/octet-stream\r\nContent-Disposition', 'Content-Type: text/plain\r\nContent-Type: application/octet-stream\r\nContent-Disposition'],
    ['Content-Transfer-Encoding: base64', 'Content-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64'],
    ['Content-Disposition: attachment;', 'Content-Disposition: inline\r\nContent-Disposition: attachment;'],
  ];
  for (const [field, doubled] of cases) {
    const { summary } = await parse(plain.replace(field, doubled));
    const name = field.split(':')[0];
    assert.deepEqual(summary.unchecked, [`part 2 has 2 ${name} fields (ambiguous MIME)`], name);
  }
  const top = (await parse(plain.replace('MIME-Version: 1.0\r\n', 'MIME-Version: 1.0\r\nContent-Type: text/plain\r\n'))).summary;
  assert.deepEqual(top.unchecked, ['the message has 2 Content-Type fields (ambiguous MIME)']);
});

test('a multipart without a boundary is only an oddity (scored), not an unchecked message', async () => {
  const { summary } = await parse('From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\nhello\r\n');
  assert.deepEqual(summary.anomalies, ['a multipart part has no boundary']);
  assert.deepEqual(summary.unchecked, []);
});

test('a zip glued behind other data is found from its end and reported, and zips in zips are listed', async () => {
  const zip = makeZip([{ name: 'inner.zip', data: makeZip([{ name: 'run.exe', data: peExecutable() }]), deflate: true }]);
  const { summary } = await parse(messageWithAttachments('glued', [{ name: 'photo.gif', data: Buffer.concat([Buffer.from('GIF89a'), zip]) }, { name: 'ok.zip', data: zip }]));
  assert.equal(summary.parts[1]!.detectedType, 'gif');
  assert.match(summary.parts[1]!.archive?.problem ?? '', /6 bytes of other data before the first zip entry/);
  assert.deepEqual(summary.parts[2]!.archive?.members.map((member) => member.name), ['inner.zip', 'inner.zip/run.exe']);
  assert.equal(summary.parts[0]!.archive, undefined, 'text parts are not searched for zips');
});

// Messages attached to messages: Outlook's "forward as attachment" sends message/rfc822 with Content-Disposition:
// attachment, which mailsplit does not walk into; Moat walks it (and base64-encoded or message/global ones) itself.

const described = (summary: { parts: { part: string; contentType: string; names: string[]; detectedType: string | null; archive?: { members: { name: string }[] } }[] }) =>
  summary.parts.map((part) => [part.part, part.contentType, part.names.join(','), part.detectedType, part.archive?.members.map((member) => member.name).join(',') ?? null]);
const innerWithFiles = () =>
  messageWithAttachments('inner', [exe, { name: 'files.zip', contentType: 'application/zip', data: makeZip([{ name: 'run.exe', data: peExecutable() }]) }], { text: 'Text of the attached message.' });
const INNER_PARTS = [
  ['2', 'message/rfc822', 'forwarded.eml', null, null],
  ['2.1', 'text/plain', '', null, null],
  ['2.2', 'application/octet-stream', 'tool.exe', 'pe-executable', null],
  ['2.3', 'application/zip', 'files.zip', 'zip', 'run.exe'],
];

test('a message forwarded as an attachment is walked: its .exe and its zip (with the zip members) are listed as parts 2.x', async () => {
  const { summary } = await parse(messageForwarding('forwarded', innerWithFiles()));
  assert.deepEqual(described(summary), [['1', 'text/plain', '', null, null], ...INNER_PARTS]);
  assert.deepEqual(summary.unchecked, []);
});

test('a base64-encoded attached message is decoded and walked like an unencoded one', async () => {
  const { summary } = await parse(messageForwarding('forwarded base64', innerWithFiles(), { encoding: 'base64' }));
  assert.deepEqual(described(summary), [['1', 'text/plain', '', null, null], ...INNER_PARTS]);
  assert.deepEqual(summary.unchecked, []);
});

test('message/global (RFC 6532) and an attached message with no Content-Disposition are walked too', async () => {
  for (const options of [{ contentType: 'message/global' }, { disposition: null }, { disposition: 'inline' as const, encoding: 'base64' as const }]) {
    const { summary } = await parse(messageForwarding('forwarded', innerWithFiles(), options));
    assert.deepEqual(described(summary).slice(2), INNER_PARTS.slice(1), JSON.stringify(options));
    assert.deepEqual(summary.unchecked, []);
  }
});

test('the text of an attached message stays out of the message text the junk rules read; an inline one walked by mailsplit still counts as before', async () => {
  const attached = (await parse(messageForwarding('forwarded', innerWithFiles(), { text: 'Outer words.' }))).summary;
  assert.equal(attached.text, 'Outer words.');
  assert.equal(attached.plainChars, 'Outerwords.'.length);
  const inline = (await parse(messageForwarding('forwarded', innerWithFiles(), { text: 'Outer words.', disposition: 'inline' }))).summary;
  assert.equal(inline.text, 'Outer words.Text of the attached message.');
  assert.deepEqual(inline.parts.map((part) => part.names.join(',')), ['', 'forwarded.eml', '', 'tool.exe', 'files.zip']);
});

test('a message attached to an attached message is walked as well', async () => {
  const { summary } = await parse(messageForwardedTimes('twice', 2, innerWithFiles(), { encoding: 'base64' }));
  assert.deepEqual(summary.parts.map((part) => `${part.part} ${part.names.join(',')}`), ['1 ', '2 forwarded.eml', '2.1 ', '2.2 forwarded.eml', '2.2.1 ', '2.2.2 tool.exe', '2.2.3 files.zip']);
  assert.deepEqual(summary.unchecked, []);
});

test('message/partial and message/external-body cannot be looked at: unchecked, with the part named', async () => {
  const partial = (await parse(messageForwarding('partial', innerWithFiles(), { contentType: 'message/partial; id="abc@sender.test"; number=1; total=2' }))).summary;
  assert.deepEqual(partial.unchecked, ['part 2 is message/partial, a fragment of a message that cannot be checked whole']);
  const external = (await parse(messageForwarding('external', 'Content-Type: application/octet-stream\r\n\r\n', { contentType: 'message/external-body; access-type=URL; URL="http://x.test/a.exe"' }))).summary;
  assert.deepEqual(external.unchecked, ['part 2 is message/external-body: its content is elsewhere and cannot be checked']);
});

test('text/rfc822-headers and message/delivery-status (bounce reports) are plain leaves: nothing unchecked', async () => {
  for (const contentType of ['text/rfc822-headers', 'message/delivery-status']) {
    const { summary } = await parse(messageForwarding('report', 'From: a@b.test\r\nSubject: x\r\n', { contentType, disposition: null }));
    assert.deepEqual(summary.unchecked, [], contentType);
    assert.equal(summary.parts.length, 2);
  }
});

test('an attached message in an unknown transfer encoding is not guessed at: unchecked', async () => {
  const raw = messageForwarding('uuencoded', innerWithFiles()).replace('Content-Transfer-Encoding: 7bit', 'Content-Transfer-Encoding: x-uuencode');
  const { summary } = await parse(raw);
  assert.deepEqual(summary.unchecked, ['part 2 is an attached message in the unknown transfer encoding "x-uuencode"']);
});

test(`attached messages count toward the depth: a part at depth ${MAX_MIME_DEPTH} inside two forwards is walked, one level deeper is unchecked`, async () => {
  // each forward puts the inner message two levels deeper (the attached part, then its root)
  const under = (await parse(messageForwardedTimes('deep', 2, messageNested('n', MAX_MIME_DEPTH - 4, exe)))).summary;
  assert.deepEqual(under.unchecked, []);
  assert.equal(lastName(under), 'tool.exe');
  const over = (await parse(messageForwardedTimes('deep', 2, messageNested('n', MAX_MIME_DEPTH - 3, exe)))).summary;
  assert.deepEqual(over.unchecked, [`parts nested more than ${MAX_MIME_DEPTH} deep`]);
  assert.notEqual(lastName(over), 'tool.exe');
});

test(`attached messages forwarded ${MAX_MIME_DEPTH / 2 - 1} times over are walked; once more and the innermost is past the depth: unchecked`, async () => {
  const times = MAX_MIME_DEPTH / 2 - 1;
  const inner = messageWithAttachments('inner', [exe]); // its parts are one below its root
  const under = (await parse(messageForwardedTimes('chain', times, inner))).summary;
  assert.deepEqual(under.unchecked, []);
  assert.equal(lastName(under), 'tool.exe');
  const over = (await parse(messageForwardedTimes('chain', times + 1, inner))).summary;
  assert.deepEqual(over.unchecked, [`parts nested more than ${MAX_MIME_DEPTH} deep`]);
  assert.notEqual(lastName(over), 'tool.exe');
});

test(`the ${MAX_MIME_PARTS} MIME nodes are counted over the message and the messages attached to it`, async () => {
  // the forwarding message adds three nodes: its multipart, its text part, the attached message part
  const under = (await parse(messageForwarding('parts', messageWithNodes('inner', MAX_MIME_PARTS - 3, exe), { encoding: 'base64' }))).summary;
  assert.deepEqual(under.unchecked, []);
  assert.equal(lastName(under), 'tool.exe');
  const over = (await parse(messageForwarding('parts', messageWithNodes('inner', MAX_MIME_PARTS - 2, exe), { encoding: 'base64' }))).summary;
  assert.deepEqual(over.unchecked, [`more than ${MAX_MIME_PARTS} MIME parts`]);
  assert.notEqual(lastName(over), 'tool.exe');
});

test(`a header block in an attached message is held to ${MAX_PART_HEADER_BYTES} bytes like any part's`, async () => {
  await heldInAttachedMessage((bytes) => messageWithPartHeader('inner', bytes, exe), MAX_PART_HEADER_BYTES, `a header block in the message attached as part 2 is longer than ${MAX_PART_HEADER_BYTES} bytes`);
});

/** A message forwarding `inner(limit)` (base64) is walked to its program; `inner(limit + 1)` stops the walk with `reason`. */
async function heldInAttachedMessage(inner: (size: number) => string, limit: number, reason: string): Promise<void> {
  const under = (await parse(messageForwarding('limit', inner(limit), { encoding: 'base64' }))).summary;
  assert.deepEqual(under.unchecked, []);
  assert.equal(lastName(under), 'tool.exe');
  const over = (await parse(messageForwarding('limit', inner(limit + 1), { encoding: 'base64' }))).summary;
  assert.deepEqual(over.unchecked, [reason]);
  assert.notEqual(lastName(over), 'tool.exe');
}

test(`a line of ${MAX_LINE_BYTES} bytes in an attached message is walked past; one byte more is unchecked`, async () => {
  // the line is the text part's: its characters and the CR before the line feed
  const inner = (chars: number) => messageWithAttachments('inner', [exe], { text: 'x'.repeat(chars) });
  const under = (await parse(messageForwarding('line', inner(MAX_LINE_BYTES - 1), { encoding: 'base64' }))).summary;
  assert.deepEqual(under.unchecked, []);
  assert.equal(lastName(under), 'tool.exe');
  const over = (await parse(messageForwarding('line', inner(MAX_LINE_BYTES), { encoding: 'base64' }))).summary;
  assert.deepEqual(over.unchecked, [`the message attached as part 2 has a line longer than ${MAX_LINE_BYTES} bytes`]);
  assert.notEqual(lastName(over), 'tool.exe');
});

test(`a line of ${MAX_LINE_BYTES} bytes in the message is walked past; one byte more is unchecked, at once (it is never held)`, async () => {
  // the line is the text part's: its characters and the CR before the line feed
  const under = (await parse(messageWithAttachments('line', [exe], { text: 'x'.repeat(MAX_LINE_BYTES - 1) }))).summary;
  assert.deepEqual(under.unchecked, []);
  assert.equal(lastName(under), 'tool.exe');
  const over = (await parse(messageWithAttachments('line', [exe], { text: 'x'.repeat(MAX_LINE_BYTES) }))).summary;
  assert.deepEqual(over.unchecked, [`a line longer than ${MAX_LINE_BYTES} bytes`]);
  assert.notEqual(lastName(over), 'tool.exe');
  // after another line of the part too (a review: the held line carried the line end before it, 2 bytes too many)
  const after = (await parse(messageWithAttachments('line', [exe], { text: `hello\r\n${'x'.repeat(MAX_LINE_BYTES - 1)}` }))).summary;
  assert.deepEqual(after.unchecked, []);
  assert.equal(lastName(after), 'tool.exe');
  // an outside review's 23 MB HTML line: 5 s and 900 MB when it was held and stripped whole
  const started = performance.now();
  const html = (await parse(`From: a@sender.test\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n${'<a href=h>x'.repeat(2_100_000)}\r\n`)).summary;
  assert.deepEqual(html.unchecked, [`a line longer than ${MAX_LINE_BYTES} bytes`]);
  assert.ok(performance.now() - started < 2000, `${Math.round(performance.now() - started)} ms`);
});

test(`HTML past ${MAX_HTML_MESSAGE_BYTES} bytes in a message is counted, not stripped: its visible characters outside tags still count`, async () => {
  // four parts of tags only fill what is stripped; the fifth is counted by its bytes outside tags
  const tags = `${'<b><i></i></b>'.repeat(70)}\r\n`;
  const part = (body: string) => `--b\r\nContent-Type: text/html\r\n\r\n${body}`;
  const full = part(tags.repeat(Math.ceil(MAX_HTML_MESSAGE_BYTES / 4 / tags.length)));
  const raw = `From: a@sender.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${full.repeat(4)}${part('<p>Visible <b>words</b></p>\r\n')}--b--\r\n`;
  const { summary } = await parse(raw);
  assert.deepEqual(summary.unchecked, []);
  assert.equal(summary.text, '', 'not stripped: its words are not in the text');
  assert.equal(summary.htmlChars, 'Visiblewords'.length);
});

test('the zip inflate budget is the whole message\'s: zips in the message use it up for the zips in the attached message', async () => {
  const budgetZip = (count: number, exeIn: string | null) =>
    makeZip(Array.from({ length: count }, (_, i) => ({ name: `i${i}.zip`, data: zipOfSize(MAX_NESTED_ZIP_BYTES, exeIn === `i${i}` ? [{ name: 'run.exe', data: peExecutable() }] : []), deflate: true })));
  const budget = MAX_INFLATE_BYTES / MAX_NESTED_ZIP_BYTES;
  const message = (outerZips: number) =>
    messageWithAttachments('budget', [{ name: 'outer.zip', data: budgetZip(outerZips, null) }]).replace(
      /--(b-budget-\d+)--\r\n$/,
      (_, boundary: string) =>
        `--${boundary}\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd.eml"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
        `${Buffer.from(messageWithAttachments('inner', [{ name: 'inner.zip', data: budgetZip(1, 'i0') }])).toString('base64').replace(/.{1,76}/g, '$&\r\n')}--${boundary}--\r\n`,
    );
  const under = (await parse(message(budget - 1))).summary;
  assert.deepEqual(under.parts.at(-1)!.archive?.members.map((member) => member.name), ['i0.zip', 'i0.zip/run.exe', 'i0.zip/pad.bin']);
  assert.equal(under.parts.at(-1)!.archive?.problem, null);
  const over = (await parse(message(budget))).summary;
  assert.match(over.parts.at(-1)!.archive?.problem ?? '', /"i0\.zip" is not opened: the message used up its \d+ bytes/);
});
