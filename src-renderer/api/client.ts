import type { ApiResult, EventName, EventPayload, Input, MethodName, Output } from '../../src-relay/admin/contract.ts';

/**
 * The renderer's one way to the engine: `POST api/<method>` with JSON, and `GET api/events` (Server-Sent Events).
 * URLs are relative so the same build works from the admin listener and from the desktop shell's app://moat/.
 * No DOM here (only fetch and an EventSource-like constructor, both injectable), so it is tested in plain Node.
 */

export interface ApiIssue {
  path: string;
  message: string;
}

/** A failed call: the server's stable code and readable message, and per-field issues when there are some. */
export class ApiFailure extends Error {
  readonly code: string;
  readonly issues: ApiIssue[];
  constructor(code: string, message: string, issues: ApiIssue[] = []) {
    super(message);
    this.name = 'ApiFailure';
    this.code = code;
    this.issues = issues;
  }
}

/** Codes the client makes up itself (no answer from the server, or an answer that is not the wire format). */
export const CLIENT_CODES = {
  NETWORK: 'the admin service did not answer (is the relay running?)',
  BAD_RESPONSE: 'the admin service sent an answer this page cannot read',
} as const;

/** Turns one HTTP answer into the result or an ApiFailure; a body that is not the wire format is BAD_RESPONSE. */
export function parseApiResponse<T>(status: number, body: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ApiFailure('BAD_RESPONSE', `${CLIENT_CODES.BAD_RESPONSE} (HTTP ${status})`);
  }
  const result = parsed as ApiResult<T> | null;
  if (result && typeof result === 'object' && result.ok === true && 'result' in result) return result.result;
  if (result && typeof result === 'object' && result.ok === false && typeof result.code === 'string') {
    const issues = Array.isArray(result.issues) ? result.issues.filter((issue) => issue && typeof issue.path === 'string' && typeof issue.message === 'string') : [];
    return fail(result.code, typeof result.message === 'string' ? result.message : result.code, issues);
  }
  throw new ApiFailure('BAD_RESPONSE', `${CLIENT_CODES.BAD_RESPONSE} (HTTP ${status})`);
}

function fail(code: string, message: string, issues: ApiIssue[]): never {
  throw new ApiFailure(code, message, issues);
}

type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string; credentials: 'same-origin' }) => Promise<{ status: number; text(): Promise<string> }>;

export interface ClientOptions {
  fetch?: FetchLike;
  /** Prefix of the API, relative to the page (default "api/"). */
  base?: string;
}

export interface ApiClient {
  call<K extends MethodName>(name: K, input: Input<K>): Promise<Output<K>>;
  /** The CSRF token of this session (from auth.status, auth.login, auth.setup); null when logged out. */
  setCsrf(csrf: string | null): void;
  getCsrf(): string | null;
  /** Called when a call answers UNAUTHENTICATED (the session ended): the app goes back to the log-in screen. */
  onUnauthenticated(listener: () => void): () => void;
}

const CSRF_REFRESHABLE = new Set<MethodName>(['auth.status', 'auth.login', 'auth.setup']);

export function createClient(options: ClientOptions = {}): ApiClient {
  const base = options.base ?? 'api/';
  let csrf: string | null = null;
  const unauthenticated = new Set<() => void>();
  const doFetch: FetchLike = options.fetch ?? ((url, init) => globalThis.fetch(url, init));

  const send = async <K extends MethodName>(name: K, input: Input<K>): Promise<Output<K>> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (csrf) headers['x-moat-csrf'] = csrf;
    let response: { status: number; text(): Promise<string> };
    let body: string;
    try {
      response = await doFetch(`${base}${name}`, { method: 'POST', headers, body: JSON.stringify(input ?? {}), credentials: 'same-origin' });
      body = await response.text();
    } catch {
      throw new ApiFailure('NETWORK', CLIENT_CODES.NETWORK);
    }
    return parseApiResponse<Output<K>>(response.status, body);
  };

  const client: ApiClient = {
    async call(name, input) {
      try {
        const result = await send(name, input);
        if (CSRF_REFRESHABLE.has(name)) {
          const token = (result as { csrf?: unknown }).csrf;
          if (typeof token === 'string' || token === null) csrf = token;
        }
        return result;
      } catch (error) {
        if (!(error instanceof ApiFailure)) throw error;
        if (error.code === 'CSRF' && !CSRF_REFRESHABLE.has(name)) {
          // The token rotates with the session (e.g. after a password change): fetch it once and try again.
          const status = await send('auth.status', {});
          csrf = status.csrf;
          if (status.state === 'ready') return send(name, input);
        }
        if (error.code === 'UNAUTHENTICATED') {
          csrf = null;
          for (const listener of unauthenticated) listener();
        }
        throw error;
      }
    },
    setCsrf(value) {
      csrf = value;
    },
    getCsrf() {
      return csrf;
    },
    onUnauthenticated(listener) {
      unauthenticated.add(listener);
      return () => unauthenticated.delete(listener);
    },
  };
  return client;
}

/** The live events, as named by `eventSchemas` in the contract (a unit test keeps the two lists equal). */
export const EVENT_NAMES = ['relay', 'queue', 'alert', 'received', 'delivered', 'deferred', 'bounced', 'quarantined'] as const satisfies readonly EventName[];

