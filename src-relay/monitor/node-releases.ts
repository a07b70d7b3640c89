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

export function nodeRuntimeStatus(version: string, now: number): { status: 'ok' | 'warning' | 'failing' | 'unknown'; detail: string; hint?: string } {
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
