import type { Db } from '../store/db.ts';
import type { SenderRule } from './names.ts';
import { clientKey } from '../util/networks.ts';

export interface Account {
  name: string;
  passwordHash: string;
  senders: SenderRule[];
  createdAt: number;
  updatedAt: number;
  /** Set by the circuit breaker; cleared only by `moat users unlock NAME`. */
  suspendedAt: number | null;
  suspendedReason: string | null;
  /** When the administrator last unlocked the account: the circuit breaker counts only what was sent after it. */
  unlockedAt: number | null;
}

export type AuthOutcome = 'success' | 'failure' | 'locked' | 'suspended' | 'unlocked';

export interface AuthEvent {
  at: number;
  name: string;
  clientIp: string | null;
  listener: string | null;
  outcome: AuthOutcome;
  detail: string | null;
}

export interface LockRow {
  key: string;
  failures: number;
  window_start: number;
  locked_until: number | null;
}

interface AccountRow {
  name: string;
  password_hash: string;
  senders: string;
  created_at: number;
  updated_at: number;
  suspended_at: number | null;
  suspended_reason: string | null;
  unlocked_at: number | null;
}

/** How long login history is kept; older rows are pruned when the relay starts. */
export const AUTH_EVENTS_KEEP_DAYS = 90;

/**
 * Lock keys: one per user name (whether or not the account exists), one per client address, and one per pair of both
 * (`pair:ADDRESS NAME`: neither an address nor a counted name holds a space, so the key splits at its first space).
 */
export const lockKey = {
  name: (name: string) => `name:${name}`,
  ip: (ip: string) => `ip:${ip}`,
  pair: (name: string, ip: string) => `pair:${ip} ${name}`,
};

/** The address and name of a `pair:` key; null for other keys. */
export function splitPairKey(key: string): { ip: string; name: string } | null {
  if (!key.startsWith('pair:')) return null;
  const space = key.indexOf(' ');
  return space < 0 ? null : { ip: key.slice(5, space), name: key.slice(space + 1) };
}

/**
 * The SQL behind accounts, login history and lockouts. The CLI and the running relay share it through the database
 * (WAL): `moat users unlock` clears a row, the relay reads it on the next attempt.
 */
export class AccountStore {
  private readonly statements;

  constructor(readonly db: Db) {
    this.statements = {
      get: db.prepare(`SELECT * FROM users WHERE name = ?`),
      list: db.prepare(`SELECT * FROM users ORDER BY name`),
      count: db.prepare(`SELECT COUNT(*) AS n FROM users`),
      insert: db.prepare(
        `INSERT INTO users (name, password_hash, senders, created_at, updated_at) VALUES (@name, @hash, @senders, @now, @now)
         ON CONFLICT(name) DO NOTHING`,
      ),
      remove: db.prepare(`DELETE FROM users WHERE name = ?`),
      setPassword: db.prepare(`UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?`),
      setSenders: db.prepare(`UPDATE users SET senders = ?, updated_at = ? WHERE name = ?`),
      suspend: db.prepare(`UPDATE users SET suspended_at = ?, suspended_reason = ? WHERE name = ? AND suspended_at IS NULL`),
      unsuspend: db.prepare(`UPDATE users SET suspended_at = NULL, suspended_reason = NULL, unlocked_at = ? WHERE name = ?`),
      insertEvent: db.prepare(
        `INSERT INTO auth_events (at, name, client_ip, listener, outcome, detail) VALUES (@at, @name, @clientIp, @listener, @outcome, @detail)`,
      ),
      events: db.prepare(`SELECT * FROM auth_events WHERE name = ? ORDER BY at DESC, id DESC LIMIT ?`),
      lastSuccess: db.prepare(`SELECT at, client_ip FROM auth_events WHERE name = ? AND outcome = 'success' ORDER BY at DESC, id DESC LIMIT 1`),
      pruneEvents: db.prepare(`DELETE FROM auth_events WHERE at < ?`),
      getLock: db.prepare(`SELECT * FROM auth_locks WHERE key = ?`),
      putLock: db.prepare(
        `INSERT INTO auth_locks (key, failures, window_start, locked_until) VALUES (@key, @failures, @windowStart, @lockedUntil)
         ON CONFLICT(key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, locked_until = excluded.locked_until`,
      ),
      deleteLock: db.prepare(`DELETE FROM auth_locks WHERE key = ?`),
      deleteNamePairs: db.prepare(`DELETE FROM auth_locks WHERE key LIKE 'pair:%' AND substr(key, -length(@suffix)) = @suffix`),
      loggedInFrom: db.prepare(`SELECT 1 FROM auth_events WHERE name = ? AND at >= ? AND client_ip = ? AND outcome = 'success' LIMIT 1`),
      activeLocks: db.prepare(`SELECT * FROM auth_locks WHERE locked_until > ? ORDER BY key`),
      pruneLocks: db.prepare(`DELETE FROM auth_locks WHERE COALESCE(locked_until, 0) < @now AND window_start < @windowStart`),
    };
  }

  get(name: string): Account | undefined {
    const row = this.statements.get.get(name) as AccountRow | undefined;
    return row && toAccount(row);
  }

  list(): Account[] {
    return (this.statements.list.all() as AccountRow[]).map(toAccount);
  }

  count(): number {
    return (this.statements.count.get() as { n: number }).n;
  }

  /** False when the name is taken. */
  add(name: string, passwordHash: string, senders: SenderRule[], now: number): boolean {
    const result = this.statements.insert.run({ name, hash: passwordHash, senders: JSON.stringify(senders), now }) as { changes: number };
    return result.changes > 0;
  }

