import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ByteReader, TarWriter, readTar, tarHeader } from '../../../src-relay/backup/archive.ts';
import { BackupCryptoError, GCM_TAG_BYTES, startDecryption, startEncryption } from '../../../src-relay/backup/crypto.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

async function writeTar(entries: [string, Buffer][]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const tar = new TarWriter(async (chunk) => void chunks.push(Buffer.from(chunk)));
  for (const [name, data] of entries) await tar.add(name, data.length, data, Date.parse('2026-11-28T10:00:00Z'));
  await tar.finish();
  return Buffer.concat(chunks);
}

async function readAll(data: Buffer, chunkSize = 700): Promise<[string, string][]> {
  async function* pieces() {
    for (let i = 0; i < data.length; i += chunkSize) yield data.subarray(i, i + chunkSize);
  }
  const out: [string, string][] = [];
  for await (const entry of readTar(new ByteReader(pieces()))) {
    const parts: Buffer[] = [];
    for await (const chunk of entry.body) parts.push(Buffer.from(chunk));
    out.push([entry.name, Buffer.concat(parts).toString('latin1')]);
  }
  return out;
}

test('the archive round-trips, with odd sizes, empty files and a long path, read in small chunks', async () => {
  const longName = `${'d'.repeat(60)}/${'e'.repeat(60)}/file-${'f'.repeat(50)}.pem`;
  const entries: [string, Buffer][] = [
    ['moat-backup.json', Buffer.from('{"format":"moat-backup"}')],
    ['empty', Buffer.alloc(0)],
    ['spool/msg/0123456789ABCDEFGHJKMN', Buffer.from('x'.repeat(1537))],
    [longName, Buffer.from('long')],
  ];
  const data = await writeTar(entries);
  assert.equal(data.length % 512, 0);
  assert.deepEqual(await readAll(data), entries.map(([name, body]) => [name, body.toString('latin1')]));
  assert.deepEqual(await readAll(data, 1), entries.map(([name, body]) => [name, body.toString('latin1')]), 'byte by byte');
});

