// Recipient verification by callout (DESIGN "RCPT -> recipient exists?"): before we accept a recipient we ask the
// internal server whether it would take it (EHLO, MAIL FROM:<>, RCPT TO, QUIT; no message is ever sent), and remember
// the answer. An unknown recipient is then refused at our RCPT, so no bounce is ever sent to a forged sender.
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import type { TlsMode } from '../config/schema.ts';

/** One SMTP reply line is at most this long (RFC 5321 4.5.3.1.5: 512 octets); a little slack for real servers. */
const MAX_REPLY_LINE = 2048;
/** All replies of one probe together; a server talking more than this is not answering a probe. */
const MAX_PROBE_BYTES = 64 * 1024;
/**
 * After the internal server could not be reached, probes are not tried again for this long (ms): each RCPT would
 * otherwise wait for the connect timeout, and a harvest during an outage would hammer a server that is down.
 */
export const UNREACHABLE_RETRY_MS = 30_000;

export type CalloutAnswer = 'exists' | 'unknown' | 'unavailable';

export interface CalloutResult {
  answer: CalloutAnswer;
  /** The internal server's reply to RCPT, or why there was none. */
  detail: string;
  /** Answered from the cache (no connection made). */
  cached: boolean;
}

export interface CalloutTarget {
  host: string;
  port: number;
  tls: TlsMode;
  verifyCertificate: boolean;
}

export interface CalloutSettings {
  positiveTtlSec: number;
  negativeTtlSec: number;
  maxEntries: number;
  timeoutSec: number;
}

export interface RecipientCalloutOptions {
  target: CalloutTarget;
  settings: CalloutSettings;
  /** Our name in EHLO. */
  hostname: string;
  logger: Logger;
  clock?: () => number;
}

interface CacheEntry {
  exists: boolean;
  detail: string;
  expires: number;
}

/** Callouts to the internal server with a bounded cache (separate lifetimes for "exists" and "unknown"). */
export class RecipientCallout {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<CalloutResult>>();
  private readonly options: RecipientCalloutOptions;
  private readonly clock: () => number;
  private downUntil = 0;
  private lastFailure = '';
  /** Probes made (connections opened); tests and the admin view read it. */
  probes = 0;

