import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileWhole } from '../util/write-whole.ts';

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  selfSigned: boolean;
}

/** How long the generated certificate is valid; remote MTAs rarely check it, the patch checklist reports expiry. */
const SELF_SIGNED_DAYS = 825;

/**
 * The configured PEM pair, or a self-signed pair made on first start and kept in DATA/tls. selfsigned (and the X.509
 * library under it, about 15 MB of heap) is loaded only to make one.
 */
export async function loadOrCreateTls(dataDir: string, hostname: string, cert?: string, key?: string): Promise<TlsPair> {
  if (cert && key) return { cert: readFileSync(cert), key: readFileSync(key), selfSigned: false };
  const dir = join(dataDir, 'tls');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { cert: readFileSync(certPath), key: readFileSync(keyPath), selfSigned: true };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const notAfter = new Date(Date.now() + SELF_SIGNED_DAYS * 86400_000);
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
  });
  await writeFileWhole(keyPath, pems.private, 0o600);
  await writeFileWhole(certPath, pems.cert, 0o644);
  return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.private), selfSigned: true };
}

