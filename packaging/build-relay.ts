/**
 * Builds the headless relay's command line into dist-relay/ with esbuild (`npm run build:relay`): bin/moat.mjs
 * (ESM, Node), what the package's `moat` command (bin/moat.mjs) and `npm run relay` run, and beside it
 * bin/filter-thread-entry.mjs, the thread it starts for the MIME walk and sender authentication. tsx stays a
 * development tool (`npm run relay:dev`, the tests).
 * The bundle sits one folder down on purpose, as dist-main/engine/ does: src-relay finds package.json and
 * dist-renderer/ at `../../` from its own files (import.meta.url), which then still holds.
 * Packages stay external: node loads them from node_modules as before (better-sqlite3 is a native module).
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(import.meta.dirname, '..');
/** package.json's "engines": the oldest Node the relay supports. */
const NODE_TARGET = 'node20';

/** Writes OUT/bin/moat.mjs and OUT/bin/filter-thread-entry.mjs (and their source maps); OUT's parent must hold
 * package.json and node_modules. */
export async function buildRelay(out: string): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  await build({
    // the filter thread is a module of its own, beside the bundle that starts it (filters/filter-thread.ts)
    entryPoints: { 'bin/moat': 'src-relay/moat.ts', 'bin/filter-thread-entry': 'src-relay/filters/filter-thread-entry.ts' },
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
    sourcemap: 'linked',
    // stack traces need the mappings, not the TypeScript sources: the map without them is 5x smaller in memory
    sourcesContent: false,
    logLevel: 'warning',
    absWorkingDir: root,
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = join(root, 'dist-relay');
  await buildRelay(out);
  process.stdout.write(`built ${out}\n`);
}
