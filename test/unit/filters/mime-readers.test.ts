// Ways a mail program reads a part that the walk did not, found by an outside review: each gets the attachment
// verdict when the blocked file is found, or is unchecked (the pipeline's filters.unchecked) when Moat cannot read it as the program does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttachmentFilter } from '../../../src-relay/filters/attachments.ts';
import { DEFAULT_BLOCKED_EXTENSIONS } from '../../../src-relay/config/schema.ts';
import { parseRaw } from '../../helpers/parse-message.ts';
import { makeZip, peExecutable } from '../../helpers/mail-parts.ts';
import { UuencodeScanner } from '../../../src-relay/filters/mime-names.ts';

const filter = new AttachmentFilter({ action: 'reject', blockedExtensions: DEFAULT_BLOCKED_EXTENSIONS, scanArchives: true });

/** The attachment filter's verdict and the walk's unchecked reasons for `raw`. */
async function judge(raw: string | Buffer) {
  const { summary, headers } = await parseRaw(raw);
  const result = await filter.check({ queueId: 'q', clientIp: '127.0.0.1', helo: null, sender: 'a@b.test', recipients: ['c@d.test'], path: '', size: 0, headers, tls: false, authenticatedUser: null, mime: summary });
  return { verdict: result.verdict, reasons: result.reasons, unchecked: summary.unchecked, sealed: summary.sealed, parts: summary.parts };
}

const head = (contentType: string) => `From: a@b.test\r\nTo: c@d.test\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: ${contentType}\r\n\r\n`;
const base64 = (data: Buffer | string) => Buffer.from(data).toString('base64').replace(/.{76}/g, '$&\r\n');
const attached = (name: string, data: Buffer, type = 'application/octet-stream') =>
  `Content-Type: ${type}; name="${name}"\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64(data)}\r\n`;
/** A message holding a text part and `file` (raw fields and body). */
const inner = (file: string) => `${head('multipart/mixed; boundary="CC"')}--CC\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--CC\r\n${file}--CC--\r\n`;

test('a multipart/digest part with no Content-Type is an attached message (RFC 2046 5.1.5): its program and its zip are found', async () => {
  const digest = (file: string) => `${head('multipart/digest; boundary="BB"')}--BB\r\n\r\n${inner(file)}--BB--\r\n`;
  const exe = await judge(digest(attached('evil.exe', peExecutable())));
  assert.equal(exe.verdict, 'reject');
  assert.equal(exe.parts[0]!.contentType, 'message/rfc822');
  assert.ok(exe.reasons.includes('blocked attachment type .exe: "evil.exe"'));
  const zip = await judge(digest(attached('docs.zip', makeZip([{ name: 'evil.exe', data: peExecutable() }]), 'application/zip')));
  assert.equal(zip.verdict, 'reject');
  assert.ok(zip.reasons.some((reason) => reason.includes('inside "docs.zip": "evil.exe"')), zip.reasons.join('; '));
  // a part of a digest that says what it is stays that
  const text = await judge(`${head('multipart/digest; boundary="BB"')}--BB\r\nContent-Type: text/plain\r\n\r\nbegin nothing\r\n--BB--\r\n`);
  assert.equal(text.parts[0]!.contentType, 'text/plain');
  assert.equal(text.verdict, 'accept');
});

test('base64 data after a "=" pad in one part is ambiguous (Thunderbird decodes each group of four, Moat in line): unchecked', async () => {
  const zip = makeZip([{ name: 'evil.exe', data: peExecutable() }]);
  const body = `UA==${zip.subarray(1).toString('base64')}`;
  const message = (encoded: string) => `${head('multipart/mixed; boundary="BB"')}--BB\r\nContent-Type: text/plain\r\n\r\nhi\r\n--BB\r\nContent-Type: application/zip; name="docs.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n${encoded}\r\n--BB--\r\n`;
  const reason = 'part 2 has base64 data after its "=" padding, which mail programs decode differently (ambiguous base64)';
  for (const encoded of [body, body.replace('UA==', 'UA==\r\n'), body.replace('UA==', 'UA=\r\n=')]) {
    const { unchecked } = await judge(message(encoded));
    // the pipeline quarantines an unchecked message (filters.unchecked)
    assert.deepEqual(unchecked, [reason], JSON.stringify(encoded.slice(0, 12)));
  }
  // padding at the end only, with line ends and blanks after it, is plain base64
  const plain = await judge(message(`${base64(Buffer.from('hello world'))}\r\n \r\n`));
  assert.deepEqual(plain.unchecked, []);
  assert.equal(plain.verdict, 'accept');
});

