import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventSchemas } from '../../../src-relay/admin/contract.ts';
import { ApiFailure, createClient, createEventStream, EVENT_NAMES, parseApiResponse, reconnectDelay, STREAM_SILENCE_MS, type EventSourceLike } from '../../../src-renderer/api/client.ts';

test('the event names are the contract\'s', () => {
  assert.deepEqual([...EVENT_NAMES].sort(), Object.keys(eventSchemas).sort());
});

test('an answer is its result, a failure is an ApiFailure with its issues', () => {
  assert.deepEqual(parseApiResponse(200, '{"ok":true,"result":{"count":3}}'), { count: 3 });
  assert.throws(
    () => parseApiResponse(400, JSON.stringify({ ok: false, code: 'INVALID_INPUT', message: 'some values are not valid', issues: [{ path: 'password', message: 'at least 10 characters' }] })),
    (error: unknown) => error instanceof ApiFailure && error.code === 'INVALID_INPUT' && error.issues[0]?.path === 'password',
  );
  assert.throws(() => parseApiResponse(502, '<html>Bad gateway</html>'), (error: unknown) => error instanceof ApiFailure && error.code === 'BAD_RESPONSE' && /502/.test(error.message));
});

type Sent = { url: string; headers: Record<string, string>; body: string };

function fakeFetch(answers: ((sent: Sent) => { status: number; body: unknown })[]) {
  const sent: Sent[] = [];
  const fetch = async (url: string, init: { headers: Record<string, string>; body: string }) => {
    const request = { url, headers: init.headers, body: init.body };
    sent.push(request);
    const answer = answers.shift();
    if (!answer) throw new Error('no answer left');
    const { status, body } = answer(request);
    return { status, text: async () => JSON.stringify(body) };
  };
  return { fetch, sent };
}

test('calls post JSON to a relative URL and send the CSRF token once logged in', async () => {
  const { fetch, sent } = fakeFetch([() => ({ status: 200, body: { ok: true, result: { csrf: 'tok1' } } }), () => ({ status: 200, body: { ok: true, result: { count: 2 } } })]);
  const client = createClient({ fetch });
  await client.call('auth.login', { password: 'correct horse' });
  assert.equal(client.getCsrf(), 'tok1');
  assert.deepEqual(await client.call('queue.retryAll', {}), { count: 2 });
  assert.equal(sent[0]!.url, 'api/auth.login');
  assert.equal(sent[0]!.headers['x-moat-csrf'], undefined);
  assert.equal(sent[1]!.url, 'api/queue.retryAll');
  assert.equal(sent[1]!.headers['x-moat-csrf'], 'tok1');
  assert.equal(sent[1]!.headers['content-type'], 'application/json');
  assert.equal(sent[1]!.body, '{}');
});

test('a stale CSRF token is fetched again once and the call repeated', async () => {
  const { fetch, sent } = fakeFetch([
    () => ({ status: 403, body: { ok: false, code: 'CSRF', message: 'missing or wrong CSRF token' } }),
    () => ({ status: 200, body: { ok: true, result: { state: 'ready', csrf: 'fresh' } } }),
    (request) => ({ status: 200, body: { ok: true, result: { count: request.headers['x-moat-csrf'] === 'fresh' ? 1 : 0 } } }),
  ]);
  const client = createClient({ fetch });
  client.setCsrf('stale');
  assert.deepEqual(await client.call('queue.retryAll', {}), { count: 1 });
  assert.equal(sent.length, 3);
});

test('an ended session tells the app and forgets the token', async () => {
  const { fetch } = fakeFetch([() => ({ status: 401, body: { ok: false, code: 'UNAUTHENTICATED', message: 'log in first' } })]);
  const client = createClient({ fetch });
  client.setCsrf('tok');
  let told = 0;
  client.onUnauthenticated(() => (told += 1));
  await assert.rejects(client.call('queue.summary', {}), (error: unknown) => error instanceof ApiFailure && error.code === 'UNAUTHENTICATED');
  assert.equal(told, 1);
  assert.equal(client.getCsrf(), null);
});

test('no answer at all is a NETWORK failure', async () => {
  const client = createClient({
    fetch: async () => {
      throw new TypeError('fetch failed');
    },
  });
  await assert.rejects(client.call('auth.status', {}), (error: unknown) => error instanceof ApiFailure && error.code === 'NETWORK');
});

class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: unknown) => void) | null = null;
  closed = false;
  readonly handlers = new Map<string, (event: { data: string }) => void>();
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (event: { data: string }) => void) {
    this.handlers.set(type, listener);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  emit(type: string, data: unknown) {
    this.emitRaw(type, JSON.stringify(data));
  }
  emitRaw(type: string, data: string) {
    this.handlers.get(type)?.({ data });
  }
}

