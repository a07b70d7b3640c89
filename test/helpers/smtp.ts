import nodemailer from 'nodemailer';
import { connect, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';

/** Sends a raw message through the relay with nodemailer's real client. */
export async function send(port: number, from: string, to: string[], raw: string | Buffer) {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, logger: false });
  try {
    return await transport.sendMail({ envelope: { from, to }, raw });
  } finally {
    transport.close();
  }
}

export function message(subject = 'hello', body = 'Hello from the test.\r\n', extra = ''): string {
  return (
    `From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\nSubject: ${subject}\r\n` +
    `Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@sender.test>\r\n${extra}\r\n${body}`
  );
}

/** A raw SMTP client for tests that need exact bytes: write anything, read replies one at a time; STARTTLS or TLS too. */
export class RawSmtp {
  private buffer = '';
  private waiting: (() => void) | null = null;
  closed = false;

  private constructor(public socket: Socket | TLSSocket) {
    this.listen(socket);
  }

  /**
   * Plain TCP, or TLS from the first byte (port 465); the relay's certificate is self-signed. `localAddress` picks
   * the client's own address, e.g. 127.0.0.2 (on Linux all of 127.0.0.0/8 is loopback), to stand for another client.
   */
  static async connect(port: number, implicitTls = false, localAddress?: string): Promise<RawSmtp> {
    const tcp = (): Socket => connect({ port, host: '127.0.0.1', localAddress });
    const socket = implicitTls ? (localAddress ? connectTls({ socket: tcp(), rejectUnauthorized: false }) : connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false })) : tcp();
    await new Promise<void>((resolve, reject) => socket.once(implicitTls ? 'secureConnect' : 'connect', () => resolve()).once('error', reject));
    return new RawSmtp(socket);
  }

  private listen(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => {});
  }

  /** STARTTLS, the TLS handshake, then EHLO again (RFC 3207: the server forgot everything). */
  async startTls(name = 'client.sender.test'): Promise<string> {
    const ready = await this.command('STARTTLS');
    if (!ready.startsWith('220')) throw new Error(`STARTTLS refused: ${ready}`);
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = connectTls({ socket: plain, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', () => resolve()).once('error', reject));
    this.socket = secure;
    this.listen(secure);
    return this.command(`EHLO ${name}`);
  }

  /** AUTH PLAIN with an initial response. */
  authPlain(user: string, pass: string): Promise<string> {
    return this.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`);
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next complete reply (all lines of a multi-line one); '' when the connection closed first. */
  async reply(timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(this.buffer);
      if (match) {
        this.buffer = this.buffer.slice(match[0].length);
        return match[0];
      }
      if (this.closed) return '';
      if (Date.now() > deadline) throw new Error(`no reply within ${timeoutMs} ms (have ${JSON.stringify(this.buffer)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiting = () => {
          clearTimeout(timer);
          this.waiting = null;
          resolve();
        };
      });
    }
  }

  /** Sends a command line and returns the reply. */
  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** Greeting + EHLO, the start of every session. */
  async hello(name = 'client.sender.test'): Promise<string> {
    await this.reply();
    return this.command(`EHLO ${name}`);
  }

  /** Resolves when the server has closed the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Two relay attempts (a foreign domain, the percent hack) in one session: each must be refused with 5xx. */
export async function tryRelayTricks(port: number): Promise<string[]> {
  const client = await RawSmtp.connect(port);
  try {
    await client.hello();
    await client.command('MAIL FROM:<a@sender.test>');
    return [await client.command('RCPT TO:<victim@elsewhere.test>'), await client.command('RCPT TO:<x%elsewhere.test@example.test>')];
  } finally {
    client.close();
  }
}
