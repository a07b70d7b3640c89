// Brute-force protection as data plus pure functions: failure counters, a delay that doubles with each failure, and a
// lockout once a counter reaches its limit (STYLE habit 10). Three counters guard a log-in:
// - per (user name, client address): the name is locked for that address only, so guesses from elsewhere can never
//   lock the real user out of the address they use;
// - per client address, over all names: one address spraying names is locked for every name;
// - per user name over all addresses (the ceiling against guesses spread over many addresses): the name is then
//   locked for every address except those it logged in from successfully in the last FAMILIAR_ADDRESS_DAYS, whose
//   failures do not count towards it either. So nobody elsewhere can lock the real user out of an address they use,
//   and the most a botnet gets per window is the ceiling, whatever the number of its addresses.
// A check in progress holds a place on each counter it would count on; an attempt finding no place left waits for a
// check to end (authenticator.ts), so parallel attempts are limited exactly as sequential ones are.

export interface LoginPolicy {
  /** Failed logins for one user name (existing or not) from one client address within the window before the name is locked for that address. */
  maxFailuresPerAccount: number;
  /** Failed logins for one user name from all addresses within the window before it is locked for every address it has not logged in from recently. */
  maxFailuresPerAccountTotal: number;
  /** Failed logins from one client address within the window before the address is locked. */
  maxFailuresPerIp: number;
  windowMinutes: number;
  lockoutMinutes: number;
  /** The answer to the first failure waits this long; each further failure in the window doubles it. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** Password checks running at once in the whole relay (default DEFAULT_CHECKS_AT_ONCE). */
  maxChecksAtOnce?: number;
  /** Password checks waiting for a place, beyond which an attempt gets 454 unchecked (default DEFAULT_CHECKS_QUEUED). */
  maxChecksQueued?: number;
  /** Password checks a minute, relay-wide, for attempts from an address the name has not logged in from recently (default DEFAULT_STRANGER_CHECKS_PER_MINUTE). */
  maxStrangerChecksPerMinute?: number;
}

export { DEFAULT_CHECKS_AT_ONCE, DEFAULT_CHECKS_QUEUED, DEFAULT_STRANGER_CHECKS_PER_MINUTE, MAX_CHECKS_AT_ONCE } from '../config/schema.ts';

/**
 * An address the account logged in from successfully within this many days is familiar: the account-wide ceiling does
 * not lock it (its own per-address counter still does). A month covers holidays; the history is kept 90 days.
 */
export const FAMILIAR_ADDRESS_DAYS = 30;

export interface FailureCounter {
  failures: number;
  windowStart: number;
  lockedUntil: number | null;
}

export function isLocked(counter: FailureCounter | undefined, now: number): boolean {
  return counter?.lockedUntil != null && counter.lockedUntil > now;
}

/** The counter after one more failure; `lockedNow` when this failure started a lockout. */
export function afterFailure(
  counter: FailureCounter | undefined,
  now: number,
  max: number,
  policy: Pick<LoginPolicy, 'windowMinutes' | 'lockoutMinutes'>,
): FailureCounter & { lockedNow: boolean } {
  const windowMs = policy.windowMinutes * 60_000;
  const lockoutOver = counter?.lockedUntil != null && counter.lockedUntil <= now;
  const windowOver = counter !== undefined && counter.lockedUntil === null && now - counter.windowStart >= windowMs;
  if (!counter || lockoutOver || windowOver) {
    const lockedNow = max <= 1;
    return { failures: 1, windowStart: now, lockedUntil: lockedNow ? now + policy.lockoutMinutes * 60_000 : null, lockedNow };
  }
  const failures = counter.failures + 1;
  if (counter.lockedUntil !== null || failures < max) return { ...counter, failures, lockedNow: false };
  return { failures, windowStart: counter.windowStart, lockedUntil: now + policy.lockoutMinutes * 60_000, lockedNow: true };
}

/** Failures that still count now: none once the window or the lockout is over (the next failure starts afresh). */
export function activeFailures(counter: FailureCounter | undefined, now: number, policy: Pick<LoginPolicy, 'windowMinutes'>): number {
  if (!counter) return 0;
  if (counter.lockedUntil !== null) return counter.lockedUntil > now ? counter.failures : 0;
  return now - counter.windowStart >= policy.windowMinutes * 60_000 ? 0 : counter.failures;
}

/** How long the answer to a failed login waits: firstDelayMs, doubled for each earlier failure, at most maxDelayMs. */
export function failureDelayMs(failures: number, policy: Pick<LoginPolicy, 'firstDelayMs' | 'maxDelayMs'>): number {
  if (failures <= 0) return 0;
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.min(failures - 1, 30));
}
