import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessageFile, MAX_UUENCODED_FILES } from '../../../src-relay/filters/mime.ts';
import {
  decodeEncodedWords,
  MAX_UUENCODE_BEGIN_LINE_BYTES,
  nameReadings,
  parameterNames,
  parseHeaderValue,
  transferEncoding,
  UuencodeScanner,
} from '../../../src-relay/filters/mime-names.ts';
import { AttachmentFilter } from '../../../src-relay/filters/attachments.ts';
import { DEFAULT_BLOCKED_EXTENSIONS } from '../../../src-relay/config/schema.ts';
import { parseRaw } from '../../helpers/parse-message.ts';
import { messageWithAttachments } from '../../helpers/mail-parts.ts';

const parse = parseRaw;

const filter = new AttachmentFilter({ action: 'reject', blockedExtensions: DEFAULT_BLOCKED_EXTENSIONS, scanArchives: true });

/** The attachment filter's verdict and the walk's unchecked reasons for `raw`. */
async function judge(raw: string) {
  const { summary, headers } = await parse(raw);
  const result = await filter.check({ queueId: 'q', clientIp: '127.0.0.1', helo: null, sender: 'a@b.test', recipients: ['c@d.test'], path: '', size: 0, headers, tls: false, authenticatedUser: null, mime: summary });
  return { verdict: result.verdict, reasons: result.reasons, unchecked: summary.unchecked, parts: summary.parts };
}

/** A message whose one attachment has the given raw header fields (after its Content-Type). */
const withPart = (fields: string, body = 'aGVsbG8=\r\n') =>
  'From: a@b.test\r\nTo: c@d.test\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' +
  `--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\n${fields}\r\n\r\n${body}--b--\r\n`;

/** A single-part text message with the given body. */
const textMessage = (body: string, fields = 'Content-Type: text/plain; charset=utf-8') => `From: a@b.test\r\nTo: c@d.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n${fields}\r\n\r\n${body}`;

// --- F1: transfer encodings

test('the five RFC 2045 transfer encodings are known in any case, with white space and comments around them', () => {
  for (const raw of ['7bit', '8BIT', ' binary ', 'Base64', 'quoted-printable', 'base64 (sent by x)', '(x) base64', 'base64(a (nested) comment)']) {
    assert.equal(transferEncoding(raw).known, true, raw);
  }
  assert.deepEqual(transferEncoding(null), { encoding: '7bit', known: true });
  assert.deepEqual(transferEncoding('BASE64 (x)'), { encoding: 'base64', known: true });
});

test('any other transfer encoding, a parameter after it, a second word or a quoted one is unknown', () => {
  for (const raw of ['x-uuencode', 'base64;', 'base64; x=y', 'base64 junk', 'base64 (a) junk', 'quoted-printable2', '"base64"', 'base64 (unterminated', 'uuencode']) {
    assert.equal(transferEncoding(raw).known, false, raw);
  }
});

test('a leaf part in an unknown transfer encoding is unchecked; one in base64 with a comment is decoded and checked', async () => {
  for (const encoding of ['x-uuencode', 'base64;', 'base64 junk', 'quoted-printable2']) {
    const { unchecked } = await judge(withPart(`Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="notes.txt"\r\nContent-Transfer-Encoding: ${encoding}`));
    assert.deepEqual(unchecked, [`part 2 is in the unknown transfer encoding "${encoding}", which a mail program may decode`], encoding);
  }
  const commented = await judge(withPart('Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="notes.txt"\r\nContent-Transfer-Encoding: base64 (as usual)'));
  assert.deepEqual(commented.unchecked, []);
  assert.equal(commented.parts[1]!.size, 5);
  assert.equal(commented.verdict, 'accept');
});

test('a multipart in an unknown transfer encoding is unchecked too', async () => {
  const raw = withPart('Content-Type: text/plain').replace('boundary="b"\r\n', 'boundary="b"\r\nContent-Transfer-Encoding: x-gzip\r\n');
  assert.deepEqual((await judge(raw)).unchecked, ['the message is in the unknown transfer encoding "x-gzip", which a mail program may decode']);
});

