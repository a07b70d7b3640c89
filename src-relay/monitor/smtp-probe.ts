import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket } from 'node:tls';

/** A reply longer than this is not an SMTP server talking: the probe gives up. */
const MAX_REPLY_BYTES = 64 * 1024;

export interface SmtpReply {
  code: number;
  lines: string[];
  text: string;
}

/**
 * A minimal SMTP client for the probes (self-test, the internal server's EHLO): exact commands, every reply read
 * whole, one deadline for the whole conversation (and, when asked, one per reply). Never sends DATA.
 */
export class SmtpProbe {
  private buffer = '';
  private waiter: (() => void) | null = null;
  private closed = false;
  private error: Error | null = null;

  private constructor(
    private socket: Socket | TLSSocket,
    private readonly deadline: number,
  ) {
    this.attach(socket);
  }

  /**
   * Connects within `timeoutMs`; the whole conversation must end by `conversationMs` from now (default: the same
   * `timeoutMs`). A caller wanting a deadline per step passes a longer one here and `timeoutMs` to each call.
   */
  static async connect(host: string, port: number, timeoutMs: number, conversationMs = timeoutMs): Promise<SmtpProbe> {
    const deadline = Date.now() + Math.max(timeoutMs, conversationMs);
    const socket = netConnect({ host, port });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => (clearTimeout(timer), resolve()));
      socket.once('error', (error) => (clearTimeout(timer), reject(error)));
    });
    return new SmtpProbe(socket, deadline);
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', (error) => {
      this.error = error;
      this.waiter?.();
    });
  }

  /** The next whole reply (every line of a multi-line one), within `timeoutMs` when given (and the conversation's deadline). */
  async reply(timeoutMs?: number): Promise<SmtpReply> {
    const deadline = this.stepDeadline(timeoutMs);
    for (;;) {
      const match = /^(?:\d{3}-[^\r\n]*\r?\n)*\d{3}(?: [^\r\n]*)?\r?\n/.exec(this.buffer);
      if (match) {
        this.buffer = this.buffer.slice(match[0].length);
        const lines = match[0].split(/\r?\n/).filter(Boolean);
        return { code: Number(lines[0]!.slice(0, 3)), lines: lines.map((line) => line.slice(4)), text: lines.join(' | ') };
      }
      if (this.buffer.length > MAX_REPLY_BYTES) throw new Error('the server sent a reply too long to be SMTP');
      if (this.error) throw this.error;
      if (this.closed) throw new Error('the server closed the connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the server did not answer in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = null;
          resolve();
        };
      });
    }
  }

  async command(line: string, timeoutMs?: number): Promise<SmtpReply> {
    if (/[\r\n]/.test(line)) throw new Error('a command line cannot hold CR or LF');
    this.socket.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  private stepDeadline(timeoutMs: number | undefined): number {
    return timeoutMs === undefined ? this.deadline : Math.min(this.deadline, Date.now() + timeoutMs);
  }

  /** After `upgrade()`: the TLS version and whether the certificate was trusted (chain and name); null before. */
  get tls(): { protocol: string | null; authorized: boolean; authorizationError: string | null } | null {
    if (!(this.socket instanceof TLSSocket)) return null;
    const error = this.socket.authorizationError as Error | string | null | undefined;
    return { protocol: this.socket.getProtocol(), authorized: this.socket.authorized, authorizationError: error ? String(error) : null };
  }

  /** STARTTLS has been accepted: wraps the socket (any certificate: the probe only wants to see the EHLO behind it). */
  async upgrade(servername: string, timeoutMs?: number): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    plain.on('error', () => {});
    const secure = tlsConnect({ socket: plain, servername: /^[\d.:]+$/.test(servername) ? undefined : servername, rejectUnauthorized: false });
    // a second error after a failed handshake (the reset that follows) must not become an uncaught exception
    secure.on('error', () => {});
    const left = Math.max(1, this.stepDeadline(timeoutMs) - Date.now());
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('TLS handshake timed out')), left);
        secure.once('secureConnect', () => (clearTimeout(timer), resolve()));
        secure.once('error', (error) => (clearTimeout(timer), reject(error)));
      });
    } catch (error) {
      this.closed = true;
      secure.destroy();
      plain.destroy();
      throw error;
    }
    this.buffer = '';
    this.closed = false;
    this.socket = secure;
    this.attach(secure);
  }

  close(): void {
    if (!this.closed) {
      this.socket.end('QUIT\r\n');
      this.socket.destroy();
    }
  }
}

/** EHLO keywords (upper case, first word of each line after the greeting line), e.g. AUTH, STARTTLS, SIZE. */
export function ehloKeywords(reply: SmtpReply): Map<string, string> {
  const keywords = new Map<string, string>();
  for (const line of reply.lines.slice(1)) {
    const [keyword, ...rest] = line.trim().split(/\s+/);
    if (keyword) keywords.set(keyword.toUpperCase(), rest.join(' '));
  }
  return keywords;
}
