import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseMessageFile, decodeQuotedPrintable, stripHtml } from '../../../src-relay/filters/mime.ts';
import { listZip } from '../../../src-relay/filters/zip.ts';
import { detectFileType } from '../../../src-relay/filters/file-type.ts';
import { tempDir } from '../../helpers/relay.ts';
import { EICAR, makeZip, messageWithAttachments, peExecutable } from '../../helpers/mail-parts.ts';

async function parse(raw: string) {
  const dir = tempDir('moat-mime-');
  try {
    const path = join(dir, 'message');
    writeFileSync(path, raw);
    return await parseMessageFile(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

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

test('quoted-printable: hex escapes, soft line breaks, a lone "=" kept', () => {
  assert.equal(decodeQuotedPrintable(Buffer.from('a=3Db=\r\nc = d')).toString(), 'a=bc = d');
});

test('stripHtml leaves no tags, comments, scripts or styles', () => {
  assert.equal(stripHtml('<!-- x --><head><title>t</title></head><b>a</b>&nbsp;b<script>evil()</script>'), 'a b');
});

test('magic numbers: PE, DOS stub, ELF, zip, ISO at 32769, and nothing for text', () => {
  assert.equal(detectFileType(peExecutable()), 'pe-executable');
  assert.equal(detectFileType(Buffer.from('MZ')), 'dos-executable');
  assert.equal(detectFileType(Buffer.from('\x7fELF....', 'latin1')), 'elf-executable');
  const iso = Buffer.alloc(32774);
  iso.write('CD001', 32769, 'latin1');
  assert.equal(detectFileType(iso), 'iso-image');
  assert.equal(detectFileType(Buffer.from('hello')), null);
});

test('a damaged zip is reported, not trusted', () => {
  assert.match(listZip(Buffer.from('PK\x03\x04 not really a zip'), 24).problem ?? '', /no zip central directory/);
});
