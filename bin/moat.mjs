#!/usr/bin/env node
// The `moat` command: runs the relay's command line compiled by `npm run build:relay` (dist-relay/bin/moat.mjs).
// `npm run relay` and `npm run moat` build it first; `npm run relay:dev` runs the TypeScript through tsx instead.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist-relay/bin/moat.mjs', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('moat: dist-relay/bin/moat.mjs is missing: run `npm run build:relay` (or `npm run build`) in the checkout first\n');
  process.exit(1);
}
// stack traces name the TypeScript files (dist-relay/bin/moat.mjs.map)
process.setSourceMapsEnabled(true);
await import(entry.href);
