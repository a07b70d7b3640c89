import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendText, type Router } from '../http/router.ts';

/** Where `npm run build:renderer` puts the React build. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist-renderer/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/**
 * The admin page when dist-renderer/ is missing (a checkout installed with --ignore-scripts, or the folder deleted):
 * 503 with exactly what to run, never a bare error. `npm install`, `npm run relay` and `npm run moat` build it.
 */
export const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Moat: admin page not built</title>
<h1>The admin page is not built yet</h1>
<p>The relay runs, but this installation has no build of its admin page (the <code>dist-renderer</code> folder).
To build it, run this in Moat's folder (the one with <code>package.json</code>), then reload this page:</p>
<pre>npm run build:renderer</pre>
<p><code>npm install</code> and <code>npm run relay</code> build it by themselves when it is missing.
Meanwhile the <code>moat</code> command on the box works as usual (<code>moat help</code> lists what it does).</p>`;

/**
 * The file a URL path names inside `root`, or null (outside it, hidden, missing, or of a type no build has: a backup
 * or a database someone put in the folder is not handed out).
 */
export function resolveUiFile(root: string, pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.split('/').some((segment) => segment.startsWith('.'))) return null;
  const base = resolve(root);
  const file = resolve(base, `.${decoded === '/' ? '/index.html' : decoded}`);
  if (file !== base && !file.startsWith(base + sep)) return null;
  if (!Object.hasOwn(TYPES, extname(file))) return null;
  try {
    return statSync(file).isFile() ? file : null;
  } catch {
    return null;
  }
}

/** The UI's files (GET only). Assets carry a content hash in their name, so they may be cached for good. */
export function addUiRoutes(router: Router, root: string = DEFAULT_UI_DIR): Router {
  const built = () => existsSync(join(root, 'index.html'));
  router.fallback(({ req, res, url }) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (url.pathname.startsWith('/api/')) return false;
    if (!built()) {
      if (url.pathname !== '/') return false;
      sendText(res, 503, 'text/html; charset=utf-8', NOT_BUILT);
      return true;
    }
    const file = resolveUiFile(root, url.pathname);
    if (!file) return false;
    const type = TYPES[extname(file)]!;
    if (url.pathname.startsWith('/assets/')) res.setHeader('cache-control', 'public, max-age=31536000, immutable');
    sendText(res, 200, type, readFileSync(file));
    return true;
  });
  return router;
}
