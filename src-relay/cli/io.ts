import { userInfo } from 'node:os';

/** What a CLI command reads and writes: the process's streams in use, a pipe or a buffer in tests. */
export interface CommandIo {
  stdin: NodeJS.ReadStream | NodeJS.ReadableStream;
  out(text: string): void;
  err(text: string): void;
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
