import type { Logger } from '../log/logger.ts';
import type { RelayEvents } from '../events.ts';
import { lockKey, type AccountStore, type AuthOutcome, type LockRow } from './account-store.ts';
import { afterFailure, failureDelayMs, isLocked, type FailureCounter, type LoginPolicy } from './lockout.ts';
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

/**
 * Checks SMTP AUTH logins: scrypt against the stored hash (against a dummy hash when the name does not exist, so the
 * answer takes as long), failure counters per name and per client address with a growing delay and a lockout, and
 * a row in auth_events for every attempt. Passwords are never logged or stored in clear.
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
    const nameKey = lockKey.name(counted);
    const ipKey = lockKey.ip(attempt.clientIp);
    const before = this.clock();
    const nameLock = toCounter(this.accounts.lock(nameKey));
    const ipLock = toCounter(this.accounts.lock(ipKey));
    if (isLocked(ipLock, before) || isLocked(nameLock, before)) {
      // guesses during a lockout are not checked at all; one against a locked name still counts for the address
      const ip = isLocked(ipLock, before) ? ipLock! : this.countFailure(ipKey, ipLock, before, this.policy.maxFailuresPerIp);
      this.record(before, counted, attempt, 'locked', isLocked(ipLock, before) ? 'client address locked' : 'user name locked');
      this.logger.warn({ user: counted, ip: attempt.clientIp, listener: attempt.listener }, 'AUTH_LOCKED');
      return { ok: false, reply: 'locked', delayMs: failureDelayMs(Math.max(ip.failures, nameLock?.failures ?? 0), this.policy) };
    }
    const account = name ? this.accounts.get(name) : undefined;
    // always one scrypt, whether or not the account exists
    const matches = await this.verify(attempt.password, account?.passwordHash ?? (await dummyHash()));
    const now = this.clock();
    if (account && matches) {
      this.record(now, account.name, attempt, 'success', null);
      this.logger.info({ user: account.name, ip: attempt.clientIp, listener: attempt.listener }, 'AUTH_OK');
      return { ok: true, user: account.name };
    }
    const nameAfter = this.countFailure(nameKey, nameLock, now, this.policy.maxFailuresPerAccount);
    const ipAfter = this.countFailure(ipKey, ipLock, now, this.policy.maxFailuresPerIp);
    const lockout = ipAfter.lockedNow ? 'ip' : nameAfter.lockedNow ? 'account' : null;
    const detail = lockout ? `wrong credentials; ${lockout === 'ip' ? 'client address' : 'user name'} locked for ${this.policy.lockoutMinutes} min` : 'wrong credentials';
    this.record(now, counted, attempt, 'failure', detail);
    this.logger.warn({ user: counted, ip: attempt.clientIp, listener: attempt.listener, failures: nameAfter.failures, ipFailures: ipAfter.failures, lockout: lockout ?? undefined }, 'AUTH_FAILED');
    this.events.emit('auth-failed', { user: counted, clientIp: attempt.clientIp, lockout });
    return { ok: false, reply: 'failed', delayMs: failureDelayMs(Math.max(nameAfter.failures, ipAfter.failures), this.policy) };
  }

  private countFailure(key: string, counter: FailureCounter | undefined, now: number, max: number) {
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
