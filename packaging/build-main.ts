/**
 * Builds the Electron side into dist-main/ with esbuild (`npm run build:main`):
 * - main.js (ESM), preload.cjs (CommonJS: a sandboxed preload cannot be an ES module),
 * - engine/engine-process.js, engine/relay-cli.js and engine/filter-thread-entry.js, the thread the engine starts for
 *   the MIME walk and sender authentication (ESM). They sit one folder down on purpose: src-relay finds
 *   package.json and dist-renderer/ at `../../` from its own files (import.meta.url), which then still holds.
 * - icon.png, the application icon (drawn by src-main/icons.ts).
 * The packages in "dependencies" stay external (electron-builder ships them, better-sqlite3 rebuilt for Electron);
 * dev dependencies such as electron-store are bundled.
 */
import { build, type BuildOptions } from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appIconPng } from '../src-main/icons.ts';

const root = join(import.meta.dirname, '..');
const out = join(root, 'dist-main');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
/** Electron 45 runs Node 22 in main and utility processes and Chromium 140 in the preload. */
const NODE_TARGET = 'node22';
const CHROME_TARGET = 'chrome140';

const common: BuildOptions = {
  bundle: true,
  sourcemap: 'linked',
  logLevel: 'warning',
  external: ['electron', ...Object.keys(pkg.dependencies)],
  absWorkingDir: root,
};

// bundled CommonJS code (electron-store's dependencies) may call require(); an ES module has none of its own
const requireShim = "import { createRequire as __moatCreateRequire } from 'node:module'; const require = __moatCreateRequire(import.meta.url);";

// dist-main/node_modules and its package.json are packaging/dev-native.ts's (a slow rebuild, kept across builds)
mkdirSync(out, { recursive: true });
for (const name of readdirSync(out)) if (name !== 'node_modules' && name !== 'package.json') rmSync(join(out, name), { recursive: true, force: true });
await build({
  ...common,
  entryPoints: {
    main: 'src-main/main.ts',
    'engine/engine-process': 'src-main/engine-process.ts',
    'engine/relay-cli': 'src-main/relay-cli.ts',
    'engine/filter-thread-entry': 'src-relay/filters/filter-thread-entry.ts',
  },
  outdir: out,
  platform: 'node',
  format: 'esm',
  target: NODE_TARGET,
  banner: { js: requireShim },
});
await build({
  ...common,
  entryPoints: ['src-main/preload.ts'],
  outfile: join(out, 'preload.cjs'),
  platform: 'node',
  format: 'cjs',
  target: CHROME_TARGET,
  external: ['electron'],
});
writeFileSync(join(out, 'icon.png'), appIconPng(512));
process.stdout.write(`built ${out}\n`);
