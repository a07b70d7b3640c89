// Each alert raised and cleared by a real condition on a live relay: the internal server stopped and started, the
// queue filled and drained, refusals, an expiring certificate, a missing backup, an open relay.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generate } from 'selfsigned';
import { Sink, reservePort } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';
import { message, send } from '../helpers/smtp.ts';
import type { AlertEvent } from '../../src-relay/events.ts';
import type { MonitorOptions } from '../../src-relay/monitor/index.ts';
import { createRelay, type Relay } from '../../src-relay/engine.ts';
import { validateConfig } from '../../src-relay/config/load.ts';
import { AccountStore } from '../../src-relay/auth/account-store.ts';

const TEST_TIMEOUT_MS = 120_000;
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Records the relay's alert events of one rule (other rules may fire on a busy CI box: low disk, ...). */
function watch(relay: TestRelay, rule: string): string[] {
  const seen: string[] = [];
  relay.relay.events.on('alert', (event: AlertEvent) => {
    if (event.alert.rule === rule) seen.push(event.action);
  });
  return seen;
}

/** A relay with monitor options (what the test helper does not pass): its own temp data dir, loopback, port 0. */
async function relayWithMonitor(internalPort: number, monitor: MonitorOptions): Promise<Relay> {
  const dataDir = tempDir();
  dirs.push(dataDir);
  const config = validateConfig({
    hostname: 'relay.example.test',
    domains: ['example.test'],
    mx: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    internal: { host: '127.0.0.1', port: internalPort, tls: 'none' },
    shutdownGraceSec: 2,
  });
  if (!config.ok) throw new Error(JSON.stringify(config.problems));
  return createRelay(config.config, dataDir, { logger: false, monitor });
}

