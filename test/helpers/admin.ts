import { rmSync } from 'node:fs';
import { startAdminHost, type AdminHost, type AdminHostOptions } from '../../src-relay/admin/host.ts';
import type { Input, MethodName, Output } from '../../src-relay/admin/contract.ts';
import { noDnsResolver } from './relay.ts';
import { tempDir } from './temp-dir.ts';

export interface Answer {
  status: number;
  body: { ok: boolean; result?: unknown; code?: string; message?: string; issues?: { path: string; message: string }[] };
  headers: Headers;
}

/** A browser-like client of the admin API: it keeps the session cookie and sends the CSRF header. */
export class AdminClient {
  cookie: string | null = null;
  csrf: string | null = null;

  constructor(readonly base: string) {}

  async raw(method: string, body: unknown = {}, headers: Record<string, string> = {}): Promise<Answer> {
    const response = await fetch(`${this.base}/api/${method}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(this.csrf ? { 'x-moat-csrf': this.csrf } : {}),
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const setCookie = response.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0]!.endsWith('=') ? null : setCookie.split(';')[0]!;
    const parsed = (await response.json()) as Answer['body'];
    if (parsed.ok && parsed.result && typeof parsed.result === 'object' && 'csrf' in parsed.result && typeof parsed.result.csrf === 'string') this.csrf = parsed.result.csrf;
    return { status: response.status, body: parsed, headers: response.headers };
  }

  /** Calls a method and returns its result; throws with the code when it fails. */
  async call<K extends MethodName>(method: K, input: Input<K>): Promise<Output<K>> {
    const answer = await this.raw(method, input);
    if (!answer.body.ok) throw Object.assign(new Error(`${method}: ${answer.body.code} ${answer.body.message} ${JSON.stringify(answer.body.issues ?? [])}`), { code: answer.body.code });
    return answer.body.result as Output<K>;
  }
}

export interface TestHost {
  host: AdminHost;
  base: string;
  dataDir: string;
  client(): AdminClient;
  /** A client logged in as the admin (claiming the relay first when needed). */
  admin(password?: string): Promise<AdminClient>;
  stop(): Promise<void>;
}

export const ADMIN_PASSWORD = 'correct horse battery';

/** An admin host on 127.0.0.1:0 with its own data dir; `overrides` play the command line. */
export async function startHost(overrides: Record<string, unknown> = {}, options: Partial<AdminHostOptions> = {}): Promise<TestHost> {
  const dataDir = options.dataDir ?? tempDir('moat-admin-');
  const host = await startAdminHost({
    dataDir,
    adminListen: '127.0.0.1:0',
    logger: false,
    ...options,
    overrides: { mx: { listen: '127.0.0.1:0' }, shutdownGraceSec: 1, ...overrides },
    relayOptions: { resolver: noDnsResolver, ...options.relayOptions },
  });
  const base = `http://${host.adminAddress}`;
  return {
    host,
    base,
    dataDir,
    client: () => new AdminClient(base),
    async admin(password = ADMIN_PASSWORD) {
      const client = new AdminClient(base);
      if (!host.auth.passwordSet) await client.call('auth.setup', { token: host.setupToken!, password });
      else await client.call('auth.login', { password });
      return client;
    },
    async stop() {
      await host.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Reads Server-Sent Events until `until` returns true for one; rejects after the timeout. */
export async function readEvents(base: string, cookie: string | null, until: (name: string, data: unknown) => boolean, timeoutMs = 15_000): Promise<{ name: string; data: unknown }[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const seen: { name: string; data: unknown }[] = [];
  try {
    const response = await fetch(`${base}/api/events`, { headers: cookie ? { cookie } : {}, signal: abort.signal });
    if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += Buffer.from(chunk).toString('utf8');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!name || data === undefined) continue;
        const event = { name, data: JSON.parse(data) as unknown };
        seen.push(event);
        if (until(event.name, event.data)) return seen;
      }
    }
    throw new Error('events: stream ended');
  } catch (error) {
    if (abort.signal.aborted) throw new Error(`events: timed out; saw ${JSON.stringify(seen.map((event) => event.name))}`);
    throw error;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}
