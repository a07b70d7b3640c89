import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { verifyPassword } from '../../src-relay/auth/password.ts';
import { PASSWORD, SmtpProbe, addUser, moat, officeMessage, startSubmissionRelay, submit, withAccounts, type SubmissionRelay } from '../helpers/submission.ts';

/** One login on a fresh TLS session (from `from`, another loopback address, when given); returns the AUTH reply. */
async function login(relay: SubmissionRelay, user: string, pass: string, from?: string): Promise<string> {
  const probe = await SmtpProbe.connect(relay.submissions, true, from);
  try {
    await probe.hello();
    return await probe.authPlain(user, pass);
  } finally {
    probe.close();
  }
}

async function withRelay(
  overrides: Record<string, unknown>,
  run: (relay: SubmissionRelay) => Promise<void>,
  options: Parameters<typeof startSubmissionRelay>[2] = {},
): Promise<void> {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, overrides, options);
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

/** How long each password check takes in the burst tests (ms): a slow scrypt, so that a burst is in flight at once. */
const SLOW_CHECK_MS = 300;

/**
 * The relay's password check, counted and slowed down: the attempts of a burst all arrive while the first checks
 * are still running (the old check-then-await-then-count let every one of them through). The assertions do not
 * depend on the timing: however the attempts interleave, no more checks may run than the limits allow.
 */
function slowChecks() {
  const spy = {
    started: 0,
    verify: async (password: string, hash: string) => {
      spy.started++;
      await new Promise((resolve) => setTimeout(resolve, SLOW_CHECK_MS));
      return verifyPassword(password, hash);
    },
  };
  return spy;
}

/** Fires all attempts at once and returns the reply codes. */
async function burst(relay: SubmissionRelay, attempts: { user: string; pass: string; from?: string }[]): Promise<string[]> {
  return (await Promise.all(attempts.map((attempt) => login(relay, attempt.user, attempt.pass, attempt.from)))).map((reply) => reply.slice(0, 3));
}

const tally = (codes: string[]) => codes.reduce<Record<string, number>>((counts, code) => ({ ...counts, [code]: (counts[code] ?? 0) + 1 }), {});

const BURST = 30;
const burstLimits = { maxConnectionsPerIp: 100, login: { maxFailuresPerAccount: 5, maxFailuresPerAccountTotal: 10, maxFailuresPerIp: 100, lockoutMinutes: 15 } };

test('thirty simultaneous wrong passwords from one address run five password checks and are answered exactly as thirty in a row', () => {
  const checks = slowChecks();
  let now = Date.parse('2026-11-28T10:00:00Z');
  return withRelay(
    { submission: burstLimits },
    async (relay) => {
      await addUser(relay.dataDir, 'bob', ['bob@example.test']);
      const parallel = await burst(relay, Array.from({ length: BURST }, (_, i) => ({ user: 'alice', pass: `guess ${i}` })));
      assert.equal(checks.started, 5, 'no more password checks than the limit');
      const inARow: string[] = [];
      for (let i = 0; i < BURST; i++) inARow.push((await login(relay, 'bob', `guess ${i}`)).slice(0, 3));
      assert.deepEqual(tally(parallel), tally(inARow));
      assert.deepEqual(tally(parallel), { 535: 5, 454: 25 });
      assert.equal(checks.started, 10);
      assert.match(await login(relay, 'alice', PASSWORD), /^454 4\.7\.0 /, 'the right password is refused during the lockout');
      now += 14 * 60_000;
      assert.match(await login(relay, 'alice', PASSWORD), /^454 4\.7\.0 /, 'and still a minute before it ends');
      now += 60_000;
      assert.match(await login(relay, 'alice', PASSWORD), /^235 /, 'once the lockout is over the right password logs in');
    },
    { verifyPassword: checks.verify, clock: () => now },
  );
});

test('four simultaneous wrong passwords, one under the limit, leave the right password working', () => {
  const checks = slowChecks();
  return withRelay(
    { submission: burstLimits },
    async (relay) => {
      const parallel = await burst(relay, Array.from({ length: 4 }, (_, i) => ({ user: 'alice', pass: `guess ${i}` })));
      assert.deepEqual(tally(parallel), { 535: 4 });
      assert.match(await login(relay, 'alice', PASSWORD), /^235 /);
    },
    { verifyPassword: checks.verify },
  );
});

