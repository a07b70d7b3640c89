import { readFileSync } from 'node:fs';

/** Moat's own version, from package.json (read once; "unknown" if a packaged layout moved it). */
export const MOAT_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();
