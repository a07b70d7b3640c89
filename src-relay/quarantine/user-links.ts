import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { syncFolder } from '../util/write-whole.ts';

/** The key's file in the data directory; backups leave it out, so a restored box issues links of its own. */
export const USER_LINK_KEY_FILE = 'user-link.key';
const KEY_BYTES = 32;
/** Longer than any token Moat signs (a 254-octet address, a queue id, an expiry); longer input is refused unread. */
export const MAX_TOKEN_CHARS = 1024;
const CONTEXT = 'moat-user-link-v1.';
/** Names the key a link was signed with (not the key: an HMAC of a fixed text under it), so a link of another key can be told. */
const KEY_ID_CONTEXT = 'moat-user-link-key-id';
const KEY_ID_CHARS = 8;

/** What a link lets its holder do: act on one quarantined message, for one recipient, until it expires. */
export interface LinkClaims {
  recipient: string;
  messageId: string;
  /** Epoch ms. */
  expiresAt: number;
}

/**
 * Why a link is refused. `other-key`: well formed and signed, but by another key than this data directory's (a link
 * from before a restore onto another box, or before the key file was renewed). `altered`: the signature does not
 * match, and the link cannot tell whose key it was (changed, or an older link that does not name its key).
 */
export type LinkCheck = { ok: true; claims: LinkClaims } | { ok: false; why: 'malformed' | 'altered' | 'other-key' | 'expired' };

/**
 * Signed links for the end users' quarantine page: HMAC-SHA256 over the recipient, the message and the expiry, with a
 * random key kept in the data directory. No log-in: the link is the permission, for that one message only.
 */
export class UserLinks {
  private readonly keyId: string;

  private constructor(private readonly key: Buffer) {
    this.keyId = createHmac('sha256', key).update(KEY_ID_CONTEXT).digest('base64url').slice(0, KEY_ID_CHARS);
  }

  /** Reads the data directory's key, making it on first use (atomically: two processes starting at once agree). */
  static async open(dataDir: string): Promise<UserLinks> {
    const path = join(dataDir, USER_LINK_KEY_FILE);
    const existing = await readKey(path);
    if (existing) return new UserLinks(existing);
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(randomBytes(KEY_BYTES).toString('hex'));
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await unlink(temp).catch(() => {});
    }
    await syncFolder(dataDir);
    const key = await readKey(path);
    if (!key) throw new Error(`${path} does not hold a ${KEY_BYTES}-byte hex key; remove it to have a new one made (old links stop working)`);
    return new UserLinks(key);
  }

  /** For tests and tools that hold a key already. */
  static withKey(key: Buffer): UserLinks {
    if (key.length !== KEY_BYTES) throw new Error(`a user-link key is ${KEY_BYTES} bytes`);
    return new UserLinks(key);
  }

  sign(claims: LinkClaims): string {
    const payload = Buffer.from(JSON.stringify({ r: claims.recipient.toLowerCase(), m: claims.messageId, e: claims.expiresAt, k: this.keyId })).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  verify(token: string, now: number): LinkCheck {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/.test(token)) return { ok: false, why: 'malformed' };
    const [payload, mac] = token.split('.') as [string, string];
    const expected = Buffer.from(this.mac(payload), 'base64url');
    const given = Buffer.from(mac, 'base64url');
    const claims = parseClaims(payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      // only which words the refusal uses: whoever changes k gets the same refusal in other words
      return { ok: false, why: claims && typeof claims.k === 'string' && claims.k !== this.keyId ? 'other-key' : 'altered' };
    }
    if (!claims) return { ok: false, why: 'malformed' };
    const { r, m, e } = claims;
    if (e <= now) return { ok: false, why: 'expired' };
    return { ok: true, claims: { recipient: r, messageId: m, expiresAt: e } };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(CONTEXT + payload).digest('base64url');
  }
}

/** A payload's fields when they have the shape Moat signs (k is missing from links made before it named its key). */
function parseClaims(payload: string): { r: string; m: string; e: number; k?: unknown } | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  const { r, m, e, k } = (parsed ?? {}) as { r?: unknown; m?: unknown; e?: unknown; k?: unknown };
  return typeof r === 'string' && typeof m === 'string' && typeof e === 'number' ? { r, m, e, k } : null;
}

async function readKey(path: string): Promise<Buffer | null> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return /^[0-9a-f]{64}$/.test(text) ? Buffer.from(text, 'hex') : null;
}
