import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * Only one relay serves a data dir: a second one's start-up check would take the first one's new spool files for
 * leftovers of a crash (moving or deleting them before their commit: acknowledged mail lost), and both would deliver
 * every message. The lock is SQLite's exclusive lock on DATA/moat.lock (an fcntl lock): the system drops it when the
 * process ends, however it ends, so a crash never leaves a stale lock. Taken again by the same process (the admin
 * host, then its relay), it is counted, and let go with the last release.
 */
export interface DataDirLock {
  release(): void;
}

const held = new Map<string, { db: Database.Database; count: number }>();

export class DataDirBusy extends Error {
  constructor(dataDir: string) {
    super(`another Moat is running on ${dataDir} (it holds ${join(dataDir, 'moat.lock')}): stop it first, or give this one another --data-dir`);
    this.name = 'DataDirBusy';
  }
}

export function lockDataDir(dataDir: string): DataDirLock {
  const key = realpathSync(dataDir);
  let lock = held.get(key);
  if (!lock) {
    const db = new Database(join(dataDir, 'moat.lock'), { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY') throw new DataDirBusy(dataDir);
      throw error;
    }
    lock = { db, count: 0 };
    held.set(key, lock);
  }
  lock.count++;
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      if (--lock.count > 0) return;
      held.delete(key);
      lock.db.close();
    },
  };
}
