/**
 * Keys set on `moat serve`'s command line (config.get's `overridden`, dotted paths such as "mx.listen"). A flag wins
 * over the file, also after an apply, so a form must not show the file's value for such a key as the one in force.
 */

/** The flag that sets each key, as `moat serve` spells it (src-relay/cli.ts; a unit test holds the two together). */
export const FLAG_FOR_KEY: Readonly<Record<string, string>> = {
  domains: '--domain',
  'mx.listen': '--mx-listen',
  'admin.listen': '--admin-listen',
  'submission.listen': '--submission-listen',
  'submission.tlsListen': '--submissions-listen',
  'internal.host': '--internal',
  'internal.port': '--internal',
  'outbound.smarthost.host': '--smarthost',
  'outbound.smarthost.port': '--smarthost',
};

const covers = (prefix: string, path: string) => path === prefix || path.startsWith(`${prefix}.`);

/** The overridden paths that touch `key`: the key itself, a path inside it (a key holding an object), or one above it. */
export function overridesOf(key: string, overridden: readonly string[]): string[] {
  return overridden.filter((path) => covers(key, path) || covers(path, key));
}

/** The value in force, in a line: a list joined with commas, text as it is, anything else as JSON. */
export function inForceText(value: unknown): string {
  if (Array.isArray(value)) return value.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))).join(', ');
  return typeof value === 'string' ? value : JSON.stringify(value) ?? 'nothing';
}

/**
 * The note a field shows when the command line sets its key, or null when the file's value is the one in force.
 * `inForce`, when given, is the value the relay runs with (config.get's `effective`); leave it out for a secret.
 */
export function overrideNote(key: string, overridden: readonly string[], inForce?: unknown): string | null {
  const paths = overridesOf(key, overridden);
  if (paths.length === 0) return null;
  const flags = [...new Set(paths.map((path) => FLAG_FOR_KEY[path]).filter((flag): flag is string => flag !== undefined))];
  const note = `Set on the command line${flags.length ? ` (${flags.join(', ')})` : ''}; the file's value applies only without it.`;
  return inForce === undefined ? note : `${note} In force now: ${inForceText(inForce)}.`;
}
