import { useCallback, useState } from 'react';

const kept = new Map<string, { basis: string; value: unknown }>();

/**
 * useState whose value outlives its screen: leaving for another screen and coming back finds it as it was left
 * (edits not applied yet), until the page is reloaded. Kept in memory only, never in storage: drafts may hold
 * passwords. `basis` is what the value was made from (the saved configuration): when that has changed since, the
 * kept value is stale and the screen starts afresh.
 */
export function useKeptState<T>(key: string, basis: string, initial: () => T): [T, (next: T | ((current: T) => T)) => void] {
  const [value, setValue] = useState<T>(() => {
    const entry = kept.get(key);
    return entry && entry.basis === basis ? (entry.value as T) : initial();
  });
  const set = useCallback(
    (next: T | ((current: T) => T)) =>
      setValue((current) => {
        const updated = typeof next === 'function' ? (next as (current: T) => T)(current) : next;
        kept.set(key, { basis, value: updated });
        return updated;
      }),
    [key, basis],
  );
  return [value, set];
}

/** Forgets what a screen kept (after its edits were applied). */
export function forgetKept(...keys: string[]): void {
  for (const key of keys) kept.delete(key);
}
