import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Router } from '../http/router.ts';
import type { Logger } from '../log/logger.ts';
import type { Relay } from '../engine.ts';
import type { AdminAuth } from './admin-auth.ts';
import { callerOf } from './api.ts';
import { sendApiError } from './errors.ts';
import type { Caller } from './handlers/types.ts';

/** A download link works this long after it was made (ms): long enough for a click, too short to be passed around. */
export const DOWNLOAD_TOKEN_MS = 60_000;
/**
 * Links not yet used that may exist at once (over every session); one more is refused until one is used or expires.
 * An admin clicks one at a time; this only stops a script from filling the memory with them.
 */
export const MAX_DOWNLOAD_TOKENS = 100;
/** The path of a download; the token is the last segment. */
export const DOWNLOAD_PATH = '/api/download/:token';

interface Grant {
  owner: string;
  id: string;
  expiresAt: number;
}

/** Who may use a link: the session that asked for it (by its id), or the desktop's bearer token. */
export function ownerOf(caller: Caller): string | null {
  if (caller.kind === 'session') return `session:${caller.session.id}`;
  if (caller.kind === 'bearer') return 'bearer';
  return null;
}

/**
 * One-time download links for message files. A link is asked for through the admin API (a POST with the session and
 * its CSRF header), names one message, works once, for DOWNLOAD_TOKEN_MS, and only for the session that asked: a link
 * that leaks (a proxy log, the browser history) is useless to anyone else and soon to everyone.
 */
export class DownloadTokens {
  private readonly grants = new Map<string, Grant>();

  constructor(private readonly clock: () => number) {}

  /** A new token for `owner` to download message `id`; null when MAX_DOWNLOAD_TOKENS are outstanding. */
  mint(owner: string, id: string): { token: string; expiresAt: number } | null {
    const now = this.clock();
    this.sweep(now);
    if (this.grants.size >= MAX_DOWNLOAD_TOKENS) return null;
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + DOWNLOAD_TOKEN_MS;
    this.grants.set(token, { owner, id, expiresAt });
    return { token, expiresAt };
  }

  /** The message id the token grants `owner`, used up by this call; null when unknown, used, expired or someone else's. */
  take(token: string, owner: string): string | null {
    const grant = this.grants.get(token);
    if (!grant || grant.owner !== owner) return null;
    this.grants.delete(token);
    return grant.expiresAt > this.clock() ? grant.id : null;
  }

  /** Links not yet used nor expired. */
  get outstanding(): number {
    this.sweep(this.clock());
    return this.grants.size;
  }

  private sweep(now: number): void {
    for (const [token, grant] of this.grants) if (grant.expiresAt <= now) this.grants.delete(token);
  }
}

export interface DownloadRoutesOptions {
  auth: AdminAuth;
  tokens: DownloadTokens;
  /** The running engine, or null. */
  relay: () => Relay | null;
  logger: Logger;
}

/**
 * GET /api/download/TOKEN: the message file, byte for byte as spooled, as an attachment (message/rfc822, never shown
 * inline, never sniffed). 401 without a session, 403 with a token that is not this session's (or used, or expired),
 * 404 once the message file is gone. Each download writes a history row and a log line naming the admin.
 */
export function addDownloadRoutes(router: Router, options: DownloadRoutesOptions): Router {
  return router.get(DOWNLOAD_PATH, ({ req, res, params }) => {
    const clientIp = req.socket.remoteAddress ?? 'unknown';
    const caller = callerOf(req, options.auth);
    const owner = ownerOf(caller);
    if (!owner) return sendApiError(res, options.auth.passwordSet ? 'UNAUTHENTICATED' : 'SETUP_REQUIRED');
    const id = options.tokens.take(params.token ?? '', owner);
    if (!id) {
      options.logger.warn({ clientIp }, 'DOWNLOAD_REFUSED');
      return sendApiError(res, 'DOWNLOAD_LINK_INVALID');
    }
    const relay = options.relay();
    if (!relay) return sendApiError(res, 'RELAY_NOT_RUNNING');
    const { queue } = relay;
    const status = queue.store.statusOf(id);
    const size = status === 'queued' || status === 'quarantined' ? queue.spool.size(id) : null;
    if (size === null) return sendApiError(res, 'MESSAGE_FILE_GONE');
    const stream = createReadStream(queue.spool.path(id));
    stream.once('open', () => {
      if (req.method !== 'HEAD') queue.downloaded(id, caller.kind === 'bearer' ? 'desktop' : `admin@${clientIp}`);
      res.writeHead(200, {
        'content-type': 'message/rfc822',
        'content-length': size,
        'content-disposition': `attachment; filename="${id}.eml"`,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; sandbox",
      });
      if (req.method === 'HEAD') {
        stream.destroy();
        res.end();
      } else stream.pipe(res);
    });
    // deleted between the look-up and the open
    stream.once('error', () => (res.headersSent ? res.destroy() : sendApiError(res, 'MESSAGE_FILE_GONE')));
  });
}
