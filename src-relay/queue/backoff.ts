/**
 * Retry schedule as data: an array of intervals and two pure functions, so the scheduler holds
 * no timing policy of its own (Haraka outbound/hmail.js temp_fail, Postfix backoff).
 */

/** Default retry intervals in seconds, in the spirit of Postfix: first retry after minutes, capped at about an hour. */
// Postfix: minimal_backoff_time 300s, maximal_backoff_time 4000s, doubling in between.
export const DEFAULT_RETRY_INTERVALS_SEC: readonly number[] = [300, 600, 1200, 2400, 3600];

/** Delay before the attempt that follows `failedAttempts` failed ones (1-based: after the first failure use intervals[0]); past the end the last interval repeats. */
export function retryDelayMs(failedAttempts: number, intervalsSec: readonly number[]): number {
  if (!Number.isInteger(failedAttempts) || failedAttempts < 0) {
    throw new RangeError(`failedAttempts must be a whole number >= 0, got ${failedAttempts}`);
  }
  if (failedAttempts === 0) return 0;
  const last = intervalsSec[intervalsSec.length - 1];
  if (last === undefined) throw new RangeError('intervalsSec must not be empty');
  return (intervalsSec[failedAttempts - 1] ?? last) * 1000;
}

/**
 * After a failed try of a recipient on `step` of the schedule (0: never failed), which that step made due at `dueAt`:
 * the step it goes on and the wait. A scheduled try moves to the next step; one the admin pulled forward ("Retry now",
 * before `dueAt`) stays on its step and keeps its time, so pressing it while a server is down never delays the next
 * automatic try.
 */
export function nextBackoff(step: number, dueAt: number, now: number, intervalsSec: readonly number[]): { step: number; delayMs: number } {
  if (step > 0 && now < dueAt) return { step, delayMs: dueAt - now };
  return { step: step + 1, delayMs: retryDelayMs(step + 1, intervalsSec) };
}

const TRANSIENT_STATUS = /^4(\.\d{1,3}\.\d{1,3})$/;

// RFC 3463 X.4.7: delivery time expired.
const EXPIRED_STATUS = '5.4.7';

/** A 4.x.y status turned permanent for the DSN once the queue lifetime is over: '4.4.1' -> '5.4.1'. Anything else unchanged. Gives '5.4.7' (delivery time expired) when there's no status. */
export function toPermanentStatus(status: string | undefined): string {
  if (status === undefined || status === '') return EXPIRED_STATUS;
  const transient = TRANSIENT_STATUS.exec(status);
  return transient ? `5${transient[1]}` : status;
}
