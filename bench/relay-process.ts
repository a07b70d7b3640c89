import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { DnsFixtures } from '../src-relay/util/fixture-resolver.ts';
import { buildRelay } from '../packaging/build-relay.ts';
import { statCpuMs } from './proc-cpu.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000; // longer than the relay's own shutdown grace, so SIGKILL means a bug
const TAIL_LINES = 50;
// "moat ready mx=127.0.0.1:40123 ..."; brackets allowed so an IPv6 listener also parses
const READY_LINE = /\bready\b.*\bmx=\[?([^\s\]]+?)\]?:(\d+)\b/;
const SUBMISSION_IN_READY_LINE = /\bsubmission=\S+:(\d+)\b/;

export interface RelayOptions {
  dataDir: string;
  internalPort: number;
  extraArgs?: string[];
  /** What the relay's resolver answers (MOAT_DNS_FIXTURES); every other name is ENOTFOUND, no real DNS is asked. */
  dnsFixtures?: DnsFixtures;
  /** Run the TypeScript through tsx instead of the compiled dist-relay/bin/moat.mjs (the production form). */
  tsx?: boolean;
}

export interface RelayHandle {
  mxHost: string;
  mxPort: number;
  /** The STARTTLS submission listener, when the relay was started with --submission-listen. */
  submissionPort?: number;
  pid: number;
  /** Settles with the exit code (null if killed by a signal) whenever the relay exits, asked to or not. */
  exited: Promise<number | null>;
  /** SIGTERM, wait for exit (SIGKILL after STOP_TIMEOUT_MS); resolves with the exit code, null if killed. */
  stop(): Promise<number | null>;
  /** VmHWM of the relay process in bytes; undefined off Linux or once it has exited. */
  peakRssBytes(): number | undefined;
  /** VmRSS of the relay process now, in bytes; undefined off Linux or once it has exited. */
  rssBytes(): number | undefined;
  /** CPU time the relay process has used so far (user + system, all its threads), in ms; undefined off Linux or once it has exited. */
  cpuMs(): number | undefined;
  /** CPU time of the relay's main thread alone (its event loop: JavaScript and the collector's pauses), in ms; undefined off Linux or once it has exited. */
  mainThreadCpuMs(): number | undefined;
  /** The last TAIL_LINES lines of the relay's stdout+stderr. */
  tail(): string;
}

/** The production launcher as `npm run relay` starts it, read from that script (V8's heap sized, bin/moat.mjs says why). */
const LAUNCHER = [
  ...(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { relay: string } }).scripts.relay.split(' ').filter((arg) => arg.startsWith('--')),
  'bin/moat.mjs',
];

/**
 * Spawns `moat serve` directly under node (no npm wrapper, so pid is the relay itself) and waits for its ready line:
 * the production launcher bin/moat.mjs over dist-relay/ built from the current sources, or src-relay/moat.ts through
 * tsx (`--tsx`).
 */
export async function startRelay(options: RelayOptions): Promise<RelayHandle> {
  if (!options.tsx) await compiledRelay();
  return spawnRelay(options);
}

let building: Promise<void> | undefined;
/** Builds dist-relay/ from the current sources once per bench process (esbuild: about a second), as `npm run build:relay` does. */
export function compiledRelay(): Promise<void> {
  building ??= buildRelay(join(REPO_ROOT, 'dist-relay'));
  return building;
}

function spawnRelay({ dataDir, internalPort, extraArgs = [], dnsFixtures = {}, tsx = false }: RelayOptions): Promise<RelayHandle> {
  const nodeArgs = (process.env.MOAT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // V8 takes the last of a repeated flag: the launcher's own heap sizing gives way to one given for the experiment
  const launcher = LAUNCHER.filter((arg) => !arg.startsWith('--') || !nodeArgs.some((given) => given.split('=')[0] === arg.split('=')[0]));
  const entry = tsx ? ['--import', 'tsx', 'src-relay/moat.ts'] : launcher;
  const args = [
    ...nodeArgs, ...entry, 'serve',
    '--data-dir', dataDir,
    '--domain', 'example.test',
    '--mx-listen', '127.0.0.1:0',
    '--admin-listen', '127.0.0.1:0',
    '--internal', `127.0.0.1:${internalPort}`,
    ...extraArgs,
  ];
  // the bench's names (sender.test, example.test) must never reach a real DNS server
  const dns = join(dataDir, '..', `${basename(dataDir)}-dns.json`);
  writeFileSync(dns, JSON.stringify(dnsFixtures));
  const env = { ...process.env, MOAT_DNS_FIXTURES: dns };
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const tail = (): string => lines.join('\n');
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      rmSync(dns, { force: true });
      resolve(code);
    }),
  );

  return new Promise((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`relay not ready after ${READY_TIMEOUT_MS} ms; output:\n${tail()}`));
    }, READY_TIMEOUT_MS);

    const onLine = (line: string): void => {
      lines.push(line);
      if (lines.length > TAIL_LINES) lines.shift();
      const match = ready ? null : READY_LINE.exec(line);
      if (!match || child.pid === undefined) return;
      ready = true;
      clearTimeout(timer);
      const pid = child.pid;
      resolve({
        mxHost: match[1] ?? '127.0.0.1',
        mxPort: Number(match[2]),
        submissionPort: SUBMISSION_IN_READY_LINE.test(line) ? Number(SUBMISSION_IN_READY_LINE.exec(line)![1]) : undefined,
        pid,
        exited,
        tail,
        peakRssBytes: () => readStatusKb(pid, 'VmHWM'),
        rssBytes: () => readStatusKb(pid, 'VmRSS'),
        cpuMs: () => statCpuMs(`/proc/${pid}/stat`),
        mainThreadCpuMs: () => statCpuMs(`/proc/${pid}/task/${pid}/stat`),
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          const code = await exited;
          clearTimeout(killer);
          return code;
        },
      });
    };
    // both pipes are always drained, otherwise a chatty relay blocks on a full pipe
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);

    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exited.then((code) => {
      if (ready) return;
      clearTimeout(timer);
      // let readline flush the last lines before reporting them
      setImmediate(() => reject(new Error(`relay exited (code ${code}) before ready; output:\n${tail()}`)));
    });
  });
}

/** A memory figure of /proc/PID/status (VmHWM: peak resident set, VmRSS: resident now) in bytes. */
function readStatusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

