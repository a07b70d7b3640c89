import { isAbsolute } from 'node:path';
import { z } from 'zod';
import type { AttachTestResult, ManagedRelay, ManagedRelayChoice } from './bridge.ts';
import { AdminClient, type Fetch } from './admin-client.ts';

/**
 * Host or attach: the app either runs the engine itself (a data directory of its own) or manages a Moat that
 * already runs as a service on the box (its admin URL and password), since a relay must keep running while
 * nobody is logged in.
 */

const MAX_URL_CHARS = 2048;
const MAX_PATH_CHARS = 4096;
/** An admin password longer than this is a paste accident, not a password. */
const MAX_PASSWORD_CHARS = 1024;

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * Why an attach URL is refused, or null when it is fine: http(s) only, no credentials, path or query in it, and
 * plain http only to a loopback address (the password and the session cookie would cross the network in clear).
 */
export function attachUrlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not a URL (expected e.g. https://relay.example.org:8025)';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'only http: and https: URLs can be attached to';
  if (url.username || url.password) return 'the URL must not carry a user name or password';
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return 'give only the scheme, host and port (no path, query or #)';
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) return 'plain http is only allowed to this machine (127.0.0.1, ::1, localhost); use https for another host';
  return null;
}

export const attachUrlSchema = z
  .string()
  .max(MAX_URL_CHARS)
  .superRefine((value, context) => {
    const problem = attachUrlProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  })
  .transform((value) => new URL(value).origin);

export const dataDirSchema = z
  .string()
  .min(1)
  .max(MAX_PATH_CHARS)
  .refine((value) => isAbsolute(value) && !value.includes('\0'), 'the data directory must be an absolute path');

const userSchema = z.string().min(1).max(200).regex(/^[^\r\n\0]+$/, 'one line');

export const managedRelaySchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('host'), dataDir: dataDirSchema }),
  z.strictObject({ mode: z.literal('attach'), url: attachUrlSchema, user: userSchema.optional() }),
]);

export const managedRelayChoiceSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('host'), dataDir: dataDirSchema.optional() }),
  z.strictObject({
    mode: z.literal('attach'),
    url: attachUrlSchema,
    user: userSchema.optional(),
    password: z.string().min(1).max(MAX_PASSWORD_CHARS).optional(),
  }),
]);

export const attachTestSchema = z.strictObject({
  url: attachUrlSchema,
  user: userSchema.optional(),
  password: z.string().min(1).max(MAX_PASSWORD_CHARS).optional(),
});

/**
 * The attach form's "Test connection": logs in to the service with the password and asks relay.status. Nothing
 * is stored; a refused password or an unreachable address comes back as words, never thrown.
 */
export async function testAttach(options: { url: string; password: string | null; fetch?: Fetch }): Promise<AttachTestResult> {
  if (!options.password) return { reachable: false, code: 'NO_PASSWORD', message: "enter the service's admin password" };
  const client = new AdminClient({ baseUrl: options.url, auth: { kind: 'password', password: options.password }, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const status = await client.call('relay.status', {});
  if (!status.ok) return { reachable: false, code: status.code, message: status.message };
  return { reachable: true, hostname: status.result.hostname, version: status.result.version, state: status.result.state };
}

/** The preference to store for a choice; a host choice without a directory takes the app's default one. */
export function managedRelayFromChoice(choice: ManagedRelayChoice, defaultDataDir: string): ManagedRelay {
  if (choice.mode === 'host') return { mode: 'host', dataDir: choice.dataDir ?? defaultDataDir };
  return choice.user === undefined ? { mode: 'attach', url: choice.url } : { mode: 'attach', url: choice.url, user: choice.user };
}

export type RelayPlan =
  | { kind: 'host'; dataDir: string }
  | { kind: 'attach'; baseUrl: string; password: string }
  | { kind: 'needs-password'; baseUrl: string };

/** What to run at start (and after the admin chose another relay): host the engine, or attach with the stored password. */
export function planRelay(managed: ManagedRelay, storedPassword: string | null): RelayPlan {
  if (managed.mode === 'host') return { kind: 'host', dataDir: managed.dataDir };
  if (storedPassword === null || storedPassword === '') return { kind: 'needs-password', baseUrl: managed.url };
  return { kind: 'attach', baseUrl: managed.url, password: storedPassword };
}

/**
 * What to do with the stored password when the admin chooses a relay: store a new one, keep the one stored (the
 * same relay, no new password given), or forget it. A password is only ever sent to the relay it was given for.
 */
export function passwordAction(current: ManagedRelay, choice: ManagedRelayChoice): { action: 'store'; password: string } | { action: 'keep' } | { action: 'forget' } {
  if (choice.mode === 'attach' && choice.password !== undefined) return { action: 'store', password: choice.password };
  if (choice.mode === 'attach' && current.mode === 'attach' && new URL(current.url).origin === new URL(choice.url).origin) return { action: 'keep' };
  return { action: 'forget' };
}