type Listener<K extends EventName> = (payload: EventPayload<K>) => void;

/** The bits of EventSource used here, so a test can pass its own. */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  /** The relay's heartbeat (an unnamed message, every 10 s). */
  onmessage?: ((event: unknown) => void) | null;
  addEventListener(type: string, listener: (event: { data: string }) => void): void;
  close(): void;
}
export type EventSourceFactory = (url: string) => EventSourceLike;

export type StreamState = 'connecting' | 'open' | 'closed';
/**
 * An open stream that hears nothing this long (not even the relay's heartbeat, every 10 s) is closed and opened
 * again: the relay is hung or the path to it is gone, though the connection may look open.
 */
export const STREAM_SILENCE_MS = 30_000;

export interface EventStream {
  on<K extends EventName>(name: K, listener: Listener<K>): () => void;
  /** Connected or not (for the "live" indicator); told at once and on every change. */
  onState(listener: (state: StreamState) => void): () => void;
  /**
   * The stream is open again after a break (dropped, or closed and opened anew): whatever happened meanwhile sent
   * events nobody heard, so what a screen shows from them must be read again.
   */
  onReopen(listener: () => void): () => void;
  start(): void;
  stop(): void;
}

/** Waits before reconnecting: 1 s, doubled after each failure, at most 30 s. */
export const RECONNECT_MIN_MS = 1000;
export const RECONNECT_MAX_MS = 30_000;
const EVENT_SOURCE_CLOSED = 2;

export function reconnectDelay(failures: number): number {
  return Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.max(0, failures - 1));
}

/**
 * One EventSource for the whole page, shared by every screen. The browser retries by itself after a dropped
 * connection; when it gives up (the answer was not an event stream, e.g. 401 or 503) we open a new one later.
 */
export function createEventStream(options: { url?: string; factory?: EventSourceFactory; setTimer?: (fn: () => void, ms: number) => unknown; clearTimer?: (timer: unknown) => void } = {}): EventStream {
  const url = options.url ?? 'api/events';
  const factory = options.factory ?? defaultFactory;
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = options.clearTimer ?? ((timer) => clearTimeout(timer as ReturnType<typeof setTimeout>));
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>();
  const stateListeners = new Set<(state: StreamState) => void>();
  const reopenListeners = new Set<() => void>();
  let openedBefore = false;
  let source: EventSourceLike | null = null;
  let timer: unknown = null;
  let silence: unknown = null;
  let failures = 0;
  let running = false;
  let state: StreamState = 'closed';

  const setState = (next: StreamState) => {
    if (next === state) return;
    state = next;
    for (const listener of stateListeners) listener(state);
  };

  const quiet = () => {
    if (silence !== null) clearTimer(silence);
    silence = null;
  };
  const connect = () => {
    timer = null;
    if (!running) return;
    setState('connecting');
    const current = factory(url);
    source = current;
    const lost = () => {
      quiet();
      current.close();
      source = null;
      failures += 1;
      setState('closed');
      if (running) timer = setTimer(connect, reconnectDelay(failures));
    };
    const heard = () => {
      quiet();
      silence = setTimer(() => {
        silence = null;
        if (source === current) lost();
      }, STREAM_SILENCE_MS);
    };
    current.onopen = () => {
      failures = 0;
      setState('open');
      heard();
      if (openedBefore) for (const listener of reopenListeners) listener();
      openedBefore = true;
    };
    current.onmessage = heard;
    current.onerror = () => {
      if (source !== current) return;
      if (current.readyState === EVENT_SOURCE_CLOSED) {
        lost();
      } else {
        quiet();
        setState('connecting');
      }
    };
    for (const name of EVENT_NAMES) {
      current.addEventListener(name, (event) => {
        heard();
        let payload: unknown;
        try {
          payload = JSON.parse(event.data);
        } catch {
          return;
        }
        for (const listener of listeners.get(name) ?? []) listener(payload);
      });
    }
  };

  return {
    on(name, listener) {
      const set = listeners.get(name) ?? new Set();
      listeners.set(name, set);
      const wrapped = listener as (payload: unknown) => void;
      set.add(wrapped);
      return () => set.delete(wrapped);
    },
    onState(listener) {
      stateListeners.add(listener);
      listener(state);
      return () => stateListeners.delete(listener);
    },
    onReopen(listener) {
      reopenListeners.add(listener);
      return () => reopenListeners.delete(listener);
    },
    start() {
      if (running) return;
      running = true;
      failures = 0;
      openedBefore = false;
      connect();
    },
    stop() {
      running = false;
      if (timer !== null) clearTimer(timer);
      timer = null;
      quiet();
      source?.close();
      source = null;
      setState('closed');
    },
  };
}

const defaultFactory: EventSourceFactory = (url) => {
  const EventSourceClass = (globalThis as unknown as { EventSource?: new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike }).EventSource;
  if (!EventSourceClass) throw new Error('this browser has no EventSource');
  return new EventSourceClass(url);
};

/** The page's client and event stream. */
export const api = createClient();
export const events = createEventStream();
export const call = api.call;
