import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sink, reservePort } from '../helpers/sink.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { RawSmtp } from '../helpers/smtp.ts';
import { ServeProcess, runCli } from '../helpers/cli.ts';
import { newQueueId } from '../../src-relay/util/ids.ts';

/** Parallel SMTP sessions, each sending one message after another: Postfix's default per-IP limit is about this. */
const SESSIONS = 20;
/** How long the load runs before kill -9: at least LOAD_MS, longer on a slow machine until MIN_ACKED got a 250, never past LOAD_MAX_MS. */
const LOAD_MS = 1500;
const MIN_ACKED = 200;
const LOAD_MAX_MS = 15_000;
/** Each session stops after this many messages, so a fast machine does not queue without bound. */
const MAX_MESSAGES_PER_SESSION = 300;
/** Every acknowledged message must reach the internal server within this after the restart. */
const DRAIN_TIMEOUT_MS = 90_000;
/** The whole test, start to finish: two starts, the load, the drain. */
const TEST_TIMEOUT_MS = 180_000;

const dirs: string[] = [];
const serves: ServeProcess[] = [];
const sinks: Sink[] = [];
// Also what a timed-out test left behind: a listening sink or a live relay would keep this process from ending.
after(async () => {
  for (const serve of serves) if (serve.running) await serve.stop('SIGKILL');
  await Promise.all(sinks.map((sink) => sink.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A sink the relay may vanish from mid-session: smtp-server reports that reset as an 'error', which is expected here. */
async function startSink(port?: number): Promise<Sink> {
  const sink = await Sink.start({ port });
  sink.server.on('error', () => {});
  sinks.push(sink);
  return sink;
}

async function serve(dataDir: string, internalPort: number): Promise<ServeProcess> {
  const started = await ServeProcess.start(['--data-dir', dataDir, '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${internalPort}`, '--admin-listen', '127.0.0.1:0']);
  serves.push(started);
  return started;
}

/** A data dir whose config retries every second, so the backlog drains within the test after the restart. */
function dataDirWithConfig(): string {
  const dataDir = tempDir('moat-crash-');
  dirs.push(dataDir);
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ hostname: 'relay.example.test', queue: { retryIntervalsSec: [1] }, mx: { maxConnectionsPerIp: SESSIONS * 2 } }));
  return dataDir;
}

function mail(tag: string): string {
  return (
    `From: Load <load@sender.test>\r\nTo: bob@example.test\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@sender.test>\r\n` +
    `Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\n${`${tag} line of the body, long enough to take a few packets.\r\n`.repeat(40)}`
  );
}

interface Load {
  /** tag (the Message-ID's local part) -> queue id, for every message that got a 250. */
  acked: Map<string, string>;
  /** Commands written whose reply has not come yet. */
  inFlight: number;
  stopped: boolean;
  onAck: () => void;
}

/** One session: MAIL, RCPT, DATA, message, again, until the relay dies or the load stops. */
async function session(port: number, worker: number, load: Load): Promise<void> {
  let client: RawSmtp;
  try {
    client = await RawSmtp.connect(port);
  } catch {
    return;
  }
  const step = async (data: string, expect: RegExp): Promise<string | null> => {
    load.inFlight++;
    client.write(data);
    const reply = await client.reply(30_000).catch(() => '');
    load.inFlight--;
    return expect.test(reply) ? reply : null;
  };
  try {
    if (!(await step('', /^220/)) || !(await step('EHLO load.sender.test\r\n', /^250/))) return;
    for (let n = 0; n < MAX_MESSAGES_PER_SESSION && !load.stopped; n++) {
      const tag = `crash-${worker}-${n}-${Date.now()}`;
      if (!(await step('MAIL FROM:<load@sender.test>\r\n', /^250/))) return;
      if (!(await step('RCPT TO:<bob@example.test>\r\n', /^250/))) return;
      if (!(await step('DATA\r\n', /^354/))) return;
      const reply = await step(`${mail(tag)}\r\n.\r\n`, /^250 /);
      if (!reply) return;
      load.acked.set(tag, /queued as ([0-9A-Z]{22})/.exec(reply)![1]!);
      load.onAck();
    }
  } finally {
    client.close();
  }
}

const tagOf = (raw: Buffer) => /^Message-ID: <([^@>]+)@sender\.test>/im.exec(raw.toString('latin1'))?.[1];

/** Resolves once the sink holds every tag in `expected`; on timeout, fails with the tags that were lost. */
async function waitForAll(sink: Sink, expected: Set<string>, timeoutMs: number): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = new Map<string, number>();
    for (const message of sink.messages) {
      const tag = tagOf(message.raw);
      if (tag) seen.set(tag, (seen.get(tag) ?? 0) + 1);
    }
    const missing = [...expected].filter((tag) => !seen.has(tag));
    if (missing.length === 0) return seen;
    if (Date.now() > deadline) {
      assert.fail(`${missing.length} of ${expected.size} acknowledged messages never arrived, e.g. ${missing.slice(0, 5).join(', ')}`);
    }
    await sink.waitFor(sink.messages.length + 1, Math.max(1, Math.min(1000, deadline - Date.now()))).catch(() => {});
  }
}

/** Runs the load against the relay for LOAD_MS, kills it with SIGKILL in the middle of it, and returns what was acknowledged. */
async function loadThenKill(t: TestContext, relay: ServeProcess): Promise<Load> {
  let enough = () => {};
  const enoughAcked = new Promise<void>((resolve) => (enough = resolve));
  const load: Load = { acked: new Map(), inFlight: 0, stopped: false, onAck: () => load.acked.size >= MIN_ACKED && enough() };
  const sessions = Array.from({ length: SESSIONS }, (_, worker) => session(relay.port, worker, load));
  const loaded = Date.now();
  await Promise.race([Promise.all([sleep(LOAD_MS), enoughAcked]), sleep(LOAD_MAX_MS)]);
  const loadMs = Date.now() - loaded;
  const inFlightAtKill = load.inFlight;
  const ackedAtKill = load.acked.size;
  relay.child.kill('SIGKILL');
  assert.deepEqual(await relay.exited, { code: null, signal: 'SIGKILL' });
  load.stopped = true;
  await Promise.all(sessions);
  t.diagnostic(`${load.acked.size} messages acknowledged in ${loadMs} ms (${ackedAtKill} before the kill), ${inFlightAtKill} commands in flight at the kill`);
  assert.ok(inFlightAtKill > 0, 'the relay was killed while sessions were waiting for replies');
  assert.ok(load.acked.size >= SESSIONS, `enough load to mean something (${load.acked.size} acknowledged)`);
  return load;
}

test('kill -9 under load with the internal server down: after the restart every acknowledged message is delivered, and damage is raised', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const dataDir = dataDirWithConfig();
  const internalPort = await reservePort(); // nothing listens: everything stays in the queue
  const first = await serve(dataDir, internalPort);
  const load = await loadThenKill(t, first);
  const expected = new Set(load.acked.keys());
  const spool = join(dataDir, 'spool');
  const spoolFile = (id: string) => join(spool, 'msg', id);
  for (const [tag, id] of load.acked) assert.ok(existsSync(spoolFile(id)), `the spool file of acknowledged ${tag} (${id}) exists`);

  // The damage a disk or an admin can do while the relay is down, and the leftovers of unacknowledged messages.
  const [[missingTag, missingId], [tornTag, tornId]] = [...load.acked].slice(0, 2) as [[string, string], [string, string]];
  unlinkSync(spoolFile(missingId));
  truncateSync(spoolFile(tornId), Math.floor(readFileSync(spoolFile(tornId)).length / 2));
  expected.delete(missingTag);
  expected.delete(tornTag);
  const orphanId = newQueueId();
  const [someTag, someId] = [...load.acked].at(-1)!;
  writeFileSync(spoolFile(orphanId), readFileSync(spoolFile(someId), 'latin1').replaceAll(someTag, 'orphan-without-row'), 'latin1');
  writeFileSync(join(spool, 'tmp', `${newQueueId()}.tmp`), 'half a message that never got its 250');

  const sink = await startSink(internalPort);
  try {
    const second = await serve(dataDir, internalPort);
    assert.deepEqual(readdirSync(join(spool, 'tmp')), [], 'no temp file survives the start');
    assert.equal(existsSync(spoolFile(orphanId)), false, 'the spool file without a row leaves the queue at start');
    assert.ok(existsSync(join(spool, 'orphans', orphanId)), 'and is set aside in spool/orphans, not deleted');
    assert.match(second.stderr, /warn SPOOL_ORPHANS_SET_ASIDE files=\d+ /);
    const warning = /^moat: WARNING 2 queued message\(s\) have a missing or torn spool file: (.*)$/m.exec(second.stderr);
    assert.ok(warning, `the damage is raised on stderr:\n${second.stderr}`);
    assert.deepEqual(warning[1]!.split(', ').sort(), [missingId, tornId].sort());
    assert.match(second.stderr, new RegExp(`error SPOOL_DAMAGED id=${missingId} detail="spool file is missing"`));
    assert.match(second.stderr, new RegExp(`error SPOOL_DAMAGED id=${tornId} detail="spool file is \\d+ bytes, expected \\d+"`));
    // the torn copy is kept for the admin, where no later start deletes it (it used to be removed at the next one)
    assert.equal(existsSync(spoolFile(tornId)), false);
    assert.ok(existsSync(join(spool, 'orphans', tornId)), 'the torn file is set aside in spool/orphans');

    const seen = await waitForAll(sink, expected, DRAIN_TIMEOUT_MS);
    const duplicates = [...seen.values()].filter((count) => count > 1).length;
    t.diagnostic(`${expected.size} acknowledged messages all delivered; ${seen.size - expected.size} unacknowledged ones too; ${duplicates} duplicates`);
    for (const tag of [missingTag, tornTag, 'orphan-without-row']) assert.equal(seen.has(tag), false, `${tag} is not delivered`);
    const shown = await runCli(['queue', 'show', tornId, '--data-dir', dataDir]);
    assert.match(shown.stdout, /^status: +damaged$/m);
    assert.match(shown.stdout, /DAMAGED +spool file is \d+ bytes, expected \d+/);
    assert.deepEqual(await second.stop('SIGTERM'), { code: 0, signal: null });
  } finally {
    await sink.stop();
  }
});

test('kill -9 under load with the internal server up: after the restart every acknowledged message has been delivered', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const dataDir = dataDirWithConfig();
  const sink = await startSink();
  try {
    const first = await serve(dataDir, sink.port);
    const load = await loadThenKill(t, first);
    const second = await serve(dataDir, sink.port);
    assert.deepEqual(readdirSync(join(dataDir, 'spool', 'tmp')), [], 'no temp file survives the start');
    assert.doesNotMatch(second.stderr, /WARNING/, 'a crash alone damages nothing');
    const seen = await waitForAll(sink, new Set(load.acked.keys()), DRAIN_TIMEOUT_MS);
    const duplicates = [...seen.values()].filter((count) => count > 1).length;
    t.diagnostic(`${load.acked.size} acknowledged messages all delivered; ${duplicates} duplicates`);
    assert.deepEqual(await second.stop('SIGTERM'), { code: 0, signal: null });
  } finally {
    await sink.stop();
  }
});