// --- F3 / F4: header parameters

test('comments are stripped outside quoted strings, wherever they stand, and kept inside them', () => {
  assert.deepEqual(parseHeaderValue('attachment; (c) filename="evil.js"'), { value: 'attachment', params: [{ attribute: 'filename', value: 'evil.js' }], problem: null });
  assert.equal(parseHeaderValue('attachment (x); filename=a.txt').value, 'attachment');
  assert.deepEqual(parseHeaderValue('attachment; file(x)name (y)= (z) "a (1).pdf" (w)').params, [{ attribute: 'filename', value: 'a (1).pdf' }]);
  assert.deepEqual(parseHeaderValue('attachment; filename="a\\"b;c.txt"; x=1').params, [{ attribute: 'filename', value: 'a"b;c.txt' }, { attribute: 'x', value: '1' }]);
});

test('an unterminated quoted string or comment cannot be read unambiguously', () => {
  assert.equal(parseHeaderValue('attachment; filename="evil.js').problem, 'an unterminated quoted string');
  assert.equal(parseHeaderValue('attachment; (filename="a.txt"; filename=evil.js').problem, 'an unterminated comment');
});

test('every form of a name is decoded on its own: repeated plain ones, name*= and the name*0... continuations', () => {
  const { params } = parseHeaderValue(`attachment; filename="evil.js"; filename="a.txt"; filename*=utf-8''b%2Etxt; filename*0="c"; filename*1=".vbs"`);
  assert.deepEqual(parameterNames(params, 'filename'), { names: ['evil.js', 'a.txt', 'b.txt', 'c.vbs'], problems: [] });
  const extended = parseHeaderValue(`attachment; FILENAME*0*=iso-8859-1'de'm%E4rz; filename*1*=%2Eexe`);
  assert.deepEqual(parameterNames(extended.params, 'filename'), { names: ['märz.exe'], problems: [] });
});

test('continuation pieces given twice or missing, an unknown charset and broken escapes are problems, not guesses', () => {
  const problems = (header: string) => parameterNames(parseHeaderValue(header).params, 'filename').problems;
  assert.deepEqual(problems('a; filename*0="a"; filename*0="b"; filename*1=".exe"'), ['its filename*0 is given twice (ambiguous name)']);
  assert.deepEqual(problems('a; filename*0="a"; filename*2=".exe"'), ['its filename*1 is missing (ambiguous name)']);
  assert.match(problems(`a; filename*=x-unknown''evil.exe`)[0]!, /its filename\* parameter cannot be read/);
  assert.match(problems(`a; filename*=utf-8''evil%2`)[0]!, /not followed by two hex digits/);
  assert.match(problems(`a; filename*=evil.exe`)[0]!, /without its charset'language' part/);
  assert.match(problems('a; filename="=?x-unknown?Q?evil.exe?="')[0]!, /its filename parameter cannot be read/);
  assert.deepEqual(problems('a; filename*x=1'), ['its filename parameter "filename*x" is not RFC 2231']);
});

test('encoded words are decoded, adjacent ones joined, a NUL in them kept for the attachment check', () => {
  assert.equal(decodeEncodedWords('=?utf-8?B?cmVwb3J0?= =?utf-8?Q?=2Evbs?='), 'report.vbs');
  assert.equal(decodeEncodedWords('=?utf-8?Q?evil.js=00.txt?='), 'evil.js\0.txt');
  assert.equal(decodeEncodedWords('plain.pdf'), 'plain.pdf');
});

test('a name is read whole and up to its first control character', () => {
  assert.deepEqual(nameReadings('evil.js\0.txt'), ['evil.js\0.txt', 'evil.js']);
  assert.deepEqual(nameReadings('evil.js\x01\x02.txt'), ['evil.js\x01\x02.txt', 'evil.js']);
  assert.deepEqual(nameReadings('report.pdf'), ['report.pdf']);
});

