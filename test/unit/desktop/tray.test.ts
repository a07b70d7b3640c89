import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertBook, healthOf, parseAlertEvent, type DesktopAlert } from '../../../src-main/alerts.ts';
import { formatAge, queueLine, trayHealth, trayView, type TrayInput, type TrayMenuItem } from '../../../src-main/tray.ts';
import { alertEvent } from './alert-fixtures.ts';

function event(action: 'raised' | 'cleared', id: number, severity: 'warning' | 'critical', rule = 'queue-age') {
  const parsed = parseAlertEvent(alertEvent(action, { id, severity, rule }));
  assert.ok(parsed);
  return parsed;
}

const running = { state: 'running', mode: 'host', address: '127.0.0.1:40001' } as const;
const base: TrayInput = { alertHealth: 'ok', openAlerts: 0, queue: { size: 0, oldest: null, held: 0, queueHeld: false }, relay: running, engine: { state: 'running', error: null }, now: 10_000_000 };

function labels(items: TrayMenuItem[]): string[] {
  return items.flatMap((item) => (item.type === 'item' ? [item.label] : ['---']));
}

function item(items: TrayMenuItem[], action: string) {
  return items.find((entry) => entry.type === 'item' && entry.action === action) as Extract<TrayMenuItem, { type: 'item' }> | undefined;
}

test('no open alert is ok, a warning is warning, any critical alert is alert', () => {
  const warning = event('raised', 1, 'warning').alert;
  const critical = event('raised', 2, 'critical').alert;
  assert.equal(healthOf([]), 'ok');
  assert.equal(healthOf([warning]), 'warning');
  assert.equal(healthOf([warning, critical]), 'alert');
  assert.equal(healthOf([critical, warning]), 'alert');
});

test('the tray goes back to ok when the last alert clears', () => {
  const book = new AlertBook();
  book.apply(event('raised', 1, 'critical'));
  book.apply(event('raised', 2, 'warning', 'disk-free'));
  assert.equal(book.health, 'alert');
  book.apply(event('cleared', 1, 'critical'));
  assert.equal(book.health, 'warning');
  book.apply(event('cleared', 2, 'warning', 'disk-free'));
  assert.equal(book.health, 'ok');
});

test('a repeated raise or a clear of an unknown alert changes nothing', () => {
  const book = new AlertBook();
  assert.equal(book.apply(event('raised', 1, 'warning')), true);
  assert.equal(book.apply(event('raised', 1, 'warning')), false);
  assert.equal(book.apply(event('cleared', 9, 'warning', 'backup-age')), false);
  assert.equal(book.list().length, 1);
});

test('an updated alert replaces its words in the book and opens nothing new', () => {
  const book = new AlertBook();
  book.apply(event('raised', 1, 'critical', 'internal-down'));
  const updated = parseAlertEvent(alertEvent('updated', { id: 1, severity: 'critical', rule: 'internal-down', hint: 'Check the firewall.' }));
  assert.ok(updated);
  assert.equal(book.apply(updated), false);
  assert.deepEqual(book.list().map((alert) => [alert.key, alert.hint]), [['1', 'Check the firewall.']]);
  assert.equal(book.health, 'alert');
});

test('a fresh list replaces the open alerts and names those that went away', () => {
  const book = new AlertBook();
  book.apply(event('raised', 1, 'warning'));
  book.apply(event('raised', 2, 'critical', 'internal-down'));
  const stillOpen: DesktopAlert = event('raised', 2, 'critical', 'internal-down').alert;
  const gone = book.reset([stillOpen]);
  assert.deepEqual(gone.map((alert) => alert.key), ['1']);
  assert.deepEqual(book.list().map((alert) => alert.key), ['2']);
});

test('an alert event in another shape is not taken for one', () => {
  assert.equal(parseAlertEvent({ rule: 'queue-age', state: 'raised' }), null);
  assert.equal(parseAlertEvent({ action: 'raised', alert: { id: 1, rule: 'queue-age', severity: 'fatal' } }), null);
  assert.equal(parseAlertEvent(null), null);
});

test('ages read in the largest sensible units', () => {
  assert.equal(formatAge(45_000), '45 s');
  assert.equal(formatAge(12 * 60_000 + 5_000), '12 min');
  assert.equal(formatAge(3 * 3_600_000 + 5 * 60_000), '3 h 5 min');
  assert.equal(formatAge(2 * 3_600_000), '2 h');
  assert.equal(formatAge(2 * 86_400_000 + 4 * 3_600_000), '2 d 4 h');
  assert.equal(formatAge(-5), '0 s');
});

test('the queue line gives the size, the oldest message\'s age and a paused delivery', () => {
  const now = 10_000_000;
  assert.equal(queueLine({ size: 12, oldest: now - 3 * 3_600_000 - 5 * 60_000, held: 0, queueHeld: false }, now), 'Queue: 12 messages, oldest 3 h 5 min');
  assert.equal(queueLine({ size: 1, oldest: now - 30_000, held: 1, queueHeld: false }, now), 'Queue: 1 message, oldest 30 s, 1 held');
  assert.equal(queueLine({ size: 4, oldest: now - 60_000, held: 4, queueHeld: true }, now), 'Queue: 4 messages, oldest 1 min, delivery paused');
  assert.equal(queueLine({ size: 0, oldest: null, held: 0, queueHeld: false }, now), 'Queue: empty');
  assert.equal(queueLine(null, now), 'Queue: not known (relay not connected)');
});

