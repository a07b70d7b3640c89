import type { Db } from './db.ts';

/**
 * Every key of the `state` table (key → text value), listed once: the table's only owner is this module, and a key
 * not named here cannot be read or written.
 */
export const STATE_KEYS = {
  /** '1' while the admin holds the whole queue (queue/queue.ts). */
  queueHeld: 'queue_held',
  /**
   * JSON string[]: the domains `moat serve` accepts. Queue commands are often run without serve's --domain flags;
   * they read it so that a DSN they write (bounce) takes the route serve would give it, not an MX look-up.
   */
  servedDomains: 'served_domains',
  /** The admin password's scrypt hash (admin/admin-auth.ts, auth/password.ts). */
  adminPassword: 'admin_password',
  /** JSON {address: last log-in ms}: the addresses the admin logged in from (admin/admin-auth.ts). */
  adminLoginAddresses: 'admin_login_addresses',
  /** JSON {at, file, bytes, messages, encrypted} (or {at, file, restoredAt} after a restore): the last backup. */
  lastBackup: 'last_backup',
  /** JSON {at, error}: the last scheduled backup that failed. */
  lastBackupError: 'last_backup_error',
  /** When this data directory first served: the grace start for "no backup yet". */
  firstStarted: 'first_started_at',
  /** Where the running relay's listeners ended up (for `moat checklist run` in another process). */
  servedMx: 'served_mx_address',
  /** JSON {submission?, submissions?}: where the running relay's submission listeners are (587, 465). */
  servedSubmission: 'served_submission_addresses',
  servedAdmin: 'served_admin_address',
  /** JSON {cert, loadedAt}: the PEM certificate the running relay's listeners serve (smtp/certificate-watch.ts). */
  servedCertificate: 'served_certificate',
  /** The EHLO name the running relay's open-relay self-test uses (secret per run): its probes are not counted as refusals. */
  selfTestHelo: 'self_test_helo',
  /** 'YYYY-MM-DD' (local): the day the scheduled quarantine digest last ran (quarantine/digest.ts), so a start later that day does not send it again. */
  digestLastDay: 'digest_last_day',
  /** JSON {route: {since, seen}}: the hops down when last looked at (queue/route-outages.ts), for a restart during an outage. */
  routesDown: 'routes_down',
} as const;

export type StateKey = (typeof STATE_KEYS)[keyof typeof STATE_KEYS];

/** The `state` table's statements: get, put and delete one value by its key. */
export class StateStore {
  private readonly statements;

  constructor(db: Db) {
    this.statements = {
      get: db.prepare(`SELECT value FROM state WHERE key = ?`),
      put: db.prepare(`INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`),
      delete: db.prepare(`DELETE FROM state WHERE key = ?`),
    };
  }

  get(key: StateKey): string | undefined {
    return (this.statements.get.get(key) as { value: string } | undefined)?.value;
  }

  put(key: StateKey, value: string): void {
    this.statements.put.run(key, value);
  }

  delete(key: StateKey): void {
    this.statements.delete.run(key);
  }

  /** The value parsed as JSON; undefined when there is none or it is not JSON. */
  getJson<T>(key: StateKey): T | undefined {
    const value = this.get(key);
    if (value === undefined) return undefined;
    try {
      return JSON.parse(value) as T;
    } catch {
      return undefined;
    }
  }
}
