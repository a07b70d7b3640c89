import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { AccountStore } from '../../../src-relay/auth/account-store.ts';
import { Authenticator } from '../../../src-relay/auth/authenticator.ts';
import { CircuitBreaker } from '../../../src-relay/auth/circuit-breaker.ts';
import { dummyHash, hashPassword, verifyPassword } from '../../../src-relay/auth/password.ts';
import { createRelayEvents } from '../../../src-relay/events.ts';
import { silentLogger } from '../../../src-relay/log/logger.ts';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const policy = { maxFailuresPerAccount: 3, maxFailuresPerAccountTotal: 3, maxFailuresPerIp: 10, windowMinutes: 15, lockoutMinutes: 15, firstDelayMs: 100, maxDelayMs: 1000 };

async function withStore(run: (accounts: AccountStore) => Promise<void>) {
  const dir = tempDir();
  const db = openDatabase(dir);
  try {
    await run(new AccountStore(db));
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a login for a name that does not exist still runs scrypt, against the dummy hash, and gets the same verdict', () =>
  withStore(async (accounts) => {
    accounts.add('alice', await hashPassword('the right password'), ['alice@example.test'], 0);
    const checked: string[] = [];
    const verify = async (_password: string, hash: string) => {
      checked.push(hash);
      return false;
    };
    const auth = new Authenticator({ accounts, policy, events: createRelayEvents(), logger: silentLogger, verify, clock: () => 1000 });
    const unknown = await auth.authenticate({ username: 'mallory', password: 'x', clientIp: '192.0.2.1', listener: 'submission' });
    const wrong = await auth.authenticate({ username: 'alice', password: 'x', clientIp: '192.0.2.2', listener: 'submission' });
    assert.deepEqual(checked, [await dummyHash(), accounts.get('alice')!.passwordHash]);
    assert.deepEqual(unknown, wrong);
    assert.deepEqual(unknown, { ok: false, reply: 'failed', delayMs: 100 });
  }));

test('during a lockout no password is checked at all, and the attempt is recorded', () =>
  withStore(async (accounts) => {
    accounts.add('alice', await hashPassword('the right password'), ['alice@example.test'], 0);
    let checks = 0;
    const verify = async () => {
      checks++;
      return false;
    };
    const auth = new Authenticator({ accounts, policy, events: createRelayEvents(), logger: silentLogger, verify, clock: () => 1000 });
    for (let i = 0; i < 3; i++) await auth.authenticate({ username: 'alice', password: 'x', clientIp: '192.0.2.1', listener: 'submission' });
    assert.equal(checks, 3);
    const locked = await auth.authenticate({ username: 'ALICE', password: 'the right password', clientIp: '192.0.2.9', listener: 'submissions' });
    assert.equal(checks, 3);
    assert.equal(locked.ok, false);
    assert.equal(!locked.ok && locked.reply, 'locked');
    assert.deepEqual(accounts.events('alice').map((event) => event.outcome), ['locked', 'failure', 'failure', 'failure']);
    assert.equal(accounts.lock('ip:192.0.2.9')!.failures, 1, 'a guess at a locked name counts against the address');
  }));

test('garbage user names are counted under a printable form and never stored raw', () =>
  withStore(async (accounts) => {
    const auth = new Authenticator({ accounts, policy, events: createRelayEvents(), logger: silentLogger, verify: async () => false, clock: () => 1000 });
    await auth.authenticate({ username: 'evil\r\nname\u0000', password: 'x', clientIp: '192.0.2.1', listener: 'submission' });
    const row = accounts.db.prepare('SELECT name FROM auth_events').get() as { name: string };
    assert.equal(row.name, 'evil??name?');
  }));

test('the circuit breaker counts the last hour only, and from the last unlock on', () =>
  withStore(async (accounts) => {
    let now = 10 * 3600_000;
    accounts.add('alice', 'scrypt$1$1$1$AA==$AA==', ['alice@example.test'], 0);
    const events = createRelayEvents();
    const tripped: string[] = [];
    events.on('account-suspended', (event) => tripped.push(event.reason));
    const breaker = new CircuitBreaker({ accounts, limits: { messagesPerHour: 2, recipientsPerHour: 100 }, events, logger: silentLogger, clock: () => now });
    const account = () => accounts.get('alice')!;
    breaker.recordAccepted('alice', 1, 's1');
    breaker.recordAccepted('alice', 1, 's1');
    assert.equal(breaker.admitMessage(account(), '192.0.2.1', 's1').ok, false);
    assert.deepEqual(tripped, ['more than 2 messages in an hour']);
    now += 1000;
    accounts.unlock('alice', now);
    assert.equal(account().suspendedAt, null);
    assert.equal(breaker.admitMessage(account(), '192.0.2.1', 's1').ok, true, 'sends before the unlock no longer count');
    breaker.recordAccepted('alice', 1, 's1');
    breaker.recordAccepted('alice', 1, 's1');
    now += 3600_000 + 1;
    assert.equal(breaker.admitMessage(account(), '192.0.2.1', 's1').ok, true, 'an hour later they have left the window');
  }));

test("an office's IPv6 clients share one /64: a device retrying a wrong password locks its own address only, another address of the /64 still logs in", () =>
  withStore(async (accounts) => {
    accounts.add('alice', await hashPassword('the right password'), ['alice@example.test'], 0);
    accounts.add('bob', await hashPassword('the right password'), ['bob@example.test'], 0);
    const auth = new Authenticator({ accounts, policy, events: createRelayEvents(), logger: silentLogger, verify: verifyPassword, clock: () => 1000 });
    // the old phone logged in before, then keeps trying an old password: all at once, more than maxFailuresPerIp (10)
    assert.equal((await auth.authenticate({ username: 'bob', password: 'the right password', clientIp: '2001:db8:7:7::1', listener: 'submission' })).ok, true);
    await Promise.all(Array.from({ length: 11 }, () => auth.authenticate({ username: 'bob', password: 'old password', clientIp: '2001:db8:7:7::1', listener: 'submission' })));
    assert.equal(accounts.lock('pair:2001:db8:7:7::1 bob')!.failures, 3);
    assert.equal(accounts.lock('ip:2001:db8:7:7::/64'), undefined, 'a familiar device does not count against its /64');
    const other = await auth.authenticate({ username: 'alice', password: 'the right password', clientIp: '2001:db8:7:7::2', listener: 'submission' });
    assert.equal(other.ok, true, 'the laptop beside it is not locked');
  }));

test('guesses from a stranger spread over the addresses of one IPv6 /64 are limited as one address, while a device of the /64 that logged in before still does', () =>
  withStore(async (accounts) => {
    accounts.add('alice', await hashPassword('the right password'), ['alice@example.test'], 0);
    const auth = new Authenticator({ accounts, policy, events: createRelayEvents(), logger: silentLogger, verify: async (password, hash) => verifyPassword(password, hash), clock: () => 1000 });
    assert.equal((await auth.authenticate({ username: 'alice', password: 'the right password', clientIp: '2001:db8:7:7::a', listener: 'submission' })).ok, true);
    // maxFailuresPerIp (10) unknown names from 10 addresses of the /64, then one step beyond, all at once
    const results = await Promise.all(Array.from({ length: 11 }, (_, i) => auth.authenticate({ username: `u${i}`, password: 'x', clientIp: `2001:db8:7:7::${100 + i}`, listener: 'submission' })));
    assert.deepEqual(results.map((result) => !result.ok && result.reply).sort(), [...Array(10).fill('failed'), 'locked'].sort());
    assert.equal(accounts.lock('ip:2001:db8:7:7::/64')!.failures, 10);
    const stranger = await auth.authenticate({ username: 'alice', password: 'the right password', clientIp: '2001:db8:7:7::999', listener: 'submission' });
    assert.equal(!stranger.ok && stranger.reply, 'locked', 'even the right password from a new address of the /64 waits for the lockout');
    const familiar = await auth.authenticate({ username: 'alice', password: 'the right password', clientIp: '2001:db8:7:7::a', listener: 'submission' });
    assert.equal(familiar.ok, true, 'her own device is not held by the /64 lock');
  }));

/** A password check held open until the test lets it end: counts the checks started and the most running at once. */
function heldChecks() {
  const spy = {
    started: 0,
    running: 0,
    most: 0,
    ends: [] as (() => void)[],
    passwords: [] as string[],
    verify: (password: string, _hash: string) => {
      spy.started++;
      spy.passwords.push(password);
      spy.most = Math.max(spy.most, ++spy.running);
      return new Promise<boolean>((resolve) => spy.ends.push(() => (spy.running--, resolve(password === 'the right password'))));
    },
    /** Ends the checks one at a time until none has started for a while (after the dummy hash, made once and slowly). */
    async drain() {
      await dummyHash();
      for (let idle = 0; idle < 50; idle++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        const end = spy.ends.shift();
        if (end) (end(), (idle = 0));
      }
    },
  };
  return spy;
}

const roomy = { ...policy, maxFailuresPerAccount: 100, maxFailuresPerAccountTotal: 100, maxFailuresPerIp: 100 };

test('a flood of fresh names from many addresses at once: 1 check runs, 10 wait, one step beyond gets busy (454) at once and is never hashed', () =>
  withStore(async (accounts) => {
    const checks = heldChecks();
    const auth = new Authenticator({ accounts, policy: { ...roomy, maxChecksAtOnce: 1, maxChecksQueued: 10 }, events: createRelayEvents(), logger: silentLogger, verify: checks.verify, clock: () => 1000 });
    const attempts = Array.from({ length: 12 }, (_, i) => auth.authenticate({ username: `fresh${i}`, password: 'x', clientIp: `192.0.2.${i + 1}`, listener: 'submissions' }));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(auth.checkLoad, { running: 1, queued: 10 });
    await checks.drain();
    const replies = (await Promise.all(attempts)).map((result) => !result.ok && result.reply);
    assert.deepEqual(replies, [...Array(11).fill('failed'), 'busy']);
    assert.equal(checks.started, 11);
    assert.equal(checks.most, 1, 'never more than one check at once');
    const busy = accounts.events('fresh11');
    assert.equal(busy[0]!.outcome, 'locked');
    assert.match(busy[0]!.detail!, /relay busy/);
  }));

test('while strangers fill every place, the real user from her usual address is checked next, ahead of them', () =>
  withStore(async (accounts) => {
    accounts.add('alice', await hashPassword('the right password'), ['alice@example.test'], 0);
    const checks = heldChecks();
    const auth = new Authenticator({ accounts, policy: { ...roomy, maxChecksAtOnce: 1, maxChecksQueued: 3 }, events: createRelayEvents(), logger: silentLogger, verify: checks.verify, clock: () => 1000 });
    const first = auth.authenticate({ username: 'alice', password: 'the right password', clientIp: '192.0.2.200', listener: 'submissions' });
    await checks.drain();
    assert.equal((await first).ok, true);
    const flood = Array.from({ length: 6 }, (_, i) => auth.authenticate({ username: `fresh${i}`, password: 'x', clientIp: `192.0.2.${i + 1}`, listener: 'submissions' }));
    const real = auth.authenticate({ username: 'alice', password: 'the right password', clientIp: '192.0.2.200', listener: 'submissions' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    checks.ends.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(checks.passwords, ['the right password', 'x', 'the right password'], 'the check after the one running is hers');
    checks.ends.shift()!();
    assert.equal((await real).ok, true);
    await checks.drain();
    assert.deepEqual((await Promise.all(flood)).map((result) => !result.ok && result.reply), ['failed', 'failed', 'failed', 'failed', 'busy', 'busy']);
  }));

test('checks for strangers are limited per minute relay-wide: at the limit all are checked, one beyond is busy unchecked; the next minute starts afresh', () =>
  withStore(async (accounts) => {
    accounts.add('alice', await hashPassword('the right password'), ['alice@example.test'], 0);
    let now = 0;
    let checks = 0;
    const verify = async (password: string, hash: string) => (checks++, verifyPassword(password, hash));
    const auth = new Authenticator({ accounts, policy: { ...roomy, maxStrangerChecksPerMinute: 4, maxChecksQueued: 10 }, events: createRelayEvents(), logger: silentLogger, verify, clock: () => now });
    assert.equal((await auth.authenticate({ username: 'alice', password: 'the right password', clientIp: '192.0.2.200', listener: 'submissions' })).ok, true, 'one check of the minute: her first login there');
    const replies = await Promise.all(Array.from({ length: 4 }, (_, i) => auth.authenticate({ username: `fresh${i}`, password: 'x', clientIp: `192.0.2.${i + 1}`, listener: 'submissions' })));
    assert.deepEqual(replies.map((result) => !result.ok && result.reply), ['failed', 'failed', 'failed', 'busy']);
    assert.equal(checks, 4);
    assert.equal((await auth.authenticate({ username: 'alice', password: 'the right password', clientIp: '192.0.2.200', listener: 'submissions' })).ok, true, 'her usual address is not limited by it');
    now += 60_000;
    assert.equal(((await auth.authenticate({ username: 'fresh9', password: 'x', clientIp: '192.0.2.9', listener: 'submissions' })) as { reply: string }).reply, 'failed');
  }));

test('a login whose client has gone while it waited is dropped unchecked, and nothing is counted against anyone', () =>
  withStore(async (accounts) => {
    const checks = heldChecks();
    const atOnce = 2;
    const auth = new Authenticator({ accounts, policy: { ...roomy, maxChecksAtOnce: atOnce }, events: createRelayEvents(), logger: silentLogger, verify: checks.verify, clock: () => 1000 });
    // every running place taken, so the next one waits
    const running = Array.from({ length: atOnce }, (_, index) => auth.authenticate({ username: `fresh${index}`, password: 'x', clientIp: '192.0.2.1', listener: 'submissions' }));
    const gone = new AbortController();
    const waiting = auth.authenticate({ username: 'waiting', password: 'x', clientIp: '192.0.2.2', listener: 'submissions', signal: gone.signal });
    await new Promise((resolve) => setImmediate(resolve));
    gone.abort();
    assert.deepEqual(await waiting, { ok: false, reply: 'busy', delayMs: 0 });
    await checks.drain();
    await Promise.all(running);
    assert.equal(checks.started, atOnce);
    assert.equal(accounts.lock('ip:192.0.2.2'), undefined);
  }));
