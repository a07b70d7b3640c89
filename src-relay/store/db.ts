import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type Db = Database.Database;

/**
 * The queue viewer's keys of one message, from its waiting recipients (queue_routes: 1 internal, 2 outbound). Part of
 * a shipped migration once released: a change after that is a new migration. `+status` keeps the planner on the
 * primary key (one message's rows), not on recipients_due (every pending row).
 */
const QUEUE_COLUMNS_SET = `(queue_first_recipient, queue_attempts, queue_next_attempt_at, queue_routes) = (
     SELECT MIN(address COLLATE NOCASE), COALESCE(MAX(attempts), 0), MIN(next_attempt_at),
            COALESCE(MAX(route = 'internal'), 0) | (COALESCE(MAX(route = 'outbound'), 0) << 1)
     FROM recipients WHERE message_id = NEW.message_id AND +status = 'pending')`;

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
  // monitoring (issue 5): per-minute metric series, alerts (open + history), the patch-status checklist
  `CREATE TABLE metric_minutes (
     minute INTEGER NOT NULL,
     name TEXT NOT NULL,
     labels TEXT NOT NULL DEFAULT '',
     value REAL NOT NULL,
     PRIMARY KEY (minute, name, labels)
   ) WITHOUT ROWID;
   CREATE TABLE alerts (
     id INTEGER PRIMARY KEY,
     rule TEXT NOT NULL,
     severity TEXT NOT NULL,
     title TEXT NOT NULL,
     message TEXT NOT NULL,
     hint TEXT NOT NULL,
     raised_at INTEGER NOT NULL,
     cleared_at INTEGER,
     clear_message TEXT
   );
   CREATE INDEX alerts_open ON alerts(rule) WHERE cleared_at IS NULL;
   CREATE INDEX alerts_raised ON alerts(raised_at);
   CREATE TABLE checklist_results (
     id INTEGER PRIMARY KEY,
     probe TEXT NOT NULL,
     status TEXT NOT NULL,
     detail TEXT NOT NULL,
     hint TEXT,
     checked_at INTEGER NOT NULL
   );
   CREATE INDEX checklist_results_probe ON checklist_results(probe, checked_at);
   CREATE TABLE checklist_ticks (
     id INTEGER PRIMARY KEY,
     item TEXT NOT NULL,
     done INTEGER NOT NULL,
     at INTEGER NOT NULL,
     note TEXT
   );
   CREATE INDEX checklist_ticks_item ON checklist_ticks(item, at);`,
  // submission (issue 4): accounts (scrypt hashes only), every login attempt, failure counters and lockouts
  `CREATE TABLE users (
     name TEXT PRIMARY KEY,
     password_hash TEXT NOT NULL,
     senders TEXT NOT NULL DEFAULT '[]',
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     suspended_at INTEGER,
     suspended_reason TEXT,
     unlocked_at INTEGER
   );
   CREATE TABLE auth_events (
     id INTEGER PRIMARY KEY,
     at INTEGER NOT NULL,
     name TEXT NOT NULL,
     client_ip TEXT,
     listener TEXT,
     outcome TEXT NOT NULL,
     detail TEXT
   );
   CREATE INDEX auth_events_at ON auth_events(at);
   CREATE INDEX auth_events_name ON auth_events(name, at);
   CREATE TABLE auth_locks (
     key TEXT PRIMARY KEY,
     failures INTEGER NOT NULL,
     window_start INTEGER NOT NULL,
     locked_until INTEGER
   );`,
  // content filters (issue 3): the decision trace and the added header block per message; sender allow/deny lists
  `ALTER TABLE messages ADD COLUMN decision TEXT;
   ALTER TABLE messages ADD COLUMN added_headers TEXT;
   CREATE TABLE sender_lists (
     entry TEXT PRIMARY KEY,
     list TEXT NOT NULL CHECK (list IN ('allow', 'deny')),
     added_at INTEGER NOT NULL,
     added_by TEXT,
     note TEXT
   );`,
  // admin API (issue 6): the queue viewer sorts and filters 100,000 queued messages on values of their recipients
  // (first waiting recipient, attempts, next attempt, route). Working those out per message on every page took
  // 150-300 ms at that size, so they are kept on the message row (queue_*, over its waiting recipients only: set by
  // QueueStore.insertBatch, then by the trigger), where partial indexes over the queue make each sort an index walk.
  // They are sort and filter keys only: the rows shown are read from the recipients. Ties go by rowid, the last column
  // of every index (messages_status serves the sort by arrival). Tracking walks all mail, and the refusals, by time.
  `ALTER TABLE messages ADD COLUMN queue_first_recipient TEXT;
   ALTER TABLE messages ADD COLUMN queue_attempts INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE messages ADD COLUMN queue_next_attempt_at INTEGER;
   ALTER TABLE messages ADD COLUMN queue_routes INTEGER NOT NULL DEFAULT 0;
   CREATE TRIGGER recipients_queue_update AFTER UPDATE OF status, attempts, next_attempt_at ON recipients
   WHEN OLD.status IS NOT NEW.status OR OLD.attempts IS NOT NEW.attempts OR OLD.next_attempt_at IS NOT NEW.next_attempt_at BEGIN
     UPDATE messages SET ${QUEUE_COLUMNS_SET} WHERE id = NEW.message_id;
   END;
   UPDATE messages SET ${QUEUE_COLUMNS_SET.replaceAll('NEW.message_id', 'messages.id')} WHERE status IN ('queued', 'quarantined');
   CREATE INDEX messages_queue_sender ON messages(sender COLLATE NOCASE) WHERE status = 'queued';
   CREATE INDEX messages_queue_size ON messages(size) WHERE status = 'queued';
   CREATE INDEX messages_queue_recipient ON messages(queue_first_recipient COLLATE NOCASE) WHERE status = 'queued';
   CREATE INDEX messages_queue_attempts ON messages(queue_attempts) WHERE status = 'queued';
   CREATE INDEX messages_queue_next ON messages(queue_next_attempt_at) WHERE status = 'queued';
   CREATE INDEX messages_queue_held ON messages(held) WHERE status = 'queued' AND held = 1;
   CREATE INDEX messages_received ON messages(received_at);
   CREATE INDEX history_refusals ON history(at) WHERE action IN ('REFUSED', 'REJECTED', 'TEMPFAILED');`,
  // plain words (issue 12): the From header's display name, decoded, so the screens say who a message is from
  `ALTER TABLE messages ADD COLUMN from_name TEXT;`,
  // end users' quarantine (issue 16): each internal recipient's own allow and block lists of senders
  `CREATE TABLE personal_sender_lists (
     recipient TEXT NOT NULL COLLATE NOCASE,
     entry TEXT NOT NULL,
     list TEXT NOT NULL CHECK (list IN ('allow', 'deny')),
     added_at INTEGER NOT NULL,
     added_by TEXT,
     PRIMARY KEY (recipient, entry)
   );`,
  // the quarantine digest (quarantine/digest.ts): when this recipient's copy was listed in a digest; null: not yet
  `ALTER TABLE recipients ADD COLUMN digest_at INTEGER;`,
  // end users' quarantine (issue 16): a recipient's request to have a quarantined message released, for the admin to
  // approve or deny (approval mode); it goes with the message
  `CREATE TABLE release_requests (
     message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
     recipient TEXT NOT NULL COLLATE NOCASE,
     requested_at INTEGER NOT NULL,
     PRIMARY KEY (message_id, recipient)
   );`,
  // the step of the retry schedule a recipient is on and the time that step made it due (queue/backoff.ts): a try
  // before that time, pulled forward by the admin ("Retry now"), keeps the step, so that only scheduled tries lengthen
  // the wait; a recipient already waiting is on the step of its tries, due when its next try is
  `ALTER TABLE recipients ADD COLUMN backoff_step INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE recipients ADD COLUMN backoff_due_at INTEGER NOT NULL DEFAULT 0;
   UPDATE recipients SET backoff_step = attempts, backoff_due_at = next_attempt_at WHERE status = 'pending';`,
  // when a message's queue lifetime (and delay warning) started, where that is not when it arrived: a release from
  // quarantine starts it again without changing when the message came in; null is received_at
  `ALTER TABLE messages ADD COLUMN lifetime_from INTEGER;
   CREATE INDEX messages_lifetime ON messages(lifetime_from) WHERE lifetime_from IS NOT NULL;`,
  // whether the envelope sender may be sent a bounce or delay notice, and why (queue/dsn-policy.ts), decided when the
  // message came in, since the sender checks that decide it are not kept; null: a message from before (the old rule)
  `ALTER TABLE messages ADD COLUMN sender_check TEXT;`,
];

