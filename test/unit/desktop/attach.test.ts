import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachUrlProblem, testAttach, managedRelayFromChoice, managedRelaySchema, passwordAction, planRelay } from '../../../src-main/attach.ts';
import type { AdminClientOptions } from '../../../src-main/admin-client.ts';
import { AdminClient } from '../../../src-main/admin-client.ts';
import type { RelayStatus } from '../../../src-main/bridge.ts';
import { NotificationPolicy, DEFAULT_NOTIFICATION_CHOICES } from '../../../src-main/notifications.ts';
import { RelayController } from '../../../src-main/relay-controller.ts';
import { FakeEngine, ManualClock, recordingLogger } from './fakes.ts';
import { json, startWireServer } from './wire-server.ts';

test('a hosted relay is planned with its data directory', () => {
  assert.deepEqual(planRelay({ mode: 'host', dataDir: '/home/a/.config/Moat/relay' }, null), { kind: 'host', dataDir: '/home/a/.config/Moat/relay' });
  assert.deepEqual(planRelay({ mode: 'host', dataDir: '/srv/moat' }, 'ignored'), { kind: 'host', dataDir: '/srv/moat' });
});

test('an attached relay is planned with the stored password, or asks for one', () => {
  assert.deepEqual(planRelay({ mode: 'attach', url: 'https://relay.example.org:8025' }, 'correct horse battery'), {
    kind: 'attach',
    baseUrl: 'https://relay.example.org:8025',
    password: 'correct horse battery',
  });
  assert.deepEqual(planRelay({ mode: 'attach', url: 'http://127.0.0.1:8025' }, null), { kind: 'needs-password', baseUrl: 'http://127.0.0.1:8025' });
  assert.deepEqual(planRelay({ mode: 'attach', url: 'http://127.0.0.1:8025' }, ''), { kind: 'needs-password', baseUrl: 'http://127.0.0.1:8025' });
});

test('a host choice without a directory takes the default one', () => {
  assert.deepEqual(managedRelayFromChoice({ mode: 'host' }, '/home/a/.config/Moat/relay'), { mode: 'host', dataDir: '/home/a/.config/Moat/relay' });
  assert.deepEqual(managedRelayFromChoice({ mode: 'attach', url: 'https://r.example', user: 'admin', password: 'never stored here' }, '/d'), { mode: 'attach', url: 'https://r.example', user: 'admin' });
});

test('plain http is accepted only to this machine', () => {
  for (const url of ['http://127.0.0.1:8025', 'http://localhost:8025', 'http://[::1]:8025', 'http://127.0.1.1:8025/', 'https://relay.example.org:8025', 'https://10.0.0.5:8025']) {
    assert.equal(attachUrlProblem(url), null, url);
  }
  assert.match(attachUrlProblem('http://relay.example.org:8025') ?? '', /plain http/);
  assert.match(attachUrlProblem('http://10.0.0.5:8025') ?? '', /plain http/);
  assert.match(attachUrlProblem('http://127.0.0.1.evil.example:8025') ?? '', /plain http/);
});

test('attach URLs with credentials, paths or other schemes are refused', () => {
  assert.match(attachUrlProblem('https://admin:pw@relay.example.org') ?? '', /user name or password/);
  assert.match(attachUrlProblem('https://relay.example.org/admin') ?? '', /no path/);
  assert.match(attachUrlProblem('https://relay.example.org/?next=x') ?? '', /no path/);
  assert.match(attachUrlProblem('ftp://relay.example.org') ?? '', /only http/);
  assert.match(attachUrlProblem('relay.example.org:8025') ?? '', /only http|not a URL/);
  assert.match(attachUrlProblem('') ?? '', /not a URL/);
});

test('the stored relay is validated when read, so a hand-edited file cannot smuggle in another mode', () => {
  assert.equal(managedRelaySchema.safeParse({ mode: 'host', dataDir: '/srv/moat' }).success, true);
  assert.equal(managedRelaySchema.safeParse({ mode: 'host', dataDir: '/srv/moat', exec: 'x' }).success, false);
  assert.equal(managedRelaySchema.safeParse({ mode: 'attach', url: 'http://relay.example.org' }).success, false);
  assert.equal(managedRelaySchema.safeParse({ mode: 'remote', url: 'https://relay.example.org' }).success, false);
});

