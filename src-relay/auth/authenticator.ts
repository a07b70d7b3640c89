import type { Logger } from '../log/logger.ts';
import type { RelayEvents } from '../events.ts';
import { lockKey, type AccountStore, type AuthOutcome, type LockRow } from './account-store.ts';
import { clientKey, normalizeClientIp } from '../util/networks.ts';
import { CheckGate } from './check-gate.ts';
import {
  activeFailures,
  afterFailure,
  DEFAULT_CHECKS_AT_ONCE,
  DEFAULT_CHECKS_QUEUED,
  DEFAULT_STRANGER_CHECKS_PER_MINUTE,
  failureDelayMs,
  FAMILIAR_ADDRESS_DAYS,
  isLocked,
  type FailureCounter,
  type LoginPolicy,
} from './lockout.ts';
import { normalizeUserName } from './names.ts';
import { dummyHash, verifyPassword } from './password.ts';

/** A user name from the network is kept (logs, history) only as printable ASCII, and this long at most. */
const MAX_LOGGED_NAME_CHARS = 64;

export type AuthResult =
  | { ok: true; user: string; /** the hash the password was checked against: a change made during the check is not this one */ passwordHash: string }
  /** busy: refused unchecked because the relay's password checks are all taken, or the client left while it waited (454) */
  | { ok: false; reply: 'failed' | 'locked' | 'busy'; delayMs: number };

export interface LoginAttempt {
  username: string;
  password: string;
  clientIp: string;
  listener: string;
  /** Aborted when the client's connection closes: an attempt still waiting for its check is dropped unchecked. */
  signal?: AbortSignal;
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
/** `net`: the /64 of an IPv6 client (null for IPv4), counted for strangers only. */
type Keys = { pair: string; ip: string; name: string; net: string | null };

/** What the gate decided before the password check: refused (and why), wait for checks in progress, or admitted. */
type Gate =
  | { kind: 'locked'; lock: 'ip' | 'net' | 'pair' | 'account'; failures: number }
  | { kind: 'wait' }
  | { kind: 'admitted'; counters: (keyof Keys)[]; familiar: boolean };

const LOCK_DETAIL = { ip: 'client address locked', net: 'client network (/64) locked', pair: 'user name locked for this client address', account: 'user name locked' } as const;

/**
 * Checks SMTP AUTH logins: scrypt against the stored hash (against a dummy hash when the name does not exist, so the
 * answer takes as long), failure counters per (name, client address), per address and per name (lockout.ts says
 * which locks whom) with a growing delay, and a row in auth_events for every attempt. Passwords are never logged or
 * stored in clear.
 *
 * Parallel attempts are limited exactly as sequential ones: a password check in progress holds a place on each of
 * its counters (taken synchronously, before any await), and an attempt that finds its counters' places all taken
 * (counted failures plus checks in progress reach the limit) waits for one of those checks to end and looks again.
 * So a mail program opening ten connections with the right password logs in on all ten, while thirty guesses at
 * once get no more password checks than the limit.
 *
 * Past the counters, a check needs one of the relay-wide places (check-gate.ts: a few running, a few waiting, the
 * addresses a name logged in from recently served first) and, from any other address, room in the strangers' budget
 * of the minute; an attempt that finds neither is answered `busy` (454) at once, unchecked, so a flood of guesses
 * with fresh names costs a bounded amount of scrypt and never starves the spool of libuv's threads.
 */
export class Authenticator {
  private readonly accounts: AccountStore;
  private readonly policy: LoginPolicy;
  private readonly events: RelayEvents;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly verify: (password: string, hash: string) => Promise<boolean>;
  /** Password checks in progress per counter key. */
  private readonly inFlight = new Map<string, number>();
  /** Attempts waiting for a check in progress to end. */
  private waiters: (() => void)[] = [];
  /** The relay-wide limit on checks running and waiting (check-gate.ts). */
  private readonly gate: CheckGate;
  private readonly strangerChecksPerMinute: number;
  /** Checks started for strangers in the current minute. */
  private strangers = { minuteStart: 0, started: 0 };

  constructor(options: AuthenticatorOptions) {
    this.accounts = options.accounts;
    this.policy = options.policy;
    this.events = options.events;
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
    this.verify = options.verify ?? verifyPassword;
    this.gate = new CheckGate({ maxRunning: this.policy.maxChecksAtOnce ?? DEFAULT_CHECKS_AT_ONCE, maxQueued: this.policy.maxChecksQueued ?? DEFAULT_CHECKS_QUEUED });
    this.strangerChecksPerMinute = this.policy.maxStrangerChecksPerMinute ?? DEFAULT_STRANGER_CHECKS_PER_MINUTE;
    // made now, so the first login for an unknown name is not slower than the rest
    dummyHash().catch((error: Error) => this.logger.error({ error: error.message }, 'AUTH_SETUP_FAILED'));
  }

