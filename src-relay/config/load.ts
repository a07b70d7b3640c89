import { existsSync, readFileSync } from 'node:fs';
import { writeFileWhole } from '../util/write-whole.ts';
import { ALERT_RULE_IDS, ConfigSchema, hostPortSchema, type Config, type ConfigInput } from './schema.ts';
import { plainIssueMessage } from '../util/plain-issues.ts';
import { pemCertificatesProblem, pemPairProblems } from './pem-files.ts';

export interface ConfigProblem {
  path: string; // dotted key path, e.g. "mx.maxRecipients"; "(file)" for the file itself
  message: string;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Overrides win over the file; objects merge key by key, anything else is replaced. */
export function mergeConfig(base: Json, overrides: Json): Json {
  const merged: Json = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    merged[key] = isObject(value) && isObject(merged[key]) ? mergeConfig(merged[key] as Json, value) : value;
  }
  return merged;
}

/** The dotted key paths that overrides set ("mx.listen", "internal.host"): their leaves, a list being one leaf. */
export function overriddenPaths(overrides: Json, prefix = ''): string[] {
  return Object.entries(overrides).flatMap(([key, value]) => (isObject(value) ? overriddenPaths(value, `${prefix}${key}.`) : [`${prefix}${key}`]));
}

/** Validates a config object; every problem is listed with its key path. */
export function validateConfig(input: unknown): ConfigResult {
  const parsed = ConfigSchema.safeParse(input);
  if (parsed.success) return { ok: true, config: parsed.data };
  const problems = parsed.error.issues.flatMap((issue) => {
    // a misspelt key would otherwise be dropped without a word, and its setting left at the default
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...issue.path.map(String), key].join('.'), message: 'is not a setting Moat knows (misspelt, or in the wrong section?)' }));
    }
    return [{ path: issue.path.length ? issue.path.map(String).join('.') : '(config)', message: plainIssueMessage(issue) }];
  });
  // a list of 500,000 bad entries is not 500,000 problems to send and show
  if (problems.length <= MAX_PROBLEMS) return { ok: false, problems };
  return { ok: false, problems: [...problems.slice(0, MAX_PROBLEMS), { path: '(config)', message: `and ${problems.length - MAX_PROBLEMS} more problems like these` }] };
}

/** Problems reported at most for one configuration; a last one says how many more there were. */
export const MAX_PROBLEMS = 100;


/**
 * An alert rule the admin switches off must exist: a misspelt one ("disk-space") was kept, shown as off, and switched
 * nothing off. Asked where a configuration is saved (wizard, settings), not at start: a file that ran before still starts.
 */
export function alertRuleProblems(input: unknown): ConfigProblem[] {
  const alerts = isObject(input) && isObject(input.alerts) ? input.alerts : {};
  const disabled = Array.isArray(alerts.disabled) ? alerts.disabled : [];
  return disabled.flatMap((id, index) =>
    typeof id === 'string' && !ALERT_RULE_IDS.includes(id) ? [{ path: `alerts.disabled.${index}`, message: `"${id}" is not an alert rule; the rules are ${ALERT_RULE_IDS.join(', ')}` }] : [],
  );
}

/**
 * The junk thresholds an admin sets in the wizard or settings must rise from tag to quarantine to refuse (a slip
 * such as 1.5 for 15 would refuse nearly all mail with a score). Only the ones the file sets are compared: one set
 * alone below a default (refuse from 8, quarantine left at 10) is a choice, and files that ran before still start.
 */