function controller(overrides: { createClient?: (options: AdminClientOptions) => AdminClient } = {}) {
  const clock = new ManualClock();
  const engines: { dataDir: string; token: string; engine: FakeEngine }[] = [];
  const statuses: RelayStatus[] = [];
  const clients: AdminClientOptions[] = [];
  const { logger } = recordingLogger();
  const relay = new RelayController({
    logger,
    notifications: new NotificationPolicy(() => DEFAULT_NOTIFICATION_CHOICES),
    forkEngine: (dataDir, token) => {
      const engine = new FakeEngine();
      engines.push({ dataDir, token, engine });
      return engine;
    },
    newToken: () => `token-${engines.length + 1}`,
    createClient: (options) => {
      clients.push(options);
      return overrides.createClient ? overrides.createClient(options) : new AdminClient({ ...options, fetch: () => Promise.reject(new Error('no network in this test')) });
    },
    timers: clock.timers,
    clock: clock.clock,
    onStatus: (status) => statuses.push(status),
    onSnapshot: () => {},
    onNotify: () => {},
  });
  return { relay, engines, statuses, clients, clock };
}

test('hosting forks the engine on the data directory and calls it with a bearer token once it is ready', () => {
  const { relay, engines, clients } = controller();
  relay.start({ kind: 'host', dataDir: '/srv/moat' });
  assert.equal(engines.length, 1);
  assert.equal(engines[0]!.dataDir, '/srv/moat');
  const before = relay.apiTarget;
  assert.equal(before, null, 'no API before ready');
  engines[0]!.engine.ready('127.0.0.1:40999');
  assert.deepEqual(clients, [{ baseUrl: 'http://127.0.0.1:40999', auth: { kind: 'bearer', token: engines[0]!.token } }]);
  assert.equal(relay.apiTarget?.baseUrl, 'http://127.0.0.1:40999');
  assert.deepEqual(relay.status, { state: 'running', mode: 'host', address: '127.0.0.1:40999' });
  relay.stop();
});

test('attaching starts no engine and logs in with the stored password', () => {
  const { relay, engines, clients } = controller();
  relay.start({ kind: 'attach', baseUrl: 'https://relay.example.org:8025', password: 'correct horse battery' });
  assert.equal(engines.length, 0);
  assert.deepEqual(clients, [{ baseUrl: 'https://relay.example.org:8025', auth: { kind: 'password', password: 'correct horse battery' } }]);
  assert.deepEqual(relay.status, { state: 'starting', mode: 'attach' });
  relay.stop();
});

test('attaching without a stored password fails with what to do, and starts nothing', () => {
  const { relay, engines, clients } = controller();
  relay.start({ kind: 'needs-password', baseUrl: 'http://127.0.0.1:8025' });
  assert.equal(engines.length, 0);
  assert.equal(clients.length, 0);
  const status = relay.status;
  assert.equal(status.state, 'failed');
  if (status.state === 'failed') assert.match(status.error, /no password is stored for http:\/\/127\.0\.0\.1:8025/);
});