  async authenticate(attempt: LoginAttempt): Promise<AuthResult> {
    const name = normalizeUserName(attempt.username);
    // a name that cannot exist is still counted (and locked) under its printable form
    const counted = name ?? loggable(attempt.username).toLowerCase();
    // by the exact address, IPv6 too: an office's clients share one /64, and one device retrying an old password
    // must not lock out the others (guesses spread over a /64 still meet the per-name locks)
    // and, for an address the name has not logged in from (a stranger), by its /64 as well: spreading guesses over a
    // /64 gains nothing, while the office's own devices, familiar to their names, share it unhindered
    const network = clientKey(attempt.clientIp);
    const net = network !== normalizeClientIp(attempt.clientIp) ? lockKey.ip(network) : null;
    const keys: Keys = { pair: lockKey.pair(counted, attempt.clientIp), ip: lockKey.ip(attempt.clientIp), name: lockKey.name(counted), net };
    let gate: Gate;
    for (;;) {
      if (attempt.signal?.aborted) return this.abandoned(attempt, counted);
      const before = this.clock();
      // synchronous, before any await: looking and taking a place are one step
      gate = this.accounts.atomically(() => this.admit(keys, counted, attempt.clientIp, before));
      if (gate.kind === 'locked') {
        this.record(before, counted, attempt, 'locked', LOCK_DETAIL[gate.lock]);
        this.logger.warn({ user: counted, ip: attempt.clientIp, listener: attempt.listener, lock: gate.lock }, 'AUTH_LOCKED');
        return { ok: false, reply: 'locked', delayMs: failureDelayMs(gate.failures, this.policy) };
      }
      if (gate.kind === 'admitted') break;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    const held = gate.counters.map((which) => keys[which]!);
    // still synchronous with the admission: the relay-wide places are taken in the same step as the counters'
    const busy = this.takeCheck(gate.familiar, attempt.signal);
    if (typeof busy === 'string') {
      this.leave(held, () => undefined);
      this.record(this.clock(), counted, attempt, 'locked', busy);
      this.logger.warn({ user: counted, ip: attempt.clientIp, listener: attempt.listener, reason: busy }, 'AUTH_BUSY');
      return { ok: false, reply: 'busy', delayMs: 0 };
    }
    const slot = await busy;
    if (!slot) {
      this.leave(held, () => undefined);
      return this.abandoned(attempt, counted);
    }
    let matches: boolean;
    let account;
    try {
      account = name ? this.accounts.get(name) : undefined;
      // always one scrypt, whether or not the account exists
      matches = await this.verify(attempt.password, account?.passwordHash ?? (await dummyHash()));
    } catch (error) {
      // no guess was judged: nothing is counted, and the caller answers 454 (never a success)
      this.leave(held, () => undefined);
      throw error;
    } finally {
      slot.release();
    }
    const now = this.clock();
    if (account && matches) {
      this.leave(held, () => undefined);
      this.record(now, account.name, attempt, 'success', null);
      this.logger.info({ user: account.name, ip: attempt.clientIp, listener: attempt.listener }, 'AUTH_OK');
      return { ok: true, user: account.name, passwordHash: account.passwordHash };
    }
    const after = this.leave(held, () => ({
      pair: this.countFailure(keys.pair, now, this.policy.maxFailuresPerAccount),
      ip: this.countFailure(keys.ip, now, this.policy.maxFailuresPerIp),
      name: held.includes(keys.name) ? this.countFailure(keys.name, now, this.policy.maxFailuresPerAccountTotal) : null,
      net: keys.net && held.includes(keys.net) ? this.countFailure(keys.net, now, this.policy.maxFailuresPerIp) : null,
    }))!;
    const lockout = after.ip.lockedNow || after.net?.lockedNow ? 'ip' : after.pair.lockedNow || after.name?.lockedNow ? 'account' : null;
    const locked = after.ip.lockedNow ? 'client address' : after.net?.lockedNow ? 'client network (/64)' : after.pair.lockedNow ? 'user name for this client address' : 'user name';
    const detail = lockout ? `wrong credentials; ${locked} locked for ${this.policy.lockoutMinutes} min` : 'wrong credentials';
    this.record(now, counted, attempt, 'failure', detail);
    this.logger.warn(
      { user: counted, ip: attempt.clientIp, listener: attempt.listener, failures: after.pair.failures, ipFailures: after.ip.failures, nameFailures: after.name?.failures, lockout: lockout ?? undefined },
      'AUTH_FAILED',
    );
    this.events.emit('auth-failed', { user: counted, clientIp: attempt.clientIp, lockout });
    // the delay answers this client's own failures: guesses from elsewhere at the same name do not slow the real user
    return { ok: false, reply: 'failed', delayMs: failureDelayMs(Math.max(after.pair.failures, after.ip.failures), this.policy) };
  }

  /**
   * A relay-wide place for one check (a promise of it, when it must wait), or why there is none: the stranger budget
   * of the minute is spent, or the running and waiting places are all taken. Synchronous, so parallel attempts are
   * counted exactly; a refused attempt costs no hashing.
   */
  private takeCheck(familiar: boolean, signal: AbortSignal | undefined): ReturnType<CheckGate['enter']> | string {
    const now = this.clock();
    if (!familiar) {
      if (now - this.strangers.minuteStart >= 60_000) this.strangers = { minuteStart: now, started: 0 };
      if (this.strangers.started >= this.strangerChecksPerMinute) return `relay busy: ${this.strangerChecksPerMinute} password checks this minute for addresses the name has not logged in from`;
    }
    const place = this.gate.enter(familiar, signal);
    if (!place) return 'relay busy: every password check place is taken';
    if (!familiar) this.strangers.started++;
    return place;
  }

  /** The client left before its password was checked: nothing was judged, nothing is counted. */
  private abandoned(attempt: LoginAttempt, counted: string): AuthResult {
    this.logger.info({ user: counted, ip: attempt.clientIp, listener: attempt.listener }, 'AUTH_ABANDONED');
    return { ok: false, reply: 'busy', delayMs: 0 };
  }

  /** Checks running and waiting relay-wide (tests, the log). */
  get checkLoad(): { running: number; queued: number } {
    return this.gate.load;
  }

  /** Inside one transaction: refuse a locked attempt (still counting it for the address), wait, or take a place on each counter. */
  private admit(keys: Keys, name: string, clientIp: string, now: number): Gate {
    const pair = toCounter(this.accounts.lock(keys.pair));
    const ip = toCounter(this.accounts.lock(keys.ip));
    const total = toCounter(this.accounts.lock(keys.name));
    const network = keys.net ? toCounter(this.accounts.lock(keys.net)) : undefined;
    // the ceiling is against guesses spread over many addresses: the account's own recent addresses neither count
    // towards it nor are locked by it (their own per-address counters limit them)
    const familiar = this.accounts.loggedInFrom(name, clientIp, now - FAMILIAR_ADDRESS_DAYS * 86400_000);
    const lock = isLocked(ip, now) ? 'ip' : isLocked(network, now) && !familiar ? 'net' : isLocked(pair, now) ? 'pair' : isLocked(total, now) && !familiar ? 'account' : null;
    if (lock) {
      // guesses during a lockout are not checked at all; one against a locked name still counts for the address
      const ipAfter = lock === 'ip' ? ip! : this.countFailure(keys.ip, now, this.policy.maxFailuresPerIp);
      return { kind: 'locked', lock, failures: Math.max(ipAfter.failures, pair?.failures ?? 0) };
    }
    const counters: [keyof Keys, FailureCounter | undefined, number][] = [
      ['pair', pair, this.policy.maxFailuresPerAccount],
      ['ip', ip, this.policy.maxFailuresPerIp],
      ...(familiar ? [] : [['name', total, this.policy.maxFailuresPerAccountTotal] as [keyof Keys, FailureCounter | undefined, number]]),
      ...(familiar || !keys.net ? [] : [['net', network, this.policy.maxFailuresPerIp] as [keyof Keys, FailureCounter | undefined, number]]),
    ];
    // were every check in progress to fail, would this one still be allowed? if not, wait and see
    if (counters.some(([which, counter, max]) => activeFailures(counter, now, this.policy) + (this.inFlight.get(keys[which]!) ?? 0) >= max)) return { kind: 'wait' };
    for (const [which] of counters) this.inFlight.set(keys[which]!, (this.inFlight.get(keys[which]!) ?? 0) + 1);
    return { kind: 'admitted', counters: counters.map(([which]) => which), familiar };
  }

  /** A check ended: its places are given back and `outcome` runs in the same transaction; waiting attempts look again. */
  private leave<T>(held: string[], outcome: () => T): T {
    try {
      return this.accounts.atomically(() => {
        for (const key of held) {
          const left = (this.inFlight.get(key) ?? 1) - 1;
          if (left > 0) this.inFlight.set(key, left);
          else this.inFlight.delete(key);
        }
        return outcome();
      });
    } finally {
      const waiting = this.waiters;
      this.waiters = [];
      for (const wake of waiting) wake();
    }
  }

  private countFailure(key: string, now: number, max: number): Counted {
    const next = afterFailure(toCounter(this.accounts.lock(key)), now, max, this.policy);
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
