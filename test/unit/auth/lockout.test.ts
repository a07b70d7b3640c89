import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterFailure, failureDelayMs, isLocked } from '../../../src-relay/auth/lockout.ts';

const policy = { windowMinutes: 15, lockoutMinutes: 30, firstDelayMs: 1000, maxDelayMs: 8000 };
const MIN = 60_000;

test('failures within the window add up, and the one that reaches the limit starts a lockout', () => {
  let counter = afterFailure(undefined, 0, 3, policy);
  assert.deepEqual(counter, { failures: 1, windowStart: 0, lockedUntil: null, lockedNow: false });
  counter = afterFailure(counter, 1 * MIN, 3, policy);
  assert.equal(counter.failures, 2);
  counter = afterFailure(counter, 2 * MIN, 3, policy);
  assert.deepEqual(counter, { failures: 3, windowStart: 0, lockedUntil: 32 * MIN, lockedNow: true });
  assert.ok(isLocked(counter, 31 * MIN));
  assert.ok(!isLocked(counter, 32 * MIN));
});

test('failures during a lockout do not extend it', () => {
  const locked = afterFailure({ failures: 3, windowStart: 0, lockedUntil: 32 * MIN }, 10 * MIN, 3, policy);
  assert.equal(locked.lockedUntil, 32 * MIN);
  assert.equal(locked.lockedNow, false);
  assert.equal(locked.failures, 4);
});

test('a failure after the window or after the lockout starts counting afresh', () => {
  assert.deepEqual(afterFailure({ failures: 2, windowStart: 0, lockedUntil: null }, 15 * MIN, 3, policy), { failures: 1, windowStart: 15 * MIN, lockedUntil: null, lockedNow: false });
  assert.deepEqual(afterFailure({ failures: 5, windowStart: 0, lockedUntil: 32 * MIN }, 33 * MIN, 3, policy), { failures: 1, windowStart: 33 * MIN, lockedUntil: null, lockedNow: false });
});

test('a limit of one locks at the first failure', () => {
  assert.equal(afterFailure(undefined, 0, 1, policy).lockedNow, true);
});

test('the answer to a failed login waits longer with each failure: 1, 2, 4, 8 s, then stays at the cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 50].map((n) => failureDelayMs(n, policy)), [0, 1000, 2000, 4000, 8000, 8000, 8000]);
});