/** Opens (and migrates) the relay database: WAL, synchronous=FULL, so a commit survives power loss. */
export function openDatabase(dataDir: string, options: { schemaVersion?: number } = {}): Db {
  const file = join(dataDir, 'moat.db');
  ownerOnly(file);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    db.close();
    throw new Error(`the database in ${dataDir} is from a newer Moat (schema ${version}); refusing to touch it`);
  }
  // `schemaVersion` stops early: tests of an upgrade make the database an older Moat left
  migrate(db, version, Math.min(options.schemaVersion ?? Infinity, MIGRATIONS.length));
  return db;
}

function migrate(db: Db, from: number, to: number): void {
  for (let next = from; next < to; next++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[next]!);
      db.pragma(`user_version = ${next + 1}`);
    })();
  }
}

/**
 * What in a database's schema Moat's migrations did not make as they are, at its version: a trigger, view, table or
 * index of someone else's, or one of Moat's changed or gone. A database from elsewhere (a backup) runs its triggers
 * inside the relay, so it must be Moat's own. ANALYZE's tables are data, in SQLite's shape. Empty when it is all Moat's. Read-only.
 */
export function schemaStrangers(file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return strangers(db);
  } finally {
    db.close();
  }
}

function strangers(db: Db): string[] {
  const version = schemaVersion(db);
  if (version > MIGRATIONS.length) return [`schema version ${version}, from a newer Moat`];
  const made = new Database(':memory:');
  migrate(made, 0, version);
  // ANALYZE's statistics tables, as SQLite makes them: data a database may have or not, but never in another shape
  made.exec('ANALYZE');
  const objects = (from: Db): Map<string, string | null> =>
    new Map((from.prepare('SELECT type, name, sql FROM sqlite_master').all() as { type: string; name: string; sql: string | null }[]).map(({ type, name, sql }) => [`${type} ${name}`, sql]));
  const expected = objects(made);
  made.close();
  const found = objects(db);
  const optional = (key: string) => /^table sqlite_stat\d$/.test(key);
  return [
    ...[...found].filter(([key]) => !expected.has(key)).map(([key]) => `${key} is not Moat's`),
    ...[...expected].filter(([key]) => !found.has(key) && !optional(key)).map(([key]) => `${key} is missing`),
    ...[...found].filter(([key, sql]) => expected.has(key) && expected.get(key) !== sql).map(([key]) => `${key} is not as Moat made it`),
  ];
}

