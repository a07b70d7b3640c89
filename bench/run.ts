import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startRelay, type RelayHandle } from './relay-process.ts';
import { startSink, type Sink } from './sink.ts';
import { SmtpClient } from './smtp-client.ts';
import { postfixAvailable, startPostfix } from './postfix.ts';
import { runSmtpSource, startSmtpSink, type SourceResult } from './smtp-tools.ts';
import { SENDER, senderAuthFixture, type SenderAuthFixture } from './sender-auth.ts';
import { AccountStore } from '../src-relay/auth/account-store.ts';
import { hashPassword } from '../src-relay/auth/password.ts';
import { openDatabase } from '../src-relay/store/db.ts';
import { queueListBench } from './queue-list.ts';

const SINK_TIMEOUT_MS = 300_000;
const LINE_CHARS = 76; // RFC 5322 2.1.1 recommends at most 78 plus CRLF; 76 matches base64/QP habits
const FAILURE_SAMPLES = 5;
/**
 * Messages a fresh relay takes to warm up (its filter thread starts with the first client, V8 compiles the hot
 * paths): the p99 over the rest is printed beside the p99 of all ("p99 warm"), which a relay running for days sees.
 */
const WARM_AFTER_MESSAGES = 500;
/**
 * A fresh relay settles this long (ms) before its idle RSS is read: start-up garbage collected, timers quiet. V8
 * gives the young generation that start-up grew back about 8 s after it (its memory reducer): 3 s read 6-7 MiB more.
 */
const IDLE_SETTLE_MS = 10_000;
/** smtp-server holds every new connection this long (ms) before its greeting (early-talker detection). */
const PREGREET_MS = 100;
/** Postfix's processes' memory is sampled this often (ms) during its run, for a peak of their sum. */
const RSS_SAMPLE_MS = 250;
const DOMAIN = 'example.test';

const FILTER_SETS = ['none', 'default', 'all'] as const;
type FilterSet = (typeof FILTER_SETS)[number];

