// How long the spool's write + fsync waits while password checks (scrypt at Moat's cost) are queued (issue: failed
// logins delaying mail). libuv's pool has UV_THREADPOOL_SIZE threads (4 by default), shared by scrypt and fs.
//   node --import tsx bench/auth-pool.ts [--checks 16] [--running 0,1,2,4] [--fsyncs 20]
// For each value of --running, --checks password checks are started, at most that many at once (0: all at once, as
// before the limit), and meanwhile --fsyncs spool-like writes (open, 4 KiB write, fsync, close) are timed one after
// another. Prints the median and worst fsync latency and how long the checks took in all.
import { scrypt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { checks: { type: 'string', default: '16' }, running: { type: 'string', default: '0,1,2,4' }, fsyncs: { type: 'string', default: '20' } } });
const CHECKS = Number(values.checks);
const FSYNCS = Number(values.fsyncs);
const options = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

const check = () => new Promise<void>((resolve, reject) => scrypt('guess', Buffer.alloc(16), 32, options, (error) => (error ? reject(error) : resolve())));

async function checksAtMost(running: number): Promise<void> {
  if (running === 0) {
    await Promise.all(Array.from({ length: CHECKS }, check));
    return;
  }
  let next = 0;
  const lane = async () => {
    while (next < CHECKS) {
      next++;
      await check();
    }
  };
  await Promise.all(Array.from({ length: running }, lane));
}

async function spoolWrite(dir: string, i: number): Promise<number> {
  const started = performance.now();
  const file = await open(join(dir, `m${i}`), 'w');
  await file.write(Buffer.alloc(4096, 120));
  await file.sync();
  await file.close();
  return performance.now() - started;
}

const dir = mkdtempSync(join(tmpdir(), 'moat-auth-pool-'));
try {
  await check();
  console.log(`UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '(default 4)'}; ${CHECKS} checks; ${FSYNCS} spool writes one after another`);
  const idle: number[] = [];
  for (let i = 0; i < FSYNCS; i++) idle.push(await spoolWrite(dir, i));
  report('no checks', idle, 0);
  for (const running of values.running.split(',').map(Number)) {
    const started = performance.now();
    let checksDone = 0;
    const checks = checksAtMost(running).then(() => (checksDone = performance.now() - started));
    const latencies: number[] = [];
    for (let i = 0; i < FSYNCS; i++) latencies.push(await spoolWrite(dir, i));
    await checks;
    report(running === 0 ? 'all checks at once' : `at most ${running} at once`, latencies, checksDone);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function report(what: string, latencies: number[], checksMs: number): void {
  const sorted = [...latencies].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(`${what.padEnd(20)} spool write+fsync median ${median.toFixed(1)} ms, worst ${sorted.at(-1)!.toFixed(1)} ms; checks took ${checksMs.toFixed(0)} ms`);
}
