import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { AdminClient, baseUrlFromAddress, sessionCookieFrom } from '../../../src-main/admin-client.ts';
import { NotificationPolicy, DEFAULT_NOTIFICATION_CHOICES, type NotificationRequest } from '../../../src-main/notifications.ts';
import { RelayWatch, type RelaySnapshot } from '../../../src-main/relay-watch.ts';
import { SseParser, type SseEvent } from '../../../src-main/sse.ts';
import { ManualClock, recordingLogger } from './fakes.ts';
import { alertEvent, engineAlert } from './alert-fixtures.ts';
import { json, startWireServer } from './wire-server.ts';

function parse(chunks: string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser((event) => events.push(event));
  for (const chunk of chunks) parser.push(chunk);
  return events;
}

test('server-sent events are read whatever the chunking and line endings', () => {
  const stream = 'event: queue\ndata: {"size":1}\n\n: keep-alive\n\nevent: alert\r\ndata: {"a":\r\ndata: 2}\r\n\r\ndata: plain\rid: 9\r\r';
  const whole = parse([stream]);
  const bytewise = parse([...stream]);
  assert.deepEqual(whole, [
    { event: 'queue', data: '{"size":1}', id: null },
    { event: 'alert', data: '{"a":\n2}', id: null },
    { event: 'message', data: 'plain', id: '9' },
  ]);
  assert.deepEqual(bytewise, whole);
});

test('an event without data dispatches nothing and an oversized line is refused', () => {
  assert.deepEqual(parse(['event: relay\n\n']), []);
  const parser = new SseParser(() => {});
  assert.throws(() => parser.push('data: ' + 'x'.repeat(1024 * 1024 + 10)), /longer than/);
});

test('the engine\'s admin address becomes a base URL, IPv6 included', () => {
  assert.equal(baseUrlFromAddress('127.0.0.1:40001'), 'http://127.0.0.1:40001');
  assert.equal(baseUrlFromAddress('[::1]:8025'), 'http://[::1]:8025');
});

test('only the session cookie is kept from Set-Cookie', () => {
  assert.equal(sessionCookieFrom(['other=1; Path=/', 'moat_session=abc123; HttpOnly; SameSite=Strict']), 'moat_session=abc123');
  assert.equal(sessionCookieFrom(['moat_session=; Max-Age=0']), null);
  assert.equal(sessionCookieFrom([]), null);
});

test('a call sends JSON with the bearer token and returns the contract-checked result', async () => {
  const upstream = await startWireServer((_req, res) => json(res, 200, { ok: true, result: { size: 3, oldest: 1_000, held: 1, queueHeld: false } }));
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 'tok' } });
    assert.deepEqual(await client.call('queue.summary', {}), { ok: true, result: { size: 3, oldest: 1_000, held: 1, queueHeld: false } });
    assert.equal(upstream.seen[0]?.method, 'POST');
    assert.equal(upstream.seen[0]?.url, '/api/queue.summary');
    assert.equal(upstream.seen[0]?.headers.authorization, 'Bearer tok');
    assert.equal(upstream.seen[0]?.headers['content-type'], 'application/json');
    assert.equal(upstream.seen[0]?.headers['x-moat-csrf'], undefined);
  } finally {
    await upstream.close();
  }
});

test('a result the contract does not accept is BAD_RESPONSE, never passed on', async () => {
  const upstream = await startWireServer((_req, res) => json(res, 200, { ok: true, result: { size: 'many' } }));
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 'tok' } });
    const result = await client.call('queue.summary', {});
    assert.equal(result.ok, false);
    if (!result.ok) assert.equal(result.code, 'BAD_RESPONSE');
  } finally {
    await upstream.close();
  }
});

test('the relay\'s own error code comes back as it is', async () => {
  const upstream = await startWireServer((_req, res) => json(res, 503, { ok: false, code: 'RELAY_NOT_RUNNING', message: 'the relay is not running' }));
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 'tok' } });
    assert.deepEqual(await client.call('queue.holdAll', {}), { ok: false, code: 'RELAY_NOT_RUNNING', message: 'the relay is not running' });
  } finally {
    await upstream.close();
  }
});

