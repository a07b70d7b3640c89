import { createReadStream, open as openCallback } from 'node:fs';
import type { DKIMSignOptions } from 'mailauth';
import { SpoolWriter } from '../store/spool.ts';
import { pipeChain } from '../util/pipe-chain.ts';
import { installJoiStandIn } from '../filters/mailauth-joi.ts';
import type { DkimKeyStore } from './keys.ts';

/** mailauth is loaded on the first signature: a third of a second that every CLI command would pay otherwise. */
let signer: Promise<typeof import('mailauth/lib/dkim/sign.js')> | undefined;

export interface Signed {
  /** The writer of the signed copy (the DKIM-Signature fields on top); the unsigned one is discarded. */
  writer: SpoolWriter;
  /** Signing domains and their selectors, e.g. "example.com (s=moat-202611)". */
  signedFor: string[];
}

/**
 * Signs a spooled message for each of its From domains that has a key (relaxed/relaxed, rsa-sha256, mailauth's
 * default header list). Done before the 250, so the spool file is exactly what is sent and a retry sends the same
 * signature. The DKIM-Signature must stand in front of the message, so a signed message is written a second time
 * (the spool writes its file front to back); mail without a key is not touched.
 */
export class DkimSigner {
  constructor(private readonly keys: DkimKeyStore) {}

  /** Which of these domains have a key. */
  keysFor(domains: readonly string[]) {
    return [...new Set(domains)].map((domain) => this.keys.get(domain)).filter((key) => key !== undefined);
  }

  /** Null when no From domain has a key. Throws when signing fails (the caller answers 4xx: nothing goes out unsigned by accident). */
  async sign(writer: SpoolWriter, fromDomains: readonly string[], signTime: Date): Promise<Signed | null> {
    const keys = this.keysFor(fromDomains);
    if (keys.length === 0) return null;
    const options = {
      canonicalization: 'relaxed/relaxed',
      algorithm: 'rsa-sha256',
      signTime,
      signatureData: keys.map((key) => ({ signingDomain: key.domain, selector: key.selector, privateKey: key.privateKey })),
    };
    // mailauth's typings want signingDomain/selector/privateKey at the top level, but its signer reads only
    // signatureData (lib/dkim/dkim-signer.js), as its README shows
    if (!signer) installJoiStandIn();
    signer ??= import('mailauth/lib/dkim/sign.js');
    const { dkimSign } = await signer;
    const result = await dkimSign(createReadStream(writer.tempPath), options as unknown as DKIMSignOptions);
    if (result.errors.length > 0) throw new Error(`DKIM signing failed: ${result.errors.map((error) => (error as Error).message ?? String(error)).join('; ')}`);
    const signed = await prepend(writer, result.signatures);
    return { writer: signed, signedFor: keys.map((key) => `${key.domain} (s=${key.selector})`) };
  }
}

/** A second temp file holding `prefix` and then the first one; the first is discarded once the copy is written. */
async function prepend(writer: SpoolWriter, prefix: string): Promise<SpoolWriter> {
  const tempPath = `${writer.tempPath}.signed`;
  const fd = await new Promise<number>((resolve, reject) => openCallback(tempPath, 'wx', 0o600, (error, opened) => (error ? reject(error) : resolve(opened))));
  const copy = new SpoolWriter(fd, tempPath, writer.finalPath);
  try {
    copy.write(prefix);
    await pipeChain([createReadStream(writer.tempPath), copy]);
  } catch (error) {
    await copy.discard();
    throw error;
  }
  await writer.discard();
  return copy;
}
