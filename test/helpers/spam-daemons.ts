// Starts the real junk engines for test/daemons/: rspamd and SpamAssassin's spamd from their Debian packages, each
// on a temp dir and a free 127.0.0.1 port, offline (no DNS, no network tests, no update downloads), and stops them.
// A daemon that is not installed is an error naming the package to install: these tests never skip.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from './temp-dir.ts';

/**
 * rspamd compiles its multi-pattern matchers (hyperscan) on a cold start: 20-60 s on a small machine, then cached in
 * this folder (kept between runs, so later starts take about a second).
 */
const RSPAMD_CACHE = join(tmpdir(), 'moat-test-rspamd-hs-cache');
/** A cold rspamd start compiles for up to a minute on a slow CI machine; spamd loads its rules in a few seconds. */
const RSPAMD_START_MS = 180_000;
const SPAMD_START_MS = 60_000;
const STOP_MS = 10_000;

/** The public suffixes rspamd's URL finder knows in the tests (its url_tld file). */
const TEST_TLDS = ['com', 'net', 'org', 'info', 'biz', 'io', 'de', 'fr', 'nl', 'uk', 'co.uk', 'ru', 'cn', 'test', 'example', 'invalid'];

export const INSTALL_HINT = 'apt-get install -y --no-install-recommends rspamd spamassassin spamd';

