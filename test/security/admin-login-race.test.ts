import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { ADMIN_PASSWORD, startHost, type TestHost } from '../helpers/admin.ts';
import { until } from '../helpers/submission.ts';
import { LOGIN_FAILURES_PER_IP, LOGIN_FAILURES_TOTAL, LOGIN_WINDOW_MS } from '../../src-relay/admin/admin-auth.ts';
import { verifyPassword } from '../../src-relay/auth/password.ts';

const TEST_TIMEOUT_MS = 120_000;

interface Reply {
  status: number;
  code: string | undefined;
  cookie: string | undefined;
}

/** One admin API call over a fresh HTTP connection from `from` (any 127.0.0.0/8 address on Linux). */
function call(world: TestHost, method: string, body: unknown, from = '127.0.0.1', headers: Record<string, string> = {}): Promise<Reply> {
  const target = new URL(world.base);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.hostname, port: target.port, path: `/api/${method}`, method: 'POST', localAddress: from, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: string };
          resolve({ status: res.statusCode ?? 0, code: parsed.code, cookie: res.headers['set-cookie']?.[0]?.split(';')[0] });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The admin password check, counted and held at a gate until the test opens it, so that a burst is in flight at once. */
function heldChecks() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const spy = {
    started: 0,
    open,
    verify: async (password: string, hash: string) => {
      spy.started++;
      await gate;
      return verifyPassword(password, hash);
    },
  };
  return spy;
}

/** Fires the calls at once; opens the gate once each is at the password check or already refused (429). */
async function burst(checks: ReturnType<typeof heldChecks>, calls: (() => Promise<Reply>)[]): Promise<Reply[]> {
  let refused = 0;
  const startedBefore = checks.started;
  const replies = Promise.all(calls.map((make) => make().then((reply) => ((refused += reply.status === 429 ? 1 : 0), reply))));
  await until('every call of the burst is checked or refused', () => checks.started - startedBefore + refused >= calls.length);
  checks.open();
  return replies;
}

const tally = (replies: Reply[]) => replies.reduce<Record<string, number>>((counts, { status }) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});

test('thirty simultaneous wrong admin passwords from one address run five password checks; the right one is refused until the window is over', { timeout: TEST_TIMEOUT_MS }, async () => {
  const checks = heldChecks();
  let now = Date.parse('2026-11-28T10:00:00Z');
  const world = await startHost({}, { verifyPassword: checks.verify, clock: () => now });
  try {
    await world.admin();
    const replies = await burst(checks, Array.from({ length: 30 }, (_, i) => () => call(world, 'auth.login', { password: `wrong password ${i}` }, '127.0.0.2')));
    assert.equal(checks.started, LOGIN_FAILURES_PER_IP);
    assert.deepEqual(tally(replies), { 401: LOGIN_FAILURES_PER_IP, 429: 30 - LOGIN_FAILURES_PER_IP });
    assert.ok(replies.every((reply) => reply.cookie === undefined));
    const locked = await call(world, 'auth.login', { password: ADMIN_PASSWORD }, '127.0.0.2');
    assert.equal(locked.code, 'LOGIN_RATE_LIMITED');
    assert.equal(checks.started, LOGIN_FAILURES_PER_IP, 'a refused log-in runs no password check');
    now += LOGIN_WINDOW_MS - 1000;
    assert.equal((await call(world, 'auth.login', { password: ADMIN_PASSWORD }, '127.0.0.2')).status, 429, 'still refused a second before the window ends');
    now += 2000;
    const after = await call(world, 'auth.login', { password: ADMIN_PASSWORD }, '127.0.0.2');
    assert.equal(after.status, 200);
    assert.ok(after.cookie);
  } finally {
    await world.stop();
  }
});

test('four simultaneous wrong admin passwords, one under the limit, leave the right one working', { timeout: TEST_TIMEOUT_MS }, async () => {
  const checks = heldChecks();
  const world = await startHost({}, { verifyPassword: checks.verify });
  try {
    await world.admin();
    const replies = await burst(checks, Array.from({ length: LOGIN_FAILURES_PER_IP - 1 }, (_, i) => () => call(world, 'auth.login', { password: `wrong ${i}` }, '127.0.0.2')));
    assert.deepEqual(tally(replies), { 401: LOGIN_FAILURES_PER_IP - 1 });
    assert.equal((await call(world, 'auth.login', { password: ADMIN_PASSWORD }, '127.0.0.2')).status, 200);
  } finally {
    await world.stop();
  }
});