const USAGE = `usage: npm run bench -- [--messages 5000] [--size 4096] [--sessions 100] [--recipients 1] [--reuse]
                             [--filters none,default] [--clamd SOCKET|HOST:PORT] [--rspamd HOST:PORT]
                             [--compare | --no-compare] [--runs 1] [--tsx] [--keep] [--json] [--direct] [--submission]
                             [--rate N] [--warmup N]
       npm run bench -- --queue-list [--queued 100000] [--finished 100000] [--json] [--keep]
  (default)     one message per connection, as an MX sees mail: connect, EHLO, MAIL, RCPT, DATA, QUIT, next
  --reuse       keep each session open for the next message (the old mode)
  --filters     comma-separated filter sets, each its own relay run (default: none,default, for their ratio):
                  none     content filters off (the core's own figure)
                  default  the default configuration: built-in junk rules, attachment checks and sender
                           authentication (SPF, DKIM, DMARC answered by a fixture resolver; no real DNS)
                  all      default plus ClamAV (--clamd) and rspamd (--rspamd), whichever are given
  --clamd ADDR  clamd for the "all" set (given alone: --filters all)
  --rspamd ADDR rspamd's normal worker for the "all" set (given alone: --filters all)
  --compare     also Postfix 3.7 side by side, with smtp-source as the load and smtp-sink as the internal server
                for Moat and Postfix alike (needs root and postfix, smtp-source, smtp-sink); on by default where
                they are installed, --no-compare skips it; Postfix also runs under the bench's client, for
                latencies beside Moat's (smtp-source measures none)
  --runs N      repeat everything N times and print the medians
  --warmup N    send N messages (the same load) to each server before the measured ones and wait for their
                delivery: the figures are then of a server past its start (V8 has compiled the relay's hot paths),
                as an MX running for days is; not counted in any figure but peak RSS (default 0: a fresh server)
  --tsx         run the relay's TypeScript through tsx (default: bin/moat.mjs over dist-relay/, built first)
  --direct      only the load generators straight into the sinks: their own ceiling, no relay
  --submission  send as an office client: port 587 with STARTTLS and AUTH PLAIN, one login per session
  --rate N      offer N messages a second at most (message i starts at i/N s, when a session is free), to see the
                latency below saturation; the bench's own client only (no Postfix side: smtp-source has no rate)
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
  reuse: boolean;
  keep: boolean;
  json: boolean;
  direct: boolean;
  submission: boolean;
  /** Messages a second offered at most; 0: as fast as the sessions go (a closed loop). */
  rate: number;
  /** Messages sent before the measured ones, not counted (0: the server is measured from its start). */
  warmup: number;
  filters: FilterSet[];
  clamd: string | undefined;
  rspamd: string | undefined;
  compare: boolean;
  runs: number;
  tsx: boolean;
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
      sessions: { type: 'string', default: '100' },
      recipients: { type: 'string', default: '1' },
      reuse: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      direct: { type: 'boolean', default: false },
      submission: { type: 'boolean', default: false },
      rate: { type: 'string', default: '0' },
      warmup: { type: 'string', default: '0' },
      filters: { type: 'string' },
      clamd: { type: 'string' },
      rspamd: { type: 'string' },
      compare: { type: 'boolean', default: false },
      'no-compare': { type: 'boolean', default: false },
      runs: { type: 'string', default: '1' },
      tsx: { type: 'boolean', default: false },
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
  const daemons = values.clamd !== undefined || values.rspamd !== undefined;
  const filters = (values.filters ?? (daemons ? 'all' : 'none,default')).split(',').map((name) => name.trim());
  for (const name of filters) {
    if (!(FILTER_SETS as readonly string[]).includes(name)) throw new Error(`--filters takes ${FILTER_SETS.join(', ')}; got "${name}"\n${USAGE}`);
  }
  if (filters.includes('all') && !daemons) throw new Error(`--filters all needs --clamd or --rspamd (without them it is "default")\n${USAGE}`);
  if (values.compare && values['no-compare']) throw new Error(`--compare and --no-compare exclude each other\n${USAGE}`);
  if (values.direct && values.submission) throw new Error(`--direct and --submission exclude each other\n${USAGE}`);
  const canCompare = postfixAvailable();
  if (values.compare && !canCompare) throw new Error('--compare needs root and /usr/sbin/postfix, smtp-source and smtp-sink (Debian: apt install postfix)');
  const recipients = count('recipients', values.recipients, 1);
  // smtp-source sends to one recipient address; the comparison keeps the load identical, so it needs the same
  const rate = count('rate', values.rate, 0);
  if (rate > 0 && (values.compare || values.direct)) throw new Error(`--rate is for the bench's own client against Moat: not with --compare or --direct\n${USAGE}`);
  const compare = !values['no-compare'] && !values.submission && rate === 0 && recipients === 1 && (values.compare || canCompare);
  return {
    messages: count('messages', values.messages, 1),
    size: count('size', values.size, 0),
    sessions: count('sessions', values.sessions, 1),
    recipients,
    reuse: values.reuse,
    keep: values.keep,
    json: values.json,
    direct: values.direct,
    submission: values.submission,
    rate,
    warmup: count('warmup', values.warmup, 0),
    filters: [...new Set(filters)] as FilterSet[],
    clamd: values.clamd,
    rspamd: values.rspamd,
    compare,
    runs: count('runs', values.runs, 1),
    tsx: values.tsx,
    queueList: values['queue-list'],
    queued: count('queued', values.queued, 1),
    finished: count('finished', values.finished, 0),
  };
}

/**
 * What the bench relay's config raises for its single client, 127.0.0.1, which sends as hard as a whole internet:
 * - 127.0.0.0/8 is taken OFF mx.clientNetworks.allow (default there), so the client is screened as an MX client
 *   from the internet is (rate counting, harvest counting, error delay), and instead
 * - mx.maxConnectionsPerIp 20 -> max(200, 4 x sessions) (capped at the schema's 10,000): a closed connection may
 *   still be counted for a moment while the same client opens the next one;
 * - mx.maxConnections 200 -> max(1000, 4 x sessions);
 * - mx.rateLimit.connectionsPerMinute 60 and messagesPerMinute 120 -> 100,000 each (the schema's maximum; the
 *   bench stays far below: 5,000 messages at 1,000/s are 60,000 a minute);
 * - submission.maxConnectionsPerIp likewise, for --submission.
 * Not raised, because the bench never reaches them: mx.harvest (every recipient of the domain exists: no unknown
 * recipient is counted), mx.errorDelay (no refused commands), mx.greetingDelayMs (0 by default; smtp-server's own
 * 100 ms pre-greeting window stays), DNSBL (no zones by default).
 */
function benchMxLimits(sessions: number): Record<string, unknown> {
  return {
    maxConnections: Math.max(1000, 4 * sessions),
    maxConnectionsPerIp: benchPerIpCap(sessions),
    clientNetworks: { allow: [] },
    rateLimit: { connectionsPerMinute: 100_000, messagesPerMinute: 100_000 },
  };
}

/** The per-IP connection cap of the bench relay (mx and submission): 4 x sessions, at least 200, at most the schema's 10,000. */
function benchPerIpCap(sessions: number): number {
  return Math.min(10_000, Math.max(200, 4 * sessions));
}

