import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkServeReady, validateConfig } from '../../../src-relay/config/load.ts';
import { selfSignedCertificate } from '../../../src-relay/smtp/self-signed.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const NOT_AFTER = new Date(Date.now() + 30 * 86400_000);

/** The problems serving would have with the TLS files of a config, by key path. */
function problems(tls: { mx?: { cert: string; key: string }; admin?: { cert: string; key: string }; caFile?: string }): Record<string, string> {
  const result = validateConfig({
    domains: ['example.com'],
    internal: { host: '10.0.0.5' },
    ...(tls.mx ? { mx: { tls: tls.mx } } : {}),
    ...(tls.admin ? { admin: { tls: { enabled: true, ...tls.admin } } } : {}),
    ...(tls.caFile ? { outbound: { caFile: tls.caFile } } : {}),
  });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  return Object.fromEntries(checkServeReady(result.config).map((problem) => [problem.path, problem.message]));
}

test('the TLS files are read as the listeners read them: each wrong file is named at its field in plain words, before Apply', async () => {
  const dir = tempDir('moat-pem-');
  try {
    const pair = await selfSignedCertificate('mx.example.test', NOT_AFTER, 1024);
    const other = await selfSignedCertificate('other.example.test', NOT_AFTER, 1024);
    const file = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const cert = file('cert.pem', pair.cert);
    const key = file('key.pem', pair.key);
    const otherKey = file('other-key.pem', other.key);
    const hostname = file('hostname', 'mail\n');
    const folder = join(dir, 'folder');
    mkdirSync(folder);

    assert.deepEqual(problems({ mx: { cert, key }, admin: { cert, key }, caFile: cert }), {});
    assert.deepEqual(problems({ mx: { cert: hostname, key: hostname } }), {
      'mx.tls.cert': `${hostname} holds no certificate: a PEM file starts with "-----BEGIN CERTIFICATE-----"`,
      'mx.tls.key': `${hostname} holds no private key Moat can use: a PEM file starts with "-----BEGIN PRIVATE KEY-----" (or RSA/EC PRIVATE KEY), and a key protected by a passphrase cannot be used`,
    });
    // the certificate where the key belongs, and the other way round
    assert.match(problems({ mx: { cert: key, key: cert } })['mx.tls.cert'] ?? '', /holds no certificate/);
    assert.deepEqual(problems({ mx: { cert, key: otherKey } }), { 'mx.tls.key': `the key in ${otherKey} does not belong to the certificate in ${cert}` });
    assert.deepEqual(problems({ admin: { cert, key: otherKey } }), { 'admin.tls.key': `the key in ${otherKey} does not belong to the certificate in ${cert}` });
    assert.deepEqual(problems({ mx: { cert: join(dir, 'absent.pem'), key: folder } }), {
      'mx.tls.cert': `${join(dir, 'absent.pem')} does not exist`,
      'mx.tls.key': `${folder} is a folder, not a file`,
    });
    assert.deepEqual(problems({ caFile: hostname }), { 'outbound.caFile': `${hostname} holds no certificate: a PEM file starts with "-----BEGIN CERTIFICATE-----"` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
