import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { validateConfig } from '../../../src-relay/config/load.ts';
import { createRelayEvents, type AlertEvent, type RouteState } from '../../../src-relay/events.ts';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { MonitorStore } from '../../../src-relay/monitor/monitor-store.ts';
import { Metrics } from '../../../src-relay/monitor/metrics.ts';
import { AlertManager } from '../../../src-relay/monitor/alerts.ts';
import { BUILT_IN_RULES, describeDuration, type AlertRule, type RuleContext } from '../../../src-relay/monitor/alert-rules.ts';
import { alertEmail, webhookPayload } from '../../../src-relay/monitor/notify.ts';
import type { MonitorHooks } from '../../../src-relay/monitor/types.ts';
import { silentLogger } from '../../../src-relay/log/logger.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const T0 = Date.parse('2026-11-28T10:00:00Z');

/** A world the rules look at, every part of it settable by the test. */
function world(configInput: Record<string, unknown> = {}) {
  const dir = tempDir('moat-alerts-');
  const db = openDatabase(dir);
  const store = new MonitorStore(db);
  const result = validateConfig({ domains: ['example.test'], internal: { host: '127.0.0.1' }, ...configInput });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const state = {
    now: T0,
    size: 0,
    held: 0,
    releaseRequests: 0,
    oldest: null as number | null,
    routes: [] as RouteState[],
    disk: { free: 50, total: 100 } as { free: number; total: number } | null,
    certValidTo: T0 + 400 * 86400_000,
    lastBackup: null as { at: number; file: string } | null,
    hooks: {} as MonitorHooks,
  };
  const metrics = new Metrics({ store, clock: () => state.now, sampleGauges: () => [] });
  const events = createRelayEvents();
  const seen: AlertEvent[] = [];
  events.on('alert', (event) => seen.push(event));
  const context = (): RuleContext => ({
    now: state.now,
    config: result.config,
    queueSummary: () => ({ size: state.size, oldest: state.oldest, held: state.held }),
    releaseRequests: () => state.releaseRequests,
    routeStates: () => state.routes,
    metrics,
    diskSpace: async () => state.disk,
    tlsCertificate: () => ({ validTo: state.certValidTo, subject: 'CN=relay.example.test' }),
    lastBackup: () => state.lastBackup,
    firstStartedAt: T0,
    lastSelfTest: () => null,
    hooks: state.hooks,
  });
  const manager = (rules: readonly AlertRule[] = BUILT_IN_RULES) =>
    new AlertManager({ store, events, rules, disabled: result.config.alerts.disabled, context, clock: () => state.now, logger: silentLogger });
  return {
    state,
    metrics,
    seen,
    manager,
    store,
    summary: () => seen.map((event) => `${event.action}:${event.alert.rule}`),
    done: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('the queue-size alert is raised once past raise, stays up in the band, and clears once at or below clear', async () => {
  const w = world({ alerts: { queueSize: { raise: 10, clear: 5 } } });
  try {
    const alerts = w.manager();
    w.state.size = 11;
    await alerts.evaluate();
    await alerts.evaluate();
    w.state.size = 7; // in the band: no change either way
    await alerts.evaluate();
    w.state.size = 12;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:queue-size'], 'raised exactly once');
    const raised = w.seen[0]!.alert;
    assert.equal(raised.severity, 'warning');
    assert.match(raised.message, /11 messages are waiting/);
    assert.ok(raised.hint.length > 20);
    assert.equal(raised.raisedAt, T0);
    w.state.size = 6;
    await alerts.evaluate();
    assert.equal(w.seen.length, 1, 'still above clear');
    w.state.now += 1000;
    w.state.size = 5;
    await alerts.evaluate();
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:queue-size', 'cleared:queue-size'], 'cleared exactly once');
    assert.equal(w.seen[1]!.alert.clearedAt, T0 + 1000);
    assert.match(w.seen[1]!.alert.clearMessage!, /down to 5/);
    assert.deepEqual(alerts.open(), []);
    assert.equal(alerts.history().length, 1);
  } finally {
    w.done();
  }
});

test('open alerts survive a restart: the new manager neither raises them again nor forgets to clear them', async () => {
  const w = world({ alerts: { queueSize: { raise: 2, clear: 1 } } });
  try {
    w.state.size = 3;
    await w.manager().evaluate();
    const again = w.manager();
    assert.equal(again.open().length, 1);
    await again.evaluate();
    assert.deepEqual(w.summary(), ['raised:queue-size']);
    w.state.size = 0;
    await again.evaluate();
    assert.deepEqual(w.summary(), ['raised:queue-size', 'cleared:queue-size']);
  } finally {
    w.done();
  }
});

test('a hold time keeps a short blip from raising an alert', async () => {
  const w = world();
  try {
    let bad = false;
    const rule: AlertRule = {
      id: 'blip',
      severity: 'warning',
      title: 'blip',
      raiseAfterMs: 60_000,
      check: () => (bad ? { state: 'bad', message: 'bad', hint: 'h' } : { state: 'good', message: 'fine' }),
    };
    const alerts = w.manager([rule]);
    bad = true;
    await alerts.evaluate();
    w.state.now += 30_000;
    bad = false;
    await alerts.evaluate();
    bad = true;
    w.state.now += 30_000;
    await alerts.evaluate();
    w.state.now += 59_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), [], 'bad for less than the hold time');
    w.state.now += 1_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:blip']);
  } finally {
    w.done();
  }
});

