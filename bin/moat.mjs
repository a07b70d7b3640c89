#!/usr/bin/env node
// The `moat` command: runs the relay's command line compiled by `npm run build:relay` (dist-relay/bin/moat.mjs).
// `npm run relay` and `npm run moat` build it first; `npm run relay:dev` runs the TypeScript through tsx instead.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * V8 sized for the small DMZ box Moat is made for. The young generation's semi-spaces grow to 16 MB each by
 * default (48 MB of young generation in all) and stay grown under load. At 2 MB each, in alternating bench runs
 * (default filters), peak RSS was 142-147 MiB, against 151-154 at 4 MB and 138-140 at 1 MB; at 1 MB the SMTP thread
 * collected so often that it relayed about 14% fewer messages, for 15% more CPU each. Idle for ten seconds, V8 gives
 * the young generation back (RSS 71 MiB at 2 MB, 74 at 1 MB). The old generation is let grow
 * to about 4 times what is live before a full collection by default: under load that was 115 MB of heap for 33 MB
 * live; 1.5 times (--heap-growing-percent=50) keeps the peak near 50 MB for the cost of more frequent, short (mostly
 * concurrent) collections. Node gives V8 four helper threads for collection and compilation whatever the cores; on
 * a two-core box one (--v8-pool-size=1) leaves the second core to the mail and its load, and holds less memory (each
 * helper keeps its own malloc arena): in the bench, idle RSS about 4 MB lower, peak 5 MB, rates no lower. On a box
 * with more cores give --v8-pool-size=N (cores - 1) yourself. These must be given when node starts (a heap cannot be
 * resized later): where node can replace itself (process.execve, Node 22.15 and later) the launcher does so once; on
 * older Node give them yourself (`node --max-semi-space-size=2 --heap-growing-percent=50 --v8-pool-size=1
 * bin/moat.mjs serve`). Flags already on the command line or in NODE_OPTIONS win: this never re-executes when one of
 * them is there.
 */
const HEAP_FLAGS = ['--max-semi-space-size=2', '--heap-growing-percent=50'];
/** Node's own (not V8's, so not for Electron's --js-flags, whose helper threads are Chromium's). */
const NODE_FLAGS = ['--v8-pool-size=1'];
const SIZING_FLAGS = [...HEAP_FLAGS, ...NODE_FLAGS];

const entry = new URL('../dist-relay/bin/moat.mjs', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('moat: dist-relay/bin/moat.mjs is missing: run `npm run build:relay` (or `npm run build`) in the checkout first\n');
  process.exit(1);
}
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
const sizingFlagNames = SIZING_FLAGS.map((flag) => flag.split('=')[0]);
const sized = given.some((flag) => sizingFlagNames.includes(flag.split('=')[0]));
if (!sized && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, ...SIZING_FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], process.env);
}
// stack traces name the TypeScript files (dist-relay/bin/moat.mjs.map)
process.setSourceMapsEnabled(true);
await import(entry.href);
