/**
 * Live events arrive in bursts (a hundred deliveries a second); screens reload at most once per interval:
 * at once when idle, and once more at the end of the interval if more events came meanwhile.
 */

export interface Throttled {
  (): void;
  cancel(): void;
}

export function throttle(fn: () => void, ms: number): Throttled {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let pending = false;
  const run = () => {
    pending = false;
    fn();
    timer = setTimeout(() => {
      timer = null;
      if (pending) run();
    }, ms);
  };
  const throttled = (() => {
    if (timer) pending = true;
    else run();
  }) as Throttled;
  throttled.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    pending = false;
  };
  return throttled;
}

/** Calls fn once the calls have stopped for `ms` (the search box). */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): ((...args: A) => void) & { cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const debounced = (...args: A) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, ms);
  };
  debounced.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  return debounced;
}
