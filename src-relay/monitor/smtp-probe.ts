import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

/** A reply longer than this is not an SMTP server talking: the probe gives up. */
const MAX_REPLY_BYTES = 64 * 1024;

export interface SmtpReply {
  code: number;
  lines: string[];
  text: string;
}

/**
 * A minimal SMTP client for the probes (self-test, the internal server's EHLO): exact commands, every reply read
 * whole, one deadline for the whole conversation. Never sends DATA.
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

  static async connect(host: string, port: number, timeoutMs: number): Promise<SmtpProbe> {
    const deadline = Date.now() + timeoutMs;
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

  /** The next whole reply (every line of a multi-line one). */
  async reply(): Promise<SmtpReply> {
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
      const left = this.deadline - Date.now();
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

  async command(line: string): Promise<SmtpReply> {
    if (/[\r\n]/.test(line)) throw new Error('a command line cannot hold CR or LF');
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** STARTTLS has been accepted: wraps the socket (any certificate: the probe only wants to see the EHLO behind it). */
  async upgrade(servername: string): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    const secure = tlsConnect({ socket: plain, servername: /^[\d.:]+$/.test(servername) ? undefined : servername, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
      setTimeout(() => reject(new Error('TLS handshake timed out')), Math.max(1, this.deadline - Date.now())).unref();
    });
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
