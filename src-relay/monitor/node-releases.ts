/**
 * End of life of Node.js release lines (nodejs.org/en/about/previous-releases; even lines are LTS for 30 months,
 * odd lines get 8). A line not in the table is one this Moat cannot judge: the probe says unknown.
 */
export const NODE_END_OF_LIFE: Readonly<Record<number, string>> = {
  16: '2023-09-11',
  17: '2022-06-01',
  18: '2025-04-30',
  19: '2023-06-01',
  20: '2026-04-30',
  21: '2024-06-01',
  22: '2027-04-30',
  23: '2025-06-01',
  24: '2028-04-30',
  25: '2026-06-01',
  26: '2029-04-30',
};

/** Warn this long before a release line's end of life. */
export const NODE_EOL_WARNING_DAYS = 90;

type RuntimeStatus = { status: 'ok' | 'warning' | 'failing' | 'unknown'; detail: string; hint?: string };

/**
 * The runtime's verdict: its release line's end of life (failing past it, a warning near it) and whether the version
 * is one this Moat supports (`supportedRange`: package.json's engines.node; a warning outside it, as an untested
 * runtime may lack what Moat or its native SQLite module needs). A range that cannot be read makes an ok unknown.
 */
export function nodeRuntimeStatus(version: string, now: number, supportedRange: string | null): RuntimeStatus {
  const life = lifeCycleStatus(version, now);
  const inside = supportedRange === null ? null : versionInRange(version, supportedRange);
  if (inside === null) {
    const why = supportedRange === null ? "package.json's engines.node could not be read" : `the supported range "${supportedRange}" could not be read`;
    return { ...life, status: life.status === 'ok' ? 'unknown' : life.status, detail: `${life.detail}; ${why}` };
  }
  if (inside) return life;
  return {
    status: life.status === 'failing' ? 'failing' : 'warning',
    detail: `Node.js ${version} is outside the versions this Moat supports (${supportedRange}); ${life.detail.replace(/^Node\.js \S+: /, '')}`,
    hint: `Run Moat on a Node.js version in ${supportedRange} (package.json "engines"; the README lists the same).`,
  };
}

function lifeCycleStatus(version: string, now: number): RuntimeStatus {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  const eol = NODE_END_OF_LIFE[major];
  if (!eol) {
    return { status: 'unknown', detail: `Node.js ${version}: this Moat does not know when the ${major || '?'}.x line ends`, hint: 'Check nodejs.org for its support dates.' };
  }
  const end = Date.parse(`${eol}T00:00:00Z`);
  const days = Math.floor((end - now) / 86400_000);
  if (days < 0) {
    return {
      status: 'failing',
      detail: `Node.js ${version}: the ${major}.x line reached its end of life on ${eol} and gets no security fixes`,
      hint: 'Upgrade Node.js to a supported LTS line (or the Moat package that bundles one).',
    };
  }
  if (days <= NODE_EOL_WARNING_DAYS) {
    return { status: 'warning', detail: `Node.js ${version}: the ${major}.x line ends on ${eol} (in ${days} days)`, hint: 'Plan the upgrade to the next LTS line.' };
  }
  return { status: 'ok', detail: `Node.js ${version}: the ${major}.x line is supported until ${eol}`, hint: 'Patch releases within a line are not checked: keep the OS packages updated.' };
}

type Triple = [number, number, number];

/**
 * Whether VERSION (v22.12.0) lies in RANGE, an npm "engines" range in the subset package.json uses: alternatives
 * joined by `||`, each a space-separated list of comparators (`>=`, `>`, `<`, `<=`, `=` or none, `^`) on versions that
 * may leave out minor and patch (`<27` is `<27.0.0`, `^20.19` is `>=20.19.0 <21.0.0`). Null when either cannot be read:
 * the caller says unknown rather than guess.
 */
export function versionInRange(version: string, range: string): boolean | null {
  const parsed = parseVersion(version.replace(/^v/, ''), true);
  if (!parsed) return null;
  let inside = false;
  for (const alternative of range.split('||')) {
    const comparators = alternative.trim().split(/\s+/).filter(Boolean);
    if (comparators.length === 0) return null;
    let all = true;
    for (const comparator of comparators) {
      const match = /^(>=|<=|>|<|=|\^)?v?(\d+(?:\.\d+){0,2})$/.exec(comparator);
      if (!match) return null;
      const [, operator = '=', bound] = match;
      const low = parseVersion(bound!, false)!;
      const order = compareTriples(parsed, low);
      const ok =
        operator === '>=' ? order >= 0
        : operator === '>' ? order > 0
        : operator === '<' ? order < 0
        : operator === '<=' ? order <= 0
        : operator === '^' ? order >= 0 && parsed[0] === low[0]
        : order === 0;
      if (!ok) all = false;
    }
    if (all) inside = true;
  }
  return inside;
}

/** "20.19.0" → [20, 19, 0]; a partial "27" → [27, 0, 0] unless `full` asks for all three parts. Pre-release tags are cut off. */
function parseVersion(text: string, full: boolean): Triple | null {
  const match = (full ? /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/ : /^(\d+)(?:\.(\d+))?(?:\.(\d+))?$/).exec(text);
  if (!match) return null;
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
}

function compareTriples(a: Triple, b: Triple): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}
