// Postfix's load tools as the bench's load and sink (`--compare`): smtp-source sends, smtp-sink swallows, so Moat
// and Postfix get the very same load from a C client that costs little CPU, and deliver into the same C sink.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort, SMTP_SINK, SMTP_SOURCE } from './postfix.ts';
import { arrivalLog, type Sink } from './sink.ts';

const READY_TIMEOUT_MS = 10_000;
const READY_POLL_MS = 50;
/** smtp-sink's cap on connections it serves at once (its own default is 256); more wait in the listen queue. */
const SINK_MAX_CONNECTIONS = 1000;
const SINK_BACKLOG = 1024;
const STDERR_LINES = 20;

/** Splits a stream on CR or LF: smtp-sink and smtp-source rewrite their counter line with CR. */
function onRecords(child: ChildProcess, stream: 'stdout' | 'stderr', each: (record: string) => void): void {
  let rest = '';
  child[stream]!.setEncoding('latin1');
  child[stream]!.on('data', (chunk: string) => {
    const records = (rest + chunk).split(/[\r\n]/);
    rest = records.pop() ?? '';
    for (const record of records) if (record) each(record);
  });
}

/** smtp-sink on 127.0.0.1 (a free port), counting messages ("." received) with their arrival times. */
export async function startSmtpSink(): Promise<Sink> {
  const port = await freePort();
  // as root smtp-sink must drop to a user (-u)
  const child = spawn(SMTP_SINK, ['-c', '-u', 'nobody', '-m', String(SINK_MAX_CONNECTIONS), `127.0.0.1:${port}`, String(SINK_BACKLOG)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = arrivalLog();
  onRecords(child, 'stdout', (record) => {
    const match = /\bmesg=(\d+)/.exec(record);
    // smtp-sink reports its running count: the difference arrived now
    if (match && Number(match[1]) > log.received) log.arrived(Number(match[1]) - log.received, process.hrtime.bigint());
  });
  const errors: string[] = [];
  onRecords(child, 'stderr', (record) => errors.push(record));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForGreeting(port, () => errors.join('\n'));
  return {
    port,
    get received() {
      return log.received;
    },
    waitFor: log.waitFor,
    reachedAtNs: log.reachedAtNs,
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function waitForGreeting(port: number, why: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('data', (chunk) => {
        socket.end('QUIT\r\n');
        resolve(chunk.toString('latin1').startsWith('220'));
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`smtp-sink on port ${port} gave no 220 within ${READY_TIMEOUT_MS} ms: ${why()}`);
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}

export interface SourceOptions {
  host: string;
  port: number;
  messages: number;
  sessions: number;
  /** The message file (header and body, LF line ends; smtp-source sends CRLF and dot-stuffs). */
  messageFile: string;
  from: string;
  to: string;
  helo: string;
  /** Keep the connection for the next message (-d) instead of one message per connection. */
  reuse: boolean;
}

export interface SourceResult {
  /** DATA transactions smtp-source completed (its -c counter). */
  completed: number;
  startNs: bigint;
  endNs: bigint;
  exitCode: number | null;
  /** smtp-source's last error lines (it stops at the first reply it did not expect). */
  errors: string[];
}

/** Runs smtp-source to the end: `smtp-source -c [-d] -m N -s S -F FILE -f FROM -t TO -M HELO HOST:PORT`. */
export function runSmtpSource(options: SourceOptions): Promise<SourceResult> {
  const args = ['-c', ...(options.reuse ? ['-d'] : []), '-m', String(options.messages), '-s', String(options.sessions),
    '-F', options.messageFile, '-f', options.from, '-t', options.to, '-M', options.helo, `${options.host}:${options.port}`];
  const startNs = process.hrtime.bigint();
  const child = spawn(SMTP_SOURCE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let completed = 0;
  const errors: string[] = [];
  onRecords(child, 'stdout', (record) => {
    if (/^\d+$/.test(record)) completed = Math.max(completed, Number(record));
  });
  onRecords(child, 'stderr', (record) => {
    errors.push(record);
    if (errors.length > STDERR_LINES) errors.shift();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    // 'close' comes after the last counter record has been read, 'exit' may come before
    const endAt = { ns: 0n };
    child.once('exit', () => (endAt.ns = process.hrtime.bigint()));
    child.once('close', (exitCode) => resolve({ completed, startNs, endNs: endAt.ns || process.hrtime.bigint(), exitCode, errors }));
  });
}
