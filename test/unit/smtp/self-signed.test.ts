import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { derInteger, selfSignedCertificate } from '../../../src-relay/smtp/self-signed.ts';
import { loadOrCreateTls } from '../../../src-relay/smtp/tls.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

test('a self-signed certificate names the host, is no CA, serves TLS, and its signature and key match', async () => {
  const notAfter = new Date(Date.now() + 825 * 86400_000);
  const { cert, key } = await selfSignedCertificate('mx.example.test', notAfter);
  const x509 = new X509Certificate(cert);
  assert.equal(x509.subject, 'CN=mx.example.test');
  assert.equal(x509.issuer, 'CN=mx.example.test');
  assert.equal(x509.subjectAltName, 'DNS:mx.example.test');
  assert.equal(x509.ca, false);
  assert.deepEqual(x509.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.ok(Math.abs(Date.parse(x509.validFrom) - Date.now()) < 60_000, x509.validFrom);
  assert.equal(Date.parse(x509.validTo), Math.floor(notAfter.getTime() / 1000) * 1000);
  assert.ok(x509.verify(x509.publicKey), 'signed by its own key');
  assert.ok(x509.checkPrivateKey(createPrivateKey(key)));
  assert.equal((x509.publicKey.asymmetricKeyDetails ?? {}).modulusLength, 2048);

  const server = createServer({ cert, key }, (socket) => socket.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'mx.example.test', rejectUnauthorized: false });
    const text = await new Promise<string>((resolve, reject) => {
      let data = '';
      socket.on('data', (chunk) => (data += chunk));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.equal(text, 'hello');
    assert.equal(socket.getPeerX509Certificate()?.fingerprint256, x509.fingerprint256);
  } finally {
    server.close();
  }
});

test('a certificate valid past 2049 ends in GeneralizedTime, which parses to the same second', async () => {
  const notAfter = new Date(Date.UTC(2051, 5, 30, 12, 34, 56));
  const x509 = new X509Certificate((await selfSignedCertificate('mx.example.test', notAfter, 1024)).cert);
  assert.equal(Date.parse(x509.validTo), notAfter.getTime());
});

test('the alternative name is the host in ASCII, an IPv4 address as an address, and left out for a name that is neither', async () => {
  const san = async (hostname: string) => new X509Certificate((await selfSignedCertificate(hostname, new Date(Date.now() + 86400_000), 1024)).cert).subjectAltName;
  assert.equal(await san('mx.bücher.test'), 'DNS:mx.xn--bcher-kva.test');
  assert.equal(await san('192.0.2.25'), 'IP Address:192.0.2.25');
  assert.equal(await san('mail_host'), 'DNS:mail_host');
  // what an unconfigured relay could take from os.hostname(): never written mangled
  for (const odd of ['ü host', 'a\nb.test', '中 x', '::1']) assert.equal(await san(odd), undefined, JSON.stringify(odd));
});

test('a DER INTEGER stays positive: a zero byte goes in front of a set top bit, leading zeros go', () => {
  assert.deepEqual([...derInteger(Buffer.from([0x80, 0x01]))], [0x02, 0x03, 0x00, 0x80, 0x01]);
  assert.deepEqual([...derInteger(Buffer.from([0x00, 0x00, 0x7f]))], [0x02, 0x01, 0x7f]);
  assert.deepEqual([...derInteger(Buffer.from([0x00]))], [0x02, 0x01, 0x00]);
});

test('the first start makes the pair (key readable by the relay only), later starts read the same one', async () => {
  const dataDir = tempDir('moat-tls-');
  const first = await loadOrCreateTls(dataDir, 'mx.example.test');
  assert.equal(first.selfSigned, true);
  assert.equal(statSync(join(dataDir, 'tls', 'key.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dataDir, 'tls', 'cert.pem')).mode & 0o777, 0o644);
  assert.deepEqual(readFileSync(join(dataDir, 'tls', 'cert.pem')), first.cert);
  const again = await loadOrCreateTls(dataDir, 'mx.example.test');
  assert.deepEqual(again.cert, first.cert);
  assert.deepEqual(again.key, first.key);
  assert.equal(new X509Certificate(first.cert).subject, 'CN=mx.example.test');
});