/** The filters part of the bench relay's config for one filter set (see USAGE). */
function filterConfig(set: FilterSet, opts: Options): Record<string, unknown> {
  if (set === 'none') return { enabled: false };
  if (set === 'default') return { enabled: true };
  return {
    enabled: true,
    ...(opts.clamd ? { clamav: { address: opts.clamd } } : {}),
    ...(opts.rspamd ? { rspamd: { address: opts.rspamd } } : {}),
  };
}

async function writeBenchConfig(dataDir: string, set: FilterSet, opts: Options): Promise<void> {
  const file = join(dataDir, 'moat.json');
  const current = JSON.parse(await readFile(file, 'utf8').catch(() => '{}')) as Record<string, Record<string, unknown>>;
  await writeFile(file, JSON.stringify({
    ...current,
    mx: benchMxLimits(opts.sessions),
    submission: { ...current.submission, maxConnectionsPerIp: benchPerIpCap(opts.sessions) },
    filters: filterConfig(set, opts),
  }));
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

/**
 * The bench message, DKIM-signed once by sender.test (CRLF line ends, no Message-ID: each message gets its own on
 * top, outside the signature). The same bytes go out from the bench client and, with LF ends, from smtp-source.
 */
async function signedTemplate(fixture: SenderAuthFixture, rcpts: string[], size: number): Promise<string> {
  return fixture.sign([
    `From: Moat Bench <${SENDER}>`,
    `To: ${rcpts.join(', ')}`,
    'Subject: moat bench',
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    makeBody(size),
  ].join('\r\n'));
}

interface SendStats {
  accepted: number;
  failures: number;
  connectionErrors: number;
  failureSamples: string[];
  latenciesMs: number[];
  /** The latencies of the messages after the first WARM_AFTER_MESSAGES. */
  warmLatenciesMs: number[];
  /** Connect to 220: smtp-server's pre-greeting wait plus the accept queue. */
  greetingMs: number[];
  /** DATA to its 354: where a message waits for a place among those at work (smtp/pacing.ts). */
  dataMs: number[];
  startNs: bigint;
  lastAcceptNs: bigint;
}

/** The bench's own SMTP client: `sessions` at once, one message per connection unless --reuse. */
async function sendAll(host: string, port: number, opts: Options, template: string): Promise<SendStats> {
  const runId = `${Date.now().toString(36)}${process.pid}`;
  const rcpts = Array.from({ length: opts.recipients }, (_, i) => `user${i + 1}@${DOMAIN}`);
  const stats: SendStats = {
    accepted: 0, failures: 0, connectionErrors: 0, failureSamples: [], latenciesMs: [], warmLatenciesMs: [], greetingMs: [], dataMs: [],
    startNs: process.hrtime.bigint(), lastAcceptNs: 0n,
  };
  const sample = (why: string): void => {
    if (stats.failureSamples.length < FAILURE_SAMPLES) stats.failureSamples.push(why);
  };
  const fail = (why: string): void => {
    stats.failures++;
    sample(why);
  };
  let next = 0;
  /** --rate: message `seq` starts no earlier than seq / rate seconds after the first. */
  const due = async (seq: number): Promise<void> => {
    if (opts.rate === 0) return;
    const waitMs = Number(stats.startNs + BigInt(Math.round((seq * 1e9) / opts.rate)) - process.hrtime.bigint()) / 1e6;
    if (waitMs > 0) await sleep(waitMs);
  };

  /** One MAIL/RCPT/DATA transaction: resolves with the latency in ns, or a failure reason after resetting. */
  const transaction = async (client: SmtpClient, seq: number): Promise<bigint | string> => {
    const mail = await client.command(`MAIL FROM:<${SENDER}>`);
    let refused = mail.code === 250 ? undefined : `MAIL: ${mail.code} ${mail.text}`;
    for (const rcpt of refused ? [] : rcpts) {
      const reply = await client.command(`RCPT TO:<${rcpt}>`);
      if (reply.code !== 250 && reply.code !== 251) refused ??= `RCPT: ${reply.code} ${reply.text}`;
    }
    if (!refused) {
      const { reply, latencyNs, readyNs } = await client.data(`Message-ID: <bench-${runId}-${seq}@sender.test>\r\n${template}`);
      stats.dataMs.push(Number(readyNs) / 1e6);
      if (reply.code === 250 && latencyNs !== undefined) return latencyNs;
      // after the final dot the server has already reset the transaction itself
      if (latencyNs !== undefined) return `DATA: ${reply.code} ${reply.text}`;
      refused = `DATA: ${reply.code} ${reply.text}`;
    }
    await client.command('RSET');
    return refused;
  };

  const open = async (): Promise<SmtpClient> => {
    const connectNs = process.hrtime.bigint();
    const client = await SmtpClient.connect(host, port);
    stats.greetingMs.push(Number(process.hrtime.bigint() - connectNs) / 1e6);
    const ehlo = await client.command('EHLO bench.sender.test');
    if (ehlo.code !== 250) throw new Error(`EHLO: ${ehlo.code} ${ehlo.text}`);
    if (opts.submission) {
      await client.startTls();
      const again = await client.command('EHLO bench.sender.test');
      if (again.code !== 250) throw new Error(`EHLO after STARTTLS: ${again.code} ${again.text}`);
      const auth = await client.authPlain(BENCH_USER, BENCH_PASSWORD);
      if (auth.code !== 235) throw new Error(`AUTH: ${auth.code} ${auth.text}`);
    }
    return client;
  };

  const record = (result: bigint | string, seq: number): void => {
    if (typeof result === 'string') return fail(result);
    stats.accepted++;
    stats.latenciesMs.push(Number(result) / 1e6);
    if (seq >= WARM_AFTER_MESSAGES) stats.warmLatenciesMs.push(Number(result) / 1e6);
    stats.lastAcceptNs = process.hrtime.bigint();
  };

  /** --reuse: one connection carries message after message; a dropped one stops and the others take over. */
  const reusedSession = async (): Promise<void> => {
    let client: SmtpClient | undefined;
    let inFlight = false;
    try {
      client = await open();
      while (next < opts.messages) {
        const seq = next++;
        await due(seq);
        inFlight = true;
        const result = await transaction(client, seq);
        inFlight = false;
        record(result, seq);
      }
    } catch (err) {
      stats.connectionErrors++;
      const why = `session: ${(err as Error).message}`;
      if (inFlight) fail(why);
      else sample(why);
    } finally {
      await client?.quit();
    }
  };

  /** The default: each message on a connection of its own, as an MX sees mail; a failed one costs that message. */
  const connectionPerMessage = async (): Promise<void> => {
    while (next < opts.messages) {
      const seq = next++;
      await due(seq);
      let client: SmtpClient | undefined;
      try {
        client = await open();
        record(await transaction(client, seq), seq);
      } catch (err) {
        stats.connectionErrors++;
        fail(`connection: ${(err as Error).message}`);
      } finally {
        await client?.quit();
      }
    }
  };

  await Promise.all(Array.from({ length: opts.sessions }, opts.reuse ? reusedSession : connectionPerMessage));
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

function percentile(values: number[], q: number): number | undefined {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? undefined : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

type Server = 'moat' | 'postfix' | 'none';
type Load = 'bench-client' | 'smtp-source';

/** One measured phase: one server (fresh), one filter set, one load generator. */
interface Phase {
  label: string;
  server: Server;
  filters: FilterSet | null;
  load: Load;
  messages: number;
  accepted: number;
  failures: number;
  /** Messages (smtp-sink) or recipient deliveries (the bench's own sink) that arrived. */
  sinkCount: number;
  complete: boolean;
  acceptedPerSec: number | null;
  endToEndPerSec: number | null;
  /** End of DATA to the 250 (bench client only). */
  p50Ms: number | null;
  p99Ms: number | null;
  /** The same p99 without the first WARM_AFTER_MESSAGES messages (the relay's start: its filter thread's start, JIT). */
  p99WarmMs: number | null;
  /** Connect to 220 (bench client only). */
  greetingP50Ms: number | null;
  /** DATA to its 354, where a message waits for a place (bench client only). */
  dataP50Ms: number | null;
  /** Moat: VmRSS after start and a settle; Postfix: Pss summed over its processes (postfix.ts). */
  idleRssBytes: number | null;
  /** Moat: VmHWM; Postfix: the highest sampled sum of its processes' Pss. */
  peakRssBytes: number | null;
  /** Moat: VmRSS once everything is delivered and a settle has passed: what an idle relay holds after mail. */
  afterRssBytes: number | null;
  /**
   * CPU time from the first connection to the last delivery, per accepted message: Moat's relay process (all its
   * threads), or Postfix's processes (the master and its children). The load generator and the sink are not in it.
   */
  cpuMsPerMessage: number | null;
  /** Moat: the part of cpuMsPerMessage on the relay's main thread; the rest is its helper threads (V8's collector, libuv's pool). */
  mainCpuMsPerMessage: number | null;
  exitCode: number | null;
  samples: string[];
}

const rate = (count: number, startNs: bigint, endNs: bigint | undefined): number | null =>
  count > 0 && endNs !== undefined && endNs > startNs ? count / (Number(endNs - startNs) / 1e9) : null;

interface LoadOutcome {
  accepted: number;
  failures: number;
  startNs: bigint;
  acceptedNs: bigint;
  latenciesMs: number[];
  warmLatenciesMs: number[];
  greetingMs: number[];
  dataMs: number[];
  samples: string[];
}

/** Runs one load against host:port: the bench client, or smtp-source with the same message from a file. */
async function runLoad(load: Load, host: string, port: number, opts: Options, template: string, messageFile: string): Promise<LoadOutcome> {
  if (load === 'bench-client') {
    const stats = await sendAll(host, port, opts, template);
    return {
      accepted: stats.accepted, failures: stats.failures, startNs: stats.startNs, acceptedNs: stats.lastAcceptNs,
      latenciesMs: stats.latenciesMs, warmLatenciesMs: stats.warmLatenciesMs, greetingMs: stats.greetingMs, dataMs: stats.dataMs, samples: stats.failureSamples,
    };
  }
  const result: SourceResult = await runSmtpSource({
    host, port, messages: opts.messages, sessions: opts.sessions, messageFile, from: SENDER, to: `user1@${DOMAIN}`, helo: 'bench.sender.test', reuse: opts.reuse,
  });
  const failed = result.exitCode !== 0 || result.completed < opts.messages;
  return {
    accepted: result.completed, failures: opts.messages - result.completed, startNs: result.startNs, acceptedNs: result.endNs,
    latenciesMs: [], warmLatenciesMs: [], greetingMs: [], dataMs: [], samples: failed ? [`smtp-source exit ${result.exitCode}: ${result.errors.slice(-3).join(' | ')}`] : [],
  };
}

interface PhaseContext {
  opts: Options;
  fixture: SenderAuthFixture;
  template: string;
  messageFile: string;
}

function finishPhase(base: Pick<Phase, 'label' | 'server' | 'filters' | 'load'>, ctx: PhaseContext, outcome: LoadOutcome, sink: Sink, delivered: boolean,
  rss: { idle: number | undefined; peak: number | undefined; after?: number | undefined }, exitCode: number | null, cpu: { all?: number; main?: number } = {}, warmed = 0): Phase {
  const target = warmed + deliveries(base.load, outcome.accepted, ctx.opts);
  return {
    ...base,
    messages: ctx.opts.messages,
    accepted: outcome.accepted,
    failures: outcome.failures,
    sinkCount: sink.received - warmed,
    complete: delivered && outcome.failures === 0,
    acceptedPerSec: rate(outcome.accepted, outcome.startNs, outcome.acceptedNs),
    endToEndPerSec: delivered ? rate(outcome.accepted, outcome.startNs, sink.reachedAtNs(target)) : null,
    p50Ms: percentile(outcome.latenciesMs, 0.5) ?? null,
    p99Ms: percentile(outcome.latenciesMs, 0.99) ?? null,
    p99WarmMs: percentile(outcome.warmLatenciesMs, 0.99) ?? null,
    greetingP50Ms: percentile(outcome.greetingMs, 0.5) ?? null,
    dataP50Ms: percentile(outcome.dataMs, 0.5) ?? null,
    idleRssBytes: rss.idle ?? null,
    peakRssBytes: rss.peak ?? null,
    afterRssBytes: rss.after ?? null,
    cpuMsPerMessage: cpu.all !== undefined && outcome.accepted > 0 ? cpu.all / outcome.accepted : null,
    mainCpuMsPerMessage: cpu.main !== undefined && outcome.accepted > 0 ? cpu.main / outcome.accepted : null,
    exitCode,
    samples: outcome.samples,
  };
}

/** What the sink receives for `accepted` messages: smtp-source sends each to one recipient, the bench's client to --recipients. */
function deliveries(load: Load, accepted: number, opts: Options): number {
  return accepted * (load === 'smtp-source' ? 1 : opts.recipients);
}

/**
 * The --warmup messages, under the measured load's generator, into the same server and sink; resolves once the sink
 * has them all, with their deliveries' count. Throws if any was refused or not delivered: a server that fails its
 * warm-up is not measured.
 */
async function warmUp(load: Load, host: string, port: number, ctx: PhaseContext, sink: Sink): Promise<number> {
  const { opts } = ctx;
  if (opts.warmup === 0) return 0;
  const outcome = await runLoad(load, host, port, { ...opts, messages: opts.warmup }, ctx.template, ctx.messageFile);
  const target = deliveries(load, outcome.accepted, opts);
  const delivered = outcome.failures === 0 && (await sink.waitFor(target, SINK_TIMEOUT_MS));
  if (!delivered) throw new Error(`warm-up failed: ${outcome.accepted} of ${opts.warmup} accepted, ${sink.received} of ${target} delivered ${outcome.samples.join(' | ')}`);
  return target;
}

/** A fresh Moat with one filter set, under one load, delivering into the matching sink. */
async function moatPhase(ctx: PhaseContext, set: FilterSet, load: Load): Promise<Phase> {
  const { opts } = ctx;
  const sink = load === 'smtp-source' ? await startSmtpSink() : await startSink();
  const dataDir = await mkdtemp(join(tmpdir(), 'moat-bench-'));
  let relay: RelayHandle | undefined;
  let exitCode: number | null = null;
  try {
    if (opts.submission) await prepareSubmission(dataDir);
    await writeBenchConfig(dataDir, set, opts);
    relay = await startRelay({
      dataDir, internalPort: sink.port, dnsFixtures: ctx.fixture.dns, tsx: opts.tsx,
      extraArgs: opts.submission ? ['--submission-listen', '127.0.0.1:0'] : [],
    });
    await sleep(IDLE_SETTLE_MS);
    const idle = relay.rssBytes();
    const port = opts.submission ? relay.submissionPort! : relay.mxPort;
    const warmed = await warmUp(load, relay.mxHost, port, ctx, sink);
    const cpuBefore = relay.cpuMs();
    const mainBefore = relay.mainThreadCpuMs();
    const outcome = await runLoad(load, relay.mxHost, port, opts, ctx.template, ctx.messageFile);
    const target = warmed + deliveries(load, outcome.accepted, opts);
    let stopping = false;
    let died = false;
    // a relay that died will deliver nothing more, so do not sit out the whole timeout
    const delivered = await Promise.race([sink.waitFor(target, SINK_TIMEOUT_MS), relay.exited.then(() => ((died = !stopping), false))]);
    const peak = relay.peakRssBytes();
    const cpuAfter = relay.cpuMs();
    const mainAfter = relay.mainThreadCpuMs();
    const used = (before: number | undefined, after: number | undefined) => (before !== undefined && after !== undefined ? after - before : undefined);
    const cpu = { all: used(cpuBefore, cpuAfter), main: used(mainBefore, mainAfter) };
    if (delivered) await sleep(IDLE_SETTLE_MS);
    const after = delivered ? relay.rssBytes() : undefined;
    stopping = true;
    exitCode = await relay.stop();
    if (died || exitCode !== 0) console.error(`relay exited with code ${exitCode} ${died ? 'during the bench' : 'on SIGTERM'}; last output:\n${relay.tail()}`);
    else if (!delivered) console.error(`relay did not deliver everything (${sink.received} of ${target}); last output:\n${relay.tail()}`);
    const label = `moat ${set}${load === 'smtp-source' ? ' (smtp-source)' : ''}`;
    return finishPhase({ label, server: 'moat', filters: set, load }, ctx, outcome, sink, delivered, { idle, peak, after }, exitCode, cpu, warmed);
  } finally {
    if (relay && exitCode === null) await relay.stop();
    if (opts.keep) console.error(`data dir kept: ${dataDir}`);
    else await rm(dataDir, { recursive: true, force: true });
    await sink.close();
  }
}

/**
 * The bench Postfix (postfix.ts) relaying into a sink: under smtp-source into smtp-sink (the rate compared), or under
 * the bench's client into its sink (the latencies, which smtp-source does not measure, beside Moat's).
 */
async function postfixPhase(ctx: PhaseContext, load: Load): Promise<Phase> {
  const { opts } = ctx;
  const sink = load === 'smtp-source' ? await startSmtpSink() : await startSink();
  const postfix = await startPostfix({ sinkPort: sink.port, sessions: opts.sessions, domain: DOMAIN });
  try {
    await sleep(IDLE_SETTLE_MS);
    const idle = await postfix.rssBytes();
    let peak = idle ?? 0;
    const sampler = setInterval(() => void postfix.rssBytes().then((now) => (peak = Math.max(peak, now ?? 0))), RSS_SAMPLE_MS);
    try {
      const warmed = await warmUp(load, '127.0.0.1', postfix.port, ctx, sink);
      const cpuBefore = await postfix.cpuMs();
      const outcome = await runLoad(load, '127.0.0.1', postfix.port, opts, ctx.template, ctx.messageFile);
      const target = deliveries(load, outcome.accepted, opts);
      const delivered = await sink.waitFor(warmed + target, SINK_TIMEOUT_MS);
      const cpuAfter = await postfix.cpuMs();
      if (!delivered) console.error(`Postfix did not deliver everything (${sink.received - warmed} of ${target}); its log: ${postfix.dir}/maillog`);
      const cpu = { all: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined };
      const label = `postfix${load === 'smtp-source' ? ' (smtp-source)' : ''}`;
      return finishPhase({ label, server: 'postfix', filters: null, load }, ctx, outcome, sink, delivered, { idle, peak }, null, cpu, warmed);
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await postfix.stop(opts.keep);
    if (opts.keep) console.error(`postfix dir kept: ${postfix.dir}`);
    await sink.close();
  }
}

/** The load generator straight into its sink: the ceiling of the bench's own parts. */
async function directPhase(ctx: PhaseContext, load: Load): Promise<Phase> {
  const sink = load === 'smtp-source' ? await startSmtpSink() : await startSink();
  try {
    const outcome = await runLoad(load, '127.0.0.1', sink.port, ctx.opts, ctx.template, ctx.messageFile);
    const delivered = await sink.waitFor(deliveries(load, outcome.accepted, ctx.opts), SINK_TIMEOUT_MS);
    return finishPhase({ label: `direct (${load})`, server: 'none', filters: null, load }, ctx, outcome, sink, delivered, { idle: undefined, peak: undefined }, null);
  } finally {
    await sink.close();
  }
}

/** Everything one run measures, in order; each phase starts its server afresh. */
async function oneRun(ctx: PhaseContext): Promise<Phase[]> {
  const { opts } = ctx;
  const phases: Phase[] = [];
  const step = async (phase: Promise<Phase>): Promise<void> => {
    const done = await phase;
    phases.push(done);
    console.error(`  ${done.label}: ${fmt(done.endToEndPerSec)} msg/s end-to-end${done.complete ? '' : ' (INCOMPLETE)'}`);
  };
  if (opts.direct) {
    await step(directPhase(ctx, 'bench-client'));
    if (opts.compare) await step(directPhase(ctx, 'smtp-source'));
    return phases;
  }
  for (const set of opts.filters) await step(moatPhase(ctx, set, 'bench-client'));
  if (opts.compare) {
    for (const set of opts.filters) await step(moatPhase(ctx, set, 'smtp-source'));
    await step(postfixPhase(ctx, 'smtp-source'));
    await step(postfixPhase(ctx, 'bench-client'));
    await step(directPhase(ctx, 'smtp-source'));
  }
  return phases;
}

const NUMERIC = ['acceptedPerSec', 'endToEndPerSec', 'p50Ms', 'p99Ms', 'p99WarmMs', 'greetingP50Ms', 'dataP50Ms', 'idleRssBytes', 'peakRssBytes', 'afterRssBytes', 'cpuMsPerMessage', 'mainCpuMsPerMessage', 'sinkCount', 'failures'] as const;

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Per phase label, the median of each figure over the runs (a phase that did not complete counts with its figures). */
function medians(runs: Phase[][]): Phase[] {
  const labels = runs[0]?.map((phase) => phase.label) ?? [];
  return labels.map((label) => {
    const all = runs.map((run) => run.find((phase) => phase.label === label)).filter((phase): phase is Phase => phase !== undefined);
    const merged = { ...all[0]!, complete: all.every((phase) => phase.complete), samples: all.flatMap((phase) => phase.samples) };
    for (const key of NUMERIC) {
      (merged as Record<string, unknown>)[key] = median(all.map((phase) => phase[key]).filter((v): v is number => typeof v === 'number'));
    }
    return merged;
  });
}

/** The ratios the closing note asks for, from the median phases. */
function ratios(phases: Phase[]): Record<string, number | null> {
  const find = (label: string) => phases.find((phase) => phase.label === label);
  const ratio = (a: string, b: string, key: 'endToEndPerSec' | 'acceptedPerSec'): number | null => {
    const x = find(a)?.[key];
    const y = find(b)?.[key];
    return typeof x === 'number' && typeof y === 'number' && y > 0 ? x / y : null;
  };
  const out: Record<string, number | null> = {};
  for (const key of ['endToEndPerSec', 'acceptedPerSec'] as const) {
    const short = key === 'endToEndPerSec' ? 'e2e' : 'accepted';
    if (find('moat default') && find('moat none')) out[`moatDefaultOverNone_${short}`] = ratio('moat default', 'moat none', key);
    if (find('moat default (smtp-source)') && find('moat none (smtp-source)')) out[`moatDefaultOverNone_smtpSource_${short}`] = ratio('moat default (smtp-source)', 'moat none (smtp-source)', key);
    for (const set of FILTER_SETS) {
      if (find(`moat ${set} (smtp-source)`) && find('postfix (smtp-source)')) out[`moat_${set}_OverPostfix_${short}`] = ratio(`moat ${set} (smtp-source)`, 'postfix (smtp-source)', key);
    }
  }
  // messages per CPU second, Moat's over Postfix's: what the rates' ratio would tend to where the load is elsewhere
  const postfixCpu = find('postfix (smtp-source)')?.cpuMsPerMessage;
  for (const set of FILTER_SETS) {
    const moatCpu = find(`moat ${set} (smtp-source)`)?.cpuMsPerMessage;
    if (typeof moatCpu === 'number' && typeof postfixCpu === 'number' && moatCpu > 0) out[`moat_${set}_OverPostfix_msgPerCpuSec`] = postfixCpu / moatCpu;
  }
  return out;
}

const fmt = (n: number | null | undefined, digits = 1): string => (n === null || n === undefined ? 'n/a' : n.toFixed(digits));
const mib = (n: number | null): string => (n === null ? 'n/a' : `${Math.round(n / 2 ** 20)} MiB`);

function printTable(title: string, phases: Phase[]): void {
  console.log(title);
  const head = ['phase', 'accepted/s', 'e2e/s', 'p50 ms', 'p99 ms', 'p99 warm', '220 p50', '354 p50', 'idle RSS', 'peak RSS', 'RSS after', 'CPU ms/msg', 'main ms/msg', 'sink', 'fail'];
  const rows = phases.map((p) => [
    p.label + (p.complete ? '' : ' !'), fmt(p.acceptedPerSec), fmt(p.endToEndPerSec), fmt(p.p50Ms), fmt(p.p99Ms), fmt(p.p99WarmMs), fmt(p.greetingP50Ms), fmt(p.dataP50Ms),
    mib(p.idleRssBytes), mib(p.peakRssBytes), mib(p.afterRssBytes), fmt(p.cpuMsPerMessage, 2), fmt(p.mainCpuMsPerMessage, 2), String(p.sinkCount), String(p.failures),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [head, ...rows]) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
}

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return 'uptime n/a';
  }
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.queueList) return queueListBench({ queued: opts.queued, finished: opts.finished, json: opts.json, keep: opts.keep });
  const fixture = senderAuthFixture();
  const rcpts = Array.from({ length: opts.recipients }, (_, i) => `user${i + 1}@${DOMAIN}`);
  const template = await signedTemplate(fixture, rcpts, opts.size);
  const scratch = await mkdtemp(join(tmpdir(), 'moat-bench-msg-'));
  const messageFile = join(scratch, 'message.txt');
  // smtp-source appends CRLF to each line of its -F file and dot-stuffs it; the Message-ID is the same for all
  await writeFile(messageFile, `Message-ID: <bench-source@sender.test>\n${template.replace(/\r\n/g, '\n').replace(/\n$/, '')}`);
  const ctx: PhaseContext = { opts, fixture, template, messageFile };
  const loadBefore = uptime();
  const runs: Phase[][] = [];
  try {
    for (let run = 1; run <= opts.runs; run++) {
      console.error(`run ${run} of ${opts.runs} (${uptime()})`);
      runs.push(await oneRun(ctx));
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const loadAfter = uptime();
  const result = medians(runs);
  const ratioTable = ratios(result);
  const mode = opts.reuse ? 'reused sessions' : 'one message per connection';
  const title = `moat bench: ${opts.messages} messages x ${opts.size} B body, ${opts.sessions} sessions, ${opts.recipients} rcpt, ${mode}` +
    `${opts.submission ? ', submission (587 STARTTLS + AUTH)' : ''}${opts.rate ? `, offered ${opts.rate} msg/s` : ''}${opts.tsx ? ', relay through tsx' : ''}${opts.warmup ? `, after ${opts.warmup} warm-up messages each` : ''}${opts.runs > 1 ? `, medians of ${opts.runs} runs` : ''}`;
  printTable(title, result);
  if (!opts.reuse && !opts.direct) {
    console.log(`pre-greeting ceiling (Moat, one message per connection): ${opts.sessions} sessions / ${PREGREET_MS} ms = ${Math.round((opts.sessions * 1000) / PREGREET_MS)} msg/s`);
  }
  for (const [name, value] of Object.entries(ratioTable)) console.log(`${name.padEnd(40)} ${fmt(value, 2)}`);
  console.log(`load before: ${loadBefore}\nload after:  ${loadAfter}`);
  for (const phase of result) for (const s of phase.samples.slice(0, FAILURE_SAMPLES)) console.log(`  ${phase.label}: ${s.replace(/\n/g, ' | ')}`);
  if (opts.json) {
    console.log(JSON.stringify({
      messages: opts.messages, size: opts.size, sessions: opts.sessions, recipients: opts.recipients, mode: opts.reuse ? 'reuse' : 'connection-per-message',
      rate: opts.rate || null, warmup: opts.warmup, filters: opts.filters, clamd: opts.clamd ?? null, rspamd: opts.rspamd ?? null, compare: opts.compare, runs: opts.runs, relayForm: opts.tsx ? 'tsx' : 'compiled',
      pregreetCeilingPerSec: opts.reuse ? null : (opts.sessions * 1000) / PREGREET_MS,
      loadBefore, loadAfter, medians: result, ratios: ratioTable, perRun: runs,
    }));
  }
  return runs.flat().every((phase) => phase.complete && (phase.exitCode === null || phase.exitCode === 0)) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
