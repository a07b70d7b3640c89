import type { Db } from './db.ts';

export type SenderList = 'allow' | 'deny';

export interface SenderListEntry {
  entry: string;
  list: SenderList;
  added_at: number;
  added_by: string | null;
  note: string | null;
}

/** The `sender_lists` table's statements (the lists' rules are filters/sender-lists.ts). Every statement prepared once. */
export class SenderListStore {
  private readonly statements;

  constructor(db: Db) {
    this.statements = {
      lookup: db.prepare(`SELECT entry, list FROM sender_lists WHERE entry IN (SELECT value FROM json_each(?))`),
      upsert: db.prepare(
        `INSERT INTO sender_lists (entry, list, added_at, added_by, note) VALUES (@entry, @list, @at, @by, @note)
         ON CONFLICT(entry) DO UPDATE SET list = excluded.list, added_at = excluded.added_at, added_by = excluded.added_by, note = excluded.note`,
      ),
      remove: db.prepare(`DELETE FROM sender_lists WHERE entry = ?`),
      all: db.prepare(`SELECT * FROM sender_lists ORDER BY list, entry`),
      get: db.prepare(`SELECT * FROM sender_lists WHERE entry = ?`),
    };
  }

  /** Puts `entry` on `list` (taking it off the other one). */
  set(list: SenderList, entry: string, by: string | null, note: string | null, now: number): void {
    this.statements.upsert.run({ entry, list, at: now, by, note });
  }

  remove(entry: string): boolean {
    return this.statements.remove.run(entry).changes > 0;
  }

  get(entry: string): SenderListEntry | undefined {
    return this.statements.get.get(entry) as SenderListEntry | undefined;
  }

  all(): SenderListEntry[] {
    return this.statements.all.all() as SenderListEntry[];
  }

  /** The entries among `keys`, with their list. */
  find(keys: readonly string[]): { entry: string; list: SenderList }[] {
    return this.statements.lookup.all(JSON.stringify(keys)) as { entry: string; list: SenderList }[];
  }
}
