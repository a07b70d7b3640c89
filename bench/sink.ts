import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Sink {
  port: number;
  /** Recipients delivered so far (a message to 3 recipients counts 3, however the relay batches them). */
  readonly received: number;
  /** Resolves true once `target` recipients have arrived, false after `timeoutMs`. */
  waitFor(target: number, timeoutMs: number): Promise<boolean>;
  /** hrtime (ns) at which the `target`-th recipient arrived, if it has. */
  reachedAtNs(target: number): bigint | undefined;
  close(): Promise<void>;
}

/** Arrival times of recipients and the waiting on them, shared by the in-process sink and smtp-sink's. */
export function arrivalLog(): Pick<Sink, 'received' | 'waitFor' | 'reachedAtNs'> & { arrived(count: number, at: bigint): void } {
  const arrivals: bigint[] = [];
  let check = (): void => {};
  return {
    arrived(count, at) {
      for (let i = 0; i < count; i++) arrivals.push(at);
      check();
    },
    get received() {
      return arrivals.length;
    },
    waitFor(target, timeoutMs) {
      if (arrivals.length >= target) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        check = () => {
          if (arrivals.length < target) return;
          clearTimeout(timer);
          resolve(true);
        };
      });
    },
    reachedAtNs: (target) => arrivals[target - 1],
  };
}

/** In-process SMTP server on 127.0.0.1:0 that swallows every message and timestamps arrivals. */
export async function startSink(): Promise<Sink> {
  const log = arrivalLog();

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH'],
    disableReverseLookup: true,
    logger: false,
    onData(stream, session, callback) {
      stream.on('data', () => {});
      stream.on('end', () => {
        log.arrived(session.envelope.rcptTo.length, process.hrtime.bigint());
        callback();
      });
    },
  });
  server.on('error', () => {}); // a client dropping mid-session is not a sink failure

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;

  return {
    port,
    get received() {
      return log.received;
    },
    waitFor: log.waitFor,
    reachedAtNs: log.reachedAtNs,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
