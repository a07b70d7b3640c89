// A self-signed X.509 certificate from node:crypto alone, DER written by hand (RFC 5280). The first start of a relay
// needs one; a certificate library (selfsigned and @peculiar/x509, about 4 MB of heap) would stay loaded for the
// relay's life after one use.
import { generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

export interface SelfSignedPems {
  /** PKCS#8 private key. */
  key: string;
  cert: string;
}

const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const COMMON_NAME = '2.5.4.3';
const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';
const EXT_KEY_USAGE = '2.5.29.37';
const SUBJECT_ALT_NAME = '2.5.29.17';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** RFC 5280 4.1.2.2: a positive serial of at most 20 octets; 9 random bytes is what selfsigned used. */
const SERIAL_BYTES = 9;

/** An RSA key and a certificate for `hostname` (subject and issuer CN, DNS name), valid from now until `notAfter`. */
export async function selfSignedCertificate(hostname: string, notAfter: Date, keyBits = 2048): Promise<SelfSignedPems> {
  const { publicKey, privateKey } = await new Promise<{ publicKey: KeyObject; privateKey: KeyObject }>((resolve, reject) =>
    generateKeyPair('rsa', { modulusLength: keyBits }, (error, publicKey, privateKey) => (error ? reject(error) : resolve({ publicKey, privateKey }))),
  );
  const name = seq(set(seq(oid(COMMON_NAME), der(0x0c, Buffer.from(hostname, 'utf8')))));
  const algorithm = seq(oid(SHA256_WITH_RSA), der(0x05));
  const tbs = seq(
    der(0xa0, derInteger(Buffer.from([2]))), // v3
    derInteger(randomBytes(SERIAL_BYTES)),
    algorithm,
    name,
    seq(time(new Date()), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(
      0xa3,
      seq(
        extension(BASIC_CONSTRAINTS, true, seq()), // not a CA
        extension(KEY_USAGE, true, der(0x03, Buffer.from([5, 0xa0]))), // digitalSignature, keyEncipherment
        extension(EXT_KEY_USAGE, false, seq(oid(SERVER_AUTH), oid(CLIENT_AUTH))),
        ...subjectAltName(hostname),
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey);
  const certificate = seq(tbs, algorithm, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), cert: pem('CERTIFICATE', certificate) };
}

/** DNS labels as a certificate names them (letters, digits, hyphens; underscores as many hosts have them). */
const DNS_NAME = /^(?=.{1,253}$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * The host as a subjectAltName: an IPv4 address as such, a DNS name in its ASCII form; none for anything else (an
 * unconfigured hostname is the machine's, which may be anything), so a name is never written mangled.
 */
function subjectAltName(hostname: string): Buffer[] {
  if (isIP(hostname) === 4) return [extension(SUBJECT_ALT_NAME, false, seq(der(0x87, Buffer.from(hostname.split('.').map(Number)))))];
  // the URL rules behind domainToASCII drop tabs and line breaks: a name with any control or space is not one
  const ascii = isIP(hostname) || /[\x00-\x20\x7f]/.test(hostname) ? '' : domainToASCII(hostname);
  return DNS_NAME.test(ascii) ? [extension(SUBJECT_ALT_NAME, false, seq(der(0x82, Buffer.from(ascii, 'ascii'))))] : [];
}

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const seq = (...content: Buffer[]): Buffer => der(0x30, ...content);
const set = (...content: Buffer[]): Buffer => der(0x31, ...content);

/** A non-negative INTEGER from big-endian bytes: leading zeros dropped, one put back where the top bit is set. */
export function derInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const value = bytes.subarray(start);
  return der(0x02, value[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value);
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [first! * 40 + second!];
  for (const arc of rest) {
    const base128 = [arc % 128];
    for (let high = Math.floor(arc / 128); high > 0; high = Math.floor(high / 128)) base128.unshift(0x80 | (high % 128));
    bytes.push(...base128);
  }
  return der(0x06, Buffer.from(bytes));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), to the second in UTC. */
function time(date: Date): Buffer {
  const text = date.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
  return date.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(text.slice(2), 'ascii')) : der(0x18, Buffer.from(text, 'ascii'));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), der(0x04, value));
}

function pem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
