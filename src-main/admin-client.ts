import { z } from 'zod';
import { contract, type Input, type MethodName, type Output } from '../src-relay/admin/contract.ts';
import { SseParser, type SseEvent } from './sse.ts';

/**
 * Main's client of the engine's admin API (HTTP `POST /api/<method>`, SSE `GET /api/events`). A hosted engine is
 * called with the bearer token main gave it; an attached relay with a cookie session that main logs in with the
 * stored password. Method names, inputs and outputs come from the admin contract (STYLE habit 1); a result is
 * unknown until the contract's output schema accepts it. Failures are values (STYLE habit 5).
 */
export type AdminAuth = { kind: 'bearer'; token: string } | { kind: 'password'; password: string };

/** The client's own failure codes; the relay's codes (e.g. UNAUTHENTICATED) pass through as they are. */
export const CLIENT_ERRORS = {
  RELAY_UNREACHABLE: 'the relay did not answer (is it running, is the address right?)',
  BAD_RESPONSE: 'the relay answered something this app does not understand (are the versions far apart?)',
  LOGIN_FAILED: 'the relay refused the stored password',
  STREAM_REFUSED: 'the relay refused the live event stream',
  STREAM_CLOSED: 'the live event stream ended',
} as const;

/** Why an event stream closed. */
export interface StreamClosed {
  code: string;
  message: string;
}

export type CallResult<T> = { ok: true; result: T } | { ok: false; code: string; message: string };

/** One admin call waits this long for its answer (a hold of the whole queue is one UPDATE). */
export const CALL_TIMEOUT_MS = 15_000;
/** The cookie the admin listener sets at `auth.login`. */
export const SESSION_COOKIE = 'moat_session';

export type Fetch = typeof globalThis.fetch;

const envelopeSchema = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), code: z.string().max(100), message: z.string().max(4000) }),
]);

/** `127.0.0.1:8025` or `[::1]:8025` (what the engine reports) as a base URL. */
export function baseUrlFromAddress(address: string): string {
  return new URL(`http://${address}`).origin;
}

/** The `name=value` of the session cookie among a response's Set-Cookie headers. */
export function sessionCookieFrom(setCookies: string[]): string | null {
  for (const header of setCookies) {
    const pair = header.split(';', 1)[0]!.trim();
    if (pair.startsWith(`${SESSION_COOKIE}=`) && pair.length > SESSION_COOKIE.length + 1) return pair;
  }
  return null;
}

function failure<T>(code: keyof typeof CLIENT_ERRORS, detail?: string): CallResult<T> {
  return { ok: false, code, message: detail ? `${CLIENT_ERRORS[code]}: ${detail}` : CLIENT_ERRORS[code] };
}

export interface AdminClientOptions {
  baseUrl: string;
  auth: AdminAuth;
  fetch?: Fetch;
  timeoutMs?: number;
}

export class AdminClient {
  readonly baseUrl: string;
  private readonly auth: AdminAuth;
  private readonly fetch: Fetch;
  private readonly timeoutMs: number;
  private session: { cookie: string; csrf: string } | null = null;
  private loggingIn: Promise<CallResult<void>> | null = null;

  constructor(options: AdminClientOptions) {
    this.baseUrl = new URL(options.baseUrl).origin;
    this.auth = options.auth;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;
  }

  /** The headers that authenticate a request (logging in first when a password session is needed). */
  async authHeaders(): Promise<CallResult<Record<string, string>>> {
    if (this.auth.kind === 'bearer') return { ok: true, result: { authorization: `Bearer ${this.auth.token}` } };
    if (!this.session) {
      const login = await this.login();
      if (!login.ok) return login;
    }
    const session = this.session!;
    return { ok: true, result: { cookie: session.cookie, 'x-moat-csrf': session.csrf } };
  }

  /** Forgets the session after a 401 and logs in again; false for a bearer (nothing to renew) or a refused password. */
  async renewSession(): Promise<boolean> {
    if (this.auth.kind === 'bearer') return false;
    this.session = null;
    return (await this.login()).ok;
  }

