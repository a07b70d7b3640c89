import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * scrypt cost: N = 2^15, r = 8, p = 1 takes 32 MiB and roughly 50-100 ms per check on a small box (RFC 7914; OWASP's
 * floor is 2^17 for interactive logins of web users, but an SMTP client logs in on every connection and a DMZ box
 * with 2 cores must not be brought down by a login storm). The parameters are stored with each hash, so raising them
 * later upgrades each password when it is next set.
 */
const SCRYPT_N = 2 ** 15;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
/** scrypt needs 128 * N * r bytes; Node's default cap (32 MiB) is just below that for N = 2^15. */
const SCRYPT_MAXMEM = 64 * 1024 * 1024;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const PREFIX = 'scrypt';

/** Passwords shorter than this are refused when set (NIST SP 800-63B asks for at least 8). */
export const MIN_PASSWORD_CHARS = 10;
/** A longer password is refused when set; at login it just fails (smtp-server's line limit keeps it smaller anyway). */
export const MAX_PASSWORD_CHARS = 1024;

function derive(password: string, salt: Buffer, n: number, r: number, p: number, length: number): Promise<Buffer> {
  const options: ScryptOptions = { N: n, r, p, maxmem: Math.max(SCRYPT_MAXMEM, 128 * n * r * 2) };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, length, options, (error, key) => (error ? reject(error) : resolve(key))));
}

/** `scrypt$N$r$p$salt$key` (base64): the only form a password is ever kept in. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES);
  return [PREFIX, SCRYPT_N, SCRYPT_R, SCRYPT_P, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Checks a password against a stored hash in constant time; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return false;
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  if (![n, r, p].every(Number.isSafeInteger) || expected.length === 0) return false;
  // the work is done even for an over-long password, so its answer takes as long as any other
  const key = await derive(password.length > MAX_PASSWORD_CHARS ? '' : password, salt, n, r, p, expected.length);
  return timingSafeEqual(key, expected) && password.length <= MAX_PASSWORD_CHARS;
}

/** Why a new password is refused, or null when it may be set. */
export function passwordProblem(password: string): string | null {
  if (password.length < MIN_PASSWORD_CHARS) return `the password must have at least ${MIN_PASSWORD_CHARS} characters`;
  if (password.length > MAX_PASSWORD_CHARS) return `the password must have at most ${MAX_PASSWORD_CHARS} characters`;
  if (/[\x00-\x1f\x7f]/.test(password)) return 'the password must not contain control characters';
  return null;
}

let dummy: Promise<string> | undefined;

/**
 * A real hash of a random password, made once: a login for a name that does not exist is checked against it, so the
 * answer takes as long as for a wrong password of a real account (no user enumeration by timing).
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(24).toString('base64'));
  return dummy;
}