test('a burst with the right password among wrong ones counts only the wrong ones', () => {
  const checks = slowChecks();
  return withRelay(
    { submission: burstLimits },
    async (relay) => {
      const parallel = await burst(relay, [
        ...Array.from({ length: 3 }, (_, i) => ({ user: 'alice', pass: `guess ${i}` })),
        { user: 'alice', pass: PASSWORD },
      ]);
      assert.deepEqual(tally(parallel), { 535: 3, 235: 1 });
      assert.equal(withAccounts(relay.dataDir, (accounts) => accounts.lock('pair:127.0.0.1 alice')!.failures), 3);
      assert.match(await login(relay, 'alice', 'guess 4'), /^535 /, 'the fourth failure, still under five');
      assert.match(await login(relay, 'alice', PASSWORD), /^235 /);
    },
    { verifyPassword: checks.verify },
  );
});

test('thirty simultaneous guesses spread over ten addresses run no more password checks than the account-wide ceiling', () => {
  const checks = slowChecks();
  return withRelay(
    { submission: burstLimits },
    async (relay) => {
      const attempts = Array.from({ length: BURST }, (_, i) => ({ user: 'alice', pass: `guess ${i}`, from: `127.0.0.${2 + (i % 10)}` }));
      const parallel = await burst(relay, attempts);
      assert.equal(checks.started, 10, 'the ceiling of ten failures for the name, whatever the addresses');
      assert.deepEqual(tally(parallel), { 535: 10, 454: 20 });
      assert.match(await login(relay, 'alice', PASSWORD, '127.0.0.5'), /^454 /, 'the right password from an attacking address is refused');
      assert.match(await login(relay, 'alice', PASSWORD, '127.0.0.40'), /^454 /, 'and from an address the account never logged in from');
    },
    { verifyPassword: checks.verify },
  );
});

test('the real user still logs in from their usual address while guesses from other addresses lock the account', () => {
  const checks = slowChecks();
  return withRelay(
    { submission: burstLimits },
    async (relay) => {
      assert.match(await login(relay, 'alice', PASSWORD, '127.0.0.1'), /^235 /, 'alice logs in from her office address');
      const attacks = Array.from({ length: BURST }, (_, i) => login(relay, 'alice', `guess ${i}`, `127.0.0.${2 + (i % 15)}`));
      const during = login(relay, 'alice', PASSWORD, '127.0.0.1');
      const codes = (await Promise.all(attacks)).map((reply) => reply.slice(0, 3));
      assert.match(await during, /^235 /, 'a log-in during the attack works');
      assert.deepEqual(tally(codes), { 535: 10, 454: 20 });
      assert.match(await login(relay, 'alice', PASSWORD, '127.0.0.1'), /^235 /, 'and after it, while the name is locked for every other address');
      assert.match(await login(relay, 'alice', PASSWORD, '127.0.0.77'), /^454 /);
      const listed = await moat(['users', 'list', '--data-dir', relay.dataDir]);
      assert.match(listed.stdout, /alice\n\s+status: LOCKED until .*addresses it logged in from in the last 30 days may still log in/);
    },
    { verifyPassword: checks.verify },
  );
});

test('from her usual address the real user is still limited like anyone: five wrong passwords lock the name there', () =>
  withRelay({ submission: burstLimits }, async (relay) => {
    assert.match(await login(relay, 'alice', PASSWORD), /^235 /);
    for (let i = 0; i < 5; i++) assert.match(await login(relay, 'alice', `guess ${i}`), /^535 /);
    assert.match(await login(relay, 'alice', PASSWORD), /^454 /);
    assert.match(await login(relay, 'alice', PASSWORD, '127.0.0.3'), /^235 /, 'one address\'s failures do not lock the name elsewhere');
  }));

test('ten simultaneous log-ins with the right password from one address all succeed, however low the limits', () => {
  const checks = slowChecks();
  return withRelay(
    { submission: { maxConnectionsPerIp: 100, login: { maxFailuresPerAccount: 2, maxFailuresPerAccountTotal: 2, maxFailuresPerIp: 2 } } },
    async (relay) => {
      const parallel = await burst(relay, Array.from({ length: 10 }, () => ({ user: 'alice', pass: PASSWORD })));
      assert.deepEqual(tally(parallel), { 235: 10 });
      assert.equal(checks.started, 10);
    },
    { verifyPassword: checks.verify },
  );
});