const DUPLICATES = [
  'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="evil.js"; filename="a.txt"',
  'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.txt"; filename="evil.js"',
  'Content-Type: application/octet-stream; name="a.txt"; name="evil.js"\r\nContent-Disposition: attachment',
  `Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.txt"; filename*=utf-8''evil.js`,
  'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.txt"; filename*0="evil"; filename*1=".js"',
];

test('a name given twice in different forms: every candidate is checked, the blocked one is refused whichever comes first', async () => {
  for (const fields of DUPLICATES) {
    const { verdict, reasons } = await judge(withPart(fields));
    assert.equal(verdict, 'reject', fields);
    assert.ok(reasons.some((reason) => reason.includes('blocked attachment type .js: "evil.js"')), fields);
  }
});

test('a comment before or inside the parameters no longer hides the name', async () => {
  for (const disposition of ['attachment; (c) filename="evil.js"', 'attachment (x); filename="evil.js"', 'attachment; filename= (x) evil.js', 'attachment;\r\n (a comment; with "quotes")\r\n filename="evil.js"']) {
    const { verdict, reasons } = await judge(withPart(`Content-Type: application/octet-stream\r\nContent-Disposition: ${disposition}`));
    assert.equal(verdict, 'reject', disposition);
    assert.ok(reasons.includes('blocked attachment type .js: "evil.js"'), disposition);
  }
});

test('an unquoted name with a comment in it is checked as the RFC reads it and as lax readers do', async () => {
  const { parts, verdict } = await judge(withPart('Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=evil.js(.txt)'));
  assert.ok(parts[1]!.names.includes('evil.js'));
  assert.ok(parts[1]!.names.includes('evil.js(.txt)'));
  assert.equal(verdict, 'reject');
});

test('a Content-Type with a comment after the type is still that type: an attached message is walked', async () => {
  const inner = withPart('Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="tool.exe"');
  const raw = withPart('Content-Type: message/rfc822 (forwarded)\r\nContent-Disposition: attachment', inner);
  const { verdict, parts } = await judge(raw);
  assert.equal(parts[1]!.contentType, 'message/rfc822');
  assert.equal(verdict, 'reject');
});

test('a Content-Disposition that cannot be read unambiguously makes the message unchecked', async () => {
  const { unchecked } = await judge(withPart('Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="evil.js'));
  assert.deepEqual(unchecked, ['part 2 has a Content-Disposition field that cannot be read unambiguously: an unterminated quoted string']);
  const pieces = await judge(withPart('Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*0="evil"; filename*2=".js"'));
  assert.deepEqual(pieces.unchecked, ['part 2: its filename*1 is missing (ambiguous name)']);
});

test('a normal name with a comment elsewhere, and a name sent in both RFC 2231 and plain form alike, pass', async () => {
  for (const fields of [
    'Content-Type: application/pdf (a report)\r\nContent-Disposition: attachment (saved); filename="report.pdf"',
    `Content-Type: application/pdf; name="report.pdf"\r\nContent-Disposition: attachment; filename="report.pdf"; filename*=utf-8''r%C3%A9port.pdf`,
    'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="report (1).pdf"',
  ]) {
    const { verdict, unchecked } = await judge(withPart(fields));
    assert.equal(verdict, 'accept', fields);
    assert.deepEqual(unchecked, [], fields);
  }
});

// --- F6: control characters in names

test('a NUL or other control character in a name ends it for the check: evil.js\\0.txt is refused as .js', async () => {
  for (const disposition of ['attachment; filename="evil.js\0.txt"', 'attachment; filename="=?utf-8?Q?evil.js=00.txt?="', `attachment; filename*=utf-8''evil.js%00.txt`, 'attachment; filename="evil.js\x07.txt"', `attachment; filename*0*=utf-8''evil.js%0A; filename*1=".txt"`]) {
    const { verdict, reasons } = await judge(withPart(`Content-Type: application/octet-stream\r\nContent-Disposition: ${disposition}`));
    assert.equal(verdict, 'reject', JSON.stringify(disposition));
    assert.ok(reasons.some((reason) => reason.startsWith('blocked attachment type .js: "evil.js')), JSON.stringify(reasons));
  }
});

