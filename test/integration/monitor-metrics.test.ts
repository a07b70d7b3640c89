// The admin listener's /metrics and /healthz against a live relay with real traffic, parsed as Prometheus would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Sink } from '../helpers/sink.ts';
import { startRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { heldPort } from '../helpers/held-port.ts';
import { message, send, tryRelayTricks } from '../helpers/smtp.ts';
import { ServeProcess, runCli } from '../helpers/cli.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';
import { addUser, officeMessage, startSubmissionRelay, submit } from '../helpers/submission.ts';
import { validateConfig } from '../../src-relay/config/load.ts';
import { AdminServer } from '../../src-relay/http/server.ts';
import { Router, sendText } from '../../src-relay/http/router.ts';
import { createLineLogger, silentLogger } from '../../src-relay/log/logger.ts';

const TEST_TIMEOUT_MS = 120_000;
const dirs: string[] = [];
const serves: ServeProcess[] = [];
after(async () => {
  for (const serve of serves) if (serve.running) await serve.stop('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('/metrics counts real traffic with the names and labels Prometheus users expect', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  try {
    for (let i = 0; i < 3; i++) await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`metrics ${i}`));
    for (const reply of await tryRelayTricks(relay.port)) assert.match(reply, /^5/);
    await sink.waitFor(3);
    await until('the deliveries are counted', () => relay.relay.monitor.metrics.windowSum('delivered', 5) === 3);
    const admin = relay.relay.addresses.admin!;
    const response = await fetch(`http://${admin}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const families = parsePrometheus(await response.text());
    for (const family of families.values()) {
      assert.match(family.name, /^moat_[a-z_]+$/);
      assert.ok(family.help.length > 5, `${family.name} has a HELP line`);
      if (family.type === 'counter') assert.match(family.name, /_total$/, 'counters end in _total');
    }
    assert.equal(sampleValue(families, 'moat_messages_received_total'), 3);
    assert.equal(sampleValue(families, 'moat_messages_rejected_total', { reason: 'relay' }), 2);
    assert.equal(sampleValue(families, 'moat_messages_rejected_total', { reason: 'size' }), 0, 'every reason exists from the start');
    assert.equal(sampleValue(families, 'moat_messages_quarantined_total'), 0);
    assert.equal(sampleValue(families, 'moat_messages_tagged_total'), 0);
    assert.equal(sampleValue(families, 'moat_recipients_delivered_total', { route: 'internal' }), 3);
    assert.equal(sampleValue(families, 'moat_recipients_deferred_total', { route: 'internal' }), 0);
    assert.equal(sampleValue(families, 'moat_recipients_bounced_total', { route: 'outbound' }), 0);
    await until('the queue is empty', () => relay.relay.queue.store.summary().size === 0);
    const later = parsePrometheus(await (await fetch(`http://${admin}/metrics`)).text());
    assert.equal(sampleValue(later, 'moat_queue_size'), 0);
    assert.equal(sampleValue(later, 'moat_queue_oldest_age_seconds'), 0);
    assert.equal(sampleValue(later, 'moat_route_up', { route: 'internal' }), 1);
    assert.equal(sampleValue(later, 'moat_alert_active', { rule: 'internal-down', severity: 'critical' }), 0);
    assert.ok(sampleValue(later, 'moat_tls_certificate_expiry_timestamp_seconds')! > Date.now() / 1000);
    assert.ok(sampleValue(later, 'moat_disk_free_bytes')! > 0);
    assert.equal(families.get('moat_build_info')!.samples[0]!.labels.node, process.version);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('submitted mail is counted apart: it moves moat_messages_submitted_total, never moat_messages_received_total', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startSubmissionRelay(sink.port);
  try {
    const metrics = async () => parsePrometheus(await (await fetch(`http://${relay.relay.addresses.admin!}/metrics`)).text());
    const before = await metrics();
    assert.equal(sampleValue(before, 'moat_messages_received_total'), 0);
    assert.equal(sampleValue(before, 'moat_messages_submitted_total'), 0, 'the counter exists from the start');
    await addUser(relay.dataDir, 'alice', ['alice@example.test']);
    await submit(relay.submission, { user: 'alice' }, 'alice@example.test', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test'));
    await submit(relay.submissions, { user: 'alice', secure: true }, 'alice@example.test', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test', 'over 465'));
    const submitted = await metrics();
    assert.equal(sampleValue(submitted, 'moat_messages_submitted_total'), 2);
    assert.equal(sampleValue(submitted, 'moat_messages_received_total'), 0, 'a submission does not move the inbound counter');
    await send(relay.port, 'carol@sender.test', ['bob@example.test'], message('from the internet'));
    const inbound = await metrics();
    assert.equal(sampleValue(inbound, 'moat_messages_received_total'), 1);
    assert.equal(sampleValue(inbound, 'moat_messages_submitted_total'), 2);
    relay.relay.monitor.flushMetrics();
    const stored = relay.relay.monitor.metrics.series({ names: ['received', 'submitted'], from: Date.now() - 120_000, to: Date.now() + 60_000 });
    const total = (name: string) => stored.filter((series) => series.name === name).flatMap((series) => series.points).reduce((sum, point) => sum + point.v, 0);
    assert.deepEqual([total('received'), total('submitted')], [1, 2], 'the per-minute series keep them apart too');
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('moat_last_backup_timestamp_seconds is exported as 0 before the first backup and as its time after it', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  try {
    const metrics = async () => parsePrometheus(await (await fetch(`http://${relay.relay.addresses.admin!}/metrics`)).text());
    const never = await metrics();
    assert.equal(never.get('moat_last_backup_timestamp_seconds')?.type, 'gauge');
    assert.equal(sampleValue(never, 'moat_last_backup_timestamp_seconds'), 0);
    const started = Math.floor(Date.now() / 1000);
    await relay.relay.backups.runNow();
    const value = sampleValue(await metrics(), 'moat_last_backup_timestamp_seconds')!;
    assert.ok(value >= started && value <= Math.ceil(Date.now() / 1000), `${value} is the backup's time`);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('per-minute series are written to SQLite in batches and read back through the engine API', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dataDir = tempDir();
  dirs.push(dataDir);
  const relay = await startRelay(sink.port, {}, { dataDir });
  const start = Date.now();
  try {
    for (let i = 0; i < 4; i++) await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`series ${i}`));
    await sink.waitFor(4);
    await until('the deliveries are counted', () => relay.relay.monitor.metrics.windowSum('delivered', 5) === 4);
    const rows = () => relay.relay.queue.store.db.prepare(`SELECT COUNT(*) AS n FROM metric_minutes`).get() as { n: number };
    assert.equal(rows().n, 0, 'nothing written per event');
    const series = relay.relay.monitor.metrics.series({ names: ['received', 'delivered'], from: start - 60_000, to: Date.now() + 60_000 });
    const total = (name: string) => series.filter((entry) => entry.name === name).reduce((sum, entry) => sum + entry.points.reduce((s, p) => s + p.v, 0), 0);
    assert.equal(total('received'), 4, 'unwritten counts are part of the series');
    assert.equal(total('delivered'), 4);
  } finally {
    await relay.stop();
    await sink.stop();
  }
  const db = new Database(join(dataDir, 'moat.db'), { readonly: true });
  try {
    const stored = db.prepare(`SELECT name, labels, SUM(value) AS value FROM metric_minutes WHERE name IN ('received', 'delivered') GROUP BY name, labels`).all();
    assert.deepEqual(stored, [
      { name: 'delivered', labels: 'route=internal', value: 4 },
      { name: 'received', labels: '', value: 4 },
    ], 'stopping writes the last batch');
    const gauges = db.prepare(`SELECT COUNT(*) AS n FROM metric_minutes WHERE name = 'queue_size'`).get() as { n: number };
    assert.ok(gauges.n >= 1, 'a gauge sample per flush');
  } finally {
    db.close();
  }
});

test('/healthz answers JSON, HEAD works, unknown paths and methods get stable error codes', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  try {
    const admin = relay.relay.addresses.admin!;
    const health = await fetch(`http://${admin}/healthz`);
    assert.equal(health.status, 200);
    const body = (await health.json()) as { status: string; mx: string; queue: { size: number } };
    assert.equal(body.status, 'ok');
    assert.equal(body.mx, relay.relay.addresses.mx);
    assert.equal(body.queue.size, 0);
    const head = await fetch(`http://${admin}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal((await head.text()).length, 0);
    const missing = await fetch(`http://${admin}/nothing-here`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { code: string }).code, 'NOT_FOUND');
    const post = await fetch(`http://${admin}/metrics`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
    assert.equal(((await post.json()) as { code: string }).code, 'METHOD_NOT_ALLOWED');
    assert.equal(health.headers.get('x-content-type-options'), 'nosniff');
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('/healthz answers 503 when the database cannot be read, and keeps SQLite\'s text for the log', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const logged: string[] = [];
  const relay = await startRelay(sink.port, {}, { logger: createLineLogger((line) => logged.push(line)) });
  try {
    const admin = relay.relay.addresses.admin!;
    assert.equal((await fetch(`http://${admin}/healthz`)).status, 200);
    relay.relay.database.close();
    const health = await fetch(`http://${admin}/healthz`);
    assert.equal(health.status, 503);
    const body = (await health.json()) as { code: string; message: string };
    assert.equal(body.code, 'UNAVAILABLE');
    assert.equal(body.message, 'the database cannot be read; the reason is in the relay log');
    assert.match(logged.find((line) => line.includes(' HEALTH_DATABASE_UNREADABLE ')) ?? '', /error=.*database connection is not open/);
  } finally {
    await relay.stop().catch(() => {});
    await sink.stop();
  }
});

test('a non-loopback admin address is refused with a clear configuration error', { timeout: TEST_TIMEOUT_MS }, async () => {
  for (const listen of ['0.0.0.0:8025', '[::]:8025', '192.0.2.10:8025', 'admin.example.test:8025']) {
    const result = validateConfig({ admin: { listen } });
    assert.ok(!result.ok, listen);
    assert.equal(result.problems[0]!.path, 'admin.listen');
    assert.match(result.problems[0]!.message, /not a loopback address.*TLS/);
  }
  for (const listen of ['127.0.0.1:8025', '[::1]:0', 'localhost:8025', '127.1.2.3:9']) assert.ok(validateConfig({ admin: { listen } }).ok, listen);
  const dir = tempDir();
  dirs.push(dir);
  const refused = await runCli(['check', '--data-dir', dir, '--domain', 'example.test', '--internal', '127.0.0.1:25', '--admin-listen', '0.0.0.0:8025']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /admin\.listen: 0\.0\.0\.0:8025 is not a loopback address/);
});

test('moat serve prints admin=HOST:PORT on its ready line and serves /metrics there', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dir = tempDir();
  dirs.push(dir);
  try {
    const serve = await ServeProcess.start(['--data-dir', dir, '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${sink.port}`, '--admin-listen', '127.0.0.1:0']);
    serves.push(serve);
    const admin = /admin=(127\.0\.0\.1:\d+) /.exec(serve.stdout)?.[1];
    assert.ok(admin, serve.stdout);
    const families = parsePrometheus(await (await fetch(`http://${admin}/metrics`)).text());
    assert.equal(sampleValue(families, 'moat_messages_received_total'), 0);
    assert.equal((await serve.stop()).code, 0);
  } finally {
    await sink.stop();
  }
});

test('when the admin address is taken the relay still serves mail, says why, and binds once it is free', { timeout: TEST_TIMEOUT_MS }, async () => {
  const blocker = await heldPort();
  const { port } = blocker;
  const sink = await Sink.start();
  const relay = await startRelay(sink.port, { admin: { listen: `127.0.0.1:${port}` } });
  try {
    assert.equal(relay.relay.addresses.admin, null);
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('mail still flows'));
    await sink.waitFor(1);
    const [probe] = await relay.relay.monitor.checklist.run(['admin-listener']);
    assert.equal(probe!.status, 'failing');
    assert.match(probe!.detail, /EADDRINUSE/);
  } finally {
    await relay.stop();
    await sink.stop();
  }
  const router = new Router().get('/ping', ({ res }) => sendText(res, 200, 'text/plain', 'pong'));
  const server = new AdminServer({ listen: `127.0.0.1:${port}`, router, logger: silentLogger, retryBindMs: 100 });
  await server.start();
  try {
    assert.equal(server.address, null);
    assert.match(server.error!, /EADDRINUSE/);
    await blocker.release();
    await until('the admin listener binds', () => server.address !== null);
    assert.equal(await (await fetch(`http://${server.address}/ping`)).text(), 'pong');
  } finally {
    await server.stop();
    await blocker.release();
  }
});
