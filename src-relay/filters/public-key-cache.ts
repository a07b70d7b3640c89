// mailauth turns a DKIM or ARC key record into a key on every signature it checks: a schema validation of the
// base64, an X.509 parse and a PEM export, about a fifth of a millisecond each time. A sending domain signs all its
// mail with one or two keys, so the parsed key is kept, keyed by the record's own text: a changed record is another
// key, and the DNS cache (util/dns-cache.ts) still decides, by the record's TTL, when it is asked again.
// The key is kept as a KeyObject: crypto.verify given mailauth's PEM text parses it again on every call (about 150 µs
// for an RSA 2048 key against 25 µs for the verification itself).
import { createPublicKey, type KeyObject } from 'node:crypto';

/** mailauth's DNS look-up as it calls it: `resolver(name, 'TXT')` in node:dns' shape. */
export type KeyLookup = (name: string, type: string) => Promise<string[][] | string[]>;
/** What mailauth's tools.getPublicKey answers (the parts its DKIM and ARC verifiers read). */
export interface PublicKeyAnswer {
  /** PEM text from mailauth; the cache answers a KeyObject whose toString is that text, which mailauth's results show. */
  publicKey: string | KeyObject;
  rr: string;
  modulusLength: number;
}
/** mailauth's tools.getPublicKey: `type` is DKIM or AS (an ARC seal); they validate differently. */
export type GetPublicKey = (type: string, name: string, minBitLength: number | undefined, resolver?: KeyLookup) => Promise<PublicKeyAnswer>;

/** Parsed keys kept (least recently used dropped first): about 1 KB each, far more domains than a burst sends from. */
export const MAX_CACHED_KEYS = 500;
/** mailauth's own default for the shortest RSA key it accepts (tools.js). */
const MAILAUTH_MIN_BITS = 1024;

export interface PublicKeyCache {
  getPublicKey: GetPublicKey;
  /** Look-ups answered from the cache and ones parsed afresh, for tests and the bench. */
  readonly stats: { hits: number; misses: number };
}

/**
 * Wraps mailauth's getPublicKey: the record is asked through `resolver` as before (so every look-up still meets its
 * deadline and budget), and parsed only when its text is new. A record that fails to parse is not kept: it fails again
 * the next time, at the cost of one parse. Without a resolver (mailauth's own node:dns) it is the original.
 */
export function publicKeyCache(original: GetPublicKey, maxKeys = MAX_CACHED_KEYS): PublicKeyCache {
  const keys = new Map<string, PublicKeyAnswer>();
  const stats = { hits: 0, misses: 0 };
  const getPublicKey: GetPublicKey = async (type, name, minBitLength, resolver) => {
    if (!resolver) return original(type, name, minBitLength, resolver);
    const answer = await resolver(name, 'TXT');
    // the record's text exactly as tools.getPublicKey joins it: the first TXT record's strings, white space removed
    const record = ([] as string[]).concat(answer?.[0] ?? []).join('').replace(/\s+/g, '');
    const key = `${type}\0${minBitLength ?? MAILAUTH_MIN_BITS}\0${record}`;
    const kept = keys.get(key);
    if (kept) {
      stats.hits++;
      keys.delete(key);
      keys.set(key, kept);
      return kept;
    }
    stats.misses++;
    const parsed = await original(type, name, minBitLength, async () => answer);
    const usable = Object.freeze({ ...parsed, publicKey: keyObjectOf(parsed.publicKey) });
    keys.set(key, usable);
    if (keys.size > maxKeys) keys.delete(keys.keys().next().value!);
    return usable;
  };
  return { getPublicKey, stats };
}

function keyObjectOf(publicKey: string | KeyObject): KeyObject {
  if (typeof publicKey !== 'string') return publicKey;
  const key = createPublicKey(publicKey);
  Object.defineProperty(key, 'toString', { value: () => publicKey });
  return key;
}