test('the menu opens the app, shows the queue, offers to pause delivery and quits', () => {
  const view = trayView({ ...base, queue: { size: 3, oldest: base.now - 120_000, held: 0, queueHeld: false } });
  assert.deepEqual(labels(view.items), ['Open Moat', '---', 'Relay: running', 'Queue: 3 messages, oldest 2 min', '---', 'Pause delivery (hold the queue)', '---', 'Quit Moat (stops the relay)']);
  assert.equal(item(view.items, 'pause-delivery')?.enabled, true);
  assert.equal(view.health, 'ok');
  assert.equal(view.tooltip, 'Moat: all well');
});

test('a held queue offers to resume delivery', () => {
  const view = trayView({ ...base, queue: { size: 2, oldest: base.now - 1_000, held: 2, queueHeld: true } });
  assert.equal(item(view.items, 'pause-delivery'), undefined);
  assert.equal(item(view.items, 'resume-delivery')?.label, 'Resume delivery');
});

test('pause and resume are disabled while the relay is not connected', () => {
  const view = trayView({ ...base, relay: { state: 'restarting', mode: 'host', attempt: 2, retryAt: base.now + 2_000, lastError: 'crashed' } });
  assert.equal(item(view.items, 'pause-delivery')?.enabled, false);
  assert.ok(labels(view.items).includes('Queue: not known (relay not connected)'));
  assert.ok(labels(view.items).includes('Relay: stopped unexpectedly, restarting (attempt 2)'));
  assert.equal(view.health, 'warning');
});

test('open alerts are counted in the menu and the tooltip', () => {
  const view = trayView({ ...base, alertHealth: 'alert', openAlerts: 2 });
  assert.ok(labels(view.items).includes('2 alerts open'));
  assert.equal(view.tooltip, 'Moat: needs attention now (2 alerts open)');
  assert.equal(view.health, 'alert');
});

test('a relay the supervisor gave up on shows alert and offers to start it again', () => {
  const view = trayView({ ...base, relay: { state: 'failed', mode: 'host', error: 'port 25 is taken' } });
  assert.equal(view.health, 'alert');
  assert.ok(labels(view.items).includes('Relay: stopped (port 25 is taken)'));
  assert.equal(item(view.items, 'retry-relay')?.enabled, true);
  assert.equal(item(view.items, 'quit')?.label, 'Quit Moat');
});

test('a relay waiting for its setup is a warning, a failed engine inside it an alert', () => {
  assert.equal(trayHealth('ok', running, { state: 'setup', error: null }), 'warning');
  assert.equal(trayHealth('ok', running, { state: 'failed', error: 'bad certificate' }), 'alert');
  assert.equal(trayHealth('warning', running, { state: 'running', error: null }), 'warning');
  const view = trayView({ ...base, engine: { state: 'setup', error: null } });
  assert.ok(labels(view.items).includes('Relay: not set up yet (open Moat to set it up)'));
});

test('mail that does not flow is a warning before any alert says so, as the dashboard warns at once: a route down, delivery paused', () => {
  const down = trayView({ ...base, engine: { state: 'running', error: null, routesNotTaking: [{ route: 'internal', state: 'down' }] } });
  assert.equal(down.health, 'warning');
  assert.equal(down.tooltip, 'Moat: needs a look (internal server down)');
  const paused = trayView({ ...base, engine: { state: 'running', error: null, routesNotTaking: [] }, queue: { size: 3, oldest: 0, held: 0, queueHeld: true } });
  assert.equal(paused.health, 'warning');
  assert.equal(paused.tooltip, 'Moat: needs a look (delivery paused)');
  // an open critical alert still decides; nothing wrong is still all well
  assert.equal(trayView({ ...base, alertHealth: 'alert', openAlerts: 1, engine: { state: 'running', error: null, routesNotTaking: [{ route: 'internal', state: 'down' }] } }).health, 'alert');
  assert.equal(trayView({ ...base, engine: { state: 'running', error: null, routesNotTaking: [{ route: 'smarthost', state: 'down' }] } }).tooltip, 'Moat: needs a look (smarthost down)');
  const flowing = trayView({ ...base, engine: { state: 'running', error: null, routesNotTaking: [] } });
  assert.deepEqual([flowing.health, flowing.tooltip], ['ok', 'Moat: all well']);
});

test('an internal server that answers but refuses every message is a warning that says so, not "down" (the firewall is not where to look)', () => {
  const refusing = trayView({ ...base, engine: { state: 'running', error: null, routesNotTaking: [{ route: 'internal', state: 'refusing' }] } });
  assert.equal(refusing.health, 'warning');
  assert.equal(refusing.tooltip, 'Moat: needs a look (internal server refusing mail)');
});

test('an attached relay says where it is and quitting does not claim to stop it', () => {
  const view = trayView({ ...base, relay: { state: 'running', mode: 'attach', address: 'https://relay.example.org:8025' } });
  assert.ok(labels(view.items).includes('Relay: attached to https://relay.example.org:8025'));
  assert.equal(item(view.items, 'quit')?.label, 'Quit Moat');
});
