import type { Db } from '../store/db.ts';
import { PersonalListStore, type PersonalListEntry } from '../store/personal-list-store.ts';
import type { SenderList } from '../store/sender-list-store.ts';
import { listKeysOf, SenderLists } from './sender-lists.ts';

export type { PersonalListEntry };

/** Entries one recipient may keep: enough for real use, bounded so a token holder cannot fill the disk. */
export const MAX_PERSONAL_ENTRIES = 500;

/**
 * Each internal recipient's own allow and block lists of senders (`user@example.com` or `@example.com`), set from
 * the user page or by the admin. They only ever speak for that recipient, and an allowance never overrides a virus,
 * a blocked attachment or a message that could not be checked (the pipeline skips only the junk filters).
 */
export class PersonalLists {
  private readonly store: PersonalListStore;

  constructor(db: Db) {
    this.store = new PersonalListStore(db);
  }

  /** Puts `entry` (normalized by SenderLists.normalize) on `recipient`'s list; false when the recipient is full. */
  set(recipient: string, list: SenderList, entry: string, by: string | null, now: number): boolean {
    return this.store.setWithin(recipient.toLowerCase(), list, entry, by, now, MAX_PERSONAL_ENTRIES);
  }

  remove(recipient: string, entry: string): boolean {
    return this.store.remove(recipient.toLowerCase(), entry);
  }

  of(recipient: string): PersonalListEntry[] {
    return this.store.ofRecipient(recipient.toLowerCase());
  }

  /** Entries of one recipient or of all, whose recipient or entry contains `search` (case-blind), up to `limit`. */
  search(filter: { recipient?: string | null; search?: string | null; limit: number }): PersonalListEntry[] {
    return this.store.search({ recipient: filter.recipient?.toLowerCase() ?? null, search: filter.search?.trim().toLowerCase() || null, limit: filter.limit });
  }

  /** Every recipient's entries, up to `limit` rows (the admin's view). */
  all(limit = 10_000): PersonalListEntry[] {
    return this.store.all(limit);
  }

  /**
   * What `recipient`'s lists say of a message: deny when the envelope sender or a From address is on the block list,
   * allow only for the envelope sender (a From header is the sender's own claim). A block wins over an allowance.
   */
  lookup(recipient: string, envelopeSender: string, fromAddresses: readonly string[]): { list: SenderList; entry: string } | null {
    const senderKeys = listKeysOf(envelopeSender.toLowerCase());
    const keys = [...senderKeys, ...fromAddresses.flatMap(listKeysOf)];
    if (keys.length === 0) return null;
    const rows = this.store.find(recipient.toLowerCase(), keys);
    const denied = rows.find((row) => row.list === 'deny');
    if (denied) return { list: 'deny', entry: denied.entry };
    const allowed = rows.find((row) => row.list === 'allow' && senderKeys.includes(row.entry));
    return allowed ? { list: 'allow', entry: allowed.entry } : null;
  }

  static normalize(raw: string): string | null {
    return SenderLists.normalize(raw);
  }
}
