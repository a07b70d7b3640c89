import { createCipheriv, createDecipheriv, createHmac, randomBytes, scrypt, timingSafeEqual, type CipherGCM, type DecipherGCM } from 'node:crypto';

/**
 * Encrypted backups: MAGIC, a length-prefixed JSON header (scrypt parameters, salt, IV, a passphrase check),
 * the AES-256-GCM ciphertext of the tar stream, and the 16-byte GCM tag. The header is authenticated as AAD.
 * The check value (an HMAC under a second derived key) tells a wrong passphrase at once, before anything is
 * decrypted; the tag tells a damaged or altered file at the end.
 */
export const ENCRYPTED_MAGIC = Buffer.from('MOATENC1', 'ascii');
const TAG_BYTES = 16;
/** scrypt cost: 2^15 x 8 = 32 MiB and about 0.1 s per derivation, OWASP's floor for scrypt. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
/**
 * The most a backup's header may ask of scrypt, which runs before the passphrase is known to be right: 128 MiB
 * (128 x N x r) and four times Moat's own work. A crafted header asked for 4 GiB and half a minute.
 */
export const MAX_SCRYPT = { memoryBytes: 128 * 1024 ** 2, work: 4 * SCRYPT.N * SCRYPT.r * SCRYPT.p } as const;
const CHECK_LABEL = 'moat backup passphrase check';
const MAX_HEADER_BYTES = 4096;

export class BackupCryptoError extends Error {
  constructor(
    readonly code: 'WRONG_PASSPHRASE' | 'DAMAGED' | 'NOT_A_BACKUP',
    message: string,
  ) {
    super(message);
  }
}

interface Header {
  v: 1;
  cipher: 'aes-256-gcm';
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  iv: string;
  check: string;
}

function deriveKeys(passphrase: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<{ key: Buffer; checkKey: Buffer }> {
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, 64, { ...params, maxmem: 256 * params.N * params.r }, (error, derived) => {
      if (error) reject(error);
      else resolve({ key: derived.subarray(0, 32), checkKey: derived.subarray(32) });
    });
  });
}

/** Starts an encrypted stream: returns the bytes that open the file and the cipher for the rest. */
export async function startEncryption(passphrase: string): Promise<{ prelude: Buffer; cipher: CipherGCM; tagBytes: number }> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const { key, checkKey } = await deriveKeys(passphrase, salt, SCRYPT);
  const header: Header = {
    v: 1,
    cipher: 'aes-256-gcm',
    kdf: 'scrypt',
    ...SCRYPT,
    salt: salt.toString('base64'),
    iv: iv.toString('base64'),
    check: createHmac('sha256', checkKey).update(CHECK_LABEL).digest('base64'),
  };
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  const prelude = Buffer.concat([ENCRYPTED_MAGIC, length, json]);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(prelude);
  return { prelude, cipher, tagBytes: TAG_BYTES };
}

/**
 * Reads the prelude of an encrypted backup (the first bytes of the file), checks the passphrase, and returns a
 * decipher with its tag set, and where the ciphertext starts and ends.
 */
export async function startDecryption(
  head: Buffer,
  tag: Buffer,
  fileSize: number,
  passphrase: string,
): Promise<{ decipher: DecipherGCM; start: number; end: number }> {
  if (!head.subarray(0, 8).equals(ENCRYPTED_MAGIC)) throw new BackupCryptoError('NOT_A_BACKUP', 'not an encrypted Moat backup');
  const length = head.readUInt32BE(8);
  if (length > MAX_HEADER_BYTES || head.length < 12 + length) throw new BackupCryptoError('DAMAGED', 'the backup header is damaged');
  let header: Header;
  try {
    header = JSON.parse(head.subarray(12, 12 + length).toString('utf8')) as Header;
  } catch {
    throw new BackupCryptoError('DAMAGED', 'the backup header is damaged');
  }
  if (typeof header !== 'object' || header === null) throw new BackupCryptoError('DAMAGED', 'the backup header is damaged');
  if (header.v !== 1 || header.cipher !== 'aes-256-gcm' || header.kdf !== 'scrypt') {
    throw new BackupCryptoError('NOT_A_BACKUP', 'this backup was made by a newer Moat (unknown encryption)');
  }
  if (![header.salt, header.iv, header.check].every((value) => typeof value === 'string')) throw new BackupCryptoError('DAMAGED', 'the backup header is damaged');
  const { N, r, p } = header;
  if (![N, r, p].every((value) => Number.isSafeInteger(value) && value >= 1) || 128 * N * r > MAX_SCRYPT.memoryBytes || N * r * p > MAX_SCRYPT.work) {
    throw new BackupCryptoError('DAMAGED', `the backup header asks scrypt for more than a Moat backup ever needs (N ${N}, r ${r}, p ${p}): refused before any key is derived`);
  }
  const { key, checkKey } = await deriveKeys(passphrase, Buffer.from(header.salt, 'base64'), header);
  const expected = createHmac('sha256', checkKey).update(CHECK_LABEL).digest();
  const stored = Buffer.from(header.check, 'base64');
  if (stored.length !== expected.length || !timingSafeEqual(stored, expected)) {
    throw new BackupCryptoError('WRONG_PASSPHRASE', 'wrong passphrase for this backup');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(header.iv, 'base64'));
  decipher.setAAD(head.subarray(0, 12 + length));
  decipher.setAuthTag(tag);
  return { decipher, start: 12 + length, end: fileSize - TAG_BYTES };
}

export const PRELUDE_READ_BYTES = 12 + MAX_HEADER_BYTES;
export const GCM_TAG_BYTES = TAG_BYTES;
