/** Structured logger: one line per event, `key=value` fields and an upper-case action word an admin can grep. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

function formatValue(value: string | number | boolean | null): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/** A logger writing lines like `2026-11-28T10:00:00.000Z info DELIVERED id=... rcpt=...` to a stream. */
export function createLineLogger(write: (line: string) => void, clock: () => number = Date.now): Logger {
  const line = (level: string) => (fields: LogFields, message: string) => {
    const parts = [new Date(clock()).toISOString(), level, message];
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) parts.push(`${key}=${formatValue(value)}`);
    }
    write(parts.join(' ') + '\n');
  };
  return { info: line('info'), warn: line('warn'), error: line('error') };
}

/** `logger: false` keeps tests quiet; `true` logs to stderr. */
export function resolveLogger(option: Logger | boolean | undefined): Logger {
  if (option === false || option === undefined) return silentLogger;
  if (option === true) return createLineLogger((line) => process.stderr.write(line));
  return option;
}
