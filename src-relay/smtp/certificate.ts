// A certificate and key the admin brings (pasted into the setup wizard): checked to be PEM, to belong together and
// to be in date, then kept in DATA/tls beside the self-signed pair, for mx.tls.cert and mx.tls.key to point at.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileWhole } from '../util/write-whole.ts';

export const CUSTOM_CERT_FILE = 'custom-cert.pem';
export const CUSTOM_KEY_FILE = 'custom-key.pem';

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** What the admin gave is not a usable pair; the message says why in words they can act on. */
export class CertificateProblem extends Error {}

export interface CertificateFacts {
  /** "CN=mail.example.com, O=Example" */
  subject: string;
  issuer: string;
  /** The DNS names it is valid for (subjectAltName; the CN when it has none). */
  names: string[];
  validFrom: number;
  validTo: number;
  selfSigned: boolean;
}

/**
 * Checks a PEM certificate (the server's own first, then any chain) and its PEM private key: both readable, the key
 * unencrypted and belonging to the certificate, the certificate not expired. Throws CertificateProblem otherwise.
 */
export function inspectCertificatePair(certPem: string, keyPem: string, now: number): CertificateFacts {
  if (/PRIVATE KEY-----/.test(certPem)) throw new CertificateProblem('the certificate text holds a private key: paste the key into the key field only');
  const blocks = certPem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new CertificateProblem('the certificate is not PEM: it must start with -----BEGIN CERTIFICATE-----');
  const chain = blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new CertificateProblem(`${index === 0 ? 'the certificate' : `certificate ${index + 1} of the chain`} cannot be read: ${(error as Error).message}`);
    }
  });
  const cert = chain[0]!;
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) throw new CertificateProblem('the key is not a PEM private key: it must start with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)');
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(keyPem)) {
    throw new CertificateProblem('the key is protected by a passphrase: Moat needs it without one (openssl pkey -in key.pem -out plain-key.pem)');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new CertificateProblem(`the key cannot be read: ${(error as Error).message}`);
  }
  if (!cert.checkPrivateKey(key)) {
    const hint = chain.length > 1 ? ' (the server\'s own certificate must come first, then the chain)' : '';
    throw new CertificateProblem(`the key does not belong to the certificate for ${describeName(cert.subject)}${hint}`);
  }
  const validTo = Date.parse(cert.validTo);
  if (validTo <= now) throw new CertificateProblem(`the certificate expired on ${cert.validTo}`);
  return {
    subject: describeName(cert.subject),
    issuer: describeName(cert.issuer),
    names: certificateNames(cert),
    validFrom: Date.parse(cert.validFrom),
    validTo,
    selfSigned: cert.subject === cert.issuer && cert.verify(cert.publicKey),
  };
}

/** Checks the pair, then writes it whole into DATA/tls (the key readable by this user only); returns the paths. */
export async function saveCertificatePair(dataDir: string, certPem: string, keyPem: string, now: number): Promise<CertificateFacts & { cert: string; key: string }> {
  const cert = normalizePem(certPem);
  const key = normalizePem(keyPem);
  const facts = inspectCertificatePair(cert, key, now);
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certPath = join(dir, CUSTOM_CERT_FILE);
  const keyPath = join(dir, CUSTOM_KEY_FILE);
  await writeFileWhole(keyPath, key, 0o600);
  await writeFileWhole(certPath, cert, 0o644);
  return { ...facts, cert: certPath, key: keyPath };
}

function normalizePem(text: string): string {
  return `${text.replace(/\r\n?/g, '\n').trim()}\n`;
}

function describeName(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

/** DNS names from subjectAltName ("DNS:a.example, DNS:b.example, IP Address:192.0.2.1"), else the subject's CN. */
function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  for (const match of (cert.subjectAltName ?? '').matchAll(/(?:^|,\s*)DNS:("?)([^,"]+)\1/g)) names.push(match[2]!.trim().toLowerCase());
  if (names.length) return [...new Set(names)];
  const cn = /^CN=(.+)$/m.exec(cert.subject)?.[1];
  return cn ? [cn.trim().toLowerCase()] : [];
}