test('a rule that throws or cannot tell changes nothing', async () => {
  const w = world();
  try {
    let mode: 'bad' | 'throw' | 'unknown' = 'bad';
    const rule: AlertRule = {
      id: 'flaky',
      severity: 'critical',
      title: 'flaky',
      check: () => {
        if (mode === 'throw') throw new Error('boom');
        return mode === 'bad' ? { state: 'bad', message: 'bad', hint: 'h' } : { state: 'unknown', why: 'no idea' };
      },
    };
    const alerts = w.manager([rule]);
    await alerts.evaluate();
    mode = 'throw';
    await alerts.evaluate();
    mode = 'unknown';
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:flaky']);
    assert.equal(alerts.open().length, 1);
  } finally {
    w.done();
  }
});

test('oldest-message age: raised past raise minutes, cleared only once no message is older than clear', async () => {
  const w = world({ alerts: { oldestQueuedMinutes: { raise: 60, clear: 30 } } });
  try {
    const alerts = w.manager();
    w.state.oldest = T0 - 61 * 60_000;
    w.state.size = 1;
    await alerts.evaluate();
    w.state.oldest = T0 - 45 * 60_000;
    await alerts.evaluate();
    w.state.oldest = null;
    w.state.size = 0;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:queue-age', 'cleared:queue-age']);
    assert.match(w.seen[0]!.alert.message, /waiting 1 h 1 min/);
  } finally {
    w.done();
  }
});

test('durations in alert texts keep their smaller unit and are never rounded up', () => {
  const cases: [number, string][] = [
    [0, '0 s'],
    [-5_000, '0 s'],
    [45_000, '45 s'],
    [59_999, '59 s'],
    [60_000, '1 min'],
    [90_000, '1 min 30 s'],
    [150_000, '2 min 30 s'],
    [119_999, '1 min 59 s'],
    [3_600_000, '1 h'],
    [3_600_000 + 5 * 60_000 + 59_000, '1 h 5 min'],
    [47 * 3_600_000 + 59 * 60_000, '47 h 59 min'],
    [48 * 3_600_000, '2 days'],
    [3 * 86_400_000 + 12 * 3_600_000, '3 days 12 h'],
    [30 * 86_400_000 + 5 * 3_600_000, '30 days'],
  ];
  for (const [ms, text] of cases) assert.equal(describeDuration(ms), text, `${ms} ms`);
});

test('an internal server down for 90 s against a 1.5 min limit reads "1 min 30 s", not "2 min" or "1 min"', async () => {
  const w = world({ alerts: { internalDownMinutes: 1.5 } });
  try {
    const alerts = w.manager();
    w.state.routes = [{ route: 'internal', state: 'down', since: T0, checkedAt: T0, lastError: 'connect ECONNREFUSED' }];
    w.state.now = T0 + 89_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), [], 'one second under the limit raises nothing');
    w.state.now = T0 + 90_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:internal-down']);
    assert.match(w.seen[0]!.alert.message, /unreachable for 1 min 30 s;/);
  } finally {
    w.done();
  }
});

test('the queue-age alert names the age and the limit to the second below an hour', async () => {
  const w = world({ alerts: { oldestQueuedMinutes: { raise: 1.5, clear: 1 } } });
  try {
    const alerts = w.manager();
    w.state.size = 1;
    w.state.oldest = T0 - 100_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:queue-age']);
    assert.match(w.seen[0]!.alert.message, /waiting 1 min 40 s \(the alert is set at 1 min 30 s\)/);
  } finally {
    w.done();
  }
});

