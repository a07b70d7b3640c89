import { generateKeyPair, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileWhole } from '../util/write-whole.ts';
import { normalizeDomain } from '../util/address.ts';

/** RSA 2048: what RFC 8301 asks signers for (1024 is the floor verifiers accept), and what every DNS host can publish. */
const RSA_BITS = 2048;
/** RFC 6376 3.1: a selector is one or more DNS labels. */
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** A DNS TXT character-string holds at most 255 octets (RFC 1035 3.3.14); longer values are split into several. */
const TXT_CHUNK_CHARS = 250;

export interface DkimKey {
  domain: string;
  selector: string;
  /** PKCS#8 PEM. The file holding it is readable by its owner only. */
  privateKey: string;
  createdAt: number;
}

export interface DnsRecord {
  /** e.g. moat-202611._domainkey.example.com */
  name: string;
  /** The TXT value as one string (for a DNS host's web form). */
  value: string;
  /** The same record for a zone file, the value split into strings of at most 255 octets. */
  zoneLine: string;
}

export class DkimKeyError extends Error {}

/** The default selector names the month the key was made, so a later key (rotation) gets a different one. */
export function defaultSelector(now: Date = new Date()): string {
  return `moat-${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
}

export function normalizeSelector(selector: string): string | null {
  const lower = selector.trim().toLowerCase();
  return lower.length <= 253 && SELECTOR.test(lower) ? lower : null;
}

/** The TXT record that publishes a key's public half: `v=DKIM1; k=rsa; p=...`. */
export function dnsRecord(key: Pick<DkimKey, 'domain' | 'selector' | 'privateKey'>): DnsRecord {
  const spki = createPublicKey(createPrivateKey(key.privateKey)).export({ type: 'spki', format: 'der' });
  const value = `v=DKIM1; k=rsa; p=${spki.toString('base64')}`;
  const name = `${key.selector}._domainkey.${key.domain}`;
  const chunks: string[] = [];
  for (let at = 0; at < value.length; at += TXT_CHUNK_CHARS) chunks.push(`"${value.slice(at, at + TXT_CHUNK_CHARS)}"`);
  return { name, value, zoneLine: `${name}. IN TXT ( ${chunks.join(' ')} )` };
}

/**
 * DKIM private keys, one per sender domain, as DATA/dkim/DOMAIN.json. The running relay notices a key made or removed
 * by the CLI on its next message (it looks at the folder's modification time).
 */
export class DkimKeyStore {
  private cache = new Map<string, DkimKey>();
  private cachedStamp: number | null = null;

  constructor(readonly dir: string) {}

  private file(domain: string): string {
    return join(this.dir, `${domain}.json`);
  }

  /** Makes a key for `domain`; refuses when the domain has one (remove it first: the old record may still be in use). */
  async generate(domainText: string, selectorText: string, now: number = Date.now()): Promise<DkimKey> {
    const domain = normalizeDomain(domainText);
    if (!domain) throw new DkimKeyError(`"${domainText}" is not a valid domain name`);
    const selector = normalizeSelector(selectorText);
    if (!selector) throw new DkimKeyError(`"${selectorText}" is not a valid selector (letters, digits, hyphens, dots)`);
    if (existsSync(this.file(domain))) {
      throw new DkimKeyError(`${domain} already has a DKIM key (selector ${this.get(domain)?.selector ?? '?'}); "moat dkim remove ${domain}" first`);
    }
    const privateKey = await new Promise<string>((resolve, reject) =>
      generateKeyPair('rsa', { modulusLength: RSA_BITS, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }, (error, _publicKey, key) =>
        error ? reject(error) : resolve(key),
      ),
    );
    const key: DkimKey = { domain, selector, privateKey, createdAt: now };
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    await writeFileWhole(this.file(domain), JSON.stringify(key, null, 2) + '\n');
    this.cachedStamp = null;
    return key;
  }

  get(domain: string): DkimKey | undefined {
    this.refresh();
    return this.cache.get(domain);
  }

  list(): DkimKey[] {
    this.refresh();
    return [...this.cache.values()].sort((a, b) => a.domain.localeCompare(b.domain));
  }

  remove(domainText: string): boolean {
    const domain = normalizeDomain(domainText);
    if (!domain || !existsSync(this.file(domain))) return false;
    unlinkSync(this.file(domain));
    this.cachedStamp = null;
    return true;
  }

  private refresh(): void {
    let stamp: number;
    try {
      stamp = statSync(this.dir).mtimeMs;
    } catch {
      this.cache.clear();
      this.cachedStamp = null;
      return;
    }
    if (stamp === this.cachedStamp) return;
    const cache = new Map<string, DkimKey>();
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        const key = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as DkimKey;
        if (typeof key.domain === 'string' && typeof key.selector === 'string' && typeof key.privateKey === 'string') cache.set(key.domain, key);
      } catch {
        // a damaged or half-written file signs nothing; `moat dkim list` does not show it either
      }
    }
    this.cache = cache;
    this.cachedStamp = stamp;
  }
}