export function scoreOrderProblems(input: unknown): ConfigProblem[] {
  const filters = isObject(input) && isObject(input.filters) ? input.filters : {};
  const steps = [['tagScore', 'tag'], ['quarantineScore', 'quarantine'], ['rejectScore', 'refuse']] as const;
  // a score left out is its default: quarantine from 20 under the default refuse score of 15 would keep nothing
  const inUse = steps.flatMap(([key, name]) => {
    const given = typeof filters[key] === 'number';
    const score = given ? (filters[key] as number) : JUNK_SCORE_DEFAULTS[key];
    return score > 0 ? [{ key, name, score, shown: given ? `${score}` : `${score}, the default` }] : [];
  });
  const problems: ConfigProblem[] = [];
  for (let i = 1; i < inUse.length; i++) {
    const [lower, higher] = [inUse[i - 1]!, inUse[i]!];
    if (higher.score < lower.score) {
      // said at the key the admin set, or at the default one that is in the way
      const at = typeof filters[higher.key] === 'number' || typeof filters[lower.key] !== 'number' ? higher.key : lower.key;
      problems.push({ path: `filters.${at}`, message: `the ${higher.name} score (${higher.shown}) is below the ${lower.name} score (${lower.shown}): the scores must rise from tag to quarantine to refuse (0 turns one off)` });
    }
  }
  return problems;
}

/** The junk scores' defaults, as the schema gives them. */
const JUNK_SCORE_DEFAULTS = (() => {
  const filters = ConfigSchema.parse({}).filters;
  return { tagScore: filters.tagScore, quarantineScore: filters.quarantineScore, rejectScore: filters.rejectScore };
})();

/** Reads the JSON file (a missing file is an empty config unless `required`), applies overrides, validates. */
export function loadConfig(file: string, overrides: ConfigInput | Json = {}, required = false): ConfigResult {
  let fromFile: unknown = {};
  if (existsSync(file)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      const why = code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : (error as Error).message;
      return { ok: false, problems: [{ path: '(file)', message: `${file} cannot be read: ${why}` }] };
    }
    try {
      fromFile = JSON.parse(text);
    } catch (error) {
      return { ok: false, problems: [{ path: '(file)', message: `${file} is not valid JSON: ${jsonErrorWords(text, error as Error)}` }] };
    }
    if (!isObject(fromFile)) return { ok: false, problems: [{ path: '(file)', message: `${file} must hold a JSON object` }] };
  } else if (required) {
    return { ok: false, problems: [{ path: '(file)', message: `${file} does not exist` }] };
  }
  return validateConfig(mergeConfig(fromFile as Json, overrides as Json));
}

/**
 * JSON.parse's complaint with "at line L, column C" where the text goes wrong (V8 says "at position N", a character
 * offset nobody can find in an editor, or quotes a piece of the text); columns count characters from 1, as editors do.
 */
export function jsonErrorWords(text: string, error: Error): string {
  const offset = jsonErrorOffset(text);
  const what = error.message.replace(/\s*\(line \d+ column \d+\)$/, '').replace(/\s+(?:in JSON )?at position \d+$/, '').replace(/,\s*".*" is not valid JSON$/s, '');
  if (offset === null) return what;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return `${what} at line ${line}, column ${column}`;
}

/** Where strict JSON (RFC 8259) first goes wrong in `text`: a character offset, the text's length when it ends early, or null when it parses. */
export function jsonErrorOffset(text: string): number | null {
  let at = 0;
  const fail = (): never => {
    throw at;
  };
  const space = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at++;
  };
  const literal = (word: string) => {
    for (const char of word) if (text[at++] !== char) (at--, fail());
  };
  const string = () => {
    at++;
    for (;;) {
      if (at >= text.length) fail();
      const char = text[at]!;
      if (char === '"') return void at++;
      if (char < ' ') fail();
      if (char === '\\') {
        at++;
        if (text[at] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 1, at + 5))) (at++, fail());
          at += 5;
        } else if (at < text.length && '"\\/bfnrt'.includes(text[at]!)) at++;
        else fail();
      } else at++;
    }
  };
  const value = (): void => {
    space();
    const char = text[at];
    if (char === '{') {
      at++;
      space();
      if (text[at] === '}') return void at++;
      for (;;) {
        space();
        if (text[at] !== '"') fail();
        string();
        space();
        if (text[at] !== ':') fail();
        at++;
        value();
        space();
        if (text[at] === '}') return void at++;
        if (text[at] !== ',') fail();
        at++;
      }
    }
    if (char === '[') {
      at++;
      space();
      if (text[at] === ']') return void at++;
      for (;;) {
        value();
        space();
        if (text[at] === ']') return void at++;
        if (text[at] !== ',') fail();
        at++;
      }
    }
    if (char === '"') return string();
    if (char === 't') return literal('true');
    if (char === 'f') return literal('false');
    if (char === 'n') return literal('null');
    const number = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(at));
    if (!number) fail();
    at += number![0].length;
  };
  try {
    value();
    space();
    return at < text.length ? at : null;
  } catch (offset) {
    return Math.min(offset as number, text.length);
  }
}

