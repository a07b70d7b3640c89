import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRelay, type RelayHandle } from './relay-process.ts';
import { startSink } from './sink.ts';
import { SmtpClient } from './smtp-client.ts';
import { AccountStore } from '../src-relay/auth/account-store.ts';
import { hashPassword } from '../src-relay/auth/password.ts';
import { openDatabase } from '../src-relay/store/db.ts';
import { queueListBench } from './queue-list.ts';

const SINK_TIMEOUT_MS = 300_000;
const LINE_CHARS = 76; // RFC 5322 2.1.1 recommends at most 78 plus CRLF; 76 matches base64/QP habits
const FAILURE_SAMPLES = 5;

const USAGE = `usage: npm run bench -- [--messages 5000] [--size 4096] [--sessions 20] [--recipients 1] [--keep] [--json] [--direct] [--submission]
                             [--filters] [--clamd SOCKET|HOST:PORT]
       npm run bench -- --queue-list [--queued 100000] [--finished 100000] [--json] [--keep]
  --direct      send straight to the sink, skipping the relay (client/sink ceiling)
  --filters     inbound content filters on: built-in junk rules and attachment checks (default: filters off)
  --clamd ADDR  --filters plus ClamAV: every message scanned by the clamd at ADDR
  --submission  send as an office client: port 587 with STARTTLS and AUTH PLAIN, one login per session
  --queue-list  no traffic: seed a store with --queued messages (and --finished delivered ones) and time the queue
                viewer's and message tracking's admin API calls`;
/** The bench's account on the submission listener; its hourly limits are lifted in the bench's config file. */
const BENCH_USER = 'bench@sender.test';
const BENCH_PASSWORD = 'bench password, not a secret';

interface Options {
  messages: number;
  size: number;
  sessions: number;
  recipients: number;
  keep: boolean;
  json: boolean;
  direct: boolean;
  submission: boolean;
  filters: boolean;
  clamd: string | undefined;
  queueList: boolean;
  queued: number;
  finished: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: 'string', default: '5000' },
      size: { type: 'string', default: '4096' },
      sessions: { type: 'string', default: '20' },
      recipients: { type: 'string', default: '1' },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      direct: { type: 'boolean', default: false },
      submission: { type: 'boolean', default: false },
      filters: { type: 'boolean', default: false },
      clamd: { type: 'string' },
      'queue-list': { type: 'boolean', default: false },
      queued: { type: 'string', default: '100000' },
      finished: { type: 'string', default: '100000' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const count = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${raw}"\n${USAGE}`);
    return n;
  };
  return {
    messages: count('messages', values.messages, 1),
    size: count('size', values.size, 0),
    sessions: count('sessions', values.sessions, 1),
    recipients: count('recipients', values.recipients, 1),
    keep: values.keep,
    json: values.json,
    direct: values.direct,
    submission: values.submission,
    filters: values.filters || values.clamd !== undefined,
    clamd: values.clamd,
    queueList: values['queue-list'],
    queued: count('queued', values.queued, 1),
    finished: count('finished', values.finished, 0),
  };
}

/**
 * The filters part of the bench relay's config file (merged into what is there): off for the plain figure; the
 * built-in rules and attachment checks only (no sender authentication: it would ask the real DNS); plus clamd.
 */
async function writeFilterConfig(dataDir: string, opts: Options): Promise<void> {
  const file = join(dataDir, 'moat.json');
  const current = JSON.parse(await readFile(file, 'utf8').catch(() => '{}')) as Record<string, unknown>;
  const filters = opts.filters
    ? { enabled: true, senderAuth: { enabled: false }, ...(opts.clamd ? { clamav: { address: opts.clamd } } : {}) }
    : { enabled: false };
  await writeFile(file, JSON.stringify({ ...current, filters }));
}

function makeBody(size: number): string {
  const alphabet = 'The quick brown fox jumps over the lazy dog 0123456789 ';
  const lines: string[] = [];
  for (let used = 0, i = 0; used < size; i++) {
    const start = (i * 7) % alphabet.length;
    const line = (alphabet.repeat(3).slice(start) + alphabet.repeat(2)).slice(0, LINE_CHARS);
    lines.push(line);
    used += LINE_CHARS + 2;
  }
  return lines.join('\r\n') + '\r\n';
}

