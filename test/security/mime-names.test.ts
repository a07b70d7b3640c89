// Ways to hide an attachment's name or content from the MIME walk, over real SMTP through the default config: an
// unknown transfer encoding (a mail program may decode it, Moat cannot) keeps the message in quarantine; a program
// uuencoded into the text, a name given twice, a name behind an RFC 5322 comment and a name cut by a control
// character are found and refused with 550. Look-alikes that are legitimate are delivered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_UUENCODED_FILES } from '../../src-relay/filters/mime.ts';
import { MAX_UUENCODE_BEGIN_LINE_BYTES } from '../../src-relay/filters/mime-names.ts';
import type { Sink } from '../helpers/sink.ts';
import type { TestRelay } from '../helpers/relay.ts';
import { keptInQuarantine, refusal, startUncheckedRelays, type UncheckedRelays } from '../helpers/unchecked-relays.ts';
import { send } from '../helpers/smtp.ts';

let sink: Sink;
let quarantining: TestRelay;
let rejecting: TestRelay;
let relays: UncheckedRelays;
const keptSubjects: string[] = [];

before(async () => {
  relays = await startUncheckedRelays();
  ({ sink, quarantining, rejecting } = relays);
});
after(() => relays.stop());

let sequence = 0;
const head = (subject: string, contentType: string) =>
  `From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\nSubject: ${subject}\r\nDate: ${new Date().toUTCString().replace('GMT', '+0000')}\r\n` +
  `Message-ID: <names.${++sequence}.${Date.now()}@sender.test>\r\nMIME-Version: 1.0\r\nContent-Type: ${contentType}\r\n\r\n`;

/** A text part and one attachment with the given header fields and (base64) body. */
const withPart = (subject: string, fields: string, body = 'aGVsbG8=\r\n') =>
  `${head(subject, 'multipart/mixed; boundary="b"')}--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n${fields}\r\n\r\n${body}--b--\r\n`;
const attachment = (disposition: string, encoding = 'base64') => `Content-Type: application/octet-stream\r\nContent-Disposition: ${disposition}\r\nContent-Transfer-Encoding: ${encoding}`;
/** A plain text message. */
const text = (subject: string, body: string) => `${head(subject, 'text/plain; charset=utf-8')}${body}`;
/** A uuencoded file as Outlook writes it into a text body (its three bytes the start of a JPEG: the content is judged too). */
const uuencoded = (name: string) => `begin 644 ${name}\r\n#_]C_\r\n\`\r\nend\r\n`;
const uuFiles = (count: number) => Array.from({ length: count }, (_, i) => uuencoded(i === count - 1 ? 'last.exe' : `f${i}.txt`)).join('');

async function refused(raw: string, reason: RegExp): Promise<void> {
  const response = await refusal(quarantining, raw);
  assert.match(response, /^550 5\.7\.1 Message refused by policy: /);
  assert.match(response, reason);
}

/** Sends `raw` to the quarantining relay and expects it kept in quarantine (never delivered): its reason. */
async function kept(raw: string, subject: string): Promise<string> {
  keptSubjects.push(subject);
  return keptInQuarantine(quarantining, raw);
}

async function delivered(raw: string, subject: string): Promise<void> {
  await send(quarantining.port, 'alice@sender.test', ['bob@example.test'], raw);
  await sink.waitForSubject(subject);
}

// F1: unknown transfer encodings
for (const encoding of ['x-uuencode', 'base64;', 'base64 junk', 'quoted-printable2']) {
  test(`an attachment in the transfer encoding "${encoding}" is kept in quarantine by default and refused when filters.unchecked is reject`, async () => {
    const raw = (subject: string) => withPart(subject, attachment('attachment; filename="notes.txt"', encoding));
    const subject = `encoding ${encoding}`;
    assert.match(await kept(raw(subject), subject), new RegExp(`not checked whole: part 2 is in the unknown transfer encoding "${encoding.replace(/[;]/g, '\\$&')}"`));
    assert.match(await refusal(rejecting, raw(`${subject} (reject)`)), /^550 5\.7\.1 /);
  });
}

test('an attachment in base64 with a comment after it (RFC 2045 allows one) is decoded, checked and delivered', async () => {
  await delivered(withPart('encoding with comment', attachment('attachment; filename="notes.txt"', 'BASE64 (as usual)')), 'encoding with comment');
});

// F2: uuencode in text
test('a program uuencoded into the text of a message is refused with 550 like an attached one', async () => {
  await refused(text('uuencoded exe', `Here is the tool:\r\n\r\n${uuencoded('evil.exe')}`), /\.exe: "evil\.exe"/);
  await refused(withPart('uuencoded in qp', 'Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable', `See:\r\n${uuencoded('run.js').replace('begin', 'b=65gin')}`), /\.js: "run\.js"/);
});

