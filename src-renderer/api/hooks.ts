import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { EventName, EventPayload, Input, MethodName, Output } from '../../src-relay/admin/contract.ts';
import { ApiFailure, call, events, type StreamState } from './client.ts';
import { throttle, type Throttled } from '../lib/throttle.ts';
import { parseHash, type Route } from '../lib/route.ts';

/** Any thrown thing as an ApiFailure (a programming error shows its message rather than a blank screen). */
export function asFailure(error: unknown): ApiFailure {
  if (error instanceof ApiFailure) return error;
  return new ApiFailure('CLIENT', error instanceof Error ? error.message : String(error));
}

export interface CallState<T> {
  data: T | undefined;
  error: ApiFailure | null;
  /** True while the first answer (or a reload asked for loudly) is on its way; stale data stays on screen. */
  loading: boolean;
  /** Asks again; live updates call it quietly (no loading state, errors only if there is nothing to show). */
  reload: () => Promise<void>;
  /** Edits the data in hand (an event that changes a part of it). */
  setData: (update: (data: T | undefined) => T | undefined) => void;
  /** A whole answer newer than any call still on its way (an event's, an action's): that call's answer is dropped. */
  replaceData: (data: T) => void;
}

/** Calls a method when the screen shows and whenever its input changes; `null` input waits. */
export function useCall<K extends MethodName>(name: K, input: Input<K> | null): CallState<Output<K>> {
  const key = input === null ? null : JSON.stringify(input);
  const [state, setState] = useState<{ data: Output<K> | undefined; error: ApiFailure | null; loading: boolean }>({ data: undefined, error: null, loading: key !== null });
  const sequence = useRef(0);

  const load = useCallback(
    async (loud: boolean) => {
      if (key === null) return;
      const id = ++sequence.current;
      if (loud) setState((previous) => ({ ...previous, loading: true }));
      try {
        const data = await call(name, JSON.parse(key) as Input<K>);
        if (id === sequence.current) setState({ data, error: null, loading: false });
      } catch (error) {
        if (id === sequence.current) setState((previous) => ({ data: previous.data, error: asFailure(error), loading: false }));
      }
    },
    [name, key],
  );

  useEffect(() => {
    void load(true);
  }, [load]);

  const reload = useCallback(() => load(false), [load]);
  const setData = useCallback((update: (data: Output<K> | undefined) => Output<K> | undefined) => setState((previous) => ({ ...previous, data: update(previous.data) })), []);
  const replaceData = useCallback((data: Output<K>) => {
    sequence.current++;
    setState({ data, error: null, loading: false });
  }, []);
  return { ...state, reload, setData, replaceData };
}

/** Runs `handler` for each event of that name while the component is shown. */
export function useEvent<K extends EventName>(name: K, handler: (payload: EventPayload<K>) => void): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => events.on(name, (payload) => ref.current(payload)), [name]);
}

/** A stable function that runs `fn` at most once per `ms` (the latest fn, so it sees current state). */
export function useThrottled(fn: () => void, ms: number): Throttled {
  const ref = useRef(fn);
  ref.current = fn;
  const throttled = useMemo(() => throttle(() => ref.current(), ms), [ms]);
  useEffect(() => () => throttled.cancel(), [throttled]);
  return throttled;
}

/**
 * Reloads (throttled) on any of the named events, and when the stream is back after a break (the events sent
 * meanwhile were lost). Returns `expectNews`: the next event reloads at once, not at the end of the interval (after
 * the admin's own action, whose outcome the events bring).
 */
export function useLiveReload(names: readonly EventName[], reload: () => void, ms = 2000): () => void {
  const throttled = useThrottled(reload, ms);
  const key = names.join(',');
  useEffect(() => {
    const offs = key.split(',').map((name) => events.on(name as EventName, () => throttled()));
    offs.push(events.onReopen(() => throttled()));
    return () => offs.forEach((off) => off());
  }, [key, throttled]);
  return throttled.cancel;
}

export function useStreamState(): StreamState {
  const [state, setState] = useState<StreamState>('closed');
  useEffect(() => events.onState(setState), []);
  return state;
}

/** The current time, refreshed every `ms` (so ages on screen keep counting) and whenever `refreshOn` changes. */
export function useNow(ms = 30_000, refreshOn?: unknown): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  // new data is read against a new clock: a result just made must not read "in 10 s"
  useEffect(() => setNow(Date.now()), [refreshOn]);
  return now;
}

export function useDebouncedValue<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

/** The hash route, following the address bar (and the desktop shell's notifications). */
export function useHashRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

export function navigate(hash: string): void {
  if (window.location.hash !== hash) window.location.hash = hash;
}

/** Runs one action at a time with a busy flag and its failure kept for display. */
export function useAction(): { busy: boolean; error: ApiFailure | null; run: <T>(action: () => Promise<T>) => Promise<T | undefined>; clear: () => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | null>(null);
  const run = useCallback(async <T,>(action: () => Promise<T>) => {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (failure) {
      setError(asFailure(failure));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setError(null), []);
  return { busy, error, run, clear };
}
