import type { ServerResponse } from 'node:http';
import type { EventName, EventPayload } from './contract.ts';

/** Event streams open at once; more are refused (each holds a socket). */
export const MAX_EVENT_CLIENTS = 50;
/** Streams one session (or the bearer token) may hold: a window per screen is plenty, and the rest stay for others. */
export const MAX_EVENT_CLIENTS_PER_OWNER = 8;
/**
 * Bytes a stream may have waiting for its reader (ms of events a live page reads at once): one that does not read
 * is closed (its page reconnects if it is alive) instead of keeping every event in memory.
 */
export const MAX_UNREAD_BYTES = 256 * 1024;
/**
 * An unnamed message this often: it keeps proxies from timing the stream out, and tells the page the relay still
 * answers (a browser never reports a comment line). A page that hears nothing for STREAM_SILENCE_MS (the renderer's
 * client) takes the relay for hung.
 */
export const HEARTBEAT_MS = 10_000;
/**
 * How often the open streams' sessions are looked at between writes: a session ended on the box (`moat admin
 * reset-password`) ends its stream within this, and the page goes to the log-in screen by itself.
 */
export const SESSION_CHECK_MS = 5_000;
/** Browsers reconnect after this long when the stream drops (the relay restarting after an apply). */
const RETRY_MS = 2_000;

/** Server-Sent Events to the admin UIs: one writer, many open responses. */
export class EventStream {
  /** Each open response with the check that its caller may still listen (its session still alive), and whose it is. */
  private readonly clients = new Map<ServerResponse, { allowed: () => boolean; owner: string }>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly sessionCheck: NodeJS.Timeout;

  constructor() {
    this.heartbeat = setInterval(() => this.write('data: {}\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.sessionCheck = setInterval(() => this.write(''), SESSION_CHECK_MS);
    this.sessionCheck.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * Takes over the response; false when too many streams are open already, in all or of `owner` (a session).
   * `allowed` is asked before each write (events and heartbeats): once it says no (log-out, a password change or
   * reset), the stream ends.
   */
  open(res: ServerResponse, owner: string, initial: { name: EventName; data: unknown }[] = [], allowed: () => boolean = () => true): boolean {
    if (this.clients.size >= MAX_EVENT_CLIENTS) return false;
    let owned = 0;
    for (const client of this.clients.values()) if (client.owner === owner) owned++;
    if (owned >= MAX_EVENT_CLIENTS_PER_OWNER) return false;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: ${RETRY_MS}\n\n`);
    for (const event of initial) res.write(format(event.name, event.data));
    this.clients.set(res, { allowed, owner });
    res.on('close', () => this.clients.delete(res));
    return true;
  }

  publish<K extends EventName>(name: K, data: EventPayload<K>): void {
    if (this.clients.size > 0) this.write(format(name, data));
  }

  private write(text: string): void {
    for (const [res, { allowed }] of [...this.clients]) {
      if (!allowed() || res.writableLength > MAX_UNREAD_BYTES) {
        this.clients.delete(res);
        finish(res);
      } else if (text) {
        res.write(text);
      }
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    clearInterval(this.sessionCheck);
    for (const res of this.clients.keys()) finish(res);
    this.clients.clear();
  }
}

/** Ends a stream; one whose reader is behind is cut at once, as ending it would wait behind what it never read. */
function finish(res: ServerResponse): void {
  if (res.writableLength > 0) res.destroy();
  else res.end();
}

function format(name: string, data: unknown): string {
  // JSON has no raw newlines, so one data line carries the whole payload
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