  constructor(options: RecipientCalloutOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * Whether the internal server takes `address` (already normalised by the address policy). While the server is
   * unreachable, a remembered "exists" is used even past its lifetime: known correspondents keep flowing into the
   * queue during an outage.
   */
  verify(address: string): Promise<CalloutResult> {
    const key = address.toLowerCase();
    const now = this.clock();
    const entry = this.cache.get(key);
    if (entry && entry.expires > now) return Promise.resolve({ answer: entry.exists ? 'exists' : 'unknown', detail: entry.detail, cached: true });
    if (now < this.downUntil) return Promise.resolve(this.whileDown(entry, this.lastFailure));
    const running = this.inFlight.get(key);
    if (running) return running;
    const probe = this.probeAndRemember(key, address).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, probe);
    return probe;
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  private async probeAndRemember(key: string, address: string): Promise<CalloutResult> {
    const { target, settings, hostname, logger } = this.options;
    this.probes++;
    const outcome = await probeRecipient(target, address, { hostname, timeoutMs: settings.timeoutSec * 1000 });
    const now = this.clock();
    if (outcome.answer === 'unavailable') {
      if (outcome.unreachable) {
        this.downUntil = now + UNREACHABLE_RETRY_MS;
        this.lastFailure = outcome.detail;
      }
      logger.warn({ rcpt: address, host: target.host, port: target.port, error: outcome.detail }, 'CALLOUT_FAILED');
      return this.whileDown(this.cache.get(key), outcome.detail);
    }
    this.downUntil = 0;
    const exists = outcome.answer === 'exists';
    const ttl = (exists ? settings.positiveTtlSec : settings.negativeTtlSec) * 1000;
    this.cache.delete(key);
    if (ttl > 0) {
      this.cache.set(key, { exists, detail: outcome.detail, expires: now + ttl });
      while (this.cache.size > settings.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    }
    return { answer: outcome.answer, detail: outcome.detail, cached: false };
  }

  private whileDown(entry: CacheEntry | undefined, why: string): CalloutResult {
    if (entry?.exists) return { answer: 'exists', detail: `${entry.detail} (remembered; internal server unreachable: ${why})`, cached: true };
    return { answer: 'unavailable', detail: why, cached: false };
  }
}

export interface ProbeOutcome {
  answer: CalloutAnswer;
  detail: string;
  /** No SMTP conversation could be had (connection refused, timeout, TLS failure). */
  unreachable: boolean;
}

/**
 * One RCPT probe over a fresh connection: greeting, EHLO (STARTTLS when the mode asks for it), MAIL FROM:<>,
 * RCPT TO, QUIT. 2xx to RCPT: the recipient exists; 5xx: it does not; anything else: no answer.
 */
export async function probeRecipient(target: CalloutTarget, address: string, options: { hostname: string; timeoutMs: number }): Promise<ProbeOutcome> {
  let conversation: SmtpConversation | undefined;
  try {
    conversation = await SmtpConversation.open(target.host, target.port, options.timeoutMs);
    const greeting = await conversation.reply();
    if (greeting.code !== 220) return { answer: 'unavailable', detail: `greeting: ${greeting.text}`, unreachable: true };
    let ehlo = await conversation.command(`EHLO ${options.hostname}`);
    if (ehlo.code !== 250) return { answer: 'unavailable', detail: `EHLO: ${ehlo.text}`, unreachable: true };
    const offersTls = ehlo.lines.some((line) => /^STARTTLS\b/i.test(line));
    if (target.tls !== 'none' && (offersTls || target.tls === 'required')) {
      const started = await conversation.command('STARTTLS');
      if (started.code !== 220) return { answer: 'unavailable', detail: `STARTTLS: ${started.text}`, unreachable: true };
      await conversation.startTls(isIP(target.host) ? undefined : target.host, target.verifyCertificate);
      ehlo = await conversation.command(`EHLO ${options.hostname}`);
      if (ehlo.code !== 250) return { answer: 'unavailable', detail: `EHLO: ${ehlo.text}`, unreachable: true };
    }
    const mail = await conversation.command('MAIL FROM:<>');
    if (mail.code !== 250) return { answer: 'unavailable', detail: `MAIL FROM:<> refused: ${mail.text}`, unreachable: false };
    const rcpt = await conversation.command(`RCPT TO:<${address}>`);
    conversation.write('QUIT\r\n');
    if (rcpt.code >= 200 && rcpt.code < 300) return { answer: 'exists', detail: rcpt.text, unreachable: false };
    if (rcpt.code >= 500) return { answer: 'unknown', detail: rcpt.text, unreachable: false };
    return { answer: 'unavailable', detail: `RCPT: ${rcpt.text}`, unreachable: false };
  } catch (error) {
    return { answer: 'unavailable', detail: (error as Error).message, unreachable: true };
  } finally {
    conversation?.close();
  }
}

interface Reply {
  code: number;
  /** Each line's text after the code and separator. */
  lines: string[];
  /** The whole reply on one line, as logs and the history show it. */
  text: string;
}

/** A minimal SMTP client conversation: one command, one reply, with a deadline over the whole probe. */
class SmtpConversation {
  private buffer = '';
  private received = 0;
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly deadline: NodeJS.Timeout;

  private constructor(private socket: Socket | TLSSocket, timeoutMs: number) {
    this.attach(socket);
    this.deadline = setTimeout(() => this.fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    this.deadline.unref();
  }

  /** Connects within the deadline; a failure on the way closes the socket and rejects. */
  static open(host: string, port: number, timeoutMs: number): Promise<SmtpConversation> {
    const socket = connectTcp({ host, port });
    const conversation = new SmtpConversation(socket, timeoutMs);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => {
        conversation.onFailure = () => {};
        resolve(conversation);
      });
      conversation.onFailure = (error) => {
        conversation.close();
        reject(new Error(`cannot connect to ${host}:${port}: ${error.message}`));
      };
    });
  }

  /** Until connected: reject the connection attempt. Afterwards failures surface in reply(). */
  private onFailure: (error: Error) => void = () => {};

  private attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.received += chunk.length;
      if (this.received > MAX_PROBE_BYTES) return this.fail(new Error('the server sent too much'));
      this.buffer += chunk;
      this.waiter?.();
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.onFailure(this.failure);
    this.waiter?.();
  }

  write(line: string): void {
    this.socket.write(line);
  }

  async command(line: string): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  async reply(): Promise<Reply> {
    const lines: string[] = [];
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end >= 0) {
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const match = /^(\d{3})([ -]?)(.*)$/.exec(line);
        if (!match || line.length > MAX_REPLY_LINE) throw new Error(`not an SMTP reply: ${JSON.stringify(line.slice(0, 100))}`);
        lines.push(match[3]!);
        if (match[2] !== '-') {
          const code = Number(match[1]);
          return { code, lines, text: `${code} ${lines.join(' ')}`.trim() };
        }
        continue;
      }
      if (this.buffer.length > MAX_REPLY_LINE) throw new Error('reply line too long');
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.waiter = () => {
          this.waiter = null;
          resolve();
        };
      });
    }
  }

  /** RFC 3207: the TLS handshake on the same connection, after the server's 220 to STARTTLS. */
  async startTls(servername: string | undefined, verify: boolean): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('error');
    plain.removeAllListeners('close');
    const secure = connectTls({ socket: plain, servername, rejectUnauthorized: verify });
    this.socket = secure;
    this.buffer = '';
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', (error) => reject(new Error(`TLS: ${error.message}`)));
    });
    this.attach(secure);
  }

  close(): void {
    clearTimeout(this.deadline);
    this.waiter = null;
    this.onFailure = () => {};
    const socket = this.socket;
    // end() lets a QUIT already written go out; a server that does not close in return is cut off a moment later
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