test('events reach their listeners, and a stream the server refused is opened again later', () => {
  const sources: FakeSource[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const stream = createEventStream({
    factory: (url) => {
      const source = new FakeSource(url);
      sources.push(source);
      return source;
    },
    setTimer: (fn, ms) => timers.push({ fn, ms }),
    clearTimer: () => {},
  });
  const states: string[] = [];
  stream.onState((state) => states.push(state));
  const seen: unknown[] = [];
  const off = stream.on('queue', (payload) => seen.push(payload.size));
  stream.start();
  assert.equal(sources[0]!.url, 'api/events');
  sources[0]!.readyState = 1;
  sources[0]!.onopen?.({});
  sources[0]!.emit('queue', { size: 4, oldest: null, held: 0, queueHeld: false });
  sources[0]!.emitRaw('queue', 'not json {');
  assert.deepEqual(seen, [4]);

  sources[0]!.readyState = 2;
  sources[0]!.onerror?.({});
  const reconnects = () => timers.filter((timer) => timer.ms !== STREAM_SILENCE_MS);
  assert.deepEqual(reconnects().map((timer) => timer.ms), [1000]);
  reconnects()[0]!.fn();
  assert.equal(sources.length, 2);
  sources[1]!.readyState = 2;
  sources[1]!.onerror?.({});
  assert.equal(reconnects()[1]!.ms, 2000, 'the wait doubles');
  assert.deepEqual(states, ['closed', 'connecting', 'open', 'closed', 'connecting', 'closed']);

  off();
  stream.stop();
  assert.ok(sources.every((source) => source.closed));
});

test('a stream open again after a break tells its reopen listeners, whether the browser or the client opened it again; the first open does not', () => {
  const sources: FakeSource[] = [];
  const timers: (() => void)[] = [];
  const stream = createEventStream({
    factory: (url) => {
      const source = new FakeSource(url);
      sources.push(source);
      return source;
    },
    setTimer: (fn, ms) => ms !== STREAM_SILENCE_MS && timers.push(fn),
    clearTimer: () => {},
  });
  let reopened = 0;
  const off = stream.onReopen(() => reopened++);
  stream.start();
  sources[0]!.readyState = 1;
  sources[0]!.onopen?.({});
  assert.equal(reopened, 0, 'the first open is no reopen');
  // dropped: the browser tries again by itself, on the same source
  sources[0]!.readyState = 0;
  sources[0]!.onerror?.({});
  assert.equal(reopened, 0);
  sources[0]!.readyState = 1;
  sources[0]!.onopen?.({});
  assert.equal(reopened, 1);
  // refused: the client opens a new source later
  sources[0]!.readyState = 2;
  sources[0]!.onerror?.({});
  timers.shift()!();
  sources[1]!.readyState = 1;
  sources[1]!.onopen?.({});
  assert.equal(reopened, 2);
  // a new start (the page logged in again) opens afresh
  stream.stop();
  stream.start();
  sources[2]!.readyState = 1;
  sources[2]!.onopen?.({});
  assert.equal(reopened, 2);
  off();
  sources[2]!.onopen?.({});
  assert.equal(reopened, 2, 'a listener that left is not told');
  stream.stop();
});

test(`an open stream that hears nothing for ${STREAM_SILENCE_MS} ms, not even the heartbeat, is closed and opened again; each message puts that off`, () => {
  const sources: FakeSource[] = [];
  let next = 0;
  const timers = new Map<number, { fn: () => void; ms: number }>();
  const stream = createEventStream({
    factory: (url) => {
      const source = new FakeSource(url);
      sources.push(source);
      return source;
    },
    setTimer: (fn, ms) => {
      const id = ++next;
      // a timer that fired is gone, as a real one is
      timers.set(id, { fn: () => (timers.delete(id), fn()), ms });
      return id;
    },
    clearTimer: (id) => timers.delete(id as number),
  });
  const states: string[] = [];
  stream.onState((state) => states.push(state));
  stream.start();
  sources[0]!.readyState = 1;
  sources[0]!.onopen?.({});
  const silences = () => [...timers.values()].filter((timer) => timer.ms === STREAM_SILENCE_MS);
  assert.equal(silences().length, 1, 'watched from the open');
  const first = silences()[0]!;
  sources[0]!.onmessage?.({ data: '{}' });
  assert.equal(silences().length, 1, 'the heartbeat replaced the watch');
  assert.notEqual(silences()[0], first);
  sources[0]!.emit('queue', { size: 1, oldest: null, held: 0, queueHeld: false });
  assert.equal(silences().length, 1, 'and so does an event');
  silences()[0]!.fn();
  assert.equal(sources[0]!.closed, true, 'silence closes it');
  assert.deepEqual(states, ['closed', 'connecting', 'open', 'closed']);
  const reconnect = [...timers.values()].find((timer) => timer.ms !== STREAM_SILENCE_MS)!;
  assert.equal(reconnect.ms, 1000);
  reconnect.fn();
  assert.equal(sources.length, 2, 'and opens it again');
  stream.stop();
  assert.equal(silences().length, 0);
});

test('reconnect waits double up to half a minute', () => {
  assert.deepEqual([1, 2, 3, 10].map(reconnectDelay), [1000, 2000, 4000, 30_000]);
});
