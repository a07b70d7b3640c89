// Brute-force protection as data plus pure functions: a failure counter per user name and per client address, a
// delay that doubles with each failure, and a lockout once a counter reaches its limit (STYLE habit 10).

export interface LoginPolicy {
  /** Failed logins for one user name (existing or not) within the window before the name is locked. */
  maxFailuresPerAccount: number;
  /** Failed logins from one client address within the window before the address is locked. */
  maxFailuresPerIp: number;
  windowMinutes: number;
  lockoutMinutes: number;
  /** The answer to the first failure waits this long; each further failure in the window doubles it. */
  firstDelayMs: number;
  maxDelayMs: number;
}

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

/** How long the answer to a failed login waits: firstDelayMs, doubled for each earlier failure, at most maxDelayMs. */
export function failureDelayMs(failures: number, policy: Pick<LoginPolicy, 'firstDelayMs' | 'maxDelayMs'>): number {
  if (failures <= 0) return 0;
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.min(failures - 1, 30));
}