test('a refused password stops the attempts instead of retrying into the rate limit', async () => {
  const upstream = await startWireServer((req, res) => {
    if (req.url === '/api/auth.login') return json(res, 401, { ok: false, code: 'WRONG_PASSWORD', message: 'wrong password' });
    json(res, 401, { ok: false, code: 'UNAUTHENTICATED', message: 'log in first' });
  });
  try {
    const { relay, statuses, clock } = controller({ createClient: (options) => new AdminClient(options) });
    relay.start({ kind: 'attach', baseUrl: upstream.baseUrl, password: 'wrong one' });
    for (let i = 0; i < 50 && relay.status.state !== 'failed'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const status = relay.status;
    assert.equal(status.state, 'failed', JSON.stringify(statuses));
    if (status.state === 'failed') assert.match(status.error, /refused the stored password \(WRONG_PASSWORD/);
    clock.advance(10 * 60_000);
    assert.equal(upstream.seen.filter((req) => req.url === '/api/auth.login').length, 1);
    await relay.stop();
  } finally {
    await upstream.close();
  }
});

test('switching from hosting to attaching stops the hosted engine gracefully first', async () => {
  const { relay, engines } = controller();
  relay.start({ kind: 'host', dataDir: '/srv/moat' });
  const engine = engines[0]!.engine;
  engine.ready();
  const stopped = relay.stop();
  assert.deepEqual(engine.commands, [{ type: 'stop' }]);
  engine.exit(0);
  await stopped;
  relay.start({ kind: 'attach', baseUrl: 'https://relay.example.org', password: 'pw' });
  assert.equal(engines.length, 1);
  assert.equal(relay.status.mode, 'attach');
  await relay.stop();
});

test('a stored password is kept only for the same relay and forgotten when another is chosen', () => {
  const attached = { mode: 'attach', url: 'https://relay.example.org:8025' } as const;
  assert.deepEqual(passwordAction(attached, { mode: 'attach', url: 'https://relay.example.org:8025', password: 'new one' }), { action: 'store', password: 'new one' });
  assert.deepEqual(passwordAction(attached, { mode: 'attach', url: 'https://relay.example.org:8025', user: 'admin' }), { action: 'keep' });
  assert.deepEqual(passwordAction(attached, { mode: 'attach', url: 'https://other.example.org:8025' }), { action: 'forget' });
  assert.deepEqual(passwordAction(attached, { mode: 'attach', url: 'http://relay.example.org:8025' }), { action: 'forget' }, 'another scheme is another relay');
  assert.deepEqual(passwordAction(attached, { mode: 'host' }), { action: 'forget' });
  assert.deepEqual(passwordAction({ mode: 'host', dataDir: '/srv/moat' }, { mode: 'attach', url: 'https://relay.example.org:8025' }), { action: 'forget' });
});

test('testing an attach address logs in and reads the status, and says why when it cannot, saving nothing', async () => {
  const upstream = await startWireServer((req, res) => {
    if (req.url === '/api/auth.login') {
      return JSON.parse(req.body).password === 'right password'
        ? json(res, 200, { ok: true, result: { csrf: 'c1' } }, { 'set-cookie': 'moat_session=s1; HttpOnly' })
        : json(res, 401, { ok: false, code: 'LOGIN_FAILED', message: 'the password is not right' });
    }
    if (req.url === '/api/relay.status' && req.headers.cookie === 'moat_session=s1') {
      return json(res, 200, { ok: true, result: { state: 'running', error: null, startedAt: 1, appliedAt: null, version: '0.1.0', hostname: 'dmz.example.test', dataDir: '/var/lib/moat', addresses: { mx: null, submission: null, submissions: null, admin: null }, routes: [] } });
    }
    json(res, 401, { ok: false, code: 'UNAUTHENTICATED', message: 'log in first' });
  });
  try {
    assert.deepEqual(await testAttach({ url: upstream.baseUrl, password: 'right password' }), { reachable: true, hostname: 'dmz.example.test', version: '0.1.0', state: 'running' });
    const refused = await testAttach({ url: upstream.baseUrl, password: 'wrong password' });
    assert.equal(refused.reachable, false);
    if (!refused.reachable) assert.equal(refused.code, 'LOGIN_FAILED');
    assert.deepEqual(await testAttach({ url: upstream.baseUrl, password: null }), { reachable: false, code: 'NO_PASSWORD', message: "enter the service's admin password" });
    assert.equal(upstream.seen.filter((req) => req.url === '/api/auth.login').length, 2, 'no password, no login attempt');
  } finally {
    await upstream.close();
  }
  const closed = await testAttach({ url: upstream.baseUrl, password: 'right password' });
  assert.equal(closed.reachable, false, 'a closed port is not reachable');
});
