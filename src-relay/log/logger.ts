/** Structured logger: one line per event, `key=value` fields and an upper-case action word an admin can grep. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/**
 * Characters a terminal or log viewer acts on instead of showing (controls, direction overrides that reorder the
 * line, invisible joiners, line separators): in a value from the network they are written as \uXXXX.
 */
const UNSHOWN = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;
const EVERY_UNSHOWN = new RegExp(UNSHOWN.source, 'g');

function formatValue(value: string | number | boolean | null): string {
  const text = String(value);
  if (/^[^\s"=]+$/.test(text) && !UNSHOWN.test(text)) return text;
  return JSON.stringify(text).replace(EVERY_UNSHOWN, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A logger writing lines like `2026-11-28T10:00:00.000Z info DELIVERED id=... rcpt=...` to a stream. */
export function createLineLogger(write: (line: string) => void, clock: () => number = Date.now): Logger {
  const line = (level: string) => (fields: LogFields, message: string) => {
    const parts = [new Date(clock()).toISOString(), level, message];
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) parts.push(`${key}=${formatValue(value)}`);
    }
    // a log line is never worth the relay: whatever the writer does, the caller carries on
    try {
      write(parts.join(' ') + '\n');
    } catch {
      // the writer counts what it drops (createStreamWriter); a bare function has no one to tell
    }
  };
  return { info: line('info'), warn: line('warn'), error: line('error') };
}

/**
 * Lines held in memory for a stream that does not keep up (a stuck reader on the other end of the pipe, a slow
 * disk): past this the line is dropped, so logging never grows the heap without bound. 1 MiB is thousands of lines.
 */
export const MAX_LOG_BUFFER_BYTES = 1024 * 1024;

/** A line writer on a stream that degrades instead of failing: `write` never throws, what it drops is counted. */
export interface StreamWriter {
  write(line: string): void;
  /** Lines dropped so far: the stream failed (EPIPE, ENOSPC, closed) or was too far behind. */
  dropped(): number;
  /** The error that stopped the stream ("EPIPE"), or null while it works. */
  failure(): string | null;
}

/**
 * Writes to `stream` (stderr, a log file) so that a closed reader (EPIPE), a full disk (ENOSPC) or a destroyed
 * stream degrades logging to dropping lines, counted, and never reaches the caller: without an 'error' listener
 * Node turns such a stream error into an uncaught exception, which would end the relay mid-delivery. Once a stream
 * has failed it stays failed (Node destroys a stream after its error), so later lines are dropped at once.
 */
export function createStreamWriter(stream: NodeJS.WritableStream): StreamWriter {
  const writable = stream as NodeJS.WritableStream & { destroyed?: boolean; writableLength?: number };
  let failed: string | null = null;
  let dropped = 0;
  const fail = (error: unknown) => {
    if (failed === null) {
      failed = (error as NodeJS.ErrnoException)?.code ?? (error as Error)?.message ?? 'write failed';
      // the line whose write failed is lost too; which one it was, an asynchronous error does not say
      dropped++;
    }
  };
  stream.on('error', fail);
  return {
    write(line) {
      if (failed !== null || writable.destroyed || (writable.writableLength ?? 0) + Buffer.byteLength(line) > MAX_LOG_BUFFER_BYTES) {
        dropped++;
        return;
      }
      try {
        stream.write(line, (error?: Error | null) => {
          if (error) fail(error);
        });
      } catch (error) {
        fail(error);
      }
    },
    dropped: () => dropped,
    failure: () => failed,
  };
}

/** A logger on a stream, with its writer's count of dropped lines. */
export interface StreamLogger extends Logger {
  droppedLines(): number;
}

/** The line logger on `stream` (process.stderr, a log file), degrading to dropped lines as createStreamWriter does. */
export function createStreamLogger(stream: NodeJS.WritableStream, clock: () => number = Date.now): StreamLogger {
  const writer = createStreamWriter(stream);
  return { ...createLineLogger(writer.write, clock), droppedLines: writer.dropped };
}

/** `logger: false` keeps tests quiet; `true` logs to stderr. */
export function resolveLogger(option: Logger | boolean | undefined): Logger {
  if (option === false || option === undefined) return silentLogger;
  if (option === true) return createStreamLogger(process.stderr);
  return option;
}
