/**
 * `npm start` only. The better-sqlite3 in node_modules is built for Node (the tests and `moat` need it so), while
 * Electron's engine process needs one built for Electron's ABI. This puts a copy rebuilt for Electron into
 * dist-main/node_modules, which the bundles in dist-main/ find first (Node looks in the nearest node_modules).
 * Packages do not use it (electron-builder.yml excludes it): electron-builder rebuilds for its target itself.
 * A rebuild needs Electron's headers or a prebuilt binary from the internet, like `npm start`'s Electron binary.
 */
import { rebuild } from '@electron/rebuild';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, 'dist-main');
/** better-sqlite3 and what it loads at run time. */
const NATIVE_MODULES = ['better-sqlite3', 'bindings', 'file-uri-to-path'];

const version = (dir: string) => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
const electronVersion = version(join(root, 'node_modules', 'electron'));
const stamp = `electron ${electronVersion} better-sqlite3 ${version(join(root, 'node_modules', 'better-sqlite3'))}\n`;
const stampFile = join(out, 'node_modules', '.moat-native');

if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
  process.stdout.write(`native modules already built for ${stamp}`);
} else {
  rmSync(join(out, 'node_modules'), { recursive: true, force: true });
  mkdirSync(join(out, 'node_modules'), { recursive: true });
  for (const name of NATIVE_MODULES) cpSync(join(root, 'node_modules', name), join(out, 'node_modules', name), { recursive: true, dereference: true });
  // @electron/rebuild reads the modules to rebuild from a package.json next to node_modules
  writeFileSync(join(out, 'package.json'), `${JSON.stringify({ name: 'moat-dev-native', private: true, type: 'module', dependencies: { 'better-sqlite3': '*' } }, null, 2)}\n`);
  await rebuild({ buildPath: out, electronVersion, onlyModules: ['better-sqlite3'], force: true });
  writeFileSync(stampFile, stamp);
  process.stdout.write(`rebuilt better-sqlite3 for Electron ${electronVersion} in ${join(out, 'node_modules')}\n`);
}