test('internal server unreachable: raised only after the configured time, cleared when it answers', async () => {
  const w = world({ alerts: { internalDownMinutes: 10 } });
  try {
    const alerts = w.manager();
    w.state.routes = [{ route: 'internal', state: 'down', since: T0, checkedAt: T0, lastError: 'connect ECONNREFUSED' }];
    w.state.now = T0 + 9 * 60_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), []);
    w.state.now = T0 + 10 * 60_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:internal-down']);
    assert.equal(w.seen[0]!.alert.severity, 'critical');
    assert.match(w.seen[0]!.alert.message, /127\.0\.0\.1:25.*10 min.*ECONNREFUSED/);
    w.state.routes = [{ route: 'internal', state: 'up', since: w.state.now, checkedAt: w.state.now, lastError: null }];
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:internal-down', 'cleared:internal-down']);
    // up is "took the last message", not "took them all": the clearing claims no delivery of the backlog
    assert.equal(w.seen[1]!.alert.clearMessage, 'The internal mail server takes mail again, and waiting mail is being tried now: the Queue shows what it has not taken yet.');
  } finally {
    w.done();
  }
});

test('an internal server that answers but refuses every message raises the same alert after the same time, saying it refuses rather than that it is unreachable', async () => {
  const w = world({ alerts: { internalDownMinutes: 10 } });
  try {
    const alerts = w.manager();
    w.state.routes = [{ route: 'internal', state: 'refusing', since: T0, checkedAt: T0, lastError: 'MAIL FROM: 452 4.3.1 Insufficient system resources' }];
    w.state.now = T0 + 10 * 60_000 - 1;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), [], 'one millisecond under the limit raises nothing');
    w.state.now = T0 + 10 * 60_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:internal-down']);
    const raised = w.seen[0]!.alert;
    assert.equal(raised.title, 'The internal mail server is not taking mail');
    assert.match(raised.message, /^The internal mail server \(127\.0\.0\.1:25\) answers but has refused every message for 10 min; its last answer: MAIL FROM: 452 4\.3\.1 Insufficient system resources\./);
    assert.doesNotMatch(`${raised.message} ${raised.hint}`, /unreachable|firewall/);
    assert.match(raised.hint!, /back-pressure/);
  } finally {
    w.done();
  }
});

test('an open internal-down alert takes the advice of the present state when the server goes from refusing to unreachable and back, once per change, and keeps it over a restart', async () => {
  const w = world({ alerts: { internalDownMinutes: 10 } });
  try {
    const alerts = w.manager();
    const refusing = (): RouteState => ({ route: 'internal', state: 'refusing', since: T0, checkedAt: w.state.now, lastError: 'MAIL FROM: 452 4.3.1 Insufficient system resources' });
    const down = (): RouteState => ({ route: 'internal', state: 'down', since: T0, checkedAt: w.state.now, lastError: 'connect ECONNREFUSED 127.0.0.1:25' });
    w.state.routes = [refusing()];
    w.state.now = T0 + 10 * 60_000;
    await alerts.evaluate();
    // still refusing a minute on: the message's duration would differ, which is no reason to tell anyone
    w.state.now += 60_000;
    w.state.routes = [refusing()];
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:internal-down']);
    w.state.now += 60_000;
    w.state.routes = [down()];
    await alerts.evaluate();
    w.state.now += 60_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:internal-down', 'updated:internal-down']);
    const updated = w.seen[1]!.alert;
    assert.equal(updated.id, w.seen[0]!.alert.id, 'the same alert, not a new one');
    assert.equal(updated.raisedAt, T0 + 10 * 60_000);
    assert.match(updated.message, /has been unreachable for 12 min; last error: connect ECONNREFUSED/);
    assert.match(updated.hint, /firewall/);
    assert.doesNotMatch(updated.hint, /back-pressure/);
    assert.deepEqual(alerts.open().map((alert) => alert.hint), [updated.hint]);
    // what the screens list after a restart is the present advice, not the one it was raised with
    const restarted = w.manager();
    assert.deepEqual(restarted.open().map((alert) => [alert.id, alert.hint]), [[updated.id, updated.hint]]);
    w.state.now += 60_000;
    w.state.routes = [refusing()];
    await restarted.evaluate();
    assert.deepEqual(w.summary(), ['raised:internal-down', 'updated:internal-down', 'updated:internal-down']);
    assert.match(w.seen[2]!.alert.hint, /back-pressure/);
    w.state.routes = [{ route: 'internal', state: 'up', since: w.state.now, checkedAt: w.state.now, lastError: null }];
    await restarted.evaluate();
    assert.deepEqual(w.summary().at(-1), 'cleared:internal-down');
    assert.deepEqual(w.store.openAlerts(), []);
  } finally {
    w.done();
  }
});

