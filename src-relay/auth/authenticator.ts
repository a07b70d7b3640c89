import type { Logger } from '../log/logger.ts';
import type { RelayEvents } from '../events.ts';
import { lockKey, type AccountStore, type AuthOutcome, type LockRow } from './account-store.ts';
import { afterFailure, failureDelayMs, FAMILIAR_ADDRESS_DAYS, isLocked, releaseFailure, type FailureCounter, type LoginPolicy } from './lockout.ts';
import { normalizeUserName } from './names.ts';
import { dummyHash, verifyPassword } from './password.ts';

/** A user name from the network is kept (logs, history) only as printable ASCII, and this long at most. */
const MAX_LOGGED_NAME_CHARS = 64;

export type AuthResult =
  | { ok: true; user: string }
  | { ok: false; reply: 'failed' | 'locked'; delayMs: number };

export interface LoginAttempt {
  username: string;
  password: string;
  clientIp: string;
  listener: string;
}

export interface AuthenticatorOptions {
  accounts: AccountStore;
  policy: LoginPolicy;
  events: RelayEvents;
  logger: Logger;
  clock?: () => number;
  /** The password check; tests pass a spy to see that it runs for unknown names too. */
  verify?: (password: string, hash: string) => Promise<boolean>;
}

type Counted = FailureCounter & { lockedNow: boolean };

/** What the gate decided before the password check: refused (and why), or admitted with a failure reserved on each counter. */
type Gate =
  | { admitted: false; lock: 'ip' | 'pair' | 'account'; failures: number }
  | { admitted: true; pair: Counted; ip: Counted; name: Counted | null };

const LOCK_DETAIL = { ip: 'client address locked', pair: 'user name locked for this client address', account: 'user name locked' } as const;

/**
 * Checks SMTP AUTH logins: scrypt against the stored hash (against a dummy hash when the name does not exist, so the
 * answer takes as long), failure counters per (name, client address), per address and per name (lockout.ts says
 * which locks whom) with a growing delay, and a row in auth_events for every attempt. Passwords are never logged or
 * stored in clear.
 *
 * Every attempt is counted as a failure in one synchronous transaction before the password check starts, and the
 * count is taken back when the password was right: however many attempts arrive at once, no more password checks run
 * than the limits allow one after another.
 */
export class Authenticator {
  private readonly accounts: AccountStore;
  private readonly policy: LoginPolicy;
  private readonly events: RelayEvents;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly verify: (password: string, hash: string) => Promise<boolean>;

  constructor(options: AuthenticatorOptions) {
    this.accounts = options.accounts;
    this.policy = options.policy;
    this.events = options.events;
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
    this.verify = options.verify ?? verifyPassword;
    // made now, so the first login for an unknown name is not slower than the rest
    dummyHash().catch((error: Error) => this.logger.error({ error: error.message }, 'AUTH_SETUP_FAILED'));
  }

  async authenticate(attempt: LoginAttempt): Promise<AuthResult> {
    const name = normalizeUserName(attempt.username);
    // a name that cannot exist is still counted (and locked) under its printable form
    const counted = name ?? loggable(attempt.username).toLowerCase();
    const keys = { pair: lockKey.pair(counted, attempt.clientIp), ip: lockKey.ip(attempt.clientIp), name: lockKey.name(counted) };
    const before = this.clock();
    // synchronous, before any await: the reservation is what makes parallel attempts count like sequential ones
    const gate = this.accounts.atomically(() => this.admit(keys, counted, attempt.clientIp, before));
    if (!gate.admitted) {
      this.record(before, counted, attempt, 'locked', LOCK_DETAIL[gate.lock]);
      this.logger.warn({ user: counted, ip: attempt.clientIp, listener: attempt.listener, lock: gate.lock }, 'AUTH_LOCKED');
      return { ok: false, reply: 'locked', delayMs: failureDelayMs(gate.failures, this.policy) };
    }
    let matches: boolean;
    let account;
    try {
      account = name ? this.accounts.get(name) : undefined;
      // always one scrypt, whether or not the account exists
      matches = await this.verify(attempt.password, account?.passwordHash ?? (await dummyHash()));
    } catch (error) {
      // no guess was judged: the reservation is taken back, and the caller answers 454 (never a success)
      this.accounts.atomically(() => this.release(keys, gate));
      throw error;
    }
    const now = this.clock();
    if (account && matches) {
      this.accounts.atomically(() => this.release(keys, gate));
      this.record(now, account.name, attempt, 'success', null);
      this.logger.info({ user: account.name, ip: attempt.clientIp, listener: attempt.listener }, 'AUTH_OK');
      return { ok: true, user: account.name };
    }
    const lockout = gate.ip.lockedNow ? 'ip' : gate.pair.lockedNow || gate.name?.lockedNow ? 'account' : null;
    const locked = gate.ip.lockedNow ? 'client address' : gate.pair.lockedNow ? 'user name for this client address' : 'user name';
    const detail = lockout ? `wrong credentials; ${locked} locked for ${this.policy.lockoutMinutes} min` : 'wrong credentials';
    this.record(now, counted, attempt, 'failure', detail);
    this.logger.warn(
      { user: counted, ip: attempt.clientIp, listener: attempt.listener, failures: gate.pair.failures, ipFailures: gate.ip.failures, nameFailures: gate.name?.failures, lockout: lockout ?? undefined },
      'AUTH_FAILED',
    );
    this.events.emit('auth-failed', { user: counted, clientIp: attempt.clientIp, lockout });
    // the delay answers this client's own failures: guesses from elsewhere at the same name do not slow the real user
    return { ok: false, reply: 'failed', delayMs: failureDelayMs(Math.max(gate.pair.failures, gate.ip.failures), this.policy) };
  }