test('a password session logs in once and sends the cookie and the CSRF token', async () => {
  const upstream = await startWireServer((req, res) => {
    if (req.url === '/api/auth.login') return json(res, 200, { ok: true, result: { csrf: 'c1' } }, { 'set-cookie': 'moat_session=s1; HttpOnly' });
    json(res, 200, { ok: true, result: { size: 0, oldest: null, held: 0, queueHeld: true } });
  });
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'password', password: 'correct horse battery' } });
    await Promise.all([client.call('queue.summary', {}), client.call('queue.summary', {})]);
    assert.equal(upstream.seen.filter((req) => req.url === '/api/auth.login').length, 1, 'one login for concurrent calls');
    const call = upstream.seen.find((req) => req.url === '/api/queue.summary');
    assert.equal(call?.headers.cookie, 'moat_session=s1');
    assert.equal(call?.headers['x-moat-csrf'], 'c1');
    assert.equal(call?.headers.authorization, undefined);
  } finally {
    await upstream.close();
  }
});

test('a wrong password is LOGIN_FAILED with the relay\'s reason', async () => {
  const upstream = await startWireServer((_req, res) => json(res, 401, { ok: false, code: 'WRONG_PASSWORD', message: 'wrong password' }));
  try {
    const client = new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'password', password: 'nope' } });
    const result = await client.call('queue.summary', {});
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.equal(result.code, 'LOGIN_FAILED');
      assert.match(result.message, /WRONG_PASSWORD/);
    }
    assert.equal(upstream.seen.length, 1, 'the call itself is not sent');
  } finally {
    await upstream.close();
  }
});

function sse(res: ServerResponse, events: [string, unknown][]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const [name, data] of events) res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('the watch reads the open alerts and the queue at connect, then follows the events', async () => {
  const raisedLater = alertEvent('raised', { id: 2, rule: 'internal-down', severity: 'critical', title: 'Internal server unreachable' });
  let stream: ServerResponse | null = null;
  const upstream = await startWireServer((req, res) => {
    if (req.url === '/api/events') {
      stream = res;
      return sse(res, [['relay', { state: 'running', error: null, startedAt: 1, appliedAt: null, version: '0.1.0', hostname: 'mx', dataDir: '/d', addresses: { mx: null, submission: null, submissions: null, admin: null }, routes: [] }]]);
    }
    if (req.url === '/api/alerts.list') return json(res, 200, { ok: true, result: { open: [engineAlert({ id: 1 })], recent: [] } });
    if (req.url === '/api/queue.summary') return json(res, 200, { ok: true, result: { size: 5, oldest: 100, held: 0, queueHeld: false } });
    if (req.url === '/api/relay.status') return json(res, 503, { ok: false, code: 'UNAVAILABLE', message: 'x' });
    json(res, 404, { ok: false, code: 'UNKNOWN_METHOD', message: 'no' });
  });
  const notified: NotificationRequest[] = [];
  let snapshot: RelaySnapshot | null = null;
  const { logger } = recordingLogger();
  const watch = new RelayWatch({
    client: new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 't' } }),
    policy: new NotificationPolicy(() => DEFAULT_NOTIFICATION_CHOICES),
    logger,
    timers: new ManualClock().timers,
    onChange: (next) => (snapshot = next),
    onNotify: (request) => notified.push(request),
  });
  try {
    watch.start();
    await until(() => snapshot?.queue?.size === 5 && snapshot.alerts.length === 1, 'the first read');
    assert.equal(snapshot!.connected, true);
    assert.equal(snapshot!.engine?.state, 'running');
    assert.deepEqual(notified.map((request) => request.key), ['1']);
    stream!.write(`event: alert\ndata: ${JSON.stringify(raisedLater)}\n\n`);
    stream!.write(`event: queue\ndata: ${JSON.stringify({ size: 6, oldest: 100, held: 0, queueHeld: true })}\n\n`);
    stream!.write(`event: alert\ndata: ${JSON.stringify(alertEvent('raised', { id: 1 }))}\n\n`);
    await until(() => snapshot?.queue?.size === 6, 'the queue event');
    assert.deepEqual(snapshot!.alerts.map((alert) => alert.key).sort(), ['1', '2']);
    assert.deepEqual(notified.map((request) => [request.key, request.urgency]), [['1', 'normal'], ['2', 'critical']]);
  } finally {
    watch.stop();
    await upstream.close();
  }
});

