// setup.saveCertificate: a PEM pair checked with node:crypto (readable, unencrypted key, belonging together, in
// date) and kept in DATA/tls whole, the key readable by the relay's user only.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { setupHandlers } from '../../../src-relay/admin/handlers/setup.ts';
import { apiContext } from '../../helpers/api-context.ts';
import { apiError, callHandler } from '../../helpers/api-call.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function context() {
  const dataDir = tempDir('moat-cert-');
  dirs.push(dataDir);
  return apiContext(null, { dataDir });
}

const DAY_MS = 86400_000;

function pair(commonName: string, options: { names?: string[]; notBefore?: number; notAfter?: number } = {}) {
  return generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(options.notBefore ?? Date.now() - DAY_MS),
    notAfterDate: new Date(options.notAfter ?? Date.now() + 90 * DAY_MS),
    extensions: options.names ? [{ name: 'subjectAltName', altNames: options.names.map((value) => ({ type: 2 as const, value })) }] : undefined,
  });
}

const save = (ctx: ReturnType<typeof context>, cert: string, key: string) => callHandler(setupHandlers, 'setup.saveCertificate', { cert, key }, ctx);

test('a matching pair is kept in DATA/tls: the key readable by its owner only, and its subject, names and expiry come back', async () => {
  const pems = await pair('mail.example.test', { names: ['mail.example.test', 'MX.Example.test'] });
  const ctx = context();
  const saved = await save(ctx, pems.cert, pems.private);
  assert.equal(saved.cert, join(ctx.dataDir, 'tls', 'custom-cert.pem'));
  assert.equal(saved.key, join(ctx.dataDir, 'tls', 'custom-key.pem'));
  assert.equal(statSync(saved.key).mode & 0o777, 0o600);
  assert.equal(readFileSync(saved.cert, 'utf8').trim(), pems.cert.trim());
  assert.equal(readFileSync(saved.key, 'utf8').trim(), pems.private.trim());
  assert.ok(new X509Certificate(readFileSync(saved.cert)).checkPrivateKey(createPrivateKey(readFileSync(saved.key))));
  assert.equal(saved.subject, 'CN=mail.example.test');
  assert.deepEqual(saved.names, ['mail.example.test', 'mx.example.test']);
  assert.equal(saved.validTo, Date.parse(new X509Certificate(pems.cert).validTo));
  assert.deepEqual(readdirSync(join(ctx.dataDir, 'tls')).sort(), ['custom-cert.pem', 'custom-key.pem'], 'no temp files left behind');
});

test('a second save replaces the pair whole; CRLF line ends from a Windows clipboard are fine', async () => {
  const ctx = context();
  const old = await pair('old.example.test');
  await save(ctx, old.cert, old.private);
  const pems = await pair('new.example.test');
  const saved = await save(ctx, pems.cert.replace(/\n/g, '\r\n'), pems.private.replace(/\n/g, '\r\n'));
  assert.equal(saved.subject, 'CN=new.example.test');
  assert.deepEqual(saved.names, ['new.example.test'], 'without subjectAltName entries: the CN');
  assert.ok(!readFileSync(saved.cert, 'utf8').includes('\r'));
  assert.ok(new X509Certificate(readFileSync(saved.cert)).checkPrivateKey(createPrivateKey(readFileSync(saved.key))), 'the new key with the new certificate');
});

test('a key of another certificate is refused as CERTIFICATE_INVALID, and nothing is written', async () => {
  const ctx = context();
  const one = await pair('one.example.test');
  const other = await pair('other.example.test');
  await assert.rejects(save(ctx, one.cert, other.private), apiError('CERTIFICATE_INVALID', /the key does not belong to the certificate for CN=one\.example\.test/));
  assert.equal(existsSync(join(ctx.dataDir, 'tls')), false);
});

test('garbage, a key in the certificate field, a passphrase-protected key and an expired certificate are each refused with the reason', async () => {
  const ctx = context();
  const good = await pair('mail.example.test');
  const expired = await pair('old.example.test', { notBefore: Date.now() - 400 * DAY_MS, notAfter: Date.now() - DAY_MS });
  const locked = createPrivateKey(good.private).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret words' }) as string;
  const cases: [string, string, string, RegExp][] = [
    ['garbage certificate', 'hello, this is not a certificate', good.private, /the certificate is not PEM/],
    ['damaged certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', good.private, /the certificate cannot be read/],
    ['garbage key', good.cert, 'not a key at all', /the key is not a PEM private key/],
    ['damaged key', good.cert, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', /the key cannot be read/],
    ['key pasted as certificate', `${good.cert}${good.private}`, good.private, /the certificate text holds a private key/],
    ['passphrase-protected key', good.cert, locked, /protected by a passphrase/],
    ['expired certificate', expired.cert, expired.private, /the certificate expired on /],
  ];
  for (const [what, cert, key, reason] of cases) {
    await assert.rejects(save(ctx, cert, key), apiError('CERTIFICATE_INVALID', reason), what);
  }
  assert.equal(existsSync(join(ctx.dataDir, 'tls')), false);
});
