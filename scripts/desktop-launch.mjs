#!/usr/bin/env node
/**
 * npm run test:desktop-launch: starts the built desktop app with Electron's own binary (under Xvfb when there
 * is no display), drives it through Playwright's Electron driver (a Chrome DevTools Protocol connection) and
 * checks: the window shows the dashboard, the hosted engine answers, the tray exists (closing the window hides
 * it and the app stays), and quitting stops the engine gracefully.
 *
 * It cannot run where Electron's binary download is blocked (this project's build machines): it then says so in
 * one line and exits non-zero. It is not part of .ci/run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** How long the app may take to show its dashboard (first start compiles nothing, but a loaded box is slow). */
const DASHBOARD_TIMEOUT_MS = 60_000;
/** How long quitting may take: the engine's graceful stop (shutdownGraceSec below) plus Electron's own exit. */
const QUIT_TIMEOUT_MS = 30_000;

/** Electron's binary, found the way node_modules/electron/index.js finds it, but without starting its download. */
function electronBinary() {
  const dir = join(ROOT, 'node_modules', 'electron');
  const pathFile = join(dir, 'path.txt');
  const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : null;
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  if (override) return join(override, relative ?? 'electron');
  return relative ? join(dir, 'dist', relative) : null;
}

const binary = electronBinary();
if (!binary || !existsSync(binary)) {
  console.error("Electron's binary is not installed (its download is blocked here): run `node node_modules/electron/install.js` where it can download, then npm run test:desktop-launch");
  process.exit(1);
}

// No display: run this script again under Xvfb (xvfb-run picks a free display number with -a).
if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
  const again = spawnSync('xvfb-run', ['-a', process.execPath, fileURLToPath(import.meta.url)], { stdio: 'inherit' });
  if (again.error) {
    console.error(`there is no display and xvfb-run could not start (${again.error.message}): install xvfb (apt-get install xvfb)`);
    process.exit(1);
  }
  process.exit(again.status ?? 1);
}

const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const { _electron } = await import('playwright-core');

function fail(message) {
  throw new Error(message);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A TCP port on 127.0.0.1 that accepts and drops connections: the internal server the relay is configured for. */
async function internalStandIn() {
  const server = createServer((socket) => socket.end('421 not a mail server\r\n'));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const userData = mkdtempSync(join(tmpdir(), 'moat-desktop-launch-'));
const internal = await internalStandIn();
let app = null;
try {
  // a configured relay in the default data dir (userData/relay), so the app opens on its dashboard, not the wizard
  const dataDir = join(userData, 'relay');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(
    join(dataDir, 'moat.json'),
    JSON.stringify({ hostname: 'relay.example.test', domains: ['example.test'], mx: { listen: '127.0.0.1:0' }, internal: { host: '127.0.0.1', port: internal.address().port, tls: 'none' }, filters: { enabled: false }, shutdownGraceSec: 2 }, null, 2),
  );

  app = await _electron.launch({ executablePath: binary, args: [ROOT], cwd: ROOT, env: { ...process.env, MOAT_DESKTOP_USER_DATA: userData }, timeout: DASHBOARD_TIMEOUT_MS });
  const page = await app.firstWindow({ timeout: DASHBOARD_TIMEOUT_MS });
  await page.getByRole('heading', { level: 1, name: 'Dashboard', exact: true }).waitFor({ timeout: DASHBOARD_TIMEOUT_MS });
  console.log('ok: the window shows the dashboard');

  // the engine answers: the page's relay state comes from relay.status through the app's own protocol
  await page.locator('.relay-state').filter({ hasText: 'Running' }).waitFor({ timeout: DASHBOARD_TIMEOUT_MS });
  const engines = (await app.evaluate(({ app: electronApp }) => electronApp.getAppMetrics())).filter((metric) => metric.type === 'Utility');
  const enginePids = engines.map((metric) => metric.pid);
  if (enginePids.length === 0) fail('no utility process (the hosted engine) is running');
  console.log(`ok: the engine answers (relay running; engine pid ${enginePids.join(', ')})`);

  // the tray exists: with a tray, closing the window hides it and the app (and the engine) stay
  await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]?.close());
  const windows = await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().map((window) => ({ visible: window.isVisible(), destroyed: window.isDestroyed() })));
  if (windows.length !== 1 || windows[0].visible || windows[0].destroyed) fail(`closing the window should hide it to the tray; windows: ${JSON.stringify(windows)}`);
  if (!enginePids.every(alive)) fail('the engine stopped when the window was closed to the tray');
  console.log('ok: the tray exists (closing the window hid it; the app and the engine stay)');

  // quitting stops the engine gracefully, then the app exits
  const closed = new Promise((resolve) => app.process().once('exit', (code, signal) => resolve({ code, signal })));
  const started = Date.now();
  await app.evaluate(({ app: electronApp }) => electronApp.quit());
  const exit = await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve(null), QUIT_TIMEOUT_MS))]);
  if (!exit) fail(`the app did not exit within ${QUIT_TIMEOUT_MS / 1000} s of quitting`);
  if (exit.code !== 0) fail(`the app exited with ${JSON.stringify(exit)}`);
  const still = enginePids.filter(alive);
  if (still.length) fail(`the engine (pid ${still.join(', ')}) outlived the app`);
  console.log(`ok: quitting stopped the engine and the app in ${Date.now() - started} ms (exit code 0)`);
  app = null;
} finally {
  if (app) await app.close().catch(() => undefined);
  internal.close();
  rmSync(userData, { recursive: true, force: true });
}
