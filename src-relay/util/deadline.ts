/**
 * An abort signal for a deadline of `ms`, aborted with a TimeoutError, whose timer is cleared (`clear`) as soon as
 * the work is done. AbortSignal.timeout's timer lives its whole span whatever happens: at 200 messages a second a
 * 12 s budget keeps thousands alive, each promoted to V8's old generation before it is collected. This one also keeps
 * the process alive while the work runs, so a check under way is never cut short by an exit for want of timers.
 */
export function deadline(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
