import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileWhole } from '../util/write-whole.ts';
import { selfSignedCertificate } from './self-signed.ts';

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  selfSigned: boolean;
}

/** How long the generated certificate is valid; remote MTAs rarely check it, the patch checklist reports expiry. */
const SELF_SIGNED_DAYS = 825;

/** Where the listeners' pair is read from: the configured files, else the self-signed pair in DATA/tls. */
export function tlsPaths(dataDir: string, cert?: string, key?: string): { cert: string; key: string; selfSigned: boolean } {
  if (cert && key) return { cert, key, selfSigned: false };
  return { cert: join(dataDir, 'tls', 'cert.pem'), key: join(dataDir, 'tls', 'key.pem'), selfSigned: true };
}

/** The configured PEM pair, or a self-signed pair (RSA 2048, SHA-256) made on first start and kept in DATA/tls. */
export async function loadOrCreateTls(dataDir: string, hostname: string, cert?: string, key?: string): Promise<TlsPair> {
  if (cert && key) return { cert: readFileSync(cert), key: readFileSync(key), selfSigned: false };
  const dir = join(dataDir, 'tls');
  const { cert: certPath, key: keyPath } = tlsPaths(dataDir);
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { cert: readFileSync(certPath), key: readFileSync(keyPath), selfSigned: true };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pems = await selfSignedCertificate(hostname, new Date(Date.now() + SELF_SIGNED_DAYS * 86400_000));
  await writeFileWhole(keyPath, pems.key, 0o600);
  await writeFileWhole(certPath, pems.cert, 0o644);
  return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.key), selfSigned: true };
}
