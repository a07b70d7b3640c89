import type { Config } from './schema.ts';
import { CONFIG_FIELDS, FIELD_GROUPS } from './fields.ts';
import { splitHostPort } from './load.ts';

/** The listeners an engine start binds (the users' page and the admin page bind apart, and are tried again). */
const ENGINE_LISTENERS = ['mx.listen', 'submission.listen', 'submission.tlsListen'] as const;

/**
 * The setting a failed bind is about, from the address and port Node puts on a listen error: its key, and where it is
 * in the words of Settings ('"STARTTLS listener address" (submission.listen) in Settings → Configuration → Accounts');
 * null when none matches.
 */
export function listenSettingOf(config: Config, error: unknown): { key: string; words: string } | null {
  const { address, port, syscall } = (error ?? {}) as { address?: unknown; port?: unknown; syscall?: unknown };
  if (syscall !== 'listen' || typeof port !== 'number') return null;
  const values: Record<(typeof ENGINE_LISTENERS)[number], string | undefined> = {
    'mx.listen': config.mx.listen,
    'submission.listen': config.submission.listen,
    'submission.tlsListen': config.submission.tlsListen,
  };
  for (const key of ENGINE_LISTENERS) {
    const value = values[key];
    if (!value) continue;
    const listen = splitHostPort(value);
    if (listen.port !== port || (typeof address === 'string' && listen.host !== address)) continue;
    const field = CONFIG_FIELDS[key]!;
    const group = FIELD_GROUPS.find((candidate) => candidate.id === field.group)!.title;
    return { key, words: `"${field.label}" (${key}) in Settings → Configuration → ${group}` };
  }
  return null;
}

/**
 * A listener that could not bind, in words: "another program already listens on 127.0.0.1:587 (EADDRINUSE)"; the
 * system's own text for a cause not known here. `code`, `where` as Node gives them on the error.
 */
export function bindProblem(code: string | undefined, where: string, message: string): string {
  switch (code) {
    case 'EADDRINUSE':
      return `another program already listens on ${where} (EADDRINUSE)`;
    case 'EADDRNOTAVAIL':
      return `this box has no such address: ${where} (EADDRNOTAVAIL)`;
    case 'EACCES':
      return `Moat may not listen on ${where}: a port below 1024 needs that right (EACCES)`;
    default:
      return message;
  }
}
