import type { Resolver } from './resolver.ts';

/**
 * A Resolver that remembers answers for a while: sender authentication asks the same TXT records (SPF, DKIM keys,
 * DMARC) for every message from a sending domain, and a burst from one domain should cost one look-up per record.
 * What an answer depends on is only the question (record type and name, names compared case-insensitively), so one
 * entry serves every client; results that depend on the client (SPF's verdict) are never cached here.
 *
 * node:dns reports no TTL for TXT, MX or PTR answers, so an answer is kept for ANSWER_TTL_S, kept below the TTLs
 * mail domains publish (typically 300 s to a day); a record changed at its source is seen at most that late, as from
 * any caching resolver that honours a TTL of that length. Only "no such name" and "no such record" (RFC 2308) are
 * kept as negative answers, for NEGATIVE_TTL_S; a timeout or a server failure is never kept, the next message asks
 * again. Answers asked for while the same question is in flight share its look-up.
 */

/** How long an answer is served from the cache (s); below the usual TTLs of SPF/DKIM/DMARC records (300 s and up). */
export const ANSWER_TTL_S = 60;
/** How long "no such name/record" is served from the cache (s): RFC 2308 negative caching, kept short since node:dns gives no SOA minimum. */
export const NEGATIVE_TTL_S = 30;
/** Questions remembered at most (entries); the least recently used one goes first. */
export const MAX_CACHE_ENTRIES = 10_000;
/**
 * The characters of all cached answers together, at most (about 2 bytes each in memory): a TXT answer may be as long
 * as 64 KB, and 10,000 of those would be the relay's whole memory. Past this, least recently used entries go.
 */
export const MAX_CACHE_CHARS = 2_000_000;

/** The error codes that mean "there is no such name or record" (cacheable, RFC 2308), as node:dns and the fixtures say. */
const NEGATIVE_CODES = new Set(['ENOTFOUND', 'ENODATA']);

type Answer = unknown[];
interface Entry {
  expires: number;
  chars: number;
  answer?: Answer;
  error?: Error;
}

export interface DnsCacheOptions {
  resolver: Resolver;
  /** ms since the epoch; tests pass their own. */
  clock?: () => number;
  ttlS?: number;
  negativeTtlS?: number;
  maxEntries?: number;
  maxChars?: number;
}

/** Wraps a Resolver; every method of the wrapped one is cached (the optional ones only if it has them). */
export class DnsCache implements Resolver {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Answer>>();
  private readonly clock: () => number;
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly maxChars: number;
  private chars = 0;
  readonly resolveTxt?: (name: string) => Promise<string[][]>;
  readonly resolvePtr?: (name: string) => Promise<string[]>;

  constructor(private readonly options: DnsCacheOptions) {
    this.clock = options.clock ?? Date.now;
    this.ttlMs = (options.ttlS ?? ANSWER_TTL_S) * 1000;
    this.negativeTtlMs = (options.negativeTtlS ?? NEGATIVE_TTL_S) * 1000;
    this.maxEntries = options.maxEntries ?? MAX_CACHE_ENTRIES;
    this.maxChars = options.maxChars ?? MAX_CACHE_CHARS;
    const { resolver } = options;
    if (resolver.resolveTxt) this.resolveTxt = (name) => this.ask('TXT', name, () => resolver.resolveTxt!(name)) as Promise<string[][]>;
    if (resolver.resolvePtr) this.resolvePtr = (name) => this.ask('PTR', name, () => resolver.resolvePtr!(name)) as Promise<string[]>;
  }

  resolveMx(domain: string): Promise<{ exchange: string; priority: number }[]> {
    return this.ask('MX', domain, () => this.options.resolver.resolveMx(domain)) as Promise<{ exchange: string; priority: number }[]>;
  }

  resolve4(host: string): Promise<string[]> {
    return this.ask('A', host, () => this.options.resolver.resolve4(host)) as Promise<string[]>;
  }

  resolve6(host: string): Promise<string[]> {
    return this.ask('AAAA', host, () => this.options.resolver.resolve6(host)) as Promise<string[]>;
  }

  /** Entries held now (tests, metrics). */
  get size(): number {
    return this.entries.size;
  }

  private ask(type: string, name: string, lookup: () => Promise<Answer>): Promise<Answer> {
    const key = `${type} ${name.toLowerCase()}`;
    const now = this.clock();
    const entry = this.entries.get(key);
    if (entry && entry.expires > now) {
      // most recently used last: Map keeps insertion order, so the first key is the least recently used
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.error ? Promise.reject(entry.error) : Promise.resolve(copyOf(entry.answer!));
    }
    if (entry) this.forget(key, entry);
    const pending = this.inFlight.get(key);
    if (pending) return pending.then(copyOf);
    const asked = lookup().then(
      (answer) => {
        this.remember(key, { expires: this.clock() + this.ttlMs, chars: charsOf(key, answer), answer: copyOf(answer) });
        return answer;
      },
      (error: Error & { code?: string }) => {
        if (NEGATIVE_CODES.has(error.code ?? '')) this.remember(key, { expires: this.clock() + this.negativeTtlMs, chars: key.length, error });
        throw error;
      },
    );
    this.inFlight.set(key, asked);
    const done = () => this.inFlight.delete(key);
    asked.then(done, done);
    return asked;
  }

  private remember(key: string, entry: Entry): void {
    // one answer larger than the whole cache is served but not kept
    if (entry.chars > this.maxChars) return;
    const old = this.entries.get(key);
    if (old) this.forget(key, old);
    this.entries.set(key, entry);
    this.chars += entry.chars;
    for (const [oldest, held] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.chars <= this.maxChars) break;
      this.forget(oldest, held);
    }
  }

  private forget(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.chars -= entry.chars;
  }
}

/**
 * A copy of an answer for one caller, so that a caller changing what it got cannot change what the next one gets.
 * Answers are one or two levels deep (A: strings, TXT: arrays of strings, MX: objects of strings and numbers):
 * copied by hand, at a twentieth of what structuredClone costs per cache hit.
 */
function copyOf(answer: Answer): Answer {
  return answer.map((item) => (Array.isArray(item) ? item.slice() : item !== null && typeof item === 'object' ? { ...item } : item));
}

/** The characters an answer holds (strings, nested arrays, MX objects), what MAX_CACHE_CHARS counts. */
function charsOf(key: string, answer: unknown): number {
  let chars = key.length;
  const walk = (value: unknown): void => {
    if (typeof value === 'string') chars += value.length;
    else if (Array.isArray(value)) for (const item of value) walk(item);
    else if (value && typeof value === 'object') for (const item of Object.values(value)) walk(item);
    else chars += 8;
  };
  walk(answer);
  return chars;
}