function makeMessage(runId: string, seq: number, rcpts: string[], body: string): string {
  return [
    'From: Moat Bench <bench@sender.test>',
    `To: ${rcpts.join(', ')}`,
    `Subject: moat bench ${seq}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <bench-${runId}-${seq}@sender.test>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    body,
  ].join('\r\n');
}

interface SendStats {
  accepted: number;
  failures: number;
  sessionErrors: number;
  failureSamples: string[];
  latenciesMs: number[];
  startNs: bigint;
  lastAcceptNs: bigint;
}

async function sendAll(host: string, port: number, opts: Options): Promise<SendStats> {
  const runId = `${Date.now().toString(36)}${process.pid}`;
  const body = makeBody(opts.size);
  const rcpts = Array.from({ length: opts.recipients }, (_, i) => `user${i + 1}@example.test`);
  const stats: SendStats = {
    accepted: 0, failures: 0, sessionErrors: 0, failureSamples: [], latenciesMs: [],
    startNs: process.hrtime.bigint(), lastAcceptNs: 0n,
  };
  const fail = (why: string): void => {
    stats.failures++;
    if (stats.failureSamples.length < FAILURE_SAMPLES) stats.failureSamples.push(why);
  };
  let next = 0;

  /** One MAIL/RCPT/DATA transaction: resolves with the latency in ns, or a failure reason after resetting. */
  const transaction = async (client: SmtpClient, seq: number): Promise<bigint | string> => {
    const mail = await client.command('MAIL FROM:<bench@sender.test>');
    let refused = mail.code === 250 ? undefined : `MAIL: ${mail.code} ${mail.text}`;
    for (const rcpt of refused ? [] : rcpts) {
      const reply = await client.command(`RCPT TO:<${rcpt}>`);
      if (reply.code !== 250 && reply.code !== 251) refused ??= `RCPT: ${reply.code} ${reply.text}`;
    }
    if (!refused) {
      const { reply, latencyNs } = await client.data(makeMessage(runId, seq, rcpts, body));
      if (reply.code === 250 && latencyNs !== undefined) return latencyNs;
      // after the final dot the server has already reset the transaction itself
      if (latencyNs !== undefined) return `DATA: ${reply.code} ${reply.text}`;
      refused = `DATA: ${reply.code} ${reply.text}`;
    }
    await client.command('RSET');
    return refused;
  };

  const session = async (): Promise<void> => {
    let client: SmtpClient | undefined;
    let inFlight = false;
    try {
      client = await SmtpClient.connect(host, port);
      const ehlo = await client.command('EHLO bench.sender.test');
      if (ehlo.code !== 250) throw new Error(`EHLO: ${ehlo.code} ${ehlo.text}`);
      if (opts.submission) {
        await client.startTls();
        const again = await client.command('EHLO bench.sender.test');
        if (again.code !== 250) throw new Error(`EHLO after STARTTLS: ${again.code} ${again.text}`);
        const auth = await client.authPlain(BENCH_USER, BENCH_PASSWORD);
        if (auth.code !== 235) throw new Error(`AUTH: ${auth.code} ${auth.text}`);
      }
      while (next < opts.messages) {
        inFlight = true;
        const result = await transaction(client, next++);
        inFlight = false;
        if (typeof result === 'string') {
          fail(result);
          continue;
        }
        stats.accepted++;
        stats.latenciesMs.push(Number(result) / 1e6);
        stats.lastAcceptNs = process.hrtime.bigint();
      }
    } catch (err) {
      // a dropped session stops; the others pick up the messages it would still have sent
      stats.sessionErrors++;
      const why = `session: ${(err as Error).message}`;
      if (inFlight) fail(why);
      else if (stats.failureSamples.length < FAILURE_SAMPLES) stats.failureSamples.push(why);
    } finally {
      await client?.quit();
    }
  };

  await Promise.all(Array.from({ length: opts.sessions }, session));
  // when every session died, the messages nobody took are failures too
  stats.failures += Math.max(0, opts.messages - next);
  return stats;
}

/** The bench's account (as `moat users add` makes it) and a config that lifts its hourly limits (circuit breaker). */
async function prepareSubmission(dataDir: string): Promise<void> {
  await writeFile(join(dataDir, 'moat.json'), JSON.stringify({ submission: { accountLimits: { messagesPerHour: 1_000_000, recipientsPerHour: 10_000_000 } } }));
  const db = openDatabase(dataDir);
  try {
    new AccountStore(db).add(BENCH_USER, await hashPassword(BENCH_PASSWORD), ['@sender.test'], Date.now());
  } finally {
    db.close();
  }
}

function percentile(sorted: number[], q: number): number | undefined {
  return sorted.length === 0 ? undefined : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

const fmt = (n: number | undefined, digits = 1): string => (n === undefined ? 'n/a' : n.toFixed(digits));

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.queueList) return queueListBench({ queued: opts.queued, finished: opts.finished, json: opts.json, keep: opts.keep });
  const sink = await startSink();
  let relay: RelayHandle | undefined;
  let dataDir: string | undefined;
  let relayExit: number | null | undefined;
  let relayStopping = false;
  let relayDied = false;
  try {
    let host = '127.0.0.1';
    let port = sink.port;
    if (opts.direct && opts.submission) throw new Error(`--direct and --submission exclude each other\n${USAGE}`);
    if (!opts.direct) {
      dataDir = await mkdtemp(join(tmpdir(), 'moat-bench-'));
      if (opts.submission) await prepareSubmission(dataDir);
      await writeFilterConfig(dataDir, opts);
      relay = await startRelay({ dataDir, internalPort: sink.port, extraArgs: opts.submission ? ['--submission-listen', '127.0.0.1:0'] : [] });
      void relay.exited.then(() => {
        relayDied = !relayStopping;
      });
      host = relay.mxHost;
      port = opts.submission ? relay.submissionPort! : relay.mxPort;
    }

    const stats = await sendAll(host, port, opts);
    const target = stats.accepted * opts.recipients;
    // a relay that died will deliver nothing more, so do not sit out the whole timeout
    const delivered = await Promise.race([sink.waitFor(target, SINK_TIMEOUT_MS), relay?.exited ?? new Promise<never>(() => {})])
      .then(() => sink.received >= target);
    const peakRss = relay?.peakRssBytes();
    if (relay) {
      const when = relayDied ? 'during the bench' : 'on SIGTERM';
      relayStopping = true;
      relayExit = await relay.stop();
      if (relayExit !== 0) console.error(`relay exited with code ${relayExit} ${when}; last output:\n${relay.tail()}`);
      else if (!delivered) console.error(`relay did not deliver everything; last output:\n${relay.tail()}`);
    }

    const seconds = (ns: bigint): number => Number(ns - stats.startNs) / 1e9;
    const reachedNs = sink.reachedAtNs(target);
    const acceptedRate = stats.accepted > 0 ? stats.accepted / seconds(stats.lastAcceptNs) : undefined;
    const e2eRate = delivered && reachedNs !== undefined && stats.accepted > 0 ? stats.accepted / seconds(reachedNs) : undefined;
    const sorted = stats.latenciesMs.sort((a, b) => a - b);
    const p50 = percentile(sorted, 0.5);
    const p99 = percentile(sorted, 0.99);

    const filterMode = opts.direct ? '' : opts.clamd ? ', filters: built-in + clamd' : opts.filters ? ', filters: built-in' : ', filters off';
    const mode = (opts.direct ? ' (direct to sink, no relay)' : opts.submission ? ' (submission: 587 STARTTLS + AUTH)' : '') + filterMode;
    console.log(`moat bench: ${opts.messages} messages x ${opts.size} B, ${opts.sessions} sessions, ${opts.recipients} rcpt${mode}`);
    console.log(`accepted      ${fmt(acceptedRate)} msg/s`);
    console.log(`end-to-end    ${fmt(e2eRate)} msg/s`);
    console.log(`DATA→250 p50  ${fmt(p50).padStart(6)} ms   p99 ${fmt(p99).padStart(6)} ms`);
    console.log(`relay peak RSS ${peakRss === undefined ? 'n/a' : `${Math.round(peakRss / 2 ** 20)} MiB`}`);
    console.log(`failures ${stats.failures}${stats.sessionErrors > 0 ? `, dropped sessions ${stats.sessionErrors}` : ''}`);
    for (const sample of stats.failureSamples) console.log(`  ${sample.replace(/\n/g, ' | ')}`);
    if (sink.received > target) console.log(`sink got ${sink.received} recipient deliveries, expected ${target} (duplicates?)`);
    if (!delivered) {
      const until = relayDied ? 'before the relay died' : `within ${SINK_TIMEOUT_MS / 1000} s`;
      console.log(`sink incomplete: ${sink.received} of ${target} recipient deliveries arrived ${until}`);
    }
    if (opts.keep && dataDir) console.log(`data dir kept: ${dataDir}`);
    if (opts.json) {
      console.log(JSON.stringify({
        messages: opts.messages, size: opts.size, sessions: opts.sessions, recipients: opts.recipients, direct: opts.direct, submission: opts.submission, filters: opts.filters, clamd: opts.clamd ?? null,
        accepted: stats.accepted, failures: stats.failures, sessionErrors: stats.sessionErrors, delivered: sink.received, complete: delivered,
        acceptedPerSec: acceptedRate ?? null, endToEndPerSec: e2eRate ?? null,
        p50Ms: p50 ?? null, p99Ms: p99 ?? null, relayPeakRssBytes: peakRss ?? null, relayExitCode: relayExit ?? null,
      }));
    }
    const relayOk = relayExit === undefined || relayExit === 0;
    return stats.failures === 0 && stats.sessionErrors === 0 && delivered && relayOk ? 0 : 1;
  } finally {
    if (relay && relayExit === undefined) await relay.stop();
    if (dataDir && !opts.keep) await rm(dataDir, { recursive: true, force: true });
    await sink.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