/** A local webhook receiver. */
async function webhookReceiver(): Promise<{ url: string; bodies: Record<string, any>[]; server: Server }> {
  const bodies: Record<string, any>[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      bodies.push({ ...JSON.parse(text), contentType: req.headers['content-type'], method: req.method });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/moat?token=secret`, bodies, server };
}

test('queue size: raised when the internal server is down and mail piles up, cleared when it drains; by e-mail and webhook', { timeout: TEST_TIMEOUT_MS }, async () => {
  const port = await reservePort();
  const hook = await webhookReceiver();
  const relay = await startRelay(port, {
    alerts: { queueSize: { raise: 3, clear: 1 }, emailTo: ['admin@example.test'], webhookUrl: hook.url },
  });
  const seen = watch(relay, 'queue-size');
  let sink: Sink | null = null;
  try {
    for (let i = 0; i < 4; i++) await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`pile ${i}`));
    await relay.relay.monitor.checkAlerts();
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, ['raised']);
    const open = relay.relay.monitor.alerts.open().find((alert) => alert.rule === 'queue-size')!;
    assert.match(open.message, /4 messages are waiting/);
    await until('the webhook got the raised alert', () => hook.bodies.some((body) => body.alert.rule === 'queue-size'));
    const raised = hook.bodies.find((body) => body.alert.rule === 'queue-size')!;
    assert.equal(raised.method, 'POST');
    assert.equal(raised.contentType, 'application/json');
    assert.equal(raised.action, 'raised');
    assert.equal(raised.hostname, 'relay.example.test');
    await until('the alert e-mail is queued', () => relay.relay.queue.store.summary().size === 5);
    sink = await Sink.start({ port });
    await until('the queue drains', () => relay.relay.queue.store.summary().size === 0);
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, ['raised', 'cleared']);
    await until('the cleared alert is mailed and delivered', () => sink!.messages.some((m) => /Subject: \[Moat relay\.example\.test\] CLEARED: The queue is large/.test(m.raw.toString())));
    const mails = sink.messages.filter((m) => m.to.includes('admin@example.test')).map((m) => m.raw.toString());
    assert.equal(mails.filter((text) => /queue is large/.test(text)).length, 2, 'one e-mail raised, one cleared');
    const raisedMail = mails.find((text) => /RAISED warning: The queue is large/.test(text))!;
    assert.match(raisedMail, /4 messages are waiting in the queue/);
    assert.match(raisedMail, /What to do:/);
    assert.equal(sink.messages.find((m) => m.to.includes('admin@example.test'))!.from, '', 'sent with a null sender: never bounced back');
    await until('the webhook got the cleared alert', () => hook.bodies.filter((body) => body.alert.rule === 'queue-size').length === 2);
    assert.equal(relay.relay.monitor.alerts.history().filter((alert) => alert.rule === 'queue-size').length, 1);
  } finally {
    await relay.stop();
    await sink?.stop();
    hook.server.close();
  }
});

test('oldest message and internal server unreachable: raised after their time, cleared once the server answers', { timeout: TEST_TIMEOUT_MS }, async () => {
  let offset = 0;
  const port = await reservePort();
  const relay = await startRelay(port, { alerts: { internalDownMinutes: 10, oldestQueuedMinutes: { raise: 60, clear: 30 } } }, { clock: () => Date.now() + offset });
  const age = watch(relay, 'queue-age');
  const down = watch(relay, 'internal-down');
  let sink: Sink | null = null;
  try {
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('waiting'));
    await until('the route is down', () => relay.relay.routeStates().some((state) => state.route === 'internal' && state.state === 'down'));
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual([...age, ...down], [], 'not yet: both have a time limit');
    offset = 2 * 3600_000;
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(age, ['raised']);
    assert.deepEqual(down, ['raised']);
    const alert = relay.relay.monitor.alerts.open().find((entry) => entry.rule === 'internal-down')!;
    assert.equal(alert.severity, 'critical');
    assert.match(alert.message, new RegExp(`127\\.0\\.0\\.1:${port}.*unreachable for 2 h`));
    assert.match(alert.hint, /firewall/);
    sink = await Sink.start({ port });
    await sink.waitFor(1);
    await until('the route is up', () => relay.relay.routeStates().some((state) => state.route === 'internal' && state.state === 'up'));
    // at once, not at the next check (30 s): an admin's review saw "Up" beside the open alert that long
    await until('the internal-down alert is cleared', () => down.includes('cleared'), 5000);
    assert.deepEqual(down, ['raised', 'cleared']);
    await until('the queue is empty', () => relay.relay.queue.store.summary().size === 0);
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(age, ['raised', 'cleared']);
  } finally {
    await relay.stop();
    await sink?.stop();
  }
});

test('an internal server that was unreachable and now refuses every message: the open alert says so, with no second e-mail or webhook post', { timeout: TEST_TIMEOUT_MS }, async () => {
  let offset = 0;
  const port = await reservePort();
  const hook = await webhookReceiver();
  const relay = await startRelay(port, { alerts: { internalDownMinutes: 10, emailTo: ['admin@example.test'], webhookUrl: hook.url } }, { clock: () => Date.now() + offset });
  const down = watch(relay, 'internal-down');
  const internal = () => relay.relay.routeStates().find((state) => state.route === 'internal');
  let sink: Sink | null = null;
  try {
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('waiting'));
    await until('the route is down', () => internal()?.state === 'down');
    offset = 20 * 60_000;
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(down, ['raised']);
    assert.match(relay.relay.monitor.alerts.open().find((alert) => alert.rule === 'internal-down')!.hint, /firewall/);
    await until('the raised alert is posted', () => hook.bodies.some((body) => body.alert.rule === 'internal-down'));
    await until('the alert e-mail is queued', () => relay.relay.queue.store.summary().size === 2);
    sink = await Sink.start({ port, onSender: () => ({ code: 452, text: '4.3.1 Insufficient system resources' }) });
    relay.relay.queue.retryAll();
    await until('the route is refusing', () => internal()?.state === 'refusing');
    await relay.relay.monitor.checkAlerts();
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(down, ['raised', 'updated']);
    const open = relay.relay.monitor.alerts.open().find((alert) => alert.rule === 'internal-down')!;
    assert.match(open.message, /answers but has refused every message for 20 min( [0-9]+ s)?; its last answer: .*452 4\.3\.1 Insufficient system resources/);
    assert.match(open.hint, /back-pressure/);
    assert.doesNotMatch(open.hint, /firewall/);
    await sleep(300);
    assert.equal(hook.bodies.filter((body) => body.alert.rule === 'internal-down').length, 1, 'one post, for the raising');
    assert.equal(relay.relay.queue.store.summary().size, 2, 'no second alert e-mail queued');
  } finally {
    await relay.stop();
    await sink?.stop();
    hook.server.close();
  }
});

test('a restart during an outage keeps when the internal server went down: the alert is not put off, the dashboard not told it began at the restart', { timeout: TEST_TIMEOUT_MS }, async () => {
  let offset = 0;
  const clock = () => Date.now() + offset;
  const port = await reservePort();
  const dataDir = tempDir('moat-outage-restart-');
  const settings = { alerts: { internalDownMinutes: 10 }, queue: { retryIntervalsSec: [1] } };
  const downSince = (relay: TestRelay) => relay.relay.routeStates().find((state) => state.route === 'internal' && state.state === 'down')?.since;
  let relay = await startRelay(port, settings, { dataDir, clock });
  try {
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('waiting'));
    await until('the route is down', () => downSince(relay) !== undefined);
    const since = downSince(relay)!;

    // restarted 8 minutes into the outage: down since then at once, so 3 minutes later the alert is due, not 10
    const tried = () => (relay.relay.queue.store.db.prepare('SELECT MAX(attempts) AS n FROM recipients').get() as { n: number }).n;
    await relay.stop();
    offset = 8 * 60_000;
    relay = await startRelay(port, settings, { dataDir, clock });
    assert.equal(downSince(relay), since);
    const before = tried();
    await until('its next retry (every second here)', () => tried() > before);
    offset = 11 * 60_000;
    const down = watch(relay, 'internal-down');
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(down, ['raised']);
    assert.match(relay.relay.monitor.alerts.open().find((entry) => entry.rule === 'internal-down')!.message, /unreachable for 11 min/);

    // it was last seen failing at 8 min (or 11): a start 14 min later still counts the outage; one 16 min after that
    // start's own failed attempts (past OUTAGE_KEPT_MS) knows nothing of what happened meanwhile
    await relay.stop();
    offset = 22 * 60_000;
    relay = await startRelay(port, settings, { dataDir, clock });
    assert.equal(downSince(relay), since, '14 minutes after it was last seen down');
    const again = tried();
    await until('a retry after that restart', () => tried() > again);
    await relay.stop();
    offset = 38 * 60_000;
    relay = await startRelay(port, settings, { dataDir, clock });
    assert.equal(downSince(relay), undefined, '16 minutes after it was last seen down: not known to be down');
    await until('the route is down after a long stop', () => downSince(relay) !== undefined);
    assert.ok(downSince(relay)! >= since + 38 * 60_000, 'a fresh outage');
  } finally {
    await relay.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a restart during a quiet outage (the next retry 20 minutes away) shows the hop down since it went down at once, and brings no retry forward', { timeout: TEST_TIMEOUT_MS }, async () => {
  let offset = 0;
  const clock = () => Date.now() + offset;
  const port = await reservePort();
  const dataDir = tempDir('moat-outage-quiet-');
  const settings = { queue: { retryIntervalsSec: [1200] } };
  const internal = (relay: TestRelay) => relay.relay.routeStates().find((state) => state.route === 'internal');
  const attempts = (relay: TestRelay) => (relay.relay.queue.store.db.prepare('SELECT MAX(attempts) AS n FROM recipients').get() as { n: number | null }).n ?? 0;
  let relay = await startRelay(port, settings, { dataDir, clock });
  let sink: Sink | null = null;
  try {
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('waiting'));
    await until('the route is down', () => internal(relay)?.state === 'down' && attempts(relay) === 1);
    const { since, checkedAt } = internal(relay)!;
    await relay.stop();
    offset = 60_000;
    relay = await startRelay(port, settings, { dataDir, clock });
    // at once, not at the next retry: down since the first failure, with its error; the message waits for its backoff
    // as of the last try before the stop (the dashboard says so): nobody has looked since
    assert.deepEqual({ ...internal(relay), lastError: typeof internal(relay)?.lastError }, { route: 'internal', state: 'down', since, checkedAt, lastError: 'string' });
    await sleep(1_500);
    assert.equal(attempts(relay), 1);

    // the server back: the next attempt (Retry all now here) finds it up, and the hop's memory goes
    sink = await Sink.start({ port });
    relay.relay.queue.retryAll();
    await sink.waitFor(1);
    await until('the route is up', () => internal(relay)?.state === 'up');
    await relay.stop();
    relay = await startRelay(port, settings, { dataDir, clock });
    assert.equal(internal(relay), undefined, 'a hop that came back is not shown down after a restart');
  } finally {
    await relay.stop();
    await sink?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a restart while the internal server refuses every message shows it refusing since then at once, with its answer, not down and not up', { timeout: TEST_TIMEOUT_MS }, async () => {
  let offset = 0;
  const clock = () => Date.now() + offset;
  const sink = await Sink.start({ onSender: () => ({ code: 452, text: '4.3.1 Insufficient system resources' }) });
  const dataDir = tempDir('moat-refusing-restart-');
  const settings = { queue: { retryIntervalsSec: [1200] } };
  const internal = (relay: TestRelay) => relay.relay.routeStates().find((state) => state.route === 'internal');
  let relay = await startRelay(sink.port, settings, { dataDir, clock });
  try {
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('put off'));
    await until('the route is refusing', () => internal(relay)?.state === 'refusing');
    const before = internal(relay)!;
    await relay.stop();
    offset = 60_000;
    relay = await startRelay(sink.port, settings, { dataDir, clock });
    assert.deepEqual(internal(relay), before);
    assert.match(before.lastError!, /452 4\.3\.1 Insufficient system resources/);
    // a scrape says it takes no mail, as for a server down
    const families = parsePrometheus(await (await fetch(`http://${relay.relay.addresses.admin!}/metrics`)).text());
    assert.equal(sampleValue(families, 'moat_route_up', { route: 'internal' }), 0);
  } finally {
    await relay.stop();
    await sink.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('deliveries failing: raised when most attempts are refused, cleared once enough go through', { timeout: TEST_TIMEOUT_MS }, async () => {
  let refuse = true;
  const sink = await Sink.start({ onRecipient: () => (refuse ? { code: 451, text: '4.3.0 try again later' } : undefined) });
  const settings = {
    queue: { retryIntervalsSec: [3600] },
    alerts: { deliveryFailures: { windowMinutes: 10, minAttempts: 4, raisePercent: 50, clearPercent: 20 } },
  };
  const dataDir = tempDir('moat-alert-restart-');
  let relay = await startRelay(sink.port, settings, { dataDir });
  let seen = watch(relay, 'delivery-failures');
  try {
    for (let i = 0; i < 4; i++) await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`refused ${i}`));
    await until('four attempts are deferred', () => relay.relay.monitor.metrics.windowSum('deferred', 10) >= 4);
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, ['raised']);
    assert.match(relay.relay.monitor.alerts.open().find((alert) => alert.rule === 'delivery-failures')!.message, /4 of 4 delivery attempts/);
    // a restart (an Apply, an upgrade) keeps the window's counts: the alert stays open, neither cleared ("No delivery
    // failed") nor raised again, as it was before the counts were read back at start
    await relay.stop();
    relay = await startRelay(sink.port, settings, { dataDir });
    seen = watch(relay, 'delivery-failures');
    assert.equal(relay.relay.monitor.metrics.windowSum('deferred', 10), 4);
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, []);
    assert.equal(relay.relay.monitor.alerts.open().filter((alert) => alert.rule === 'delivery-failures').length, 1);
    refuse = false;
    for (let i = 0; i < 16; i++) await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`accepted ${i}`));
    await until('sixteen are delivered', () => relay.relay.monitor.metrics.windowSum('delivered', 10) >= 16);
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, ['cleared']);
  } finally {
    await relay.stop();
    await sink.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('TLS certificate expiring: raised with the expiring pair, cleared after a restart with a renewed one', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = tempDir();
  const keys = tempDir();
  dirs.push(dataDir, keys);
  const pair = async (name: string, days: number) => {
    const pems = await generate([{ name: 'commonName', value: 'relay.example.test' }], { keySize: 2048, notAfterDate: new Date(Date.now() + days * 86400_000) });
    writeFileSync(join(keys, `${name}.crt`), pems.cert);
    writeFileSync(join(keys, `${name}.key`), pems.private);
    return { cert: join(keys, `${name}.crt`), key: join(keys, `${name}.key`) };
  };
  const sink = await Sink.start();
  try {
    const first = await startRelay(sink.port, { mx: { listen: '127.0.0.1:0', tls: await pair('old', 5) } }, { dataDir });
    const seen = watch(first, 'tls-expiry');
    try {
      await first.relay.monitor.checkAlerts();
      assert.deepEqual(seen, ['raised']);
      assert.match(first.relay.monitor.alerts.open().find((alert) => alert.rule === 'tls-expiry')!.message, /expires in (4|5) days/);
    } finally {
      await first.stop();
    }
    const second = await startRelay(sink.port, { mx: { listen: '127.0.0.1:0', tls: await pair('new', 300) } }, { dataDir });
    const again = watch(second, 'tls-expiry');
    try {
      assert.equal(second.relay.monitor.alerts.open().filter((alert) => alert.rule === 'tls-expiry').length, 1, 'the open alert survived the restart');
      await second.relay.monitor.checkAlerts();
      assert.deepEqual(again, ['cleared'], 'cleared, not raised again');
    } finally {
      await second.stop();
    }
  } finally {
    await sink.stop();
  }
});

