import type { Db } from './db.ts';
import type { SenderList } from './sender-list-store.ts';

export interface PersonalListEntry {
  recipient: string;
  entry: string;
  list: SenderList;
  added_at: number;
  added_by: string | null;
}

/** The `personal_sender_lists` table's statements (the rules are filters/personal-lists.ts). Every statement prepared once. */
export class PersonalListStore {
  private readonly statements;
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
    this.statements = {
      find: db.prepare(`SELECT entry, list FROM personal_sender_lists WHERE recipient = ? AND entry IN (SELECT value FROM json_each(?))`),
      upsert: db.prepare(
        `INSERT INTO personal_sender_lists (recipient, entry, list, added_at, added_by) VALUES (@recipient, @entry, @list, @at, @by)
         ON CONFLICT(recipient, entry) DO UPDATE SET list = excluded.list, added_at = excluded.added_at, added_by = excluded.added_by`,
      ),
      remove: db.prepare(`DELETE FROM personal_sender_lists WHERE recipient = ? AND entry = ?`),
      ofRecipient: db.prepare(`SELECT * FROM personal_sender_lists WHERE recipient = ? ORDER BY list, entry`),
      all: db.prepare(`SELECT * FROM personal_sender_lists ORDER BY recipient, list, entry LIMIT ?`),
      // `@recipient`/`@search` null: any; LIKE patterns escaped by the caller
      search: db.prepare(
        `SELECT * FROM personal_sender_lists WHERE (@recipient IS NULL OR recipient = @recipient)
           AND (@search IS NULL OR recipient LIKE @search ESCAPE '\\' OR entry LIKE @search ESCAPE '\\')
         ORDER BY recipient, list, entry LIMIT @limit`,
      ),
      count: db.prepare(`SELECT COUNT(*) AS n FROM personal_sender_lists WHERE recipient = ?`),
    };
  }

  /** Puts `entry` on `recipient`'s `list` (taking it off the other one). */
  set(recipient: string, list: SenderList, entry: string, by: string | null, now: number): void {
    this.statements.upsert.run({ recipient, entry, list, at: now, by });
  }

  /**
   * `set` unless that would give `recipient` more than `max` entries (an update of an entry they have always fits);
   * count and write in one immediate transaction, so the CLI and the running relay cannot both add the last place.
   */
  setWithin(recipient: string, list: SenderList, entry: string, by: string | null, now: number, max: number): boolean {
    return this.db
      .transaction(() => {
        const existing = this.find(recipient, [entry]).length > 0;
        if (!existing && this.count(recipient) >= max) return false;
        this.set(recipient, list, entry, by, now);
        return true;
      })
      .immediate();
  }

  remove(recipient: string, entry: string): boolean {
    return this.statements.remove.run(recipient, entry).changes > 0;
  }

  ofRecipient(recipient: string): PersonalListEntry[] {
    return this.statements.ofRecipient.all(recipient) as PersonalListEntry[];
  }

  all(limit: number): PersonalListEntry[] {
    return this.statements.all.all(limit) as PersonalListEntry[];
  }

  /** Entries of one recipient (or all), whose recipient or entry contains `search`, up to `limit`. */
  search(filter: { recipient: string | null; search: string | null; limit: number }): PersonalListEntry[] {
    const search = filter.search ? `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
    return this.statements.search.all({ recipient: filter.recipient, search, limit: filter.limit }) as PersonalListEntry[];
  }

  count(recipient: string): number {
    return (this.statements.count.get(recipient) as { n: number }).n;
  }

  /** The entries among `keys` on `recipient`'s lists. */
  find(recipient: string, keys: readonly string[]): { entry: string; list: SenderList }[] {
    return this.statements.find.all(recipient, JSON.stringify(keys)) as { entry: string; list: SenderList }[];
  }
}