test('text with the word "begin" in it, and a uuencoded photo, are delivered', async () => {
  await delivered(text('begin in text', `We begin 10 minutes late.\r\nbegin\r\nbeginning 644 x.exe\r\n${uuencoded('photo.jpg')}`), 'begin in text');
});

test(`${MAX_UUENCODED_FILES} uuencoded files in the text are all checked (a program last is refused); one more and the message is kept in quarantine`, async () => {
  await refused(text('uu under', uuFiles(MAX_UUENCODED_FILES)), /\.exe: "last\.exe"/);
  assert.match(await kept(text('uu over', uuFiles(MAX_UUENCODED_FILES + 1)), 'uu over'), /not checked whole: more than 100 uuencoded files in the text/);
  assert.match(await refusal(rejecting, text('uu over (reject)', uuFiles(MAX_UUENCODED_FILES + 1))), /^550 5\.7\.1 /);
});

test(`a begin line of ${MAX_UUENCODE_BEGIN_LINE_BYTES} bytes is read (a program is refused); one byte longer and the message is kept in quarantine`, async () => {
  // the line is its bytes up to its end (a CR, as a bare one also ends a line)
  const line = (bytes: number) => `begin 644 ${'a'.repeat(bytes - 'begin 644 '.length - 'x.exe'.length)}x.exe\r\n`;
  await refused(text('long begin under', line(MAX_UUENCODE_BEGIN_LINE_BYTES)), /\.exe: "a+/);
  assert.match(await kept(text('long begin over', line(MAX_UUENCODE_BEGIN_LINE_BYTES + 1)), 'long begin over'), /not checked whole: part 1 has a uuencode begin line longer than 2048 bytes/);
});

// F3: a name given twice
const DUPLICATES = [
  'attachment; filename="evil.js"; filename="a.txt"',
  'attachment; filename="a.txt"; filename="evil.js"',
  `attachment; filename="a.txt"; filename*=utf-8''evil.js`,
  'attachment; filename*0="evil"; filename*1=".js"; filename="a.txt"',
];
for (const disposition of DUPLICATES) {
  test(`a name given twice (${disposition}) is refused with 550 for the blocked one`, async () => {
    await refused(withPart(`duplicate ${disposition}`, attachment(disposition)), /\.js: "evil\.js"/);
  });
}

test('Content-Type name given twice is refused for the blocked one', async () => {
  await refused(withPart('duplicate name', 'Content-Type: application/octet-stream; name="a.txt"; name="evil.js"\r\nContent-Transfer-Encoding: base64'), /\.js: "evil\.js"/);
});

test('RFC 2231 pieces of a name given twice or missing are kept in quarantine (a blocked name among them is refused first)', async () => {
  assert.match(await kept(withPart('pieces twice', attachment('attachment; filename*0="a"; filename*0="notes"; filename*1=".txt"')), 'pieces twice'), /not checked whole: part 2: its filename\*0 is given twice/);
  assert.match(await kept(withPart('pieces missing', attachment('attachment; filename*0="notes"; filename*2=".txt"')), 'pieces missing'), /not checked whole: part 2: its filename\*1 is missing/);
  await refused(withPart('pieces twice, blocked', attachment('attachment; filename*0="a"; filename*0="evil"; filename*1=".js"')), /\.js: "evil\.js"/);
});

test('a name sent both plain and RFC 2231-encoded, as many mail programs do, is delivered', async () => {
  await delivered(withPart('both forms', attachment(`attachment; filename="report.pdf"; filename*=utf-8''r%C3%A9port.pdf`)), 'both forms');
});

// F4: comments
for (const disposition of ['attachment; (c) filename="evil.js"', 'attachment (x); filename="evil.js"', 'attachment; filename=(x)evil.js']) {
  test(`a comment does not hide the name (${disposition}): refused with 550`, async () => {
    // an unquoted value with a comment in it is read both ways: "evil.js" and, as lax readers do, "(x)evil.js"
    await refused(withPart(`comment ${disposition}`, attachment(disposition)), /\.js: "(\(x\))?evil\.js"/);
  });
}

test('a Content-Disposition with an unterminated quoted string is kept in quarantine', async () => {
  assert.match(await kept(withPart('unterminated', attachment('attachment; filename="notes.txt')), 'unterminated'), /cannot be read unambiguously: an unterminated quoted string/);
});

test('a normal report.pdf with comments elsewhere in its fields is delivered', async () => {
  await delivered(withPart('comment elsewhere', 'Content-Type: application/pdf (the report)\r\nContent-Disposition: attachment (saved); filename="report (final).pdf"\r\nContent-Transfer-Encoding: base64'), 'comment elsewhere');
});

// F6: control characters in a name
for (const disposition of ['attachment; filename="=?utf-8?Q?evil.js=00.txt?="', `attachment; filename*=utf-8''evil.js%00.txt`, `attachment; filename*=utf-8''evil.js%0D%0A.txt`]) {
  test(`a name cut by a control character (${disposition}) is checked up to it: refused with 550 as .js`, async () => {
    await refused(withPart(`control ${disposition}`, attachment(disposition)), /\.js: "evil\.js/);
  });
}

test('a raw NUL in a name is refused before the filters (NUL bytes are refused anywhere)', async () => {
  assert.match(await refusal(quarantining, withPart('raw nul', attachment('attachment; filename="evil.js\0.txt"'))), /^5\d\d /);
});

test('sent all at once, each message gets the verdict it gets alone (each walk counts its own uuencoded files)', async () => {
  const verdicts = await Promise.all([
    ...[1, 2, 3].map((n) => refusal(quarantining, text(`burst under ${n}`, uuFiles(MAX_UUENCODED_FILES))).then((response) => /^550 .*last\.exe/.test(response))),
    ...[1, 2, 3].map((n) => kept(text(`burst over ${n}`, uuFiles(MAX_UUENCODED_FILES + 1)), `burst over ${n}`).then((reason) => /more than 100 uuencoded files/.test(reason))),
    ...[1, 2, 3].map((n) => refusal(quarantining, withPart(`burst dup ${n}`, attachment(DUPLICATES[0]!))).then((response) => /\.js: "evil\.js"/.test(response))),
    ...[1, 2, 3].map((n) => delivered(text(`burst clean ${n}`, `begin the day well\r\n${uuencoded('photo.jpg')}`), `burst clean ${n}`).then(() => true)),
  ]);
  assert.deepEqual(verdicts, verdicts.map(() => true));
});

test('no message kept in quarantine reached the internal server', () => {
  assert.ok(keptSubjects.length >= 10);
  for (const subject of keptSubjects) assert.ok(!sink.messages.some((sunk) => sunk.raw.includes(`\r\nSubject: ${subject}\r\n`)), subject);
});

// F6: transport padding (RFC 2046 5.1.1) after a boundary: mail programs still see the part it opens
for (const [padding, where] of [[' ', 'a space'], ['\t', 'a tab'], [' '.repeat(40), '40 spaces'], [' \t ', 'spaces and a tab']] as const) {
  test(`a boundary line ending in ${where} still opens a part: the program behind it is refused with 550`, async () => {
    const exe = 'TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAAA==';
    const raw =
      `${head(`padded boundary, ${where}`, 'multipart/mixed; boundary="b"')}--b${padding}\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n` +
      `--b${padding}\r\n${attachment('attachment; filename="evil.exe"')}\r\n\r\n${exe}\r\n--b--${padding}\r\n`;
    await refused(raw, /\.exe: "evil\.exe"/);
  });
}

test('padded boundaries around harmless parts are delivered, the part after them read as a part', async () => {
  const subject = 'padded boundaries, harmless';
  await delivered(`${head(subject, 'multipart/mixed; boundary="b"')}--b \r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\t\r\n${attachment('attachment; filename="notes.txt"')}\r\n\r\naGVsbG8=\r\n--b-- \r\n`, subject);
});

// F7: an inner multipart never closed, then the outer boundary: a mail program ends the inner part there
test('a part after an outer boundary inside an inner multipart never closed is not read past: kept in quarantine (ambiguous MIME), refused with reject', async () => {
  const exe = 'TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAAA==';
  const raw = (subject: string) =>
    `${head(subject, 'multipart/mixed; boundary="b1"')}--b1\r\nContent-Type: multipart/alternative; boundary="b2"\r\n\r\n` +
    `--b2\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n` +
    `--b1\r\n${attachment('attachment; filename="evil.exe"')}\r\n\r\n${exe}\r\n--b1--\r\n`;
  const subject = 'unclosed inner multipart';
  assert.match(await kept(raw(subject), subject), /a boundary of an enclosing multipart inside a part that was never closed \(ambiguous MIME\)/);
  assert.match(await refusal(rejecting, raw(`${subject} (reject)`)), /^550 5\.7\.1 /);
});

test('nested multiparts closed properly, with a harmless attachment after the inner one, are delivered', async () => {
  const subject = 'nested closed';
  await delivered(
    `${head(subject, 'multipart/mixed; boundary="b1"')}--b1\r\nContent-Type: multipart/alternative; boundary="b2"\r\n\r\n` +
      `--b2\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>See attached.</p>\r\n--b2--\r\n` +
      `--b1\r\n${attachment('attachment; filename="notes.txt"')}\r\n\r\naGVsbG8=\r\n--b1--\r\n`,
    subject,
  );
});