test('a control character in a harmless name leaves it harmless', async () => {
  const { verdict } = await judge(withPart('Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="=?utf-8?Q?report=00.pdf?="'));
  assert.equal(verdict, 'accept');
});

// --- F2: uuencode in text

/** A uuencoded file as Outlook writes it into a text body. */
const uuencoded = (name: string, mode = '644') => `begin ${mode} ${name}\r\nM35H\r\n\`\r\nend\r\n`;

test('begin lines are found in a stream cut anywhere, with their names; other lines are skipped', () => {
  const names: string[] = [];
  const problems: string[] = [];
  const scanner = new UuencodeScanner({ name: (name) => names.push(name), problem: (why) => problems.push(why) });
  const text = `Hello,\r\nlet us begin 644 now.\r\n${uuencoded('evil.exe')}  begin-base64 0755 "run.bat"\r\nbegin 999 x.exe\r\nbegin 644\r\nBEGIN 600 tail.js`;
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += 3) scanner.write(bytes.subarray(i, i + 3));
  scanner.end();
  assert.deepEqual(names, ['evil.exe', '"run.bat"', 'run.bat', 'tail.js']);
  assert.deepEqual(problems, []);
});

test('begin lines are found the same whatever the cut: whole, a byte at a time, at every size in between, with any case and leading blanks', () => {
  const text = `Be\r\n\tBeGiN 644 a.exe\r\nbegiN-base64 644 b.js\r\n begin\t600 c.bat\r\nbeginning 644 no.exe\r\nbegin\r\nbegin 644 ${'\u00e9'}.exe\r\n` +
    `\u00c9EGIN 644 no2.exe\r\n   \r\nbegin 644 last.exe`;
  const bytes = Buffer.from(text);
  const scan = (size: number) => {
    const names: string[] = [];
    const scanner = new UuencodeScanner({ name: (name) => names.push(name), problem: () => {} });
    for (let i = 0; i < bytes.length; i += size) scanner.write(bytes.subarray(i, i + size));
    scanner.end();
    return names;
  };
  const whole = scan(bytes.length);
  assert.deepEqual(whole, ['a.exe', 'b.js', 'c.bat', '\u00e9.exe', 'last.exe']);
  for (let size = 1; size < 40; size++) assert.deepEqual(scan(size), whole, `cut every ${size} bytes`);
});

test('a bare CR ends a line as a mail program reads text: a begin line after one is found, however the text is cut', () => {
  const bytes = Buffer.from(`Here it is:\rbegin 644 evil.exe\rM1F%K92!E>&4*\r\`\rend\r\r\nbegin 644 next.js\r`);
  for (let size = 1; size <= bytes.length; size++) {
    const names: string[] = [];
    const scanner = new UuencodeScanner({ name: (name) => names.push(name), problem: () => {} });
    for (let i = 0; i < bytes.length; i += size) scanner.write(bytes.subarray(i, i + size));
    scanner.end();
    assert.deepEqual(names, ['evil.exe', 'next.js'], `cut every ${size} bytes`);
  }
});

test(`a begin line of ${MAX_UUENCODE_BEGIN_LINE_BYTES} bytes is read; one byte longer is a problem, a long line that is no begin line is not`, () => {
  const run = (line: string) => {
    const found = { names: [] as string[], problems: [] as string[] };
    const scanner = new UuencodeScanner({ name: (name) => found.names.push(name), problem: (why) => found.problems.push(why) });
    scanner.write(Buffer.from(`${line}\r\n`));
    scanner.end();
    return found;
  };
  const begin = 'begin 644 ';
  // the line is its bytes up to its end, a CR or a line feed
  const under = run(`${begin}${'a'.repeat(MAX_UUENCODE_BEGIN_LINE_BYTES - begin.length - 5)}x.exe`);
  assert.equal(under.names.length, 1);
  assert.ok(under.names[0]!.endsWith('x.exe'));
  const over = run(`${begin}${'a'.repeat(MAX_UUENCODE_BEGIN_LINE_BYTES - begin.length - 4)}x.exe`);
  assert.deepEqual(over, { names: [], problems: [`a uuencode begin line longer than ${MAX_UUENCODE_BEGIN_LINE_BYTES} bytes`] });
  assert.deepEqual(run('x'.repeat(MAX_UUENCODE_BEGIN_LINE_BYTES * 4)), { names: [], problems: [] });
});