  /** Inside one transaction: refuse a locked attempt (still counting it for the address), or reserve a failure on each counter. */
  private admit(keys: { pair: string; ip: string; name: string }, name: string, clientIp: string, now: number): Gate {
    const pair = toCounter(this.accounts.lock(keys.pair));
    const ip = toCounter(this.accounts.lock(keys.ip));
    const total = toCounter(this.accounts.lock(keys.name));
    // the ceiling is against guesses spread over many addresses: the account's own recent addresses neither count
    // towards it nor are locked by it (their own per-address counters limit them)
    const familiar = this.accounts.loggedInFrom(name, clientIp, now - FAMILIAR_ADDRESS_DAYS * 86400_000);
    const lock = isLocked(ip, now) ? 'ip' : isLocked(pair, now) ? 'pair' : isLocked(total, now) && !familiar ? 'account' : null;
    if (lock) {
      // guesses during a lockout are not checked at all; one against a locked name still counts for the address
      const ipAfter = lock === 'ip' ? ip! : this.countFailure(keys.ip, ip, now, this.policy.maxFailuresPerIp);
      return { admitted: false, lock, failures: Math.max(ipAfter.failures, pair?.failures ?? 0) };
    }
    return {
      admitted: true,
      pair: this.countFailure(keys.pair, pair, now, this.policy.maxFailuresPerAccount),
      ip: this.countFailure(keys.ip, ip, now, this.policy.maxFailuresPerIp),
      name: familiar ? null : this.countFailure(keys.name, total, now, this.policy.maxFailuresPerAccountTotal),
    };
  }

  /** Takes back the failures reserved by `gate` (a success counts as nothing, as it did before it was checked). */
  private release(keys: { pair: string; ip: string; name: string }, gate: Extract<Gate, { admitted: true }>): void {
    for (const which of ['pair', 'ip', 'name'] as const) {
      const key = keys[which];
      const reserved = gate[which];
      if (!reserved) continue;
      const next = releaseFailure(toCounter(this.accounts.lock(key)), reserved);
      if (next) this.accounts.putLock(key, next.failures, next.windowStart, next.lockedUntil);
      else this.accounts.deleteLock(key);
    }
  }

  private countFailure(key: string, counter: FailureCounter | undefined, now: number, max: number): Counted {
    const next = afterFailure(counter, now, max, this.policy);
    this.accounts.putLock(key, next.failures, next.windowStart, next.lockedUntil);
    return next;
  }

  private record(at: number, name: string, attempt: LoginAttempt, outcome: AuthOutcome, detail: string | null): void {
    try {
      this.accounts.recordEvent({ at, name, clientIp: attempt.clientIp, listener: attempt.listener, outcome, detail });
    } catch (error) {
      this.logger.error({ user: name, error: (error as Error).message }, 'AUTH_RECORD_FAILED');
    }
  }
}

function toCounter(row: LockRow | undefined): FailureCounter | undefined {
  return row && { failures: row.failures, windowStart: row.window_start, lockedUntil: row.locked_until };
}

function loggable(name: string): string {
  return String(name).replace(/[^\x21-\x7e]/g, '?').slice(0, MAX_LOGGED_NAME_CHARS) || '(empty)';
}
