import { writeFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { selfSignedCertificate, type SelfSignedPems } from '../../src-relay/smtp/self-signed.ts';
import { RawSmtp } from './smtp.ts';

/** A throw-away pair (RSA 1024: quick to make) valid for `days`; its fingerprint tells the pairs apart. */
export async function makePair(name: string, days: number): Promise<SelfSignedPems & { fingerprint: string; validTo: number }> {
  const pems = await selfSignedCertificate(name, new Date(Date.now() + days * 86400_000), 1024);
  const cert = new X509Certificate(pems.cert);
  return { ...pems, fingerprint: cert.fingerprint256, validTo: Date.parse(cert.validTo) };
}

/** Overwrites the files in place, as certbot's deploy step or win-acme does (same paths, same inodes). */
export function writePair(paths: { cert: string; key: string }, pair: SelfSignedPems): void {
  writeFileSync(paths.cert, pair.cert);
  writeFileSync(paths.key, pair.key);
}

/** The fingerprint of the certificate a listener presents: after STARTTLS, or at connect on an implicit-TLS port. */
export async function servedFingerprint(port: number, implicitTls = false): Promise<string> {
  const client = await RawSmtp.connect(port, implicitTls);
  try {
    if (!implicitTls) {
      await client.hello();
      const reply = await client.startTls();
      if (!reply.startsWith('250')) throw new Error(`EHLO after STARTTLS: ${reply}`);
    }
    return peerFingerprint(client);
  } finally {
    client.close();
  }
}

export function peerFingerprint(client: RawSmtp): string {
  const peer = (client.socket as TLSSocket).getPeerX509Certificate();
  if (!peer) throw new Error('no certificate presented');
  return peer.fingerprint256;
}
