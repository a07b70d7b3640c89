import type { IncomingMessage, ServerResponse } from 'node:http';
import { API_ERRORS, type ApiErrorCode, type ApiIssue } from './errors.ts';

/**
 * The admin listener's router: method + path (with `:name` segments) -> handler, and middleware that runs
 * first (the Host check). Plain node:http, no framework.
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

export function sendError(res: ServerResponse, code: ApiErrorCode, message?: string, issues?: ApiIssue[]): void {
  const error = API_ERRORS[code];
  sendJson(res, error.status, { ok: false, code, message: message ?? error.message, ...(issues ? { issues } : {}) });
}

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
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
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
