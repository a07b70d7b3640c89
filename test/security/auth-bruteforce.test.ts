import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { PASSWORD, SmtpProbe, addUser, moat, officeMessage, startSubmissionRelay, submit, withAccounts, type SubmissionRelay } from '../helpers/submission.ts';

/** One login on a fresh TLS session; returns the AUTH reply. */
async function login(relay: SubmissionRelay, user: string, pass: string): Promise<string> {
  const probe = await SmtpProbe.connect(relay.submissions, true);
  try {
    await probe.hello();
    return await probe.authPlain(user, pass);
  } finally {
    probe.close();
  }
}

async function withRelay(overrides: Record<string, unknown>, run: (relay: SubmissionRelay) => Promise<void>): Promise<void> {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, overrides);
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test']);
    await run(relay);
  } finally {
    await relay.stop();
    await internal.stop();
  }
}

test('a wrong password gets 535 5.7.8, and the failure is recorded with the client address but no password', () =>
  withRelay({}, async (relay) => {
    const failed: unknown[] = [];
    relay.relay.events.on('auth-failed', (event) => failed.push(event));
    assert.match(await login(relay, 'alice', 'not the password'), /^535 5\.7\.8 Authentication credentials invalid/);
    assert.match(await login(relay, 'alice', PASSWORD), /^235 /);
    assert.deepEqual(failed, [{ user: 'alice', clientIp: '127.0.0.1', lockout: null }]);
    const events = withAccounts(relay.dataDir, (accounts) => accounts.events('alice'));
    assert.deepEqual(events.map((event) => event.outcome).reverse(), ['failure', 'success']);
    assert.equal(events[1]!.client_ip, '127.0.0.1');
    const everything = withAccounts(relay.dataDir, (accounts) => JSON.stringify(accounts.db.prepare('SELECT * FROM auth_events').all()));
    assert.doesNotMatch(everything, /not the password|horse/, 'no password in the login history');
  }));

test('a user name that does not exist gets the same answer as a wrong password', () =>
  withRelay({}, async (relay) => {
    const unknown = await login(relay, 'mallory', 'whatever-it-is');
    const wrong = await login(relay, 'alice', 'whatever-it-is');
    assert.equal(unknown, wrong);
  }));

test('after too many failures the name is locked: even the right password gets 454 4.7.0, until "moat users unlock"', () =>
  withRelay({ submission: { login: { maxFailuresPerAccount: 3, maxFailuresPerIp: 100, lockoutMinutes: 60 } } }, async (relay) => {
    const lockouts: unknown[] = [];
    relay.relay.events.on('auth-failed', (event) => lockouts.push(event.lockout));
    for (let i = 0; i < 3; i++) assert.match(await login(relay, 'alice', `guess ${i}`), /^535 /);
    assert.deepEqual(lockouts, [null, null, 'account']);
    assert.match(await login(relay, 'alice', PASSWORD), /^454 4\.7\.0 Too many failed logins/);
    await assert.rejects(submit(relay.submission, { user: 'alice' }, 'alice@example.test', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test')), (error: Error & { responseCode?: number }) => error.responseCode === 454);
    const listed = await moat(['users', 'list', '--data-dir', relay.dataDir]);
    assert.match(listed.stdout, /alice\n\s+status: LOCKED from 127\.0\.0\.1 until/);
    const unlocked = await moat(['users', 'unlock', 'alice', '--data-dir', relay.dataDir]);
    assert.equal(unlocked.code, 0, unlocked.stderr);
    assert.match(await login(relay, 'alice', PASSWORD), /^235 /);
    const shown = await moat(['users', 'show', 'alice', '--data-dir', relay.dataDir]);
    assert.match(shown.stdout, /UNLOCKED/);
    assert.equal((shown.stdout.match(/FAILURE 127\.0\.0\.1 on submissions: wrong credentials/g) ?? []).length, 3, shown.stdout);
    assert.match(shown.stdout, /LOCKED 127\.0\.0\.1 on submissions: user name locked for this client address/);
  }));

test('names that do not exist are locked the same way, so a lockout tells nothing about which accounts exist', () =>
  withRelay({ submission: { login: { maxFailuresPerAccount: 2, maxFailuresPerIp: 100 } } }, async (relay) => {
    for (const name of ['alice', 'mallory']) {
      assert.match(await login(relay, name, 'guess 1'), /^535 /);
      assert.match(await login(relay, name, 'guess 2'), /^535 /);
      assert.match(await login(relay, name, 'guess 3'), /^454 4\.7\.0 /);
    }
  }));

test('one client address guessing many names is locked out, for every name, real or not', () =>
  withRelay({ submission: { login: { maxFailuresPerAccount: 100, maxFailuresPerIp: 4 } } }, async (relay) => {
    const lockouts: unknown[] = [];
    relay.relay.events.on('auth-failed', (event) => lockouts.push(event.lockout));
    for (const name of ['admin', 'root', 'info', 'sales']) assert.match(await login(relay, name, 'password1'), /^535 /);
    assert.equal(lockouts.at(-1), 'ip');
    assert.match(await login(relay, 'alice', PASSWORD), /^454 4\.7\.0 /);
    const listed = await moat(['users', 'list', '--data-dir', relay.dataDir]);
    assert.match(listed.stdout, /locked client address 127\.0\.0\.1 until/);
    assert.equal((await moat(['users', 'unlock', '127.0.0.1', '--data-dir', relay.dataDir])).code, 0);
    assert.match(await login(relay, 'alice', PASSWORD), /^235 /);
  }));

test('failed logins are answered later and later: the delay doubles with each failure', () =>
  withRelay({ submission: { login: { firstDelayMs: 150, maxDelayMs: 600, maxFailuresPerAccount: 100, maxFailuresPerIp: 100 } } }, async (relay) => {
    const took: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      assert.match(await login(relay, 'alice', `guess ${i}`), /^535 /);
      took.push(Date.now() - started);
    }
    // lower bounds only: a loaded machine makes answers slower, never faster
    assert.ok(took[0]! >= 150, `first failure answered after ${took[0]} ms`);
    assert.ok(took[1]! >= 300, `second failure answered after ${took[1]} ms`);
    assert.ok(took[2]! >= 600, `third failure answered after ${took[2]} ms`);
  }));

test('a session is closed with 421 after three failed logins', () =>
  withRelay({ submission: { login: { maxFailuresPerAccount: 100, maxFailuresPerIp: 100 } } }, async (relay) => {
    const probe = await SmtpProbe.connect(relay.submissions, true);
    try {
      await probe.hello();
      assert.match(await probe.authPlain('alice', 'one'), /^535 /);
      assert.match(await probe.authPlain('alice', 'two'), /^535 /);
      assert.match(await probe.authPlain('alice', 'three'), /^535 /);
      assert.match(await probe.reply(), /^421 4\.7\.0 Too many failed logins/);
      await probe.waitClosed();
    } finally {
      probe.close();
    }
  }));
