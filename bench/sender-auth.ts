// The sender domain's DNS, as the bench relay's fixture resolver answers it (MOAT_DNS_FIXTURES): SPF lets the bench
// client (127.0.0.1) send for sender.test, a DKIM key signs every bench message, and DMARC asks for p=reject. So the
// default filter set's sender authentication does its full work (SPF evaluation, a DKIM RSA verification, a DMARC
// look-up and alignment) and passes, as for real mail from a well-run domain; no real DNS server is asked.
import { generateKeyPairSync } from 'node:crypto';
import type { DKIMSignOptions } from 'mailauth';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { DnsFixtures } from '../src-relay/util/fixture-resolver.ts';

export const SENDER_DOMAIN = 'sender.test';
export const SENDER = `bench@${SENDER_DOMAIN}`;
const SELECTOR = 'bench';
/** RSA 2048, what most signing domains publish (RFC 8301 asks for at least 1024; 2048 is the common size). */
const DKIM_KEY_BITS = 2048;
/**
 * Header fields the signature covers. Message-ID is left out on purpose: each bench message gets its own after
 * signing, and an unsigned field does not break the signature, so one signature serves every message.
 */
const SIGNED_FIELDS = ['From', 'To', 'Subject', 'Date', 'MIME-Version', 'Content-Type'];

export interface SenderAuthFixture {
  dns: DnsFixtures;
  /** Signs a message (CRLF line ends) and returns it with its DKIM-Signature field on top. */
  sign(message: string): Promise<string>;
}

export function senderAuthFixture(clientIp = '127.0.0.1'): SenderAuthFixture {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: DKIM_KEY_BITS });
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const dns: DnsFixtures = {
    txt: {
      [SENDER_DOMAIN]: [`v=spf1 ip4:${clientIp} -all`],
      [`${SELECTOR}._domainkey.${SENDER_DOMAIN}`]: [`v=DKIM1; k=rsa; p=${p}`],
      [`_dmarc.${SENDER_DOMAIN}`]: [`v=DMARC1; p=reject; adkim=r; aspf=r`],
    },
  };
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    dns,
    async sign(message) {
      // mailauth's signer reads its keys from signatureData (lib/dkim/dkim-signer.js); its .d.ts describes
      // top-level keys, which the code ignores (the message would go out unsigned), hence the cast
      const options = {
        canonicalization: 'relaxed/relaxed',
        headerList: SIGNED_FIELDS,
        // without it mailauth reads the clock twice, and a signature made across a half second does not verify
        signTime: new Date(),
        signatureData: [{ signingDomain: SENDER_DOMAIN, selector: SELECTOR, privateKey: key, algorithm: 'rsa-sha256' }],
      } as unknown as DKIMSignOptions;
      const { signatures, errors } = await dkimSign(Buffer.from(message), options);
      if (errors.length > 0 || !signatures.startsWith('DKIM-Signature:')) throw new Error(`DKIM signing failed: ${errors.map(String).join('; ')}`);
      return signatures + message;
    },
  };
}