test('after the engine stops and runs again the watch reads the queue summary again, as the dashboard does', async () => {
  const relayEvent = (state: string) => ({ state, error: null, startedAt: 1, appliedAt: null, version: '0.1.0', hostname: 'mx', dataDir: '/d', addresses: { mx: null, submission: null, submissions: null, admin: null }, routes: [] });
  let stream: ServerResponse | null = null;
  let summaries = 0;
  const upstream = await startWireServer((req, res) => {
    if (req.url === '/api/events') {
      stream = res;
      sse(res, []);
      return res.write(': open\n\n');
    }
    if (req.url === '/api/alerts.list') return json(res, 200, { ok: true, result: { open: [], recent: [] } });
    if (req.url === '/api/queue.summary') {
      summaries++;
      return json(res, 200, { ok: true, result: { size: summaries === 1 ? 3 : 7, oldest: 100, held: 0, queueHeld: summaries > 1 } });
    }
    if (req.url === '/api/relay.status') return json(res, 200, { ok: true, result: relayEvent('running') });
    json(res, 404, { ok: false, code: 'UNKNOWN_METHOD', message: 'no' });
  });
  let snapshot: RelaySnapshot | null = null;
  const watch = new RelayWatch({
    client: new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 't' } }),
    policy: new NotificationPolicy(() => DEFAULT_NOTIFICATION_CHOICES),
    logger: recordingLogger().logger,
    timers: new ManualClock().timers,
    onChange: (next) => (snapshot = next),
    onNotify: () => {},
  });
  try {
    watch.start();
    await until(() => snapshot?.queue?.size === 3, 'the first read');
    stream!.write(`event: relay\ndata: ${JSON.stringify(relayEvent('stopping'))}\n\n`);
    await until(() => snapshot?.engine?.state === 'stopping', 'the stop');
    assert.equal(snapshot!.queue, null, 'no figures while the engine is down');
    stream!.write(`event: relay\ndata: ${JSON.stringify(relayEvent('running'))}\n\n`);
    await until(() => snapshot?.queue?.size === 7, 'the summary read again');
    assert.equal((snapshot as RelaySnapshot | null)?.queue?.queueHeld, true);
    assert.equal(summaries, 2);
    stream!.write(`event: relay\ndata: ${JSON.stringify(relayEvent('running'))}\n\n`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(summaries, 2, 'a repeated running event reads nothing more');
  } finally {
    watch.stop();
    await upstream.close();
  }
});

test('a lost stream is reported and tried again after a growing backoff', async () => {
  let connects = 0;
  const upstream = await startWireServer((req, res) => {
    if (req.url === '/api/events') {
      connects++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      return res.end();
    }
    json(res, 200, { ok: true, result: req.url === '/api/alerts.list' ? { open: [], recent: [] } : { size: 0, oldest: null, held: 0, queueHeld: false } });
  });
  const clock = new ManualClock();
  let snapshot: RelaySnapshot | null = null;
  const { logger } = recordingLogger();
  const watch = new RelayWatch({
    client: new AdminClient({ baseUrl: upstream.baseUrl, auth: { kind: 'bearer', token: 't' } }),
    policy: new NotificationPolicy(() => DEFAULT_NOTIFICATION_CHOICES),
    logger,
    timers: clock.timers,
    clock: clock.clock,
    onChange: (next) => (snapshot = next),
    onNotify: () => {},
  });
  try {
    watch.start();
    await until(() => snapshot?.error !== null && snapshot?.error !== undefined, 'the disconnect');
    assert.equal(snapshot!.connected, false);
    assert.equal(snapshot!.error?.retrying, true);
    assert.deepEqual(clock.pendingDelays(), [1_000]);
    clock.advance(1_000);
    await until(() => connects === 2, 'the reconnect');
    await until(() => clock.pendingDelays().length === 1, 'the next backoff');
    assert.deepEqual(clock.pendingDelays(), [2_000], 'a stream that closes at once does not reset the backoff');
  } finally {
    watch.stop();
    await upstream.close();
  }
});
