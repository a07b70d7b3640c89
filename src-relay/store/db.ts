import Database from 'better-sqlite3';
import { join } from 'node:path';

export type Db = Database.Database;

/** Each entry upgrades the schema by one version; never edit one that has shipped, add another. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (
     id TEXT PRIMARY KEY,
     received_at INTEGER NOT NULL,
     client_ip TEXT,
     helo TEXT,
     sender TEXT NOT NULL,
     size INTEGER NOT NULL,
     spool_bytes INTEGER NOT NULL,
     header_message_id TEXT,
     subject TEXT,
     kind TEXT NOT NULL DEFAULT 'mail',
     status TEXT NOT NULL DEFAULT 'queued',
     held INTEGER NOT NULL DEFAULT 0,
     delay_warned INTEGER NOT NULL DEFAULT 0,
     finished_at INTEGER
   );
   CREATE INDEX messages_status ON messages(status, received_at);
   CREATE TABLE recipients (
     message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
     address TEXT NOT NULL,
     route TEXT NOT NULL,
     status TEXT NOT NULL DEFAULT 'pending',
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER NOT NULL,
     last_reply TEXT,
     last_status TEXT,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (message_id, address)
   );
   CREATE INDEX recipients_due ON recipients(status, next_attempt_at);
   CREATE TABLE history (
     id INTEGER PRIMARY KEY,
     at INTEGER NOT NULL,
     queue_id TEXT,
     action TEXT NOT NULL,
     client_ip TEXT,
     helo TEXT,
     sender TEXT,
     recipient TEXT,
     size INTEGER,
     detail TEXT
   );
   CREATE INDEX history_queue ON history(queue_id);
   CREATE INDEX history_at ON history(at);
   CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
];

/** Opens (and migrates) the relay database: WAL, synchronous=FULL, so a commit survives power loss. */
export function openDatabase(dataDir: string): Db {
  const db = new Database(join(dataDir, 'moat.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    db.close();
    throw new Error(`the database in ${dataDir} is from a newer Moat (schema ${version}); refusing to touch it`);
  }
  for (let next = version; next < MIGRATIONS.length; next++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[next]!);
      db.pragma(`user_version = ${next + 1}`);
    })();
  }
  return db;
}