test('delivery failures: the ratio over the window raises at raisePercent and clears at clearPercent', async () => {
  const w = world({ alerts: { deliveryFailures: { windowMinutes: 10, minAttempts: 10, raisePercent: 50, clearPercent: 20 } } });
  try {
    const alerts = w.manager();
    // the deferred ones still wait for their retry: the ratio alone decides
    w.state.size = 4;
    w.metrics.increment('deferred', { route: 'internal' }, 4);
    await alerts.evaluate();
    assert.deepEqual(w.summary(), [], 'too few attempts to judge');
    w.metrics.increment('bounced', { route: 'outbound' }, 2);
    w.metrics.increment('delivered', { route: 'internal' }, 4);
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:delivery-failures'], '6 of 10 failed');
    w.metrics.increment('delivered', { route: 'internal' }, 15);
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:delivery-failures'], '6 of 25 = 24%: in the band');
    w.metrics.increment('delivered', { route: 'internal' }, 5);
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:delivery-failures', 'cleared:delivery-failures'], '6 of 30 = 20%');
  } finally {
    w.done();
  }
});

test('delivery failures that were only deferrals clear once nothing waits for a retry (the outage ended), not while something does', async () => {
  const w = world({ alerts: { deliveryFailures: { windowMinutes: 10, minAttempts: 10, raisePercent: 50, clearPercent: 20 } } });
  try {
    const alerts = w.manager();
    w.state.size = 6;
    w.metrics.increment('deferred', { route: 'internal' }, 6);
    w.metrics.increment('delivered', { route: 'internal' }, 4);
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:delivery-failures'], '6 of 10 deferred, 6 waiting');
    w.metrics.increment('delivered', { route: 'internal' }, 5);
    w.state.size = 1;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:delivery-failures'], 'one still waits for a retry');
    w.metrics.increment('delivered', { route: 'internal' }, 1);
    w.state.size = 0;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:delivery-failures', 'cleared:delivery-failures'], '6 of 16 = 38%, yet nothing waits');
  } finally {
    w.done();
  }
});

test('after an outage, messages held on their own and a stray bounce do not keep "Deliveries are failing" up; bounces over the clear level do', async () => {
  const w = world({ alerts: { deliveryFailures: { windowMinutes: 10, minAttempts: 10, raisePercent: 50, clearPercent: 20 } } });
  try {
    const alerts = w.manager();
    w.state.size = 10;
    w.metrics.increment('deferred', { route: 'internal' }, 20);
    w.metrics.increment('bounced', { route: 'outbound' }, 1);
    w.metrics.increment('delivered', { route: 'internal' }, 5);
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:delivery-failures']);
    // the server is back: all delivered but 3 messages the admin held, and the one bounce (a DSN to a domain that does not exist)
    w.metrics.increment('delivered', { route: 'internal' }, 20);
    w.state.size = 3;
    w.state.held = 3;
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:delivery-failures', 'cleared:delivery-failures'], '1 bounce of 46: the outage is over');
    assert.match(w.seen[1]!.alert.clearMessage!, /^20 delivery attempts .* were deferred, but nothing waits for a retry any more \(1 bounced\)\.$/);

    // bounces are failures of their own: 12 of 58 (21%) stays up while nothing is deferred
    const x = world({ alerts: { deliveryFailures: { windowMinutes: 10, minAttempts: 10, raisePercent: 50, clearPercent: 20 } } });
    try {
      const again = x.manager();
      x.metrics.increment('deferred', { route: 'internal' }, 20);
      x.metrics.increment('bounced', { route: 'outbound' }, 12);
      x.metrics.increment('delivered', { route: 'internal' }, 6);
      await again.evaluate();
      x.metrics.increment('delivered', { route: 'internal' }, 20);
      await again.evaluate();
      assert.deepEqual(x.summary(), ['raised:delivery-failures'], '12 bounced of 58 is over the clear level');
    } finally {
      x.done();
    }
  } finally {
    w.done();
  }
});

test('disk free: raised below raise percent, cleared at clear percent; unknown when it cannot be read', async () => {
  const w = world({ alerts: { diskFreePercent: { raise: 10, clear: 15 } } });
  try {
    const alerts = w.manager();
    w.state.disk = { free: 9 * 1024 ** 3, total: 100 * 1024 ** 3 };
    await alerts.evaluate();
    w.state.disk = null;
    await alerts.evaluate();
    w.state.disk = { free: 12 * 1024 ** 3, total: 100 * 1024 ** 3 };
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:disk-free']);
    assert.match(w.seen[0]!.alert.message, /9\.0 GiB \(9\.0%\) of 100\.0 GiB/);
    w.state.disk = { free: 15 * 1024 ** 3, total: 100 * 1024 ** 3 };
    await alerts.evaluate();
    assert.deepEqual(w.summary(), ['raised:disk-free', 'cleared:disk-free']);
  } finally {
    w.done();
  }
});