  private login(): Promise<CallResult<void>> {
    if (this.auth.kind !== 'password') return Promise.resolve({ ok: true, result: undefined });
    const password = this.auth.password;
    this.loggingIn ??= (async (): Promise<CallResult<void>> => {
      try {
        const response = await this.post('auth.login', { password } satisfies Input<'auth.login'>, {});
        if (!response.ok) return response;
        const { res, body } = response.result;
        const envelope = envelopeSchema.safeParse(body);
        if (!envelope.success) return failure('BAD_RESPONSE', `HTTP ${res.status}`);
        if (!envelope.data.ok) return { ok: false, code: 'LOGIN_FAILED', message: `${CLIENT_ERRORS.LOGIN_FAILED} (${envelope.data.code}: ${envelope.data.message})` };
        const login = contract['auth.login'].output.safeParse(envelope.data.result);
        const cookie = sessionCookieFrom(res.headers.getSetCookie());
        if (!login.success || !login.data.csrf || !cookie) return failure('BAD_RESPONSE', 'auth.login gave no session');
        this.session = { cookie, csrf: login.data.csrf };
        return { ok: true, result: undefined };
      } finally {
        this.loggingIn = null;
      }
    })();
    return this.loggingIn;
  }

  private async post(method: string, input: unknown, headers: Record<string, string>): Promise<CallResult<{ res: Response; body: unknown }>> {
    let res: Response;
    try {
      res = await this.fetch(`${this.baseUrl}/api/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
        body: JSON.stringify(input ?? {}),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      return failure('RELAY_UNREACHABLE', (error as Error).message);
    }
    try {
      return { ok: true, result: { res, body: await res.json() } };
    } catch {
      return failure('BAD_RESPONSE', `HTTP ${res.status} without a JSON body`);
    }
  }

  /** Calls one admin method; its result is checked by the contract. A 401 renews a password session once. */
  async call<K extends MethodName>(method: K, input: Input<K>): Promise<CallResult<Output<K>>> {
    const schema = contract[method].output as unknown as z.ZodType<Output<K>>;
    for (let attempt = 0; ; attempt++) {
      const auth = await this.authHeaders();
      if (!auth.ok) return auth;
      const response = await this.post(method, input, auth.result);
      if (!response.ok) return response;
      const { res, body } = response.result;
      if (res.status === 401 && attempt === 0 && (await this.renewSession())) continue;
      const envelope = envelopeSchema.safeParse(body);
      if (!envelope.success) return failure('BAD_RESPONSE', `HTTP ${res.status}`);
      if (!envelope.data.ok) return envelope.data;
      const result = schema.safeParse(envelope.data.result);
      if (!result.success) return failure('BAD_RESPONSE', `${method}: ${result.error.issues[0]?.message ?? 'invalid result'}`);
      return { ok: true, result: result.data };
    }
  }

  /**
   * Opens `GET /api/events` and feeds its events to `onEvent` until the stream ends, fails or `signal` aborts.
   * `onOpen` runs once the relay accepted the subscription. Resolves with why it closed (null: aborted).
   */
  async streamEvents(handlers: { onOpen(): void; onEvent(event: SseEvent): void }, signal: AbortSignal): Promise<StreamClosed | null> {
    for (let attempt = 0; ; attempt++) {
      const auth = await this.authHeaders();
      if (!auth.ok) return { code: auth.code, message: auth.message };
      let res: Response;
      try {
        res = await this.fetch(`${this.baseUrl}/api/events`, { headers: { accept: 'text/event-stream', ...auth.result }, signal, redirect: 'error' });
      } catch (error) {
        return signal.aborted ? null : { code: 'RELAY_UNREACHABLE', message: `${CLIENT_ERRORS.RELAY_UNREACHABLE}: ${(error as Error).message}` };
      }
      if (res.status === 401 && attempt === 0 && (await this.renewSession())) {
        await res.body?.cancel();
        continue;
      }
      if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        await res.body?.cancel();
        return { code: 'STREAM_REFUSED', message: `${CLIENT_ERRORS.STREAM_REFUSED} (HTTP ${res.status})` };
      }
      handlers.onOpen();
      const parser = new SseParser(handlers.onEvent);
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.push(decoder.decode(chunk, { stream: true }));
        return { code: 'STREAM_CLOSED', message: CLIENT_ERRORS.STREAM_CLOSED };
      } catch (error) {
        return signal.aborted ? null : { code: 'STREAM_CLOSED', message: `${CLIENT_ERRORS.STREAM_CLOSED}: ${(error as Error).message}` };
      }
    }
  }
}
