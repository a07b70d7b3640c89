/**
 * Builds the admin UI (src-renderer/, React + Vite) into dist-renderer/, which `moat serve` serves on the admin
 * listener and the desktop shell loads (`npm run build:renderer`).
 *
 * `--if-stale` builds only when dist-renderer/index.html is missing or older than a file under src-renderer/: what
 * `npm install` / `npm ci` (the `prepare` script), `npm run relay` and `npm run moat` run first, so a checkout serves
 * its admin page after the README's install command, and a `git pull` that changed the UI rebuilds it on the next
 * start. A current build costs a directory walk (a few milliseconds).
 *
 * The renderer imports only types from src-relay/, which do not change the built files, so only src-renderer/ counts.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(import.meta.dirname, '..');

/** Why ROOT/dist-renderer/ must be (re)built, or null when it is newer than every file of ROOT/src-renderer/. */
export function uiBuildStale(root: string): string | null {
  const index = join(root, 'dist-renderer', 'index.html');
  if (!existsSync(index)) return 'dist-renderer/index.html is missing';
  const built = statSync(index).mtimeMs;
  const newer = newestFile(join(root, 'src-renderer'));
  if (newer && newer.mtimeMs > built) return `${relative(root, newer.path)} changed after the last build`;
  return null;
}

function newestFile(dir: string): { path: string; mtimeMs: number } | null {
  let newest: { path: string; mtimeMs: number } | null = null;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const found = entry.isDirectory() ? newestFile(path) : entry.isFile() ? { path, mtimeMs: statSync(path).mtimeMs } : null;
    if (found && (!newest || found.mtimeMs > newest.mtimeMs)) newest = found;
  }
  return newest;
}

/** Builds ROOT/src-renderer/ into ROOT/dist-renderer/ with the checkout's Vite config (what `vite build` does). */
export async function buildUi(root: string): Promise<void> {
  // loaded here: the relay's tests import this module for uiBuildStale without paying for Vite
  const { build } = await import('vite');
  await build({ configFile: join(root, 'src-renderer', 'vite.config.ts'), logLevel: 'warn' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const onlyIfStale = process.argv.includes('--if-stale');
  const reason = onlyIfStale ? uiBuildStale(repoRoot) : 'asked to';
  if (reason === null) {
    process.stdout.write('admin UI: dist-renderer/ is current\n');
  } else {
    process.stdout.write(`admin UI: building dist-renderer/ (${reason}; a few seconds)\n`);
    await buildUi(repoRoot);
    process.stdout.write(`admin UI: built ${join(repoRoot, 'dist-renderer')}\n`);
  }
}
