import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RETRY_INTERVALS_SEC, nextBackoff, retryDelayMs, toPermanentStatus } from '../../../src-relay/queue/backoff.ts';

test('The default schedule starts at five minutes, never shrinks and stays within Postfix\'s 4000 s cap.', () => {
  assert.equal(DEFAULT_RETRY_INTERVALS_SEC[0], 300);
  for (let i = 1; i < DEFAULT_RETRY_INTERVALS_SEC.length; i++) {
    assert.ok(DEFAULT_RETRY_INTERVALS_SEC[i]! >= DEFAULT_RETRY_INTERVALS_SEC[i - 1]!);
  }
  assert.ok(Math.max(...DEFAULT_RETRY_INTERVALS_SEC) <= 4000);
});

test('After the first failure the first interval is used, in milliseconds.', () => {
  assert.equal(retryDelayMs(1, DEFAULT_RETRY_INTERVALS_SEC), 300_000);
  assert.equal(retryDelayMs(2, DEFAULT_RETRY_INTERVALS_SEC), 600_000);
  assert.equal(retryDelayMs(5, DEFAULT_RETRY_INTERVALS_SEC), 3_600_000);
});

test('Past the end of the schedule the last interval repeats.', () => {
  assert.equal(retryDelayMs(6, DEFAULT_RETRY_INTERVALS_SEC), 3_600_000);
  assert.equal(retryDelayMs(1000, [60, 120]), 120_000);
});

test('The first attempt, after no failure, waits for nothing.', () => {
  assert.equal(retryDelayMs(0, DEFAULT_RETRY_INTERVALS_SEC), 0);
});

test('A negative or fractional attempt count or an empty schedule is a programming error.', () => {
  assert.throws(() => retryDelayMs(-1, DEFAULT_RETRY_INTERVALS_SEC), RangeError);
  assert.throws(() => retryDelayMs(1.5, DEFAULT_RETRY_INTERVALS_SEC), RangeError);
  assert.throws(() => retryDelayMs(Number.NaN, DEFAULT_RETRY_INTERVALS_SEC), RangeError);
  assert.throws(() => retryDelayMs(1, []), RangeError);
});

test('A transient status becomes the permanent one with the same subject and detail.', () => {
  assert.equal(toPermanentStatus('4.4.1'), '5.4.1');
  assert.equal(toPermanentStatus('4.7.26'), '5.7.26');
});

test('A status that is not transient is returned unchanged.', () => {
  assert.equal(toPermanentStatus('5.1.1'), '5.1.1');
  assert.equal(toPermanentStatus('2.0.0'), '2.0.0');
  assert.equal(toPermanentStatus('4.4'), '4.4');
});

test('No status at all becomes 5.4.7, delivery time expired.', () => {
  assert.equal(toPermanentStatus(undefined), '5.4.7');
  assert.equal(toPermanentStatus(''), '5.4.7');
});

test('after a failed try: the next step when the try came when due; the same step and the same next time when the admin pulled it forward', () => {
  const intervals = [300, 600, 1200];
  const due = 1_000_000;
  assert.deepEqual(nextBackoff(0, 0, due, intervals), { step: 1, delayMs: 300_000 }, 'the first try');
  assert.deepEqual(nextBackoff(1, due, due, intervals), { step: 2, delayMs: 600_000 }, 'when due: the next step');
  assert.deepEqual(nextBackoff(1, due, due + 50, intervals), { step: 2, delayMs: 600_000 }, 'a little late, as tries are: the next step');
  assert.deepEqual(nextBackoff(1, due, due - 1, intervals), { step: 1, delayMs: 1 }, 'one millisecond early: pulled forward, the same step and the same time');
  assert.deepEqual(nextBackoff(2, due, due - 48_000, intervals), { step: 2, delayMs: 48_000 }, 'pressed 48 s before the next try: that try stays 48 s away');
  assert.deepEqual(nextBackoff(3, due, due + 1_200_000, intervals), { step: 4, delayMs: 1_200_000 }, 'past the end the last step repeats');
});
