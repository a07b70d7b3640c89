import { z } from 'zod';
import { method } from '../util/contract-kit.ts';

/** Shortest admin password accepted (NIST SP 800-63B asks at least 8; the admin of a mail gateway gets 10). */
export const MIN_ADMIN_PASSWORD_CHARS = 10;
const MAX_PASSWORD_CHARS = 1024;

/** The admin password rule: the API and `moat admin reset-password` check the same one. */
export const adminPasswordSchema = z.string().min(MIN_ADMIN_PASSWORD_CHARS, `at least ${MIN_ADMIN_PASSWORD_CHARS} characters`).max(MAX_PASSWORD_CHARS);
const empty = z.object({}).strict();
const session = z.object({ csrf: z.string() });

export const relayStateSchema = z.enum(['setup', 'starting', 'running', 'failed', 'stopping']);

export const relayStatusSchema = z.object({
  state: relayStateSchema,
  /** Why the engine is not running (start failed: port taken, bad certificate...). */
  error: z.string().nullable(),
  startedAt: z.number().nullable(),
  /** When an Apply restarted the running engine (it equals startedAt); null when it runs since the relay started. */
  appliedAt: z.number().nullable(),
  version: z.string(),
  hostname: z.string(),
  dataDir: z.string(),
  addresses: z.object({ mx: z.string().nullable(), submission: z.string().nullable(), submissions: z.string().nullable(), admin: z.string().nullable() }),
  routes: z.array(
    z.object({
      route: z.string(),
      state: z.enum(['up', 'refusing', 'down']),
      since: z.number(),
      checkedAt: z.number(),
      lastError: z.string().nullable(),
      refusedRecipients: z.object({ messages: z.number(), since: z.number(), lastError: z.string() }).optional(),
    }),
  ),
  /** Why the configuration file would stop the next start of moat serve (damaged, a setting it refuses), or null. */
  configProblem: z.string().nullable().default(null),
});

export const authContract = {
  'auth.status': method({
    summary: 'Whether this relay still needs claiming, needs a log-in, or the caller is logged in',
    public: true,
    input: empty,
    output: z.object({ state: z.enum(['setup', 'login', 'ready']), csrf: z.string().nullable() }),
  }),
  'auth.setup': method({
    summary: 'First run: claim the relay with the setup token and choose the admin password (logs in)',
    public: true,
    input: z.object({ token: z.string().min(1).max(200), password: adminPasswordSchema }).strict(),
    output: session,
  }),
  'auth.login': method({
    summary: 'Log in with the admin password (rate limited per address)',
    public: true,
    input: z.object({ password: z.string().min(1).max(MAX_PASSWORD_CHARS) }).strict(),
    output: session,
  }),
  'auth.logout': method({ summary: 'End this session', input: empty, output: empty }),
  'auth.changePassword': method({
    summary: 'Change the admin password (other sessions are ended); `current` may be empty only while none is set (the desktop shell)',
    input: z.object({ current: z.string().max(MAX_PASSWORD_CHARS), password: adminPasswordSchema }).strict(),
    output: empty,
  }),
  'relay.status': method({ summary: 'The engine: running or not and why, its addresses, the delivery routes', input: empty, output: relayStatusSchema }),
} as const;
