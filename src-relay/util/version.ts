import { readFileSync } from 'node:fs';

/** package.json as Moat reads it at run time (null if a packaged layout moved it). */
const PACKAGE: { version?: string; engines?: { node?: string } } | null = (() => {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string; engines?: { node?: string } };
  } catch {
    return null;
  }
})();

/** Moat's own version, from package.json (read once; "unknown" if a packaged layout moved it). */
export const MOAT_VERSION: string = PACKAGE?.version ?? 'unknown';

/**
 * The Node.js versions Moat supports: package.json's "engines.node", the one place they are written (the README says
 * the same; the checklist's node-runtime probe warns outside it). Null when package.json cannot be read.
 */
export const SUPPORTED_NODE_RANGE: string | null = PACKAGE?.engines?.node ?? null;