  remove(name: string): boolean {
    return this.db.transaction(() => {
      this.deleteNameLocks(name);
      return this.statements.remove.run(name).changes > 0;
    })();
  }

  setPassword(name: string, passwordHash: string, now: number): boolean {
    return this.statements.setPassword.run(passwordHash, now, name).changes > 0;
  }

  setSenders(name: string, senders: SenderRule[], now: number): boolean {
    return this.statements.setSenders.run(JSON.stringify(senders), now, name).changes > 0;
  }

  /** True when this call suspended the account (it was not suspended yet). */
  suspend(name: string, reason: string, now: number): boolean {
    return this.statements.suspend.run(now, reason, name).changes > 0;
  }

  /** Lifts a suspension and a lockout of the name; returns whether the account exists. */
  unlock(name: string, now: number): boolean {
    return this.db.transaction(() => {
      this.deleteNameLocks(name);
      return this.statements.unsuspend.run(now, name).changes > 0;
    })();
  }

  /** The administrator's unlock (CLI or admin API): lifts suspension and lockout, and says so in the login history. */
  adminUnlock(name: string, now: number, detail = 'unlocked by the administrator'): boolean {
    return this.db.transaction(() => {
      if (!this.unlock(name, now)) return false;
      this.recordEvent({ at: now, name, clientIp: null, listener: null, outcome: 'unlocked', detail });
      return true;
    })();
  }

  /**
   * Until when log-ins with this name are locked out after failures, from every address or from some; null when
   * they are not.
   */
  lockedUntil(name: string, now: number): number | null {
    return this.lockOf(name, now)?.until ?? null;
  }

  /** The name's lockout: until when, and from which client addresses (null: from every address); null when none. */
  lockOf(name: string, now: number): { until: number; from: string[] | null } | null {
    const mine = this.activeLocks(now).filter((row) => row.key === lockKey.name(name) || splitPairKey(row.key)?.name === name);
    if (mine.length === 0) return null;
    const everywhere = mine.some((row) => row.key === lockKey.name(name));
    return { until: Math.max(...mine.map((row) => row.locked_until!)), from: everywhere ? null : mine.map((row) => splitPairKey(row.key)!.ip) };
  }

  /**
   * Lifts the lockout of a client address; returns whether it was locked or had failures counted. A name locked for
   * that address stays locked until the name is unlocked: lifting an address does not forgive guesses at a name.
   */
  unlockAddress(ip: string): boolean {
    // IPv6 clients are locked by /64 (util/networks.ts clientKey); a lock made before that is by the address itself
    const keys = new Set([lockKey.ip(ip), lockKey.ip(clientKey(ip))]);
    let unlocked = false;
    for (const key of keys) unlocked = this.statements.deleteLock.run(key).changes > 0 || unlocked;
    return unlocked;
  }

  /** Did this account log in successfully from this client address since `since`? */
  loggedInFrom(name: string, ip: string, since: number): boolean {
    return this.statements.loggedInFrom.get(name, since, ip) !== undefined;
  }

  /** Runs `work` as one write transaction: reads and writes of failure counters in it are never interleaved. */
  atomically<T>(work: () => T): T {
    return this.db.transaction(work).immediate();
  }

  recordEvent(event: AuthEvent): void {
    this.statements.insertEvent.run(event);
  }

  recordEvents(events: readonly AuthEvent[]): void {
    if (events.length === 0) return;
    this.db.transaction(() => {
      for (const event of events) this.statements.insertEvent.run(event);
    })();
  }

  events(name: string, limit = 20): { at: number; name: string; client_ip: string | null; listener: string | null; outcome: AuthOutcome; detail: string | null }[] {
    return this.statements.events.all(name, limit) as never;
  }

  lastSuccess(name: string): { at: number; client_ip: string | null } | undefined {
    return this.statements.lastSuccess.get(name) as { at: number; client_ip: string | null } | undefined;
  }

  lock(key: string): LockRow | undefined {
    return this.statements.getLock.get(key) as LockRow | undefined;
  }

  putLock(key: string, failures: number, windowStart: number, lockedUntil: number | null): void {
    this.statements.putLock.run({ key, failures, windowStart, lockedUntil });
  }

  deleteLock(key: string): void {
    this.statements.deleteLock.run(key);
  }

  private deleteNameLocks(name: string): void {
    this.statements.deleteLock.run(lockKey.name(name));
    this.statements.deleteNamePairs.run({ suffix: ` ${name}` });
  }

  activeLocks(now: number): LockRow[] {
    return this.statements.activeLocks.all(now) as LockRow[];
  }

  /** Drops login history older than AUTH_EVENTS_KEEP_DAYS and failure counters whose window and lockout are over. */
  prune(now: number, windowMs: number): void {
    this.statements.pruneEvents.run(now - AUTH_EVENTS_KEEP_DAYS * 86400_000);
    this.statements.pruneLocks.run({ now, windowStart: now - windowMs });
  }
}

function toAccount(row: AccountRow): Account {
  let senders: SenderRule[] = [];
  try {
    const parsed: unknown = JSON.parse(row.senders);
    if (Array.isArray(parsed)) senders = parsed.filter((entry): entry is string => typeof entry === 'string');
  } catch {
    // a damaged list allows nothing
  }
  return {
    name: row.name,
    passwordHash: row.password_hash,
    senders,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    suspendedAt: row.suspended_at,
    suspendedReason: row.suspended_reason,
    unlockedAt: row.unlocked_at,
  };
}
