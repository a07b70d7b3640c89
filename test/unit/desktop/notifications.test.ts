import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAlertEvent, type DesktopAlertEvent } from '../../../src-main/alerts.ts';
import { NotificationPolicy, routeForRule, DEFAULT_NOTIFICATION_CHOICES } from '../../../src-main/notifications.ts';
import type { NotificationChoices } from '../../../src-main/bridge.ts';
import { alertEvent, engineAlert } from './alert-fixtures.ts';

function ev(action: DesktopAlertEvent['action'], overrides: Parameters<typeof engineAlert>[0] = {}): DesktopAlertEvent {
  const parsed = parseAlertEvent(alertEvent(action, overrides));
  assert.ok(parsed);
  return parsed;
}

function policy(choices: Partial<NotificationChoices> = {}) {
  const current = { ...DEFAULT_NOTIFICATION_CHOICES, ...choices };
  return new NotificationPolicy(() => current);
}

test('a raised alert is notified with its title, its words and its hint', () => {
  const request = policy().onEvent(ev('raised', { id: 3, severity: 'critical', title: 'Internal server unreachable', message: 'Delivery fails since 10:02.', hint: 'Check Exchange.', rule: 'internal-down' }));
  assert.deepEqual(request, {
    key: '3',
    kind: 'raised',
    title: 'Moat: Internal server unreachable',
    body: 'Delivery fails since 10:02. Check Exchange.',
    route: '#/queue?route=internal',
    urgency: 'critical',
  });
});

test('an alert is notified once, not again while it stays open', () => {
  const notifications = policy();
  assert.ok(notifications.onEvent(ev('raised', { id: 1 })));
  assert.equal(notifications.onEvent(ev('raised', { id: 1 })), null);
  assert.equal(notifications.onEvent(ev('raised', { id: 1, message: 'now 3 h' })), null);
});

test('an open alert whose advice changed (updated) is not notified again, and its clearing still is', () => {
  const notifications = policy();
  assert.ok(notifications.onEvent(ev('raised', { id: 1, rule: 'internal-down', hint: 'Free space on that server.' })));
  assert.equal(notifications.onEvent(ev('updated', { id: 1, rule: 'internal-down', hint: 'Check the firewall.' })), null);
  assert.equal(notifications.onEvent(ev('cleared', { id: 1, rule: 'internal-down' }))?.kind, 'cleared');
});

test('a cleared alert gives a cleared notice with the reason', () => {
  const notifications = policy();
  notifications.onEvent(ev('raised', { id: 1, title: 'Mail is waiting too long' }));
  const request = notifications.onEvent(ev('cleared', { id: 1, title: 'Mail is waiting too long', clearMessage: 'The oldest message is 2 min old.' }));
  assert.equal(request?.kind, 'cleared');
  assert.equal(request?.title, 'Moat: cleared: Mail is waiting too long');
  assert.equal(request?.body, 'The oldest message is 2 min old.');
  assert.equal(request?.urgency, 'normal');
});

test('the same alert raised again after it cleared is notified again', () => {
  const notifications = policy();
  notifications.onEvent(ev('raised', { id: 1 }));
  notifications.onEvent(ev('cleared', { id: 1 }));
  assert.equal(notifications.onEvent(ev('raised', { id: 1 }))?.kind, 'raised');
});

test('a clear of an alert never notified says nothing', () => {
  assert.equal(policy().onEvent(ev('cleared', { id: 42 })), null);
});

test('cleared notices can be turned off', () => {
  const notifications = policy({ notifyOnClear: false });
  notifications.onEvent(ev('raised', { id: 1 }));
  assert.equal(notifications.onEvent(ev('cleared', { id: 1 })), null);
});

test('notifications can be turned off, limited to critical alerts, or muted per rule', () => {
  assert.equal(policy({ enabled: false }).onEvent(ev('raised', { id: 1 })), null);
  assert.equal(policy({ minSeverity: 'critical' }).onEvent(ev('raised', { id: 1, severity: 'warning' })), null);
  assert.ok(policy({ minSeverity: 'critical' }).onEvent(ev('raised', { id: 1, severity: 'critical' })));
  assert.equal(policy({ mutedRules: ['backup-age'] }).onEvent(ev('raised', { id: 1, rule: 'backup-age' })), null);
  assert.ok(policy({ mutedRules: ['backup-age'] }).onEvent(ev('raised', { id: 2, rule: 'queue-size' })));
});

test('a muted alert that clears gives no cleared notice either', () => {
  const notifications = policy({ mutedRules: ['tls-expiry'] });
  notifications.onEvent(ev('raised', { id: 5, rule: 'tls-expiry' }));
  assert.equal(notifications.onEvent(ev('cleared', { id: 5, rule: 'tls-expiry' })), null);
});

test('after a reconnect, alerts already notified are not repeated and new ones are', () => {
  const notifications = policy();
  notifications.onEvent(ev('raised', { id: 1 }));
  const listed = [ev('raised', { id: 1 }).alert, ev('raised', { id: 2, rule: 'disk-free', title: 'Disk almost full' }).alert];
  const requests = notifications.onList(listed, []);
  assert.deepEqual(requests.map((request) => [request.key, request.kind]), [['2', 'raised']]);
});

test('an alert that cleared while disconnected gets its cleared notice at the next listing', () => {
  const notifications = policy();
  const first = ev('raised', { id: 1 });
  notifications.onEvent(first);
  const requests = notifications.onList([], [first.alert]);
  assert.deepEqual(requests.map((request) => [request.key, request.kind]), [['1', 'cleared']]);
  assert.equal(notifications.onEvent(ev('raised', { id: 1 }))?.kind, 'raised', 'forgotten once cleared');
});

test('each alert opens the screen it is about', () => {
  assert.equal(routeForRule('queue-size'), '#/queue');
  assert.equal(routeForRule('queue-age'), '#/queue');
  assert.equal(routeForRule('internal-down'), '#/queue?route=internal', 'the queue filtered to the internal route');
  assert.equal(routeForRule('delivery-failures'), '#/queue?status=deferred', 'the queue filtered to the messages being retried');
  assert.equal(routeForRule('tls-expiry'), '#/checklist?probe=tls-certificate', 'the checklist, its certificate check highlighted');
  assert.equal(routeForRule('clamav-signatures'), '#/checklist?probe=clamav');
  assert.equal(routeForRule('open-relay'), '#/checklist?probe=open-relay');
  assert.equal(routeForRule('disk-free'), '#/dashboard', 'the Disk card is on the dashboard');
  assert.equal(routeForRule('backup-age'), '#/settings/backups');
  assert.equal(routeForRule('account-suspended'), '#/settings/accounts');
  assert.equal(routeForRule('something-new'), '#/dashboard');
  assert.equal(routeForRule('constructor'), '#/dashboard', 'no inherited property is a route');
});

test('a long message is cut to fit a notification', () => {
  const request = policy().onEvent(ev('raised', { id: 1, message: 'x'.repeat(1000), hint: '' }));
  assert.equal(request?.body.length, 240);
  assert.ok(request?.body.endsWith('…'));
});

test('every alert rule of the engine has a screen of its own chosen', async () => {
  const { BUILT_IN_RULES } = await import('../../../src-relay/monitor/alert-rules.ts');
  const { ALERT_ROUTES } = await import('../../../src-main/notifications.ts');
  const missing = BUILT_IN_RULES.map((rule) => rule.id).filter((id) => !Object.hasOwn(ALERT_ROUTES, id));
  assert.deepEqual(missing, []);
});
