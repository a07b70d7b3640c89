import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRelay } from '../../packaging/build-relay.ts';
import { CLI_ENV, REPO_ROOT } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { Sink } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';

// Issue 13: the headless relay and the CLI run as compiled JavaScript (`npm run build:relay`); tsx is a
// development tool. These tests build into a throw-away checkout, so the repository's own dist-relay/ is untouched.

/** esbuild bundles the whole relay in well under a second; a loaded CI machine gets room. */
const BUILD_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = 30_000;
const READY_LINE = /^moat ready mx=\S+:\d+ /m;
const dirs: string[] = [];
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string> };

after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A checkout as the `moat` command sees it: package.json, node_modules, bin/moat.mjs; dist-relay/ only when built. */
function checkout(): string {
  const dir = tempDir('moat-build-');
  dirs.push(dir);
  copyFileSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(REPO_ROOT, 'bin', 'moat.mjs'), join(dir, 'bin', 'moat.mjs'));
  return dir;
}

function moat(dir: string, args: string[]) {
  return spawnSync(process.execPath, [join(dir, 'bin', 'moat.mjs'), ...args], { cwd: dir, env: CLI_ENV, encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
}

test('the moat command without a build exits 1 with one line saying to run npm run build:relay', () => {
  const dir = checkout();
  const result = moat(dir, ['check']);
  assert.equal(result.status, 1);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, /^moat: dist-relay\/bin\/moat\.mjs is missing: run `npm run build:relay`/);
});

test('the compiled moat command checks a configuration as the TypeScript one does: OK exits 0, an invalid one exits 2', { timeout: BUILD_TIMEOUT_MS }, async () => {
  const dir = checkout();
  await buildRelay(join(dir, 'dist-relay'));
  const dataDir = join(dir, 'data');
  const good = moat(dir, ['check', '--data-dir', dataDir, '--domain', 'example.test', '--internal', '127.0.0.1:2599']);
  assert.equal(good.status, 0, good.stderr);
  assert.match(good.stdout, /^configuration OK \(.*moat\.json\): domains example\.test$/m);
  const bad = moat(dir, ['check', '--data-dir', join(dir, 'fresh')]);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /domains: at least one accepted domain is required/);
  assert.match(bad.stderr, /Nothing was started or changed\./);
});

test('the compiled moat serve prints its ready line and stops with exit 0 on SIGTERM', { timeout: BUILD_TIMEOUT_MS + RUN_TIMEOUT_MS }, async () => {
  const dir = checkout();
  await buildRelay(join(dir, 'dist-relay'));
  const child = spawn(process.execPath, [join(dir, 'bin', 'moat.mjs'), 'serve', '--data-dir', join(dir, 'data'), '--domain', 'example.test',
    '--mx-listen', '127.0.0.1:0', '--internal', '127.0.0.1:2599', '--admin-listen', '127.0.0.1:0'], { cwd: dir, env: CLI_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (READY_LINE.test(stdout)) resolve();
    });
    void exited.then((code) => reject(new Error(`serve exited ${code} before its ready line\n${stdout}\n${stderr}`)));
  });
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
});

test('the compiled relay runs its filter thread from beside the bundle: the delivered message says spf=pass', { timeout: BUILD_TIMEOUT_MS + RUN_TIMEOUT_MS }, async () => {
  const dir = checkout();
  await buildRelay(join(dir, 'dist-relay'));
  const sink = await Sink.start();
  const dns = join(dir, 'dns.json');
  writeFileSync(dns, JSON.stringify({ txt: { 'sender.test': ['v=spf1 ip4:127.0.0.1 -all'] } }));
  const child = spawn(process.execPath, [join(dir, 'bin', 'moat.mjs'), 'serve', '--data-dir', join(dir, 'data'), '--domain', 'example.test',
    '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${sink.port}`, '--admin-listen', '127.0.0.1:0'], { cwd: dir, env: { ...CLI_ENV, MOAT_DNS_FIXTURES: dns }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    let stdout = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        const ready = READY_LINE.exec(stdout);
        if (ready) resolve(Number(/mx=\S+:(\d+)/.exec(ready[0])![1]));
      });
      void exited.then((code) => reject(new Error(`serve exited ${code} before its ready line\n${stdout}`)));
    });
    assert.match((await send(port, 'alice@sender.test', ['bob@example.test'], message('built', 'Hello.\r\n'))).response, /^250 /);
    const delivered = await sink.waitForSubject('built');
    assert.match(delivered, /^Authentication-Results: .*spf=pass/m);
  } finally {
    child.kill('SIGTERM');
    await exited;
    await sink.stop();
  }
});

test('nothing the moat command or the packages run loads tsx: a development dependency only', () => {
  assert.equal(pkg.dependencies.tsx, undefined);
  assert.ok(pkg.devDependencies.tsx);
  assert.equal(pkg.bin.moat, 'bin/moat.mjs');
  assert.doesNotMatch(readFileSync(join(REPO_ROOT, 'bin', 'moat.mjs'), 'utf8'), /['"]tsx[/'"]/);
  // npm runs pre<name> before <name>: `npm run relay` builds (the relay, and the admin UI when stale), then node
  // runs the compiled command itself
  assert.equal(pkg.scripts.prerelay, 'npm run build:headless');
  assert.equal(pkg.scripts.premoat, 'npm run build:headless');
  assert.ok(pkg.scripts['build:headless']!.endsWith(`&& ${pkg.scripts['build:relay']}`));
  // with V8's heap and helper threads sized for a small box (bin/moat.mjs says why; Node 20 cannot re-execute itself)
  assert.equal(pkg.scripts.relay, 'node --max-semi-space-size=2 --heap-growing-percent=50 --v8-pool-size=1 bin/moat.mjs serve');
  assert.equal(pkg.scripts.moat, 'node --max-semi-space-size=2 --heap-growing-percent=50 --v8-pool-size=1 bin/moat.mjs');
  assert.match(pkg.scripts.build!, /npm run build:relay/);
});