test('a boundary line ending in a form feed or vertical tab (a part for Thunderbird, content for RFC readers) is unchecked; spaces and tabs stay a boundary', async () => {
  const message = (after: string) =>
    `${head('multipart/mixed; boundary="BB"')}--BB\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--BB${after}\r\n${attached('evil.exe', peExecutable())}--BB--\r\n`;
  const reason = 'MIME parsing stopped: a boundary line ending in a form feed, vertical tab or other white space that mail programs read differently (ambiguous MIME)';
  for (const after of ['\f', '\v', ' \f\t', '\v\r']) {
    const { unchecked } = await judge(message(after));
    assert.deepEqual(unchecked, [reason], JSON.stringify(after));
  }
  for (const after of ['', ' \t']) {
    const { verdict, unchecked } = await judge(message(after));
    assert.equal(verdict, 'reject', JSON.stringify(after));
    assert.deepEqual(unchecked, []);
  }
  // in an attached message as well
  const nested = await judge(`${head('multipart/mixed; boundary="AA"')}--AA\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64(message('\f'))}\r\n--AA--\r\n`);
  assert.equal(nested.unchecked.length, 1);
  assert.match(nested.unchecked[0]!, /a boundary line ending in a form feed/);
});

test('S/MIME wrapped whole (opaque-signed or enveloped, smime.p7m) and PGP/MIME encrypted mail cannot be checked: sealed; a detached signature is plain MIME', async () => {
  const reason = (part: string) => `part ${part} is an S/MIME message (smime.p7m, signed or encrypted as a whole): its contents cannot be checked`;
  const blob = base64(Buffer.from('0\x82\x09\x66\x06\x09*\x86H\x86\xf7\x0d\x01\x07\x02 signed data holding evil.exe', 'latin1'));
  for (const type of ['application/x-pkcs7-mime; smime-type=signed-data; name="smime.p7m"', 'application/pkcs7-mime; smime-type=enveloped-data']) {
    const { sealed } = await judge(`${head(type)}`.replace('\r\n\r\n', '\r\nContent-Transfer-Encoding: base64\r\n\r\n') + blob);
    assert.deepEqual(sealed, [reason('1')], type);
  }
  const named = await judge(`${head('multipart/mixed; boundary="BB"')}--BB\r\n${attached('smime.p7m', Buffer.from('x'))}--BB--\r\n`);
  assert.deepEqual(named.sealed, [reason('1')]);
  const pgp = await judge(
    `${head('multipart/encrypted; protocol="application/pgp-encrypted"; boundary="BB"')}--BB\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n` +
      `--BB\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n--BB--\r\n`,
  );
  assert.deepEqual(pgp.sealed, ['the message is encrypted (multipart/encrypted, as PGP/MIME): its contents cannot be checked']);
  const signed = await judge(
    `${head('multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="BB"')}--BB\r\n${inner(attached('evil.exe', peExecutable()))}\r\n` +
      `--BB\r\nContent-Type: application/pkcs7-signature; name="smime.p7s"\r\nContent-Disposition: attachment; filename="smime.p7s"\r\nContent-Transfer-Encoding: base64\r\n\r\n${blob}\r\n--BB--\r\n`,
  );
  assert.deepEqual([signed.unchecked, signed.sealed], [[], []]);
  assert.equal(signed.verdict, 'reject');
});

test('names only some mail programs read are checked too: a Content-Name or X-Sun-Data-Name field, a yEnc =ybegin line in the text', async () => {
  const script = 'var s=new ActiveXObject("WScript.Shell");s.Run("calc.exe");\n';
  for (const field of ['Content-Name: invoice.js', 'X-Sun-Data-Name: invoice.js', 'content-name: "invoice.js"', 'X-Sun-Data-Name: =?utf-8?Q?invoice.js?=']) {
    const { verdict, reasons } = await judge(
      `${head('multipart/mixed; boundary="BB"')}--BB\r\nContent-Type: text/plain\r\n\r\nhi\r\n--BB\r\nContent-Type: application/octet-stream\r\n${field}\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64(script)}\r\n--BB--\r\n`,
    );
    assert.equal(verdict, 'reject', field);
    assert.ok(reasons.includes('blocked attachment type .js: "invoice.js"'), `${field}: ${reasons.join('; ')}`);
  }
  const yenc = (line: string) => Buffer.concat([Buffer.from(`${head('text/plain; charset=iso-8859-1').replace('\r\n\r\n', '\r\nContent-Transfer-Encoding: 8bit\r\n\r\n')}Hi,\r\n\r\n${line}\r\n`), Buffer.from([0xa0, 0x8b, 0x9c, 0x4a]), Buffer.from('\r\n=yend size=60\r\n')]);
  for (const line of ['=ybegin line=128 size=60 name=invoice.js', '=ybegin part=1 line=128 size=60 name=my invoice.js', '  =YBEGIN\tline=128 size=60 name=invoice.js ']) {
    const { verdict, parts } = await judge(yenc(line));
    assert.equal(verdict, 'reject', line);
    assert.ok(parts[0]!.names.some((name) => name.endsWith('invoice.js')), line);
  }
  const harmless = await judge(yenc('=ybegin line=128 size=60 name=photo.jpg'));
  assert.equal(harmless.verdict, 'accept');
  assert.deepEqual(harmless.parts[0]!.names, ['photo.jpg']);
});

