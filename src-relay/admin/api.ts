import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { contract, type MethodName } from './contract.ts';
import { ApiError, sendApiError, type ApiIssue } from './errors.ts';
import { sendJson, type RequestContext, type Router } from '../http/router.ts';
import type { AdminAuth, AdminSession } from './admin-auth.ts';
import type { ApiContext, CallInfo, Caller } from './handlers/types.ts';
import type { Logger } from '../log/logger.ts';
import { plainIssueMessage } from '../util/plain-issues.ts';

/** Largest request body (a pasted certificate chain is the biggest thing sent). */
export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * Largest body of a caller without a session (log-in, claiming: a password of at most 1024 characters, each at most
 * six bytes as JSON): whoever reaches the port must not make the relay hold a megabyte per connection.
 */
export const ANONYMOUS_BODY_BYTES = 16 * 1024;
export const SESSION_COOKIE = 'moat_session';
export const CSRF_HEADER = 'x-moat-csrf';

type AnyHandler = (input: unknown, context: ApiContext) => unknown;
export type HandlerMap = Record<MethodName, AnyHandler>;

export interface ApiRoutesOptions {
  auth: AdminAuth;
  handlers: HandlerMap;
  /** Builds the handler context for one call. */
  context: (call: CallInfo) => ApiContext;
  logger: Logger;
  /** Whether the listener speaks TLS (the cookie then gets Secure). */
  secure: boolean;
}

export function issuesOf(error: z.ZodError): ApiIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.join('.'), message: plainIssueMessage(issue) }));
}

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** The caller of a request, by bearer token or session cookie. */
export function callerOf(req: IncomingMessage, auth: AdminAuth): Caller {
  const authorization = req.headers.authorization;
  if (authorization?.startsWith('Bearer ') && auth.bearerMatches(authorization.slice(7).trim())) return { kind: 'bearer' };
  const session = auth.session(readCookie(req, SESSION_COOKIE));
  return session ? { kind: 'session', session } : { kind: 'anonymous' };
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  // a cross-site form cannot send application/json without a CORS preflight, which this server never answers
  if (type !== 'application/json') throw new ApiError('UNSUPPORTED_MEDIA_TYPE');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new ApiError('PAYLOAD_TOO_LARGE');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new ApiError('PAYLOAD_TOO_LARGE');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError('INVALID_JSON');
  }
}

function sessionCookie(session: AdminSession | null, secure: boolean): string {
  const attributes = ['HttpOnly', 'SameSite=Strict', 'Path=/', ...(secure ? ['Secure'] : [])];
  return session ? [`${SESSION_COOKIE}=${session.id}`, ...attributes].join('; ') : [`${SESSION_COOKIE}=`, 'Max-Age=0', ...attributes].join('; ');
}

/** POST /api/<method>: the contract's input schema checks the body, the handler answers, the output schema checks the answer. */
export function addApiRoutes(router: Router, options: ApiRoutesOptions): Router {
  return router.add('POST', '/api/:method', async ({ req, res, params }: RequestContext) => {
    const name = params.method as MethodName;
    const spec = Object.hasOwn(contract, name) ? contract[name] : undefined;
    const clientIp = req.socket.remoteAddress ?? 'unknown';
    try {
      if (!spec) throw new ApiError('UNKNOWN_METHOD', `no admin API method ${JSON.stringify(params.method).slice(0, 80)}`);
      const caller = callerOf(req, options.auth);
      if (!spec.public) {
        if (caller.kind === 'anonymous') throw new ApiError(options.auth.passwordSet ? 'UNAUTHENTICATED' : 'SETUP_REQUIRED');
        if (caller.kind === 'session' && req.headers[CSRF_HEADER] !== caller.session.csrf) throw new ApiError('CSRF');
      }
      const body = await readBody(req, caller.kind === 'anonymous' ? ANONYMOUS_BODY_BYTES : MAX_BODY_BYTES);
      const parsed = spec.input.safeParse(body);
      if (!parsed.success) throw new ApiError('INVALID_INPUT', undefined, issuesOf(parsed.error));
      const setSession = (session: AdminSession | null) => res.setHeader('set-cookie', sessionCookie(session, options.secure));
      const result = await options.handlers[name](parsed.data, options.context({ caller, clientIp, setSession }));
      const checked = spec.output.safeParse(result);
      if (!checked.success) {
        options.logger.error({ method: name, issues: JSON.stringify(issuesOf(checked.error)).slice(0, 500) }, 'ADMIN_OUTPUT_INVALID');
        throw new ApiError('INTERNAL');
      }
      sendJson(res, 200, { ok: true, result: checked.data });
    } catch (error) {
      if (error instanceof ApiError) {
        // before setup every screen's figures are asked for and answered "not running": no refusal worth a line
        if (error.code !== 'RELAY_NOT_RUNNING') options.logger.info({ method: name, clientIp, code: error.code }, 'ADMIN_REFUSED');
        return sendApiError(res, error.code, error.message, error.issues);
      }
      options.logger.error({ method: name, error: (error as Error).message }, 'ADMIN_METHOD_FAILED');
      const code = (error as { code?: unknown }).code;
      sendApiError(res, code === 'SQLITE_FULL' || code === 'ENOSPC' ? 'DISK_FULL' : 'INTERNAL');
    }
  });
}
