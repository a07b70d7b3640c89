import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The admin listener's router: method + path (with `:name` segments) -> handler, and middleware that runs
 * first (the Host check). Plain node:http, no framework. The admin API (admin/api.ts), the monitor's /metrics and
 * /healthz (monitor/http.ts) and the UI's files (admin/static-files.ts) add their routes to it.
 */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** Set by middleware (e.g. the logged-in admin). */
  locals: Record<string, unknown>;
}

export type Handler = (context: RequestContext) => void | Promise<void>;
/** Returns true when it answered the request itself (e.g. 401), so routing stops. */
export type Middleware = (context: RequestContext) => boolean | Promise<boolean>;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(`${JSON.stringify(body)}\n`);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': data.length });
  res.end(res.req.method === 'HEAD' ? undefined : data);
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string | Buffer): void {
  const data = Buffer.from(text);
  res.writeHead(status, { 'content-type': contentType, 'content-length': data.length });
  res.end(res.req.method === 'HEAD' ? undefined : data);
}

/**
 * The errors the HTTP plumbing answers with by itself: no route, a wrong method, a handler that threw, a service
 * not ready. The admin API's catalogue (admin/errors.ts API_ERRORS) includes them.
 */
export const HTTP_ERRORS = {
  NOT_FOUND: { status: 404, message: 'no such page' },
  BAD_TARGET: { status: 400, message: 'the request target must be a path that starts with one "/"' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed here' },
  INTERNAL: { status: 500, message: 'internal error (see the relay log)' },
  UNAVAILABLE: { status: 503, message: 'the relay is not ready' },
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

/** Every error answer has this one shape: `{ ok: false, code, message, issues? }`, with its code's HTTP status. */
export function sendErrorAnswer(
  res: ServerResponse,
  code: string,
  error: { status: number; message: string },
  message?: string,
  issues?: readonly { path: string; message: string }[],
): void {
  sendJson(res, error.status, { ok: false, code, message: message ?? error.message, ...(issues ? { issues } : {}) });
}

export function sendError(res: ServerResponse, code: HttpErrorCode, message?: string): void {
  sendErrorAnswer(res, code, HTTP_ERRORS[code], message);
}

/** A request target as browsers send it: a path with one leading "/" (RFC 9112 3.2.1, origin-form). */
const ORIGIN_FORM = /^\/(?![/\\])/;

export class Router {
  private readonly routes: Route[] = [];
  private readonly middleware: Middleware[] = [];
  private readonly fallbacks: Middleware[] = [];

  /** GET routes answer HEAD too. */
  add(method: string, path: string, handler: Handler): this {
    this.routes.push({ method: method.toUpperCase(), segments: path.split('/').filter(Boolean), handler });
    return this;
  }

  get(path: string, handler: Handler): this {
    return this.add('GET', path, handler);
  }

  /** Tried in order when no route matches (e.g. the UI's files); returns true when it answered. */
  fallback(handler: Middleware): this {
    this.fallbacks.push(handler);
    return this;
  }

  use(middleware: Middleware): this {
    this.middleware.push(middleware);
    return this;
  }

  private match(path: string): { route: Route; params: Record<string, string> }[] {
    const parts = path.split('/').filter(Boolean);
    const found: { route: Route; params: Record<string, string> }[] = [];
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const ok = route.segments.every((segment, i) => {
        if (segment.startsWith(':')) {
          params[segment.slice(1)] = decodeURIComponent(parts[i]!);
          return true;
        }
        return segment === parts[i];
      });
      if (ok) found.push({ route, params });
    }
    return found;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // "//x/api/y" or an absolute URL would be parsed with a host of its own, and its path read apart from its text
    if (!ORIGIN_FORM.test(req.url ?? '')) return sendError(res, 'BAD_TARGET');
    const url = new URL(req.url!, 'http://admin.invalid');
    const context: RequestContext = { req, res, url, params: {}, locals: {} };
    for (const middleware of this.middleware) if (await middleware(context)) return;
    let candidates: ReturnType<Router['match']>;
    try {
      candidates = this.match(url.pathname);
    } catch {
      return sendError(res, 'NOT_FOUND');
    }
    if (candidates.length === 0) {
      for (const fallback of this.fallbacks) if (await fallback(context)) return;
      return sendError(res, 'NOT_FOUND');
    }
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const hit = candidates.find((candidate) => candidate.route.method === method);
    if (!hit) {
      res.setHeader('allow', [...new Set(candidates.map((candidate) => candidate.route.method))].join(', '));
      return sendError(res, 'METHOD_NOT_ALLOWED');
    }
    context.params = hit.params;
    await hit.route.handler(context);
  }
}
