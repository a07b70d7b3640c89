import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitHostPort } from '../config/load.ts';
import type { Logger } from '../log/logger.ts';
import { sendError, type Router } from './router.ts';

/** A request must arrive whole within this long (slowloris). */
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** When the address is taken, try again this often (the mail keeps flowing meanwhile). */
export const ADMIN_RETRY_BIND_MS = 30_000;
/** On stop, open keep-alive connections are closed after this long. */
const CLOSE_GRACE_MS = 2_000;

export interface AdminServerOptions {
  listen: string;
  router: Router;
  logger: Logger;
  retryBindMs?: number;
}

/**
 * The admin listener (plain node:http; loopback only until issue 6 brings TLS and auth). If its address cannot
 * be bound, the relay still serves mail: the failure is logged (ADMIN_LISTEN_FAILED), shown by the checklist,
 * and binding is retried every ADMIN_RETRY_BIND_MS.
 */
export class AdminServer {
  readonly server: Server;
  address: string | null = null;
  error: string | null = null;
  private retry: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly options: AdminServerOptions) {
    this.server = createServer((req, res) => {
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('cache-control', 'no-store');
      res.setHeader('referrer-policy', 'no-referrer');
      options.router.handle(req, res).catch((error: Error) => {
        options.logger.error({ path: req.url, error: error.message }, 'ADMIN_HTTP_ERROR');
        if (!res.headersSent) sendError(res, 'INTERNAL');
        else res.destroy();
      });
    });
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.server.headersTimeout = HEADERS_TIMEOUT_MS;
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
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
        if (this.error !== error.message) this.options.logger.error({ listen: this.options.listen, error: error.message }, 'ADMIN_LISTEN_FAILED');
        this.error = error.message;
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
        this.error = null;
        this.options.logger.info({ admin: this.address }, 'ADMIN_LISTENING');
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
