import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { splitHostPort } from '../config/load.ts';
import { bindProblem } from '../config/listen-setting.ts';
import { clientKey } from '../util/networks.ts';
import type { Logger } from '../log/logger.ts';
import { sendError, type Router } from './router.ts';

/**
 * Sent with every answer. The UI needs nothing from elsewhere, so the policy allows only this origin; no framing
 * (clickjacking), no referrer, no sniffing.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/** What every page Moat serves sends besides its own Content-Security-Policy. */
export const STRICT_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};
const SECURITY_HEADERS = { 'content-security-policy': CONTENT_SECURITY_POLICY, ...STRICT_HEADERS };

/** A request must arrive whole within this long (slowloris). */
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/**
 * Over HTTPS, the TLS handshake must end within this long from the accept. Before it, no request or headers timeout
 * runs, only Node's handshakeTimeout (120 s by default): a silent socket would hold one of the connection places
 * below for two minutes. As long as the headers get, and as the SMTP listener on 465 gives (smtp/stress.ts).
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** When the address is taken, try again this often (the mail keeps flowing meanwhile). */
export const ADMIN_RETRY_BIND_MS = 30_000;
/** On stop, open keep-alive connections are closed after this long. */
const CLOSE_GRACE_MS = 2_000;
/**
 * Connections open at once, from everyone and from one address (an IPv6 client by its /64): a browser keeps six to a
 * site, and each open page one more for its live events; the desktop app's calls all come from the box itself, and an
 * office may share one address on the user page. Past the first a new connection is closed at once; at the second
 * the address holding the most gives up its oldest, so a crowd from a few addresses cannot keep anyone else out. With
 * bodies of at most 16 KiB without a session (admin/api.ts), nobody can make the relay hold more than a few MiB.
 */
export const MAX_HTTP_CONNECTIONS = 512;
export const MAX_HTTP_CONNECTIONS_PER_IP = 128;
/** At most one log line a minute about connections closed for the caps. */
const CAP_LOG_EVERY_MS = 60_000;

export interface AdminServerOptions {
  listen: string;
  router: Router;
  logger: Logger;
  /** HTTPS with this pair (required for a non-loopback address); plain HTTP without. */
  tls?: { cert: Buffer; key: Buffer } | null;
  retryBindMs?: number;
  /** Replaces the security headers sent with every answer (the user page's stricter policy). */
  headers?: Readonly<Record<string, string>>;
  /** The log lines' prefix: ADMIN_LISTENING, ADMIN_LISTEN_FAILED (default "ADMIN"). */
  label?: string;
  /** Called when a bind tried again after a failure succeeds (what told of the failure can tell it is over). */
  onBoundAfterFailure?: () => void;
}

/**
 * The admin listener: node:http, or node:https when configured (a non-loopback address requires it). If its address cannot
 * be bound, the relay still serves mail: the failure is logged (ADMIN_LISTEN_FAILED), shown by the checklist,
 * and binding is retried every ADMIN_RETRY_BIND_MS.
 */
export class AdminServer {
  readonly server: Server | HttpsServer;
  address: string | null = null;
  /** Why it could not bind, in words ("another program already listens on …"); null while it listens. */
  error: string | null = null;
  private retry: NodeJS.Timeout | null = null;
  private stopped = false;
  private get label(): string {
    return this.options.label ?? 'ADMIN';
  }

  constructor(private readonly options: AdminServerOptions) {
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      for (const [name, value] of Object.entries(options.headers ?? SECURITY_HEADERS)) res.setHeader(name, value);
      options.router.handle(req, res).catch((error: Error) => {
        // the user page's paths carry its links' tokens, which stay out of the log
        options.logger.error({ path: this.label === 'ADMIN' ? req.url : undefined, error: error.message }, `${this.label}_HTTP_ERROR`);
        if (!res.headersSent) sendError(res, 'INTERNAL');
        else res.destroy();
      });
    };
    this.server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2', handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, listener) : createServer(listener);
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.server.headersTimeout = HEADERS_TIMEOUT_MS;
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.capConnections();
  }

  /** HTTPS only: serves `pair` on the connections made from now on (a renewed certificate); open ones keep theirs. */
  useCertificate(pair: { cert: Buffer; key: Buffer }): void {
    if (!this.options.tls) return;
    (this.server as HttpsServer).setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
  }

  private capConnections(): void {
    const byClient = new Map<string, Set<Socket>>();
    let total = 0;
    let loggedAt = -Infinity;
    const closed = (client: string, why: string) => {
      if (performance.now() - loggedAt < CAP_LOG_EVERY_MS) return;
      loggedAt = performance.now();
      this.options.logger.warn({ ip: client, why }, `${this.label}_CONNECTION_REFUSED`);
    };
    const forget = (client: string, socket: Socket) => {
      const open = byClient.get(client);
      if (!open?.delete(socket)) return;
      total--;
      if (open.size === 0) byClient.delete(client);
    };
    this.server.on('connection', (socket: Socket) => {
      const client = clientKey(socket.remoteAddress ?? 'unknown');
      const mine = byClient.get(client) ?? new Set<Socket>();
      if (mine.size >= MAX_HTTP_CONNECTIONS_PER_IP) {
        socket.destroy();
        return closed(client, `${MAX_HTTP_CONNECTIONS_PER_IP} connections open from this address`);
      }
      if (total >= MAX_HTTP_CONNECTIONS) {
        let crowd: [string, Set<Socket>] | undefined;
        for (const entry of byClient) if (!crowd || entry[1].size > crowd[1].size) crowd = entry;
        // only an address holding more than this one would once it is in gives way
        if (!crowd || crowd[1].size <= mine.size + 1) {
          socket.destroy();
          return closed(client, `${MAX_HTTP_CONNECTIONS} connections open`);
        }
        const [crowded, sockets] = crowd;
        const oldest = sockets.values().next().value!;
        forget(crowded, oldest);
        oldest.destroy();
        closed(crowded, `${MAX_HTTP_CONNECTIONS} connections open: its oldest closed for a newcomer`);
      }
      mine.add(socket);
      byClient.set(client, mine);
      total++;
      socket.once('close', () => forget(client, socket));
    });
  }

  /** The address it was asked to bind (HOST:PORT; port 0: any). */
  get listen(): string {
    return this.options.listen;
  }

  /** Resolves once bound, or once the first attempt failed (then it keeps retrying in the background). */
  async start(): Promise<void> {
    await this.bind();
  }

  private bind(): Promise<void> {
    const { host, port } = splitHostPort(this.options.listen);
    return new Promise((resolve) => {
      const onError = (error: NodeJS.ErrnoException) => {
        this.server.off('listening', onListening);
        const why = bindProblem(error.code, this.options.listen, error.message);
        if (this.error !== why) this.options.logger.error({ listen: this.options.listen, error: error.message }, `${this.label}_LISTEN_FAILED`);
        this.error = why;
        if (!this.stopped) {
          this.retry = setTimeout(() => void this.bind(), this.options.retryBindMs ?? ADMIN_RETRY_BIND_MS);
          this.retry.unref();
        }
        resolve();
      };
      const onListening = () => {
        this.server.off('error', onError);
        const bound = this.server.address() as AddressInfo;
        this.address = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
        const failedBefore = this.error !== null;
        this.error = null;
        this.options.logger.info({ [this.label.toLowerCase()]: this.address }, `${this.label}_LISTENING`);
        if (failedBefore) this.options.onBoundAfterFailure?.();
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen(port, host);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const force = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS);
    force.unref();
    await closed;
    clearTimeout(force);
  }
}
