import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './temp-dir.ts';

/** The repository root, found from this file so no machine path is written down. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_ARGS = ['--import', 'tsx', 'src-relay/moat.ts'];
/**
 * tsx compiles on first start; on a loaded CI machine that alone can take several seconds, and with the two cores
 * shared by parallel test files a one-line command was seen taking over 30 s. A hung command still fails the test.
 */
const READY_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = 60_000;
/** Every CLI child answers DNS from an empty fixture set: the tests never ask a real DNS server. */
const DNS_FIXTURES = join(tempDir('moat-dns-'), 'dns.json');
writeFileSync(DNS_FIXTURES, '{}');
export const CLI_ENV = { ...process.env, MOAT_DNS_FIXTURES: DNS_FIXTURES };
/** "moat ready mx=127.0.0.1:40123 data-dir=..." */
const READY_LINE = /^moat ready mx=(\S+):(\d+) /m;
/** "moat waiting for setup admin=127.0.0.1:40124 ..." then "moat setup token: TOKEN" */
const SETUP_LINE = /^moat (?:waiting for setup|ready mx=\S+) admin=(\S+)[\s\S]*^moat setup token: (\S+)$/m;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command (`check`, `queue ...`, a `serve` that is expected to refuse) to its end; `input` is piped to its stdin. */
export function runCli(args: string[], timeoutMs = RUN_TIMEOUT_MS, input?: string): Promise<CliResult> {
  const child = spawn(process.execPath, [...CLI_ARGS, ...args], { cwd: REPO_ROOT, env: CLI_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
  // without input, standard input is at its end at once (as /dev/null would be)
  child.stdin.end(input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`moat ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `moat serve` as a child process: its pid is the relay itself (node runs tsx in-process, no npm wrapper). */
export class ServeProcess {
  stdout = '';
  stderr = '';
  port = 0;
  /** Set by startForSetup: where the admin listener is and the one-time token. */
  admin = '';
  setupToken = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private listeners = new Set<() => void>();

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString('utf8');
      this.changed();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
      this.changed();
    });
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => {
      this.changed();
      resolve({ code, signal });
    }));
  }

  /** Spawns `serve ARGS` and returns at once: for a start that prints neither line below. */
  static launch(args: string[]): ServeProcess {
    return new ServeProcess(spawn(process.execPath, [...CLI_ARGS, 'serve', ...args], { cwd: REPO_ROOT, env: CLI_ENV, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /** Spawns `serve ARGS` and resolves once it has printed its ready line. */
  static async start(args: string[]): Promise<ServeProcess> {
    const serve = ServeProcess.launch(args);
    const child = serve.child;
    try {
      const match = await serve.waitFor(() => READY_LINE.exec(serve.stdout), READY_TIMEOUT_MS, 'the ready line');
      serve.port = Number(match[2]);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    return serve;
  }

  /** Spawns `serve ARGS` for a relay that is not set up yet; resolves once it printed the admin address and the setup token. */
  static async startForSetup(args: string[]): Promise<ServeProcess> {
    const serve = ServeProcess.launch(args);
    const child = serve.child;
    try {
      const match = await serve.waitFor(() => SETUP_LINE.exec(serve.stdout), READY_TIMEOUT_MS, 'the setup lines');
      serve.admin = match[1]!;
      serve.setupToken = match[2]!;
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    return serve;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once `pattern` appears on stderr (the log). */
  waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    return this.waitFor(() => pattern.exec(this.stderr), timeoutMs, `${pattern} on stderr`);
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  private waitFor<T>(probe: () => T | null, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = probe();
        if (found) return done(() => resolve(found));
        if (!this.running) done(() => reject(new Error(`serve exited before ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${what} within ${timeoutMs} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      this.listeners.add(check);
      check();
    });
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** Every file and folder below `dir` with its size and mtime: equal snapshots mean nothing was touched. */
export function snapshot(dir: string): string[] {
  if (!existsSync(dir)) return ['(absent)'];
  const entries: string[] = [];
  const walk = (path: string, relative: string) => {
    const stat = statSync(path);
    entries.push(`${relative || '.'} ${stat.isDirectory() ? 'dir' : stat.size} ${stat.mtimeMs}`);
    if (stat.isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name), join(relative, name));
  };
  walk(dir, '');
  return entries;
}

/** Polls `probe` (which may run a CLI command) until it returns something, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
