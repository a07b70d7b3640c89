// The dashboard, chart, alert, checklist and backup methods of the admin API over a live relay with real traffic.
// Every result goes through the contract's output schema.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorHandlers } from '../../src-relay/admin/handlers/monitor.ts';
import { MANUAL_ITEMS } from '../../src-relay/monitor/checklist.ts';
import { CHECKLIST_FIRST_RUN_DELAY_MS } from '../../src-relay/monitor/index.ts';
import { SCHEDULED_NAME } from '../../src-relay/backup/schedule.ts';
import { apiContext } from '../helpers/api-context.ts';
import { apiError, callHandler } from '../helpers/api-call.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { message, send, tryRelayTricks } from '../helpers/smtp.ts';

const TEST_TIMEOUT_MS = 120_000;
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function call<K extends keyof typeof monitorHandlers>(relay: TestRelay, name: K, input: unknown = {}) {
  return callHandler(monitorHandlers, name, input, apiContext(relay.relay));
}

const HOUR_MS = 3600_000;
const totals = (buckets: { received: number; submitted: number; delivered: number; rejected: number; deferred: number; bounced: number; quarantined: number }[]) =>
  buckets.reduce(
    (sum, bucket) => ({
      received: sum.received + bucket.received,
      submitted: sum.submitted + bucket.submitted,
      delivered: sum.delivered + bucket.delivered,
      rejected: sum.rejected + bucket.rejected,
      deferred: sum.deferred + bucket.deferred,
      bounced: sum.bounced + bucket.bounced,
      quarantined: sum.quarantined + bucket.quarantined,
    }),
    { received: 0, submitted: 0, delivered: 0, rejected: 0, deferred: 0, bounced: 0, quarantined: 0 },
  );

