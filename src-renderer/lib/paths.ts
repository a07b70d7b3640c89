/**
 * Dotted paths into the configuration object ("mx.callout.enabled", "domains.0"), as the config schema's
 * problems name them, and issue -> field matching for forms.
 */

export type ConfigObject = Record<string, unknown>;

export interface Issue {
  path: string;
  message: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function getPath(object: unknown, path: string): unknown {
  let at: unknown = object;
  for (const part of path.split('.')) {
    if (Array.isArray(at) && /^\d+$/.test(part)) at = at[Number(part)];
    else if (isObject(at)) at = at[part];
    else return undefined;
  }
  return at;
}

/** A copy of `object` with the value at `path` set (missing parent objects are made). */
export function setPath(object: ConfigObject, path: string, value: unknown): ConfigObject {
  const [head, ...rest] = path.split('.') as [string, ...string[]];
  if (rest.length === 0) return { ...object, [head]: value };
  const child = isObject(object[head]) ? (object[head] as ConfigObject) : {};
  return { ...object, [head]: setPath(child, rest.join('.'), value) };
}

/** A copy of `object` without the value at `path` (the default applies again); parents left empty are dropped. */
export function deletePath(object: ConfigObject, path: string): ConfigObject {
  const [head, ...rest] = path.split('.') as [string, ...string[]];
  if (!(head in object)) return object;
  const copy = { ...object };
  if (rest.length === 0) {
    delete copy[head];
    return copy;
  }
  const child = object[head];
  if (!isObject(child)) return object;
  const inner = deletePath(child, rest.join('.'));
  if (Object.keys(inner).length === 0) delete copy[head];
  else copy[head] = inner;
  return copy;
}

/** Sets the value, or deletes it when undefined. */
export function putPath(object: ConfigObject, path: string, value: unknown): ConfigObject {
  return value === undefined ? deletePath(object, path) : setPath(object, path, value);
}

/** "mx.tls" covers "mx.tls" and "mx.tls.cert", not "mx.tlsFoo"; "" covers everything. */
export function pathCovers(prefix: string, path: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(`${prefix}.`);
}

/** Issues on API inputs name the config as "config.x.y"; forms know it as "x.y". */
export function normalizeIssuePath(path: string): string {
  return path.replace(/^config\./, '');
}

/**
 * The form field an issue belongs to: the field whose path is the longest prefix of the issue's
 * ("domains.2" -> the domains field), else, for an issue on a parent ("internal" missing), the first field
 * under it. Null when no field matches.
 */
export function fieldForIssue<F extends string>(issuePath: string, fields: Readonly<Record<F, string>>): F | null {
  const path = normalizeIssuePath(issuePath);
  let best: F | null = null;
  let bestLength = -1;
  for (const [field, fieldPath] of Object.entries(fields) as [F, string][]) {
    if (pathCovers(fieldPath, path) && fieldPath.length > bestLength) {
      best = field;
      bestLength = fieldPath.length;
    }
  }
  if (best) return best;
  for (const [field, fieldPath] of Object.entries(fields) as [F, string][]) if (path !== '' && pathCovers(path, fieldPath)) return field;
  return null;
}

export interface MappedIssues<F extends string> {
  byField: Partial<Record<F, string[]>>;
  /** Issues no field of this form shows: listed above the form. */
  other: Issue[];
}

export function mapIssues<F extends string>(issues: readonly Issue[], fields: Readonly<Record<F, string>>): MappedIssues<F> {
  const byField: Partial<Record<F, string[]>> = {};
  const other: Issue[] = [];
  for (const issue of issues) {
    const field = fieldForIssue(issue.path, fields);
    if (field) (byField[field] ??= []).push(issue.message);
    else other.push(issue);
  }
  return { byField, other };
}

/** The issues under any of these prefixes (a wizard step's share of a whole-config validation). */
export function issuesUnder(issues: readonly Issue[], prefixes: readonly string[]): Issue[] {
  return issues.filter((issue) => prefixes.some((prefix) => pathCovers(prefix, normalizeIssuePath(issue.path))));
}
