// How the tests sign mail with mailauth's signer: one place that knows its two traps.
import type { DKIMSignOptions } from 'mailauth';
// the signer alone: mailauth's index would load its verifiers before the relay's first check puts the key cache in
import { dkimSign } from 'mailauth/lib/dkim/sign.js';

/**
 * `message` with a DKIM-Signature on top. `signTime` is always given: without it mailauth reads the clock once for
 * the header it signs and again for the one it writes, and a signature made across a half second does not verify.
 * mailauth's runtime takes signatureData (lib/dkim/dkim-signer.js, its README); its bundled types say otherwise.
 */
export async function dkimSigned(
  message: string,
  key: { domain: string; selector: string; privateKey: string; algorithm?: 'rsa-sha1'; maxBodyLength?: number },
  signTime = new Date(),
): Promise<string> {
  const options = { signTime, signatureData: [{ signingDomain: key.domain, selector: key.selector, privateKey: key.privateKey, algorithm: key.algorithm, maxBodyLength: key.maxBodyLength }] };
  const { signatures, errors } = await dkimSign(message, options as unknown as DKIMSignOptions);
  if (errors.length > 0) throw new Error(`DKIM signing failed: ${errors.map(String).join('; ')}`);
  return signatures + message;
}