test('the charts count real traffic in hourly and six-hourly buckets, the current minute included, never twice once written', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  try {
    for (let i = 0; i < 3; i++) await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`chart ${i}`));
    for (const reply of await tryRelayTricks(relay.port)) assert.match(reply, /^5/);
    await sink.waitFor(3);
    await until('the deliveries are counted', () => relay.relay.monitor.metrics.windowSum('delivered', 60) === 3);

    const day = await call(relay, 'metrics.series', { range: '24h' });
    assert.equal(day.bucketMs, HOUR_MS);
    assert.equal(day.buckets.length, 24);
    const now = Date.now();
    assert.ok(day.buckets.at(-1)!.at <= now && now < day.buckets.at(-1)!.at + HOUR_MS + 5_000, 'the last bucket is the current hour');
    assert.ok(day.buckets.every((bucket, i) => i === 0 || bucket.at - day.buckets[i - 1]!.at === HOUR_MS));
    const expected = { received: 3, submitted: 0, delivered: 3, rejected: 2, deferred: 0, bounced: 0, quarantined: 0 };
    assert.deepEqual(totals(day.buckets), expected, 'not written yet: from memory');

    const week = await call(relay, 'metrics.series', { range: '7d' });
    assert.equal(week.bucketMs, 6 * HOUR_MS);
    assert.equal(week.buckets.length, 28);
    assert.equal(week.buckets[0]!.at % (6 * HOUR_MS), 0);
    assert.deepEqual(totals(week.buckets), expected);

    relay.relay.monitor.flushMetrics();
    assert.deepEqual(totals((await call(relay, 'metrics.series', { range: '24h' })).buckets), expected, 'written: from SQLite, not counted twice');

    // thirty hours ago: in the week, not in the day
    const old = Math.floor((now - 30 * HOUR_MS) / 60_000) * 60_000;
    relay.relay.monitor.store.writeMetrics(
      [
        { minute: old, name: 'received', labels: '', value: 5 },
        { minute: old, name: 'rejected', labels: 'reason=dnsbl', value: 4 },
        { minute: old, name: 'rejected', labels: 'reason=virus', value: 1 },
        { minute: old, name: 'delivered', labels: 'route=outbound', value: 2 },
      ],
      [],
    );
    assert.deepEqual(totals((await call(relay, 'metrics.series', { range: '24h' })).buckets), expected);
    const longer = await call(relay, 'metrics.series', { range: '7d' });
    assert.deepEqual(totals(longer.buckets), { ...expected, received: 8, rejected: 7, delivered: 5 }, 'rejected summed over its reasons, delivered over routes');
    const oldBucket = longer.buckets.find((bucket) => bucket.at <= old && old < bucket.at + 6 * HOUR_MS)!;
    assert.equal(oldBucket.rejected, 5);

    const dashboard = await call(relay, 'dashboard.get');
    assert.deepEqual(dashboard.last24h, { received: 3, submitted: 0, delivered: 3, rejected: 2, quarantined: 0, bounced: 0 });
    assert.equal(dashboard.quarantined, 0);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('alerts: a raised alert is open on the dashboard and in the list; once cleared it stays among the recent ones', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  try {
    let bad = true;
    relay.relay.monitor.alerts.addRule({
      id: 'test-rule',
      severity: 'warning',
      title: 'A test condition',
      check: () => (bad ? { state: 'bad', message: 'the test says so', hint: 'make it good' } : { state: 'good', message: 'good again' }),
    });
    await relay.relay.monitor.checkAlerts();
    const raised = await call(relay, 'alerts.list');
    const open = raised.open.find((alert) => alert.rule === 'test-rule');
    assert.ok(open, JSON.stringify(raised.open));
    assert.equal(open.message, 'the test says so');
    assert.equal(open.hint, 'make it good');
    assert.equal(open.clearedAt, null);
    assert.ok(raised.recent.some((alert) => alert.id === open.id));
    assert.ok((await call(relay, 'dashboard.get')).openAlerts.some((alert) => alert.id === open.id));

    bad = false;
    await relay.relay.monitor.checkAlerts();
    const cleared = await call(relay, 'alerts.list');
    assert.ok(!cleared.open.some((alert) => alert.rule === 'test-rule'));
    const recent = cleared.recent.find((alert) => alert.id === open.id)!;
    assert.equal(recent.clearMessage, 'good again');
    assert.ok(recent.clearedAt! >= recent.raisedAt);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('the checklist lists every probe (unknown until it runs), runs the ones asked for, and ticks manual items', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  try {
    const probes = relay.relay.monitor.checklist.probeList();
    const fresh = await call(relay, 'checklist.get');
    assert.deepEqual(fresh.probes.map((probe) => [probe.id, probe.title]), probes.map((probe) => [probe.id, probe.title]));
    assert.ok(fresh.probes.every((probe) => probe.status === 'unknown' && probe.checkedAt === null && probe.detail === 'not run yet'));
    assert.deepEqual(fresh.manual.map((item) => [item.id, item.state, item.tickedAt]), MANUAL_ITEMS.map((item) => [item.id, 'todo', null]));

    const ran = await call(relay, 'checklist.run', { probes: ['tls-certificate', 'open-relay'] });
    const byId = new Map(ran.probes.map((probe) => [probe.id, probe]));
    assert.equal(byId.get('tls-certificate')!.status, 'ok', byId.get('tls-certificate')!.detail);
    assert.match(byId.get('tls-certificate')!.detail, /self-signed/);
    assert.equal(byId.get('open-relay')!.status, 'ok', byId.get('open-relay')!.detail);
    assert.equal(typeof byId.get('open-relay')!.checkedAt, 'number');
    assert.equal(byId.get('os-updates')!.checkedAt, null, 'not asked for: not run');
    assert.deepEqual((await call(relay, 'checklist.get')).probes, ran.probes);

    await assert.rejects(call(relay, 'checklist.run', { probes: ['tls-certificate', 'no-such-probe'] }), apiError('INVALID_INPUT', undefined, ['probes.1']));

    const ticked = await call(relay, 'checklist.tick', { item: 'own-dmz', done: true, note: 'VLAN 30' });
    const item = ticked.manual.find((entry) => entry.id === 'own-dmz')!;
    assert.equal(item.state, 'done');
    assert.equal(item.note, 'VLAN 30');
    assert.ok(item.tickedAt! <= Date.now());
    const unticked = await call(relay, 'checklist.tick', { item: 'own-dmz', done: false });
    assert.equal(unticked.manual.find((entry) => entry.id === 'own-dmz')!.state, 'todo');
    await assert.rejects(call(relay, 'checklist.tick', { item: 'no-such-item', done: true }), apiError('CHECKLIST_ITEM_GONE', /no-such-item/));
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('the checklist says when it runs by itself: 5 minutes after a first start, its interval after the last whole run (not after one item run on its own), never when off', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dataDir = tempDir('moat-checklist-schedule-');
  dirs.push(dataDir);
  let now = Date.UTC(2026, 11, 5, 9, 0);
  const clock = () => now;
  let relay = await startRelay(sink.port, {}, { dataDir, clock });
  try {
    assert.deepEqual((await call(relay, 'checklist.get')).schedule, { everyHours: 6, nextRunAt: now + CHECKLIST_FIRST_RUN_DELAY_MS });
    // a whole run (its results written as one writes them: running every probe here would ask apt and the network)
    const ranAt = now;
    const { checklist, store } = relay.relay.monitor;
    store.insertResults(checklist.probeList().map(({ id, title }) => ({ probe: id, title, status: 'ok' as const, detail: 'as the run found it', checkedAt: ranAt })));
    await relay.stop();

    // a restart an hour later keeps the rhythm of the last run instead of starting the 6 hours again
    now += 3600_000;
    relay = await startRelay(sink.port, {}, { dataDir, clock });
    assert.deepEqual((await call(relay, 'checklist.get')).schedule, { everyHours: 6, nextRunAt: ranAt + 6 * 3600_000 });
    // one item run on its own (Run now on its row; the users' page item at each start) moves nothing
    await call(relay, 'checklist.run', { probes: ['tls-certificate'] });
    await relay.stop();
    now += 3600_000;
    relay = await startRelay(sink.port, {}, { dataDir, clock });
    assert.deepEqual((await call(relay, 'checklist.get')).schedule, { everyHours: 6, nextRunAt: ranAt + 6 * 3600_000 });
    await relay.stop();

    relay = await startRelay(sink.port, { checklist: { intervalHours: 0 } }, { dataDir, clock });
    assert.deepEqual((await call(relay, 'checklist.get')).schedule, { everyHours: 0, nextRunAt: null });
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('a backup made from the API lands in the backup folder under the scheduler\'s name and is listed with its time', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  try {
    const before = await call(relay, 'backups.list');
    assert.equal(before.folder, join(relay.dataDir, 'backups'));
    assert.deepEqual(before.files, []);
    assert.equal(before.lastAt, null);
    assert.equal(before.everyHours, 0, 'the schedule in force (backup.intervalHours; off by default)');
    assert.equal(before.encrypted, false, 'no passphrase file');
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('in the backup'));

    const made = await call(relay, 'backups.create');
    assert.match(made.file, SCHEDULED_NAME);
    assert.ok(made.size > 0);
    assert.equal(made.encrypted, false);
    writeFileSync(join(relay.dataDir, 'backups', 'notes.txt'), 'not a backup');

    const listed = await call(relay, 'backups.list');
    assert.equal(listed.files.length, 1, 'only backup files are listed');
    assert.deepEqual({ ...listed.files[0]!, createdAt: Math.floor(listed.files[0]!.createdAt / 1000) }, { ...made, createdAt: Math.floor(made.createdAt / 1000) }, 'the time from the file name, to the second');
    assert.equal(listed.lastAt, made.createdAt);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('a backup that cannot be written is BACKUP_FAILED with the reason', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dir = tempDir('moat-backup-bad-');
  dirs.push(dir);
  writeFileSync(join(dir, 'a-file'), 'not a folder');
  const sink = await Sink.start();
  const relay = await startRelay(sink.port, { backup: { folder: join(dir, 'a-file', 'backups') } });
  try {
    await assert.rejects(call(relay, 'backups.create'), apiError('BACKUP_FAILED', /the backup could not be written: .*(ENOTDIR|not a directory)/));
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('without a running relay the monitor methods answer RELAY_NOT_RUNNING', async () => {
  for (const name of ['dashboard.get', 'alerts.list', 'checklist.get', 'backups.list'] as const) {
    await assert.rejects(callHandler(monitorHandlers, name, {}, apiContext(null)), apiError('RELAY_NOT_RUNNING'), name);
  }
});