test('guesses spread over sixty addresses at once stop at the total ceiling, while the admin still logs in from the address they use', { timeout: TEST_TIMEOUT_MS }, async () => {
  const checks = heldChecks();
  const world = await startHost({}, { verifyPassword: checks.verify });
  try {
    await world.admin(); // claimed from 127.0.0.1: the admin's usual address
    const addresses = Array.from({ length: 60 }, (_, i) => `127.0.1.${i + 1}`);
    const replies = await burst(checks, addresses.map((from, i) => () => call(world, 'auth.login', { password: `guess ${i}` }, from)));
    assert.equal(checks.started, LOGIN_FAILURES_TOTAL, 'no more checks than the ceiling, whatever the number of addresses');
    assert.deepEqual(tally(replies), { 401: LOGIN_FAILURES_TOTAL, 429: 60 - LOGIN_FAILURES_TOTAL });
    assert.equal((await call(world, 'auth.login', { password: ADMIN_PASSWORD }, '127.0.1.99')).status, 429, 'an unfamiliar address waits, even with the right password');
    const admin = await call(world, 'auth.login', { password: ADMIN_PASSWORD }, '127.0.0.1');
    assert.equal(admin.status, 200, 'the admin is not locked out of their own address');
    assert.ok(admin.cookie);
  } finally {
    await world.stop();
  }
});

test('ten simultaneous claims with the right setup token: exactly one wins and its password is the one set', { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  try {
    const token = world.host.setupToken!;
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => call(world, 'auth.setup', { token, password: `first password ${i}` }, `127.0.0.${i + 2}`)));
    const winners = replies.flatMap((reply, i) => (reply.status === 200 ? [i] : []));
    assert.equal(winners.length, 1, JSON.stringify(replies));
    assert.ok(replies[winners[0]!]!.cookie);
    assert.ok(replies.every((reply, i) => i === winners[0] || (reply.status === 409 && reply.code === 'ALREADY_SET_UP' && !reply.cookie)));
    assert.equal((await call(world, 'auth.login', { password: `first password ${winners[0]}` })).status, 200);
    const other = (winners[0]! + 1) % 10;
    assert.equal((await call(world, 'auth.login', { password: `first password ${other}` })).code, 'WRONG_PASSWORD');
  } finally {
    await world.stop();
  }
});

test('thirty simultaneous wrong setup tokens from one address are limited like thirty in a row, and the right token is then refused too', { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  try {
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => call(world, 'auth.setup', { token: `not the token ${i}`, password: ADMIN_PASSWORD }, '127.0.0.2')));
    assert.deepEqual(tally(replies), { 403: LOGIN_FAILURES_PER_IP, 429: 30 - LOGIN_FAILURES_PER_IP });
    assert.equal((await call(world, 'auth.setup', { token: world.host.setupToken!, password: ADMIN_PASSWORD }, '127.0.0.2')).code, 'LOGIN_RATE_LIMITED');
    assert.equal((await call(world, 'auth.setup', { token: world.host.setupToken!, password: ADMIN_PASSWORD }, '127.0.0.3')).status, 200);
  } finally {
    await world.stop();
  }
});

test('wrong setup tokens from sixty addresses at once reach the total ceiling, yet the box itself can still claim its relay', { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  try {
    const addresses = Array.from({ length: 60 }, (_, i) => `127.0.1.${i + 1}`);
    const replies = await Promise.all(addresses.map((from, i) => call(world, 'auth.setup', { token: `not the token ${i}`, password: ADMIN_PASSWORD }, from)));
    assert.deepEqual(tally(replies), { 403: LOGIN_FAILURES_TOTAL, 429: 60 - LOGIN_FAILURES_TOTAL });
    // before the claim no address is familiar: the ceiling holds for every other address, right token or not
    assert.equal((await call(world, 'auth.setup', { token: world.host.setupToken!, password: ADMIN_PASSWORD }, '127.0.1.99')).code, 'LOGIN_RATE_LIMITED');
    const claim = await call(world, 'auth.setup', { token: world.host.setupToken!, password: ADMIN_PASSWORD }, '127.0.0.1');
    assert.equal(claim.status, 200, 'the desktop app on the box claims the relay');
    assert.ok(claim.cookie);
  } finally {
    await world.stop();
  }
});

test('a wrong current password in a password change counts like a wrong log-in: ten at once run five checks', { timeout: TEST_TIMEOUT_MS }, async () => {
  const checks = heldChecks();
  const world = await startHost({}, { verifyPassword: checks.verify });
  try {
    const admin = await world.admin();
    const headers = { cookie: admin.cookie!, 'x-moat-csrf': admin.csrf! };
    const replies = await burst(checks, Array.from({ length: 10 }, (_, i) => () => call(world, 'auth.changePassword', { current: `wrong ${i}`, password: 'a new password 123' }, '127.0.0.1', headers)));
    assert.equal(checks.started, LOGIN_FAILURES_PER_IP);
    assert.deepEqual(tally(replies), { 401: LOGIN_FAILURES_PER_IP, 429: 10 - LOGIN_FAILURES_PER_IP });
    assert.equal((await call(world, 'auth.changePassword', { current: ADMIN_PASSWORD, password: 'a new password 123' }, '127.0.0.1', headers)).status, 429);
  } finally {
    await world.stop();
  }
});