/**
 * The database holds password hashes: it is made readable by its owner only, whatever the umask (a data directory
 * made by hand may be 0755). SQLite gives its -wal and -shm files the database file's mode.
 */
function ownerOnly(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  // an earlier Moat's -wal and -shm, left by a kill, keep their mode for the whole run: they hold recent pages too
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    if (existsSync(path) && (statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  }
}

/** The schema version of a database (how many migrations it has had). */
export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Opens a copy of the database made by SQLite's online backup (a backup's snapshot) as it is, unmigrated, in
 * rollback-journal mode: the copy is one self-contained file, no -wal beside it.
 */
export function openCopy(path: string): Db {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = DELETE');
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** SQLite's integrity check: null when the database passes it, else what it found. */
export function integrityProblem(db: Db): string | null {
  const check = db.pragma('integrity_check', { simple: true });
  return check === 'ok' ? null : String(check);
}

/** Writes the write-ahead log into the database file and empties it (a restored database is then one file). */
export function checkpoint(db: Db): void {
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/**
 * The store's own errors (a full disk, a damaged database) in the admin's words, with what to look at; null for any
 * other error. SQLite says "disk I/O error" for a disk that is full as often as for one that fails.
 */
export function databaseProblem(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return null;
  const words = `the data directory's database: ${(error as Error).message}`;
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR')) return `${words} (is its disk full? "df -h" on the data directory shows the free space; else the disk may be failing)`;
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') return `${words} (the file is damaged: restore the last backup with "moat backup restore")`;
  return words;
}
