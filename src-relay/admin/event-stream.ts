import type { ServerResponse } from 'node:http';
import type { EventName, EventPayload } from './contract.ts';

/** Event streams open at once; more are refused (each holds a socket). */
export const MAX_EVENT_CLIENTS = 50;
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
  /** Each open response with the check that its caller may still listen (its session still alive). */
  private readonly clients = new Map<ServerResponse, () => boolean>();
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
   * Takes over the response; false when too many streams are open already. `allowed` is asked before each write
   * (events and heartbeats): once it says no (log-out, a password change or reset), the stream ends.
   */
  open(res: ServerResponse, initial: { name: EventName; data: unknown }[] = [], allowed: () => boolean = () => true): boolean {
    if (this.clients.size >= MAX_EVENT_CLIENTS) return false;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: ${RETRY_MS}\n\n`);
    for (const event of initial) res.write(format(event.name, event.data));
    this.clients.set(res, allowed);
    res.on('close', () => this.clients.delete(res));
    return true;
  }

  publish<K extends EventName>(name: K, data: EventPayload<K>): void {
    if (this.clients.size > 0) this.write(format(name, data));
  }

  private write(text: string): void {
    for (const [res, allowed] of [...this.clients]) {
      if (allowed()) {
        if (text) res.write(text);
      } else {
        this.clients.delete(res);
        res.end();
      }
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    clearInterval(this.sessionCheck);
    for (const res of this.clients.keys()) res.end();
    this.clients.clear();
  }
}

function format(name: string, data: unknown): string {
  // JSON has no raw newlines, so one data line carries the whole payload
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