test('a uuencoded program in a text part is refused like an attached one, in plain, quoted-printable, base64 and HTML text', async () => {
  const body = `Here it is:\r\n\r\n${uuencoded('evil.exe')}`;
  for (const [fields, encoded] of [
    ['Content-Type: text/plain', body],
    ['Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable', body.replace('begin', 'b=65gin')],
    ['Content-Type: text/plain\r\nContent-Transfer-Encoding: base64', `${Buffer.from(body).toString('base64')}\r\n`],
    ['Content-Type: text/html', `<p>x</p>\r\n${body}`],
    ['Content-Type: text/plain\r\nContent-Disposition: attachment; filename="notes.txt"', body],
  ] as const) {
    const { verdict, reasons } = await judge(withPart(fields, encoded));
    assert.equal(verdict, 'reject', fields);
    assert.ok(reasons.includes('blocked attachment type .exe: "evil.exe"'), fields);
  }
  const top = await judge(textMessage(body));
  assert.equal(top.verdict, 'reject');
});

test('text with "begin" in it that is no begin line, and a uuencoded harmless file, pass', async () => {
  // the file's content is judged too (mime-readers.test.ts): uuencoded() holds the start of a DOS program
  const { verdict, unchecked } = await judge(textMessage(`We begin 10 minutes late.\r\nbegin\r\nbeginning 644 x.exe\r\n${uuencoded('photo.jpg').replace('M35H', '#_]C_')}`));
  assert.equal(verdict, 'accept');
  assert.deepEqual(unchecked, []);
});

test('uuencoded text in an attachment that is not text is not read as text', async () => {
  const fields = 'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64';
  const { verdict } = await judge(withPart(fields, `${Buffer.from(uuencoded('evil.exe')).toString('base64')}\r\n`));
  assert.equal(verdict, 'accept');
});

test(`${MAX_UUENCODED_FILES} uuencoded files are all checked; one more and the message is unchecked`, async () => {
  const files = (count: number) => Array.from({ length: count }, (_, i) => uuencoded(i === count - 1 ? 'last.exe' : `f${i}.txt`)).join('');
  const under = await judge(textMessage(files(MAX_UUENCODED_FILES)));
  assert.equal(under.verdict, 'reject');
  assert.deepEqual(under.unchecked, []);
  const over = await judge(textMessage(files(MAX_UUENCODED_FILES + 1)));
  assert.deepEqual(over.unchecked, [`more than ${MAX_UUENCODED_FILES} uuencoded files in the text`]);
});

test('a begin line too long to judge makes the message unchecked', async () => {
  const { unchecked } = await judge(textMessage(`begin 644 ${'a'.repeat(MAX_UUENCODE_BEGIN_LINE_BYTES)}.exe\r\n`));
  assert.deepEqual(unchecked, [`part 1 has a uuencode begin line longer than ${MAX_UUENCODE_BEGIN_LINE_BYTES} bytes`]);
});

test('messageWithAttachments still yields the names it always did', async () => {
  const { parts } = await judge(messageWithAttachments('plain', [{ name: 'report.pdf', data: 'x' }]));
  assert.deepEqual(parts[1]!.names, ['report.pdf']);
});

test('a blocked name with a direction override is quoted as the screens show it: U+FFFD for the override, "?" for other controls', async () => {
  const { verdict, reasons } = await judge(messageWithAttachments('rlo', [{ name: 'Resume\u202efdp.scr', data: 'MZ' }]));
  assert.equal(verdict, 'reject');
  assert.ok(reasons.some((reason) => reason.includes('"Resume\ufffdfdp.scr"')), reasons.join('; '));
  assert.ok(!reasons.some((reason) => reason.includes('\u202e')));
});