test('yEnc begin lines are found however the text is cut; lines that only look like one are not', () => {
  const bytes = Buffer.from('=y\r\n=ybegin line=128 size=1 name=a.js\r\n=ybeginx name=no.js\r\n=ybegin size=1\r\n=ypart begin=1\r\n =ybegin line=1 name=b c.exe\r\nx =ybegin name=no2.js\r\n');
  for (let size = 1; size <= bytes.length; size++) {
    const names: string[] = [];
    const scanner = new UuencodeScanner({ name: (name) => names.push(name), problem: () => {} });
    for (let i = 0; i < bytes.length; i += size) scanner.write(bytes.subarray(i, i + size));
    scanner.end();
    assert.deepEqual(names, ['a.js', 'b c.exe'], `cut every ${size} bytes`);
  }
});

/** `data` uuencoded as uuencode(1) writes it: lines of 45 bytes, each with its length character. */
function uuencode(data: Buffer): string {
  const char = (value: number) => (value === 0 ? '`' : String.fromCharCode(value + 32));
  let out = '';
  for (let at = 0; at < data.length; at += 45) {
    const line = data.subarray(at, at + 45);
    out += char(line.length);
    for (let i = 0; i < line.length; i += 3) {
      const [a = 0, b = 0, c = 0] = [line[i], line[i + 1], line[i + 2]];
      out += char(a >> 2) + char(((a << 4) | (b >> 4)) & 63) + char(((b << 2) | (c >> 6)) & 63) + char(c & 63);
    }
    out += '\r\n';
  }
  return `${out}\`\r\n`;
}

test('a file uuencoded in a text is judged by its first bytes like an attachment: a program under any name is refused, any archive is unchecked', async () => {
  const text = (file: string) => `${head('text/plain')}Here it is.\r\n\r\n${file}`;
  const pe = await judge(text(`begin 644 invoice.pdf\r\n${uuencode(peExecutable())}end\r\n`));
  assert.equal(pe.verdict, 'reject');
  assert.ok(pe.reasons.includes('"invoice.pdf" uuencoded in the text is a program (pe-executable), whatever its name says'), pe.reasons.join('; '));
  const b64pe = await judge(text(`begin-base64 644 invoice.pdf\r\n${base64(peExecutable())}\r\n====\r\n`));
  assert.equal(b64pe.verdict, 'reject');
  const zip = makeZip([{ name: 'evil.exe', data: peExecutable() }]);
  for (const file of [`begin 644 docs.zip\r\n${uuencode(zip)}end\r\n`, `begin-base64 644 docs.zip\r\n${base64(zip)}\r\n====\r\n`, `begin 644 notes.txt\r\n${uuencode(zip)}end\r\n`, `begin 644 docs.zip\r\n${uuencode(Buffer.from('not a zip at all'))}end\r\n`]) {
    const { verdict, reasons } = await judge(text(file));
    assert.equal(verdict, 'quarantine', file.slice(0, 30));
    assert.match(reasons[0]!, /^archive ".*" not checked: it is uuencoded in the text/, file.slice(0, 30));
  }
  // a harmless file stays harmless; the decoder takes lines cut short by a transport (trailing spaces dropped)
  const harmless = await judge(text(`begin 644 notes.txt\r\n${uuencode(Buffer.from('hello, these are the notes\r\n'))}end\r\n`));
  assert.equal(harmless.verdict, 'accept');
  assert.deepEqual(harmless.parts[0]!.encodedFiles, [{ name: 'notes.txt', type: null }]);
  const trimmed = await judge(text(`begin 644 a.dat\r\n${uuencode(peExecutable()).replace(/`/g, ' ').replace(/ +\r\n/g, '\r\n')}end\r\n`));
  assert.equal(trimmed.verdict, 'reject');
});