test('no recent backup: raised when the relay has gone too long without one, cleared by a backup', { timeout: TEST_TIMEOUT_MS }, async () => {
  let offset = 0;
  const sink = await Sink.start();
  const backups = tempDir();
  dirs.push(backups);
  const relay = await startRelay(sink.port, { alerts: { backupAgeDays: 7 }, backup: { folder: backups, keep: 2 } }, { clock: () => Date.now() + offset });
  const seen = watch(relay, 'backup-age');
  try {
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, [], 'a fresh relay gets its grace period');
    offset = 8 * 86400_000;
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, ['raised']);
    const summary = await relay.relay.backups.runNow();
    assert.ok(summary.file.startsWith(backups));
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, ['raised', 'cleared']);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('open-relay self-test: the alert is raised when a listener accepts a relay trick and cleared when ours refuses them all', { timeout: TEST_TIMEOUT_MS }, async () => {
  const openRelay = await Sink.start(); // accepts any recipient: what an open relay does
  const sink = await Sink.start();
  const options: MonitorOptions = { selfTestTarget: `127.0.0.1:${openRelay.port}` };
  const live = await relayWithMonitor(sink.port, options);
  const seen: string[] = [];
  live.events.on('alert', (event) => event.alert.rule === 'open-relay' && seen.push(event.action));
  try {
    const [failing] = await live.monitor.runChecklist(['open-relay']);
    assert.equal(failing!.status, 'failing');
    assert.match(failing!.detail, /OPEN RELAY: foreign domain <relay-test@moat-selftest\.invalid> was accepted/);
    assert.deepEqual(seen, ['raised']);
    assert.equal(live.monitor.alerts.open().find((alert) => alert.rule === 'open-relay')!.severity, 'critical');
    assert.equal(openRelay.messages.length, 0, 'the self-test never sends DATA');
    options.selfTestTarget = undefined;
    const [passing] = await live.monitor.runChecklist(['open-relay']);
    assert.equal(passing!.status, 'ok', passing!.detail);
    assert.deepEqual(seen, ['raised', 'cleared']);
  } finally {
    await live.stop();
    await sink.stop();
    await openRelay.stop();
  }
});