/** What `serve` needs beyond a valid file: somewhere to deliver and something to accept. */
export function checkServeReady(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (config.domains.length === 0) problems.push({ path: 'domains', message: 'at least one accepted domain is required (in "Accepted domains", or --domain NAME)' });
  if (!config.internal) problems.push({ path: 'internal.host', message: 'the internal mail server is required (--internal HOST:PORT)' });
  const { cert, key } = config.mx.tls;
  if (Boolean(cert) !== Boolean(key)) problems.push({ path: 'mx.tls', message: 'give both cert and key, or neither (a self-signed pair is then made)' });
  problems.push(...tlsFileProblems(config));
  problems.push(...listenerClashProblems(config));
  return problems;
}

/** Listeners given one address (the same port, on the same host or all interfaces): the second could never start. */
export function listenerClashProblems(config: Config): ConfigProblem[] {
  const listeners = (
    [
      ['mx.listen', config.mx.listen],
      ['submission.listen', config.submission.listen],
      ['submission.tlsListen', config.submission.tlsListen],
      ['quarantine.userPage.listen', config.quarantine.userPage.listen],
      ['admin.listen', config.admin.listen],
    ] as const
  ).flatMap(([path, listen]) => (listen ? [{ path, listen, ...splitHostPort(listen) }] : []));
  const everywhere = (host: string) => host === '0.0.0.0' || host === '::';
  const problems: ConfigProblem[] = [];
  for (const [index, listener] of listeners.entries()) {
    // port 0: the system picks a free port for each
    const clash = listener.port !== 0 && listeners.slice(0, index).find((earlier) => earlier.port === listener.port && (earlier.host === listener.host || everywhere(earlier.host) || everywhere(listener.host)));
    if (clash) problems.push({ path: listener.path, message: `takes the port of ${clash.path} (${clash.listen}): two listeners cannot share one address` });
  }
  return problems;
}

/** The TLS files a configuration names, read as the listeners will read them: the wrong file is named at its field. */
export function tlsFileProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { cert, key } = config.mx.tls;
  if (cert && key) problems.push(...pemPairProblems({ path: 'mx.tls.cert', file: cert }, { path: 'mx.tls.key', file: key }));
  const admin = config.admin.tls;
  if (admin.cert && admin.key) problems.push(...pemPairProblems({ path: 'admin.tls.cert', file: admin.cert }, { path: 'admin.tls.key', file: admin.key }));
  if (config.outbound.caFile) problems.push(...pemCertificatesProblem('outbound.caFile', config.outbound.caFile));
  return problems;
}

export function formatProblems(problems: ConfigProblem[]): string {
  return problems.map((problem) => `  ${problem.path}: ${problem.message}`).join('\n');
}

/** Splits `host:port` / `[v6]:port` (already validated by hostPortSchema). */
export function splitHostPort(value: string): { host: string; port: number } {
  hostPortSchema.parse(value);
  const at = value.lastIndexOf(':');
  const host = value.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(value.slice(at + 1)) };
}

/** Writes the config whole or not at all: temp file, fsync, rename, fsync of the folder. */
export async function saveConfig(file: string, config: ConfigInput): Promise<void> {
  await writeFileWhole(file, JSON.stringify(config, null, 2) + '\n', 0o600);
}
