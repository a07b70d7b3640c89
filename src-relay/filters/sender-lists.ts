import type { Db } from '../store/db.ts';
import { SenderListStore, type SenderList, type SenderListEntry } from '../store/sender-list-store.ts';
import { MAX_DOMAIN_OCTETS, normalizeDomain } from '../util/address.ts';

export type { SenderList, SenderListEntry };

/** Longest address an entry may be (RFC 5321 4.5.3.1.3: 256 octets for a path). */
const MAX_ENTRY_CHARS = 254;

/**
 * The admin's allow and deny lists of senders (`user@example.com`) and sender domains (`@example.com`, which also
 * covers its subdomains), kept in SQLite so the CLI and the running relay share them. Looked up per message, so a
 * change applies to the next message without a restart.
 */
export class SenderLists {
  private readonly store: SenderListStore;

  constructor(db: Db) {
    this.store = new SenderListStore(db);
  }

  /** `user@example.com`, `@example.com` or `example.com` (a domain); null when it is neither. */
  static normalize(raw: string): string | null {
    const value = raw.trim().toLowerCase();
    if (!value || value.length > MAX_ENTRY_CHARS || /[\s<>"\x00-\x1f\x7f]/.test(value)) return null;
    const at = value.lastIndexOf('@');
    if (at === -1 || at === 0) {
      const domain = normalizeDomain(at === 0 ? value.slice(1) : value);
      return domain ? `@${domain}` : null;
    }
    const domain = normalizeDomain(value.slice(at + 1));
    return domain ? `${value.slice(0, at)}@${domain}` : null;
  }

  set(list: SenderList, entry: string, by: string | null, note: string | null, now: number): void {
    this.store.set(list, entry, by, note, now);
  }

  remove(entry: string): boolean {
    return this.store.remove(entry);
  }

  get(entry: string): SenderListEntry | undefined {
    return this.store.get(entry);
  }

  all(): SenderListEntry[] {
    return this.store.all();
  }

  /**
   * The list that applies to a message: deny when the envelope sender or a From address is denied (either is
   * enough to refuse), allow only for the envelope sender. A denial wins over an allowance.
   */
  lookup(envelopeSender: string, fromAddresses: readonly string[]): { list: SenderList; entry: string } | null {
    const sender = envelopeSender.toLowerCase();
    const senderKeys = listKeysOf(sender);
    const fromKeys = fromAddresses.flatMap(listKeysOf);
    if (senderKeys.length === 0 && fromKeys.length === 0) return null;
    const rows = this.store.find([...senderKeys, ...fromKeys]);
    const denied = rows.find((row) => row.list === 'deny');
    if (denied) return { list: 'deny', entry: denied.entry };
    const allowed = rows.find((row) => row.list === 'allow' && senderKeys.includes(row.entry));
    return allowed ? { list: 'allow', entry: allowed.entry } : null;
  }
}

/** The entries that would match an address: itself, then `@domain` for its domain and each parent domain. */
export function listKeysOf(address: string): string[] {
  const at = address.lastIndexOf('@');
  if (at <= 0) return [];
  const domain = normalizeDomain(address.slice(at + 1)) ?? address.slice(at + 1);
  const keys = [`${address.slice(0, at).toLowerCase()}@${domain}`];
  // the parent domains from the right, up to the longest name DNS allows (no list entry is longer): a domain of
  // 100,000 dots from the network is not 100,000 keys, and its @evil.test is still one of them
  const labels = domain.split('.');
  const parents: string[] = [];
  let suffix = labels.at(-1)!;
  for (let i = labels.length - 2; i >= 0; i--) {
    suffix = `${labels[i]}.${suffix}`;
    if (suffix.length > MAX_DOMAIN_OCTETS) break;
    parents.push(`@${suffix}`);
  }
  return [...keys, ...parents.reverse()];
}

/**
 * The office's own domains a normalized list entry would cover ("boss@example.test", "@example.test", "@test"): an
 * allowance never applies to them (filters/pipeline.ts ownDomains), so the admin is told rather than left to trust it.
 */
export function ownDomainsCovered(entry: string, domains: readonly string[]): string[] {
  return domains.filter((domain) => {
    const own = normalizeDomain(domain) ?? domain;
    return listKeysOf(`x@${own}`).includes(entry) || entry.endsWith(`@${own}`);
  });
}

/** The refusal of an allow entry that covers our own domains, in words for the admin. */
export function ownDomainAllowProblem(entry: string, domains: readonly string[]): string | null {
  const covered = ownDomainsCovered(entry, domains);
  if (covered.length === 0) return null;
  return `"${entry}" covers our own domain ${covered.join(', ')}: mail that claims to be from it is checked every time, because forgers pose as it, so no allow list can let it skip the junk checks`;
}