test('disk free (the one condition a test cannot make for real: the statfs figures are injected)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const space = { free: 5, total: 100 };
  const live = await relayWithMonitor(sink.port, { diskSpace: async () => space });
  const seen: string[] = [];
  live.events.on('alert', (event) => event.alert.rule === 'disk-free' && seen.push(event.action));
  try {
    await live.monitor.checkAlerts();
    space.free = 12;
    await live.monitor.checkAlerts();
    assert.deepEqual(seen, ['raised']);
    space.free = 20;
    await live.monitor.checkAlerts();
    assert.deepEqual(seen, ['raised', 'cleared']);
  } finally {
    await live.stop();
    await sink.stop();
  }
});

test('account suspended: raised when the circuit breaker suspends a submission account, cleared when it is unlocked', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  const seen = watch(relay, 'account-suspended');
  try {
    const accounts = new AccountStore(relay.relay.queue.store.db);
    assert.ok(accounts.add('alice@example.test', 'not-a-real-hash', [], Date.now()));
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, []);
    accounts.suspend('alice@example.test', 'sent 500 messages in an hour', Date.now());
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, ['raised']);
    assert.match(relay.relay.monitor.alerts.open().find((alert) => alert.rule === 'account-suspended')!.message, /alice@example\.test/);
    accounts.unlock('alice@example.test', Date.now());
    await relay.relay.monitor.checkAlerts();
    assert.deepEqual(seen, ['raised', 'cleared']);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});
