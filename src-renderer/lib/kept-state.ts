import { useCallback, useState } from 'react';

const kept = new Map<string, { basis: string; value: unknown }>();

/**
 * useState whose value outlives its screen: leaving for another screen and coming back finds it as it was left
 * (edits not applied yet), until the page is reloaded. Kept in memory only, never in storage: drafts may hold
 * passwords. `basis` is what the value was made from (the saved configuration): when that has changed since, the
 * kept value is stale and the screen starts afresh; the third element is then that stale value, for the screen to
 * say its edits were set aside (undefined otherwise).
 */
export function useKeptState<T>(key: string, basis: string, initial: () => T): [T, (next: T | ((current: T) => T)) => void, T | undefined] {
  const [[value, stale], setState] = useState<[T, T | undefined]>(() => {
    const entry = kept.get(key);
    if (entry && entry.basis === basis) return [entry.value as T, undefined];
    kept.delete(key);
    return [initial(), entry?.value as T | undefined];
  });
  const setValue = useCallback((update: (current: T) => T) => setState(([current, dropped]) => [update(current), dropped]), []);
  const set = useCallback(
    (next: T | ((current: T) => T)) =>
      setValue((current) => {
        const updated = typeof next === 'function' ? (next as (current: T) => T)(current) : next;
        kept.set(key, { basis, value: updated });
        return updated;
      }),
    [key, basis, setValue],
  );
  return [value, set, stale];
}

/** Forgets what a screen kept (after its edits were applied). */
export function forgetKept(...keys: string[]): void {
  for (const key of keys) kept.delete(key);
}
