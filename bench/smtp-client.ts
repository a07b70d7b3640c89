import net from 'node:net';
import tls from 'node:tls';

export interface SmtpReply {
  code: number;
  /** All reply lines without the code prefix, joined with "\n". */
  text: string;
}

export interface DataResult {
  reply: SmtpReply;
  /** Time from writing the final "\r\n.\r\n" to the reply; undefined when DATA itself was refused. */
  latencyNs?: bigint;
  /** Time from writing DATA to its reply (where a message waits for a place, smtp/pacing.ts). */
  readyNs: bigint;
}

const SOCKET_IDLE_TIMEOUT_MS = 60_000; // a stalled relay must fail the session, not hang the bench

/** Minimal line-based SMTP client: one command in flight, multi-line replies, dot-stuffing. */
export class SmtpClient {
  private socket: net.Socket;
  private buffer = '';
  private lines: string[] = [];
  private readonly replies: SmtpReply[] = [];
  private readonly waiters: { resolve: (r: SmtpReply) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    this.attach(socket);
  }

  private attach(socket: net.Socket): void {
    socket.setEncoding('latin1');
    socket.setTimeout(SOCKET_IDLE_TIMEOUT_MS, () => socket.destroy(new Error('SMTP socket idle timeout')));
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('SMTP connection closed')));
  }

  /** STARTTLS and the handshake (the relay's certificate is self-signed: not verified); EHLO must be sent again. */
  async startTls(): Promise<void> {
    const ready = await this.command('STARTTLS');
    if (ready.code !== 220) throw new Error(`STARTTLS: ${ready.code} ${ready.text}`);
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('timeout');
    plain.setTimeout(0);
    const secure = tls.connect({ socket: plain, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', () => resolve()).once('error', reject));
    this.socket = secure;
    this.attach(secure);
  }

  /** AUTH PLAIN with an initial response (RFC 4616). */
  async authPlain(user: string, pass: string): Promise<SmtpReply> {
    return this.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`);
  }

  /** Connects and resolves once the 220 greeting has arrived. */
  static async connect(host: string, port: number): Promise<SmtpClient> {
    const socket = net.connect({ host, port });
    const client = new SmtpClient(socket);
    const greeting = await client.read();
    if (greeting.code !== 220) {
      socket.destroy();
      throw new Error(`unexpected greeting: ${greeting.code} ${greeting.text}`);
    }
    return client;
  }

  /** Sends one command line and resolves with its (possibly multi-line) reply. */
  command(line: string): Promise<SmtpReply> {
    if (this.failure) return Promise.reject(this.failure);
    this.socket.write(`${line}\r\n`);
    return this.read();
  }

  /** Sends DATA and, after 354, the dot-stuffed message; `message` must use CRLF line ends. */
  async data(message: string): Promise<DataResult> {
    const sent = process.hrtime.bigint();
    const ready = await this.command('DATA');
    const readyNs = process.hrtime.bigint() - sent;
    if (ready.code !== 354) return { reply: ready, readyNs };
    const stuffed = message.replace(/(^|\r\n)\./g, '$1..');
    this.socket.write(stuffed.endsWith('\r\n') ? stuffed : `${stuffed}\r\n`, 'latin1');
    const start = process.hrtime.bigint();
    this.socket.write('.\r\n');
    const reply = await this.read();
    return { reply, latencyNs: process.hrtime.bigint() - start, readyNs };
  }

  /** QUIT politely, then close; never rejects. */
  async quit(): Promise<void> {
    try {
      await this.command('QUIT');
    } catch {
      // the peer may already have gone; closing is all that is left to do
    }
    this.socket.destroy();
  }

  private read(): Promise<SmtpReply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let eol: number;
    while ((eol = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, eol).replace(/\r$/, '');
      this.buffer = this.buffer.slice(eol + 1);
      this.lines.push(line.slice(4));
      // RFC 5321 4.2.1: "NNN-" continues a reply, "NNN " or a bare "NNN" ends it
      if (line.charAt(3) === '-') continue;
      const reply: SmtpReply = { code: Number.parseInt(line.slice(0, 3), 10) || 0, text: this.lines.join('\n') };
      this.lines = [];
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(reply);
      else this.replies.push(reply);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure);
  }
}
