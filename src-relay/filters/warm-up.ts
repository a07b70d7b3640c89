// V8 optimizes a function only after it has run for a while, and compiles it on the one helper thread the relay
// gives it: a fresh relay runs its first thousands of messages through slow code while that compile takes a core
// (issue 14: 1,300 compiles in the first 5,000 messages). The filter thread does the most per-message work, so at
// start, before the MX port opens, it runs its own work over sample messages: the MIME walk and sender authentication
// (SPF from MAIL FROM, a DKIM RSA verification, DMARC), answered by DNS records of its own for a domain that cannot
// exist (.invalid, RFC 2606). No DNS server is asked, nothing is logged, and no client waits for it.
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { DKIMSignOptions } from 'mailauth';
import { parseMessageFile } from './mime.ts';
import { SenderAuthFilter, type AuthResolver } from './sender-auth.ts';
import type { SenderAuthSettings } from './filter-thread.ts';
import { mailauthSigner } from '../dkim/sign.ts';
import { DnsCache } from '../util/dns-cache.ts';
import { fixtureResolver } from '../util/fixture-resolver.ts';

/** Sample messages run at most: V8 has optimized the hot functions well before (measured with `--trace-opt`). */
export const WARM_UP_MESSAGES = 400;
/** Past this the warm-up stops, however many it ran (ms): a slow box must not keep its MX port shut for long. */
export const WARM_UP_MAX_MS = 3_000;

const DOMAIN = 'warm-up.invalid';
const SELECTOR = 'moat';
const CLIENT_IP = '192.0.2.25'; // TEST-NET-1 (RFC 5737)
const SENDER = `sender@${DOMAIN}`;

export interface WarmUpResult {
  messages: number;
  ms: number;
}

/** Runs the thread's checks over the samples until `messages`, `maxMs` or `signal`; `settings` null: the MIME walk alone. */
export async function warmUp(settings: SenderAuthSettings | null, messages = WARM_UP_MESSAGES, maxMs = WARM_UP_MAX_MS, signal?: AbortSignal): Promise<WarmUpResult> {
  const began = performance.now();
  const deadline = signal ? AbortSignal.any([signal, AbortSignal.timeout(maxMs)]) : AbortSignal.timeout(maxMs);
  const signer = settings ? await signingDomain() : null;
  const resolver = new DnsCache({ resolver: fixtureResolver({ txt: signer?.txt ?? {} }) }) as AuthResolver;
  const senderAuth = settings ? new SenderAuthFilter({ ...settings, resolver }) : null;
  // the verifiers before the signer: their loader changes mailauth's shared modules before anything else loads them
  await senderAuth?.preload();
  const samples = await Promise.all([plainText(), withAttachment()].map(async (sample) => Buffer.from(RECEIVED + ((await signer?.sign(sample)) ?? '') + sample)));
  let ran = 0;
  while (ran < messages && !deadline.aborted) {
    const content = samples[ran % samples.length]!;
    const transaction = { clientIp: CLIENT_IP, helo: `mail.${DOMAIN}`, sender: SENDER };
    const earlySpf = senderAuth?.startSpf(transaction);
    await parseMessageFile('', deadline, { content, size: content.length });
    const message = { ...transaction, queueId: `warm-up-${ran}`, recipients: [`someone@${DOMAIN}`], path: '', size: content.length, content, headers: [], tls: true, authenticatedUser: null, earlySpf };
    const result = await senderAuth?.check(message, deadline);
    // the samples are made to pass: a warm-up of the failure paths would leave the common one cold
    if (ran === 0 && result && !/^spf=pass .*dkim=pass .*dmarc=pass$/.test(result.reasons[0] ?? '')) throw new Error(`the warm-up's sample did not pass sender authentication: ${result.reasons[0]}`);
    ran++;
    // a turn of the event loop: the deadline's timer and an abort from the SMTP thread get theirs
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { messages: ran, ms: Math.round(performance.now() - began) };
}

/** A key made for this start, the domain's DNS records that publish it, and a signer with it. */
async function signingDomain(): Promise<{ txt: Record<string, string[]>; sign: (message: string) => Promise<string> }> {
  const { publicKey, privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  const txt = {
    [DOMAIN]: [`v=spf1 ip4:${CLIENT_IP} -all`],
    [`${SELECTOR}._domainkey.${DOMAIN}`]: [`v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`],
    [`_dmarc.${DOMAIN}`]: ['v=DMARC1; p=reject; adkim=r; aspf=r'],
  };
  // mailauth's signer reads its keys from signatureData (lib/dkim/dkim-signer.js), not the top-level keys its .d.ts names
  const options = {
    canonicalization: 'relaxed/relaxed',
    signTime: new Date(),
    signatureData: [{ signingDomain: DOMAIN, selector: SELECTOR, privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'rsa-sha256' }],
  } as unknown as DKIMSignOptions;
  const { dkimSign } = await mailauthSigner();
  return { txt, sign: async (message) => (await dkimSign(Buffer.from(message), options)).signatures };
}

/** What the relay puts on top of each message it spools. */
const RECEIVED = `Received: from mail.${DOMAIN} ([${CLIENT_IP}])\r\n\tby moat with ESMTPS id warm-up; ${new Date().toUTCString()}\r\n`;
const HEADER = [`From: Sender <${SENDER}>`, `To: Someone <someone@${DOMAIN}>`, 'Subject: warm-up', `Date: ${new Date().toUTCString()}`, `Message-ID: <warm-up@${DOMAIN}>`, 'MIME-Version: 1.0'];
const PARAGRAPH = 'The quick brown fox jumps over the lazy dog, and the relay checks it once more before the first client. ';

function plainText(): string {
  return [...HEADER, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', ...Array(40).fill(PARAGRAPH.slice(0, 72)), ''].join('\r\n');
}

function withAttachment(): string {
  const boundary = 'warm-up-boundary';
  const attachment = Buffer.from('%PDF-1.4\n' + PARAGRAPH.repeat(20)).toString('base64').match(/.{1,76}/g)!;
  return [
    ...HEADER,
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: multipart/alternative; boundary="alt-boundary"',
    '',
    '--alt-boundary',
    'Content-Type: text/plain; charset=utf-8',
    '',
    ...Array(10).fill(PARAGRAPH.slice(0, 72)),
    '--alt-boundary',
    'Content-Type: text/html; charset=utf-8',
    '',
    `<html><body><p>${PARAGRAPH}</p><p><a href="https://www.${DOMAIN}/">a link</a></p></body></html>`,
    '--alt-boundary--',
    `--${boundary}`,
    'Content-Type: application/pdf; name="report.pdf"',
    'Content-Disposition: attachment; filename="report.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    ...attachment,
    `--${boundary}--`,
    '',
  ].join('\r\n');
}
