import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { uiBuildStale } from '../../packaging/build-ui.ts';
import { CLI_ENV, REPO_ROOT } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';

// Issue 12: after the README's install command the admin page just works. `npm install` / `npm ci` run the
// `prepare` script, which builds the admin UI (dist-renderer/) and the relay (dist-relay/); `npm run relay` does the
// same when either is missing or older than its sources. These tests run that script in a throw-away checkout, so
// the repository's own builds are untouched.

/** Vite builds the UI in a few seconds; a CI machine shared by many jobs gets room. */
const INSTALL_TIMEOUT_MS = 180_000;
const SERVE_TIMEOUT_MS = 30_000;
const SETUP_LINE = /^moat waiting for setup admin=(\S+) /m;
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
const dirs: string[] = [];

after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** What a fresh clone holds that the build reads: sources, package.json, the build scripts; node_modules installed. */
function freshCheckout(): string {
  const dir = tempDir('moat-first-run-');
  dirs.push(dir);
  for (const file of ['package.json', 'tsconfig.json']) copyFileSync(join(REPO_ROOT, file), join(dir, file));
  for (const folder of ['bin', 'packaging', 'src-relay', 'src-renderer']) cpSync(join(REPO_ROOT, folder), join(dir, folder), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** `moat serve` of the checkout (the compiled command), not set up yet: only the admin listener runs. */
async function serveAdmin(dir: string): Promise<{ base: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [join(dir, 'bin', 'moat.mjs'), 'serve', '--data-dir', join(dir, 'data'), '--admin-listen', '127.0.0.1:0', '--mx-listen', '127.0.0.1:0'], {
    cwd: dir,
    env: CLI_ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const admin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no setup line within ${SERVE_TIMEOUT_MS} ms\n${stdout}\n${stderr}`)), SERVE_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const match = SETUP_LINE.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then((code) => reject(new Error(`serve exited ${code} before its setup line\n${stdout}\n${stderr}`)));
  });
  return {
    base: `http://${admin}`,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

test('the install step (npm prepare) builds the admin UI: moat serve then answers GET / with the app, and explains what to run once the build is gone', { timeout: INSTALL_TIMEOUT_MS + 2 * SERVE_TIMEOUT_MS }, async () => {
  const dir = freshCheckout();
  const install = spawnSync('npm', ['run', 'prepare'], { cwd: dir, env: CLI_ENV, encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS });
  assert.equal(install.status, 0, `${install.stdout}\n${install.stderr}`);
  assert.match(install.stdout, /admin UI: building dist-renderer\/ \(dist-renderer\/index\.html is missing/);
  assert.equal(uiBuildStale(dir), null, 'the build is newer than every source');

  const serve = await serveAdmin(dir);
  try {
    const page = await fetch(`${serve.base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    const html = await page.text();
    const script = /<script type="module" crossorigin src="\.\/(assets\/index-[\w-]+\.js)"><\/script>/.exec(html);
    assert.ok(script, html);
    assert.match(html, /<div id="root"><\/div>/);
    const app = await fetch(`${serve.base}/${script[1]}`);
    assert.equal(app.status, 200);
    assert.match(app.headers.get('content-type')!, /^text\/javascript/);
    assert.ok((await app.text()).length > 10_000, 'the bundled React app');

    rmSync(join(dir, 'dist-renderer'), { recursive: true });
    const missing = await fetch(`${serve.base}/`);
    assert.equal(missing.status, 503);
    assert.match(missing.headers.get('content-type')!, /^text\/html/);
    const explanation = await missing.text();
    assert.match(explanation, /The admin page is not built yet/);
    assert.match(explanation, /<pre>npm run build:renderer<\/pre>/);
    assert.match(explanation, /run this in Moat's folder \(the one with <code>package\.json<\/code>\), then reload this page/);
    assert.equal((await fetch(`${serve.base}/${script[1]}`)).status, 404);
  } finally {
    assert.equal(await serve.stop(), 0);
  }
});

test('the UI counts as stale when its build is missing or any file under src-renderer/ is newer than it, nested ones too', () => {
  const root = tempDir('moat-ui-stale-');
  dirs.push(root);
  mkdirSync(join(root, 'src-renderer', 'screens'), { recursive: true });
  writeFileSync(join(root, 'src-renderer', 'main.tsx'), '');
  writeFileSync(join(root, 'src-renderer', 'screens', 'Queue.tsx'), '');
  const at = (path: string, seconds: number) => utimesSync(join(root, path), seconds, seconds);
  assert.equal(uiBuildStale(root), 'dist-renderer/index.html is missing');

  mkdirSync(join(root, 'dist-renderer'));
  writeFileSync(join(root, 'dist-renderer', 'index.html'), '');
  at('src-renderer/main.tsx', 1_000);
  at('src-renderer/screens/Queue.tsx', 1_000);
  at('dist-renderer/index.html', 1_001);
  assert.equal(uiBuildStale(root), null, 'built one second after the newest source');

  at('src-renderer/screens/Queue.tsx', 1_002);
  assert.equal(uiBuildStale(root), 'src-renderer/screens/Queue.tsx changed after the last build');
  at('dist-renderer/index.html', 1_002);
  assert.equal(uiBuildStale(root), null, 'a source as old as the build is in it');
});

test('npm install/ci (prepare), npm run relay and npm run moat run the same build step; build:renderer always builds', () => {
  assert.equal(pkg.scripts['build:headless'], 'node --import tsx packaging/build-ui.ts --if-stale && node --import tsx packaging/build-relay.ts');
  for (const script of ['prepare', 'prerelay', 'premoat']) assert.equal(pkg.scripts[script], 'npm run build:headless', script);
  assert.equal(pkg.scripts['build:renderer'], 'node --import tsx packaging/build-ui.ts');
});
