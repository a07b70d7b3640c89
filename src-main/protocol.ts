import { extname, resolve, sep } from 'node:path';
import { APP_HOST, SECURITY_HEADERS } from './security.ts';

/**
 * The app:// protocol: the renderer build (dist-renderer/) is served from app://moat/, and app://moat/api/* is
 * passed on to the managed relay's admin API with main's credentials added, so the renderer never holds the
 * token or the password and the page has one origin for everything (CSP `'self'`).
 */

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Failures the protocol answers itself, in the admin API's error shape. */
export const PROTOCOL_ERRORS = {
  NOT_FOUND: { status: 404, message: 'no such file in the app' },
  FORBIDDEN: { status: 403, message: 'not served by the app' },
  RELAY_NOT_READY: { status: 503, message: 'the relay is not running yet' },
  RELAY_UNREACHABLE: { status: 502, message: 'the relay did not answer' },
  TOO_LARGE: { status: 413, message: 'the request is too large' },
} as const;

/** A request body to the API is held in memory to be sent (and sent again after a re-login); larger is refused. */
export const MAX_API_BODY_BYTES = 64 * 1024 * 1024;

/**
 * The file under `root` that a path of app://moat/ names, or null: `/` is index.html; an encoded or plain `..`,
 * a backslash, a NUL or anything else that would leave `root` is refused.
 */
export function resolveRendererPath(root: string, pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) return null;
  if (decoded.split('/').some((segment) => segment === '..')) return null;
  const relative = decoded === '/' ? 'index.html' : decoded.slice(1);
  const base = resolve(root);
  const file = resolve(base, relative);
  return file.startsWith(base + sep) ? file : null;
}

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

function errorResponse(code: keyof typeof PROTOCOL_ERRORS, detail?: string): Response {
  const error = PROTOCOL_ERRORS[code];
  return new Response(JSON.stringify({ ok: false, code, message: detail ? `${error.message}: ${detail}` : error.message }), {
    status: error.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS },
  });
}

/** Where /api/* goes: the relay's base URL and the headers that authenticate main there. */
export interface ApiTarget {
  baseUrl: string;
  authHeaders(): Promise<{ ok: true; result: Record<string, string> } | { ok: false; code: string; message: string }>;
  /** After a 401: renew the session (attach mode); true when the request may be sent once more. */
  renewSession(): Promise<boolean>;
}

/** Request headers from the page that reach the relay; everything else (cookies, authorization, origin) is dropped. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'accept', 'last-event-id'];
/**
 * Response headers passed back (fetch has already decoded the body, so no length or encoding); Set-Cookie never
 * reaches the page.
 */
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'content-disposition'];
const API_PATH = /^\/api\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export interface ProtocolOptions {
  rendererRoot: string;
  readFile(path: string): Promise<Uint8Array>;
  /** The managed relay's API, or null while there is none (starting, failed). */
  apiTarget(): ApiTarget | null;
  fetch?: typeof globalThis.fetch;
}

async function readBody(request: Request): Promise<Uint8Array | null | 'too-large'> {
  if (request.method === 'GET' || request.method === 'HEAD' || !request.body) return null;
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_API_BODY_BYTES) return 'too-large';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_API_BODY_BYTES) return 'too-large';
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Passes one app://moat/api/... request to the relay, with main's credentials; renews a session once on 401. */
export async function proxyApi(request: Request, url: URL, target: ApiTarget | null, fetchImpl: typeof globalThis.fetch): Promise<Response> {
  if (!API_PATH.test(url.pathname)) return errorResponse('NOT_FOUND');
  if (!['GET', 'HEAD', 'POST'].includes(request.method)) return errorResponse('FORBIDDEN', request.method);
  if (!target) return errorResponse('RELAY_NOT_READY');
  const body = await readBody(request);
  if (body === 'too-large') return errorResponse('TOO_LARGE');
  for (let attempt = 0; ; attempt++) {
    const auth = await target.authHeaders();
    if (!auth.ok) return errorResponse('RELAY_UNREACHABLE', auth.message);
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    let upstream: Response;
    try {
      upstream = await fetchImpl(`${target.baseUrl}${url.pathname}${url.search}`, {
        method: request.method,
        headers: { ...headers, ...auth.result },
        body: body ?? undefined,
        signal: request.signal,
        redirect: 'manual',
      });
    } catch (error) {
      return errorResponse('RELAY_UNREACHABLE', (error as Error).message);
    }
    if (upstream.status === 401 && attempt === 0 && (await target.renewSession())) {
      await upstream.body?.cancel();
      continue;
    }
    const responseHeaders: Record<string, string> = { ...SECURITY_HEADERS };
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = upstream.headers.get(name);
      if (value !== null) responseHeaders[name] = value;
    }
    // a redirect would take the page off the app; the API never sends one
    if (upstream.status >= 300 && upstream.status < 400) {
      await upstream.body?.cancel();
      return errorResponse('FORBIDDEN', `the relay answered with a redirect (HTTP ${upstream.status})`);
    }
    return new Response(upstream.body, { status: upstream.status, headers: responseHeaders });
  }
}

/** The handler for `protocol.handle('app', ...)`. */
export function createAppProtocolHandler(options: ProtocolOptions): (request: Request) => Promise<Response> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  return async (request) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return errorResponse('FORBIDDEN');
    }
    if (url.host !== APP_HOST) return errorResponse('FORBIDDEN', url.host);
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) return proxyApi(request, url, options.apiTarget(), fetchImpl);
    if (request.method !== 'GET' && request.method !== 'HEAD') return errorResponse('FORBIDDEN', request.method);
    const file = resolveRendererPath(options.rendererRoot, url.pathname);
    if (!file) return errorResponse('FORBIDDEN', url.pathname);
    let data: Uint8Array;
    try {
      data = await options.readFile(file);
    } catch {
      return errorResponse('NOT_FOUND', url.pathname);
    }
    return new Response(request.method === 'HEAD' ? null : data, {
      status: 200,
      headers: { 'content-type': contentTypeOf(file), 'cache-control': 'no-cache', ...SECURITY_HEADERS },
    });
  };
}