test('TLS expiry and backup age are judged against the clock', async () => {
  const w = world({ alerts: { tlsExpiryDays: { raise: 14, clear: 21 }, backupAgeDays: 7 } });
  try {
    const alerts = w.manager();
    w.state.certValidTo = T0 + 10 * 86400_000;
    w.state.now = T0 + 8 * 86400_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary().sort(), ['raised:backup-age', 'raised:tls-expiry']);
    assert.match(w.seen.find((event) => event.alert.rule === 'backup-age')!.alert.message, /No backup has been made since the relay first started 8 days ago/);
    assert.match(w.seen.find((event) => event.alert.rule === 'tls-expiry')!.alert.message, /expires in 2 days/);
    w.state.lastBackup = { at: w.state.now, file: '/backups/b.moat' };
    w.state.certValidTo = w.state.now + 90 * 86400_000;
    await alerts.evaluate();
    assert.deepEqual(w.summary().slice(2).sort(), ['cleared:backup-age', 'cleared:tls-expiry']);
  } finally {
    w.done();
  }
});

test('ClamAV signatures and suspended accounts plug in through hooks; without them the rules cannot tell', async () => {
  const w = world({ alerts: { clamavSignatureDays: 3 } });
  try {
    const alerts = w.manager();
    await alerts.evaluate();
    assert.deepEqual(w.summary(), []);
    let suspended: string[] = ['alice@example.test'];
    let signatures = new Date(T0 - 4 * 86400_000);
    w.state.hooks.clamav = async () => ({ version: 'ClamAV 1.0.7/27470', signatureDate: signatures });
    w.state.hooks.suspendedAccounts = () => suspended;
    await alerts.evaluate();
    assert.deepEqual(w.summary().sort(), ['raised:account-suspended', 'raised:clamav-signatures']);
    assert.match(w.seen.find((event) => event.alert.rule === 'account-suspended')!.alert.message, /alice@example\.test/);
    suspended = [];
    signatures = new Date(T0 - 3600_000);
    await alerts.evaluate();
    assert.deepEqual(w.summary().slice(2).sort(), ['cleared:account-suspended', 'cleared:clamav-signatures']);
  } finally {
    w.done();
  }
});

test('a disabled rule clears its open alert and raises nothing', async () => {
  const w = world({ alerts: { queueSize: { raise: 1, clear: 0 } } });
  try {
    w.state.size = 5;
    await w.manager().evaluate();
    const events = createRelayEvents();
    const later: AlertEvent[] = [];
    events.on('alert', (event) => later.push(event));
    const off = new AlertManager({
      store: w.store,
      events,
      rules: BUILT_IN_RULES.filter((rule) => rule.id === 'queue-size'),
      disabled: ['queue-size'],
      context: () => ({}) as RuleContext,
      clock: () => w.state.now,
      logger: silentLogger,
    });
    await off.evaluate();
    assert.deepEqual(later.map((event) => `${event.action}:${event.alert.rule}`), ['cleared:queue-size']);
    assert.match(later[0]!.alert.clearMessage!, /switched off/);
  } finally {
    w.done();
  }
});

test('the alert e-mail is plain ASCII with safe headers, marked auto-generated; the webhook carries a text line', () => {
  const event: AlertEvent = {
    action: 'raised',
    alert: {
      id: 7,
      rule: 'internal-down',
      severity: 'critical',
      title: 'The internal mail server is unreachable',
      message: 'last error: 421 bye\r\nBcc: victim@evil.test ünïcode',
      hint: 'Check it.',
      raisedAt: T0,
      clearedAt: null,
      clearMessage: null,
    },
  };
  const raw = alertEmail({ event, hostname: 'relay.example.test', to: ['admin@example.test'], now: T0 });
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  const body = raw.slice(head.length + 4);
  assert.match(head, /^Subject: \[Moat relay\.example\.test\] RAISED critical: The internal mail server is unreachable$/m);
  assert.match(head, /^Auto-Submitted: auto-generated$/m);
  assert.doesNotMatch(head, /Bcc/);
  assert.ok(/^[\x20-\x7e\r\n]*$/.test(raw), 'only printable ASCII');
  assert.ok(!/(?<!\r)\n/.test(raw), 'CRLF line endings only');
  assert.match(body, /What to do: Check it\./);
  const payload = webhookPayload(event, 'relay.example.test');
  assert.equal(payload.action, 'raised');
  assert.equal(payload.alert.rule, 'internal-down');
  assert.match(payload.text, /RAISED critical/);
});