test('an unencrypted backup is a tar file the system tar lists', async (t) => {
  if (spawnSync('tar', ['--version']).status !== 0) return t.skip('no tar on this box');
  const dir = tempDir('moat-tar-');
  try {
    const file = join(dir, 'b.tar');
    writeFileSync(file, await writeTar([['moat.json', Buffer.from('{}\n')], ['tls/cert.pem', Buffer.from('PEM')]]));
    const listing = spawnSync('tar', ['-tf', file], { encoding: 'utf8' });
    assert.equal(listing.status, 0, listing.stderr);
    assert.deepEqual(listing.stdout.trim().split('\n'), ['moat.json', 'tls/cert.pem']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('names that could escape the target folder are refused when writing and when reading', async () => {
  for (const name of ['../etc/passwd', '/etc/passwd', 'a/../../b', 'a//b', 'a/./b', 'sp ace']) {
    assert.throws(() => tarHeader(name, 0, 0), /not a safe archive name/, name);
  }
  const header = tarHeader('aaaaaaaaaaaa', 0, 0);
  header.write('../evil\0\0\0\0\0', 0, 'ascii');
  // fix the checksum so only the name is wrong
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  await assert.rejects(readAll(Buffer.concat([header, Buffer.alloc(1024)])), /unsafe name/);
});

test('a damaged header or a truncated archive is an error, not a short restore', async () => {
  const data = await writeTar([['a', Buffer.from('hello')]]);
  const damaged = Buffer.from(data);
  damaged[10] = 0x41;
  await assert.rejects(readAll(damaged), /checksum/);
  await assert.rejects(readAll(data.subarray(0, 512 + 3)), /truncated|ends/);
  await assert.rejects(readAll(data.subarray(0, 1024)), /end marker|truncated/);
});

test('sizes past 8 GiB use the base-256 form and read back', async () => {
  const header = tarHeader('big', 9 * 1024 ** 3, 0);
  assert.equal(header[124], 0x80);
  const chunks = (async function* () {
    yield header;
  })();
  const entries = readTar(new ByteReader(chunks));
  const first = await entries.next();
  assert.equal(first.done, false);
  assert.equal((first.value as { size: number }).size, 9 * 1024 ** 3);
});

async function encrypt(passphrase: string, plaintext: Buffer): Promise<Buffer> {
  const { prelude, cipher } = await startEncryption(passphrase);
  return Buffer.concat([prelude, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

async function decrypt(passphrase: string, file: Buffer): Promise<Buffer> {
  const tag = file.subarray(file.length - GCM_TAG_BYTES);
  const { decipher, start, end } = await startDecryption(file.subarray(0, Math.min(file.length, 4108)), tag, file.length, passphrase);
  return Buffer.concat([decipher.update(file.subarray(start, end)), decipher.final()]);
}

test('encryption round-trips; a wrong passphrase is told at once; any altered byte fails authentication', async () => {
  const plaintext = Buffer.from('secret queue contents '.repeat(1000));
  const file = await encrypt('correct horse battery staple', plaintext);
  assert.ok(!file.includes(Buffer.from('secret queue')), 'no plaintext in the file');
  assert.deepEqual(await decrypt('correct horse battery staple', file), plaintext);
  await assert.rejects(decrypt('wrong', file), (error: unknown) => error instanceof BackupCryptoError && error.code === 'WRONG_PASSPHRASE');
  const body = Buffer.from(file);
  body[body.length - 100]! ^= 1;
  await assert.rejects(decrypt('correct horse battery staple', body), /auth/i);
  const header = Buffer.from(file);
  const at = header.indexOf('"cipher"');
  header[at + 2] = 'C'.charCodeAt(0); // the header is authenticated too
  await assert.rejects(decrypt('correct horse battery staple', header));
});

/** `file` with its header's scrypt parameters changed (the passphrase check then fails, if the derivation runs). */
function withScrypt(file: Buffer, params: Record<string, unknown>): Buffer {
  const length = file.readUInt32BE(8);
  const header = { ...JSON.parse(file.subarray(12, 12 + length).toString('utf8')), ...params };
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(json.length);
  return Buffer.concat([file.subarray(0, 8), prefix, json, file.subarray(12 + length)]);
}

test("a backup header asking scrypt for more than Moat's own use allows is refused before any key is derived; up to it, the passphrase decides", async () => {
  const file = await encrypt('correct horse battery staple', Buffer.from('queue'));
  const refused = (error: unknown) => error instanceof BackupCryptoError && error.code === 'DAMAGED' && /asks scrypt for more than a Moat backup ever needs/.test(error.message);
  // the attacker's file: 4 GiB at N 2^20, r 32 (27.9 s and 4.27 GB here before the passphrase was found wrong)
  const started = process.hrtime.bigint();
  await assert.rejects(decrypt('correct horse battery staple', withScrypt(file, { N: 2 ** 20, r: 32 })), refused);
  await assert.rejects(decrypt('x', withScrypt(file, { N: 2 ** 15, r: 8, p: 16 })), refused, 'sixteen times the work');
  // one step past each limit
  await assert.rejects(decrypt('x', withScrypt(file, { N: 2 ** 18, r: 8 })), refused, '256 MiB');
  await assert.rejects(decrypt('x', withScrypt(file, { N: 2 ** 15, r: 8, p: 5 })), refused, 'five times the work');
  assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 1_000, 'no derivation ran');
  for (const bad of [{ N: 'x' }, { p: 0 }, { r: 1.5 }, { salt: 7 }]) await assert.rejects(decrypt('x', withScrypt(file, bad)), (error: unknown) => error instanceof BackupCryptoError && error.code === 'DAMAGED', JSON.stringify(bad));
  // at the limits the derivation runs and only the passphrase check stands in the way (the header is part of the AAD)
  await assert.rejects(decrypt('correct horse battery staple', withScrypt(file, { N: 2 ** 17, r: 8 })), (error: unknown) => error instanceof BackupCryptoError && error.code === 'WRONG_PASSPHRASE');
  await assert.rejects(decrypt('correct horse battery staple', withScrypt(file, { N: 2 ** 15, r: 8, p: 4 })), (error: unknown) => error instanceof BackupCryptoError && error.code === 'WRONG_PASSPHRASE');
});
