import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import type { AddressInfo } from 'node:net';

export interface SunkMessage {
  from: string;
  to: string[];
  raw: Buffer;
}

export interface SinkOptions {
  port?: number;
  /** Return an SMTP error code + text to refuse MAIL FROM (the whole message), or nothing to accept it. */
  onSender?: (address: string) => { code: number; text: string } | undefined;
  /** Return an SMTP error code + text to refuse a recipient, or nothing to accept it. */
  onRecipient?: (address: string) => { code: number; text: string } | undefined;
  /** Refuse the message at end of DATA. */
  onMessage?: (message: SunkMessage) => { code: number; text: string } | undefined;
}

/** A real SMTP server playing the internal mail server (or a remote MX) in tests: it keeps every message it takes. */
export class Sink {
  readonly messages: SunkMessage[] = [];
  readonly server: SMTPServer;
  port = 0;
  private waiters: { count: number; resolve: () => void }[] = [];

  constructor(private readonly options: SinkOptions = {}) {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      disableReverseLookup: true,
      logger: false,
      // the relay's pooled connections stay open; a stopping sink should not wait for them
      closeTimeout: 100,
      onMailFrom: (address, _session, callback) => {
        const refusal = options.onSender?.(address.address);
        if (refusal) return callback(Object.assign(new Error(refusal.text), { responseCode: refusal.code }));
        callback();
      },
      onRcptTo: (address, _session, callback) => {
        const refusal = options.onRecipient?.(address.address);
        if (refusal) return callback(Object.assign(new Error(refusal.text), { responseCode: refusal.code }));
        callback();
      },
      onData: (stream, session: SMTPServerSession, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const message: SunkMessage = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            raw: Buffer.concat(chunks),
          };
          const refusal = options.onMessage?.(message);
          if (refusal) return callback(Object.assign(new Error(refusal.text), { responseCode: refusal.code }));
          this.messages.push(message);
          this.waiters = this.waiters.filter((waiter) => {
            if (this.messages.length < waiter.count) return true;
            waiter.resolve();
            return false;
          });
          callback();
        });
      },
    });
    // a relay killed mid-delivery resets its connection; that is the test's business, not an uncaught exception
    this.server.on('error', () => {});
  }

  static async start(options: SinkOptions = {}): Promise<Sink> {
    const sink = new Sink(options);
    await new Promise<void>((resolve, reject) => {
      sink.server.server.once('error', reject);
      sink.server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    sink.port = (sink.server.server.address() as AddressInfo).port;
    return sink;
  }

  /** The delivered copy of the message with this Subject, once it has arrived (earlier tests' mail may still be arriving). */
  async waitForSubject(subject: string, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((sunk) => sunk.raw.includes(`\r\nSubject: ${subject}\r\n`));
      if (found) return found.raw.toString('utf8');
      if (Date.now() > deadline) throw new Error(`no delivery of "${subject}" within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Resolves once `count` messages have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs = 20_000): Promise<void> {
    if (this.messages.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sink got ${this.messages.length} of ${count} messages`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A port that was free a moment ago: for a server that must appear later at a known address. */
export async function reservePort(): Promise<number> {
  const sink = await Sink.start();
  const port = sink.port;
  await sink.stop();
  return port;
}