export interface Daemon {
  /** HOST:PORT, as filters.rspamd.address / filters.spamd.address take it. */
  address: string;
  /** The daemon's own log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/** The first of `candidates` that exists and is executable; otherwise an error saying what to install. */
export function requireBinary(name: string, candidates: string[], packages: string): string {
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  throw new Error(`${name} is not installed (looked in ${candidates.join(', ')}): install the Debian package(s) ${packages}, e.g. \`${INSTALL_HINT}\``);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Spawns the daemon with its output in `logFile`; `ready` is polled until it says yes or the deadline passes. */
async function launch(name: string, command: string, args: string[], dir: string, logFile: string, deadlineMs: number, ready: () => Promise<boolean>): Promise<ChildProcess> {
  const out = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd: dir, stdio: ['ignore', out, out] });
  closeSync(out);
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
  child.once('error', (error) => (exited = error.message));
  const started = Date.now();
  for (;;) {
    if (exited) throw new Error(`${name} ${exited} before it was ready; its log:\n${tail(logFile)}`);
    if (await ready().catch(() => false)) return child;
    if (Date.now() - started > deadlineMs) {
      child.kill('SIGKILL');
      throw new Error(`${name} was not ready within ${deadlineMs / 1000} s; its log:\n${tail(logFile)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
  await exited;
  clearTimeout(timer);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-40).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * rspamd from the Debian package's rules (/etc/rspamd), with a config of our own: one normal worker on
 * 127.0.0.1:PORT (no controller, proxy or fuzzy workers), its DNS pointed at a closed loopback port so every DNS-based
 * check fails at once, the fuzzy check off, data, pid and logs in the temp dir.
 */
export async function startRspamd(): Promise<Daemon> {
  const command = requireBinary('rspamd', ['/usr/bin/rspamd', '/usr/sbin/rspamd', '/usr/local/bin/rspamd'], 'rspamd');
  const dir = tempDir('moat-rspamd-');
  for (const sub of ['db', 'run', 'local/local.d']) mkdirSync(join(dir, sub), { recursive: true });
  mkdirSync(RSPAMD_CACHE, { recursive: true });
  const port = await freePort();
  const logFile = join(dir, 'rspamd.log');
  writeFileSync(
    join(dir, 'rspamd.conf'),
    [
      '.include "$CONFDIR/common.conf"',
      // ours first: for a key given twice in a section, rspamd reads the first
      'options {',
      '  pidfile = "$RUNDIR/rspamd.pid";',
      `  hs_cache_dir = "${RSPAMD_CACHE}";`,
      // the full public suffix list (9600 suffixes) takes a minute to compile on a cold start; tests need a few
      `  url_tld = "${join(dir, 'tld.dat')}";`,
      // nothing listens on port 1: every DNS query is refused at once, rspamd works offline
      '  dns { nameserver = ["127.0.0.1:1"]; timeout = 0.5s; retransmits = 1; }',
      '  .include "$CONFDIR/options.inc"',
      '}',
      // the stop words of every language make one huge matcher that takes most of a cold start to compile
      'lang_detection { languages_enable = ["en"]; }',
      `logging { type = "file"; filename = "${logFile}"; level = "warning"; }`,
      'worker "normal" {',
      `  bind_socket = "127.0.0.1:${port}";`,
      '  count = 1;',
      '  .include "$CONFDIR/worker-normal.inc"',
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'tld.dat'), `${TEST_TLDS.join('\n')}\n`);
  // the fuzzy check asks rspamd.com's servers (and resolves their names at start, through the system resolver)
  writeFileSync(join(dir, 'local/local.d/fuzzy_check.conf'), 'enabled = false;\n');
  const args = ['-f', '-c', join(dir, 'rspamd.conf'), '--var', `DBDIR=${join(dir, 'db')}`, '--var', `RUNDIR=${join(dir, 'run')}`, '--var', `LOGDIR=${dir}`, '--var', `LOCAL_CONFDIR=${join(dir, 'local')}`];
  // as root, rspamd would switch to its own user; the workers stay root on our temp dir instead (-i allows that)
  if (isRoot()) args.push('-u', 'root', '-g', 'root', '-i');
  const child = await launch('rspamd', command, args, dir, logFile, RSPAMD_START_MS, () => httpGet(port, '/ping').then((body) => body.trim() === 'pong'));
  return {
    address: `127.0.0.1:${port}`,
    log: () => tail(logFile),
    async stop() {
      await terminate(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * spamd with SpamAssassin's stock rules (the Debian package's, or sa-update's when present) and a site config of our
 * own: --local (no network tests), no Bayes, no user preferences, one child, 127.0.0.1:PORT only.
 */
export async function startSpamd(): Promise<Daemon> {
  const command = requireBinary('spamd', ['/usr/sbin/spamd', '/usr/bin/spamd', '/usr/local/bin/spamd'], 'spamassassin spamd');
  const dir = tempDir('moat-spamd-');
  const site = join(dir, 'site');
  const home = join(dir, 'home');
  mkdirSync(site);
  mkdirSync(home);
  // as root spamd reads its config as "nobody": the temp dir must be readable by it
  for (const path of [dir, site, home]) chmodSync(path, 0o755);
  writeFileSync(
    join(site, 'moat.pre'),
    [
      'Check',
      'BodyEval',
      'HTMLEval',
      'HeaderEval',
      'MIMEEval',
      'MIMEHeader',
      'RelayEval',
      'URIEval',
      'URIDetail',
      'WLBLEval',
      'ReplaceTags',
      'FreeMail',
      'ImageInfo',
      'VBounce',
    ]
      .map((plugin) => `loadplugin Mail::SpamAssassin::Plugin::${plugin}\n`)
      .join(''),
  );
  writeFileSync(join(site, 'local.cf'), 'required_score 5.0\nuse_bayes 0\nbayes_auto_learn 0\ndns_available no\nskip_rbl_checks 1\n');
  const port = await freePort();
  const logFile = join(dir, 'spamd.log');
  const args = [
    '--local',
    '--nouser-config',
    '--listen',
    `127.0.0.1:${port}`,
    '--allowed-ips',
    '127.0.0.1',
    '--siteconfigpath',
    site,
    '--pidfile',
    join(dir, 'spamd.pid'),
    '--max-children',
    '1',
    '--min-children',
    '1',
    '--min-spare',
    '1',
    '--max-spare',
    '1',
    '--helper-home-dir',
    home,
    '--syslog',
    'stderr',
  ];
  if (isRoot()) args.push('--username', 'nobody');
  const child = await launch('spamd', command, args, dir, logFile, SPAMD_START_MS, () => spamdPing(port));
  return {
    address: `127.0.0.1:${port}`,
    log: () => tail(logFile),
    async stop() {
      await terminate(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** spamd's PING: "SPAMD/1.5 0 PONG" once a child is ready. */
function spamdPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(2000, () => socket.destroy());
    socket.on('connect', () => socket.end('PING SPAMC/1.5\r\n\r\n'));
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(/^SPAMD\/\d\.\d+ 0 PONG/.test(answer)));
  });
}
