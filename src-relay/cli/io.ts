import { userInfo } from 'node:os';

/** What a CLI command reads and writes: the process's streams in use, a pipe or a buffer in tests. */
export interface CommandIo {
  stdin: NodeJS.ReadStream | NodeJS.ReadableStream;
  out(text: string): void;
  err(text: string): void;
}

/**
 * Standard output or error gone away must not become a stack trace or end a running relay: `moat queue list | head`
 * closes the pipe after a line (EPIPE), a `moat serve` started with its output to a pipe outlives the reader, a log
 * file's disk fills up. Without an 'error' listener Node makes each of these an uncaught exception. With this one a
 * closed reader ends the output quietly and the command finishes with its own exit code; any other failure of
 * standard output (ENOSPC on a redirected file) is kept for stdoutFailure(), so the command does not report success
 * for output that was lost. Installed once per process.
 */
export function guardStdio(): void {
  if (stdioGuarded) return;
  stdioGuarded = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || stdoutError !== null) return;
    stdoutError = error.code ?? error.message;
    // the error may come after the command has set its exit code: a success is no longer one
    if (!process.exitCode) process.exitCode = EXIT_FAILED;
  });
  // nothing is left to tell about a failing stderr: the lines are lost, the command carries on
  process.stderr.on('error', () => {});
}

let stdioGuarded = false;
let stdoutError: string | null = null;

/** Why standard output failed (other than a reader that closed its end), or null. */
export function stdoutFailure(): string | null {
  return stdoutError;
}

export const processIo: CommandIo = {
  stdin: process.stdin,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/**
 * Who runs a command, for history rows and logs: "cli:NAME" with the OS account the process runs as (from the user
 * database, not $USER, which anyone can set), "cli" when it has no name. The name is kept to characters that cannot
 * break a history line or a header.
 */
export function cliActor(): string {
  try {
    const name = userInfo().username.replace(/[^\w.@+-]/g, '_').slice(0, 64);
    return name ? `cli:${name}` : 'cli';
  } catch {
    return 'cli';
  }
}

/** Exit codes, as cli.ts has them: 0 done, 1 the operation failed, 2 bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** A secret is read from standard input up to this size; more is refused rather than buffered. */
const MAX_SECRET_INPUT_BYTES = 64 * 1024;

/**
 * Reads a secret without it ever being an argument (argv is visible to every user of the box in `ps`): from a
 * terminal, asked twice with echo off; from a pipe, its first line.
 */
export async function readSecret(io: CommandIo, prompt: string): Promise<string> {
  const stdin = io.stdin as NodeJS.ReadStream;
  if (stdin.isTTY && typeof stdin.setRawMode === 'function') {
    const first = await promptHidden(stdin, io, `${prompt}: `);
    const second = await promptHidden(stdin, io, `${prompt} (again): `);
    if (first !== second) throw new Error('the two entries differ');
    return first;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_SECRET_INPUT_BYTES) throw new Error('standard input is too long for a password');
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const line = text.split('\n')[0]!.replace(/\r$/, '');
  if (line === '') throw new Error('no password on standard input (pipe it in, or run this in a terminal to be asked)');
  return line;
}

function promptHidden(stdin: NodeJS.ReadStream, io: CommandIo, question: string): Promise<string> {
  io.err(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = () => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      io.err('\n');
    };
    const onData = (chunk: Buffer | string) => {
      for (const char of chunk.toString()) {
        if (char === '\r' || char === '\n') {
          finish();
          return resolve(value);
        }
        if (char === '\u0003' || char === '\u0004') {
          finish();
          return reject(new Error('cancelled'));
        }
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

export function formatTime(ms: number | null | undefined): string {
  return ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}
