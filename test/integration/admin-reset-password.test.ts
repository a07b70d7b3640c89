import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServeProcess, runCli } from '../helpers/cli.ts';
import { AdminClient, startHost } from '../helpers/admin.ts';
import { message, send } from '../helpers/smtp.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { LOGIN_FAILURES_PER_IP } from '../../src-relay/admin/admin-auth.ts';
import { MIN_ADMIN_PASSWORD_CHARS } from '../../src-relay/admin/auth-contract.ts';

// Issue 12: a forgotten admin password is reset from the box with `moat admin reset-password` while `moat serve`
// runs in another process; the running relay notices at the next request and every admin session ends.

const TEST_TIMEOUT_MS = 120_000;
/** An event the test caused arrives within milliseconds; a loaded CI machine gets room. */
const EVENT_WAIT_MS = 30_000;
const FIRST_PASSWORD = 'first password 1';
const NEW_PASSWORD = 'second password 2';
const dirs: string[] = [];
const serves: ServeProcess[] = [];

after(async () => {
  for (const serve of serves) await serve.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A `moat serve` child waiting for its setup, claimed through the API with FIRST_PASSWORD; the claiming client stays logged in. */
async function claimedRelay(): Promise<{ dataDir: string; base: string; admin: AdminClient }> {
  const dataDir = tempDir('moat-reset-');
  dirs.push(dataDir);
  const serve = await ServeProcess.startForSetup(['--data-dir', dataDir, '--admin-listen', '127.0.0.1:0', '--mx-listen', '127.0.0.1:0']);
  serves.push(serve);
  const base = `http://${serve.admin}`;
  const admin = new AdminClient(base);
  await admin.call('auth.setup', { token: serve.setupToken, password: FIRST_PASSWORD });
  return { dataDir, base, admin };
}

function reset(dataDir: string, input: string, extra: string[] = []) {
  return runCli(['admin', 'reset-password', ...extra, '--data-dir', dataDir], undefined, input);
}

async function login(base: string, password: string): Promise<{ client: AdminClient; status: number; code: string | undefined }> {
  const client = new AdminClient(base);
  const answer = await client.raw('auth.login', { password });
  return { client, status: answer.status, code: answer.body.code };
}

test('moat admin reset-password with the password on stdin ends every session; the old password fails, the new one logs in', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { dataDir, base, admin } = await claimedRelay();
  const second = await login(base, FIRST_PASSWORD);
  assert.equal(second.status, 200);
  assert.equal((await admin.raw('relay.status')).status, 200);
  assert.equal((await second.client.raw('relay.status')).status, 200);

  const result = await reset(dataDir, `${NEW_PASSWORD}\n`);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^admin password reset; every admin session has ended/);
  assert.doesNotMatch(result.stdout + result.stderr, new RegExp(NEW_PASSWORD));

  // a burst on the old sessions: each request is refused, none slips through while the sessions are being dropped
  const burst = await Promise.all([admin, second.client, admin, second.client, admin].map((client) => client.raw('relay.status')));
  assert.deepEqual(burst.map((answer) => [answer.status, answer.body.code]), Array(5).fill([401, 'UNAUTHENTICATED']));
  assert.deepEqual((await admin.raw('auth.status')).body.result, { state: 'login', csrf: null }, 'the page sends the admin to the log-in');

  const old = await login(base, FIRST_PASSWORD);
  assert.deepEqual([old.status, old.code], [401, 'WRONG_PASSWORD']);
  const fresh = await login(base, NEW_PASSWORD);
  assert.equal(fresh.status, 200);
  assert.equal((await fresh.client.raw('relay.status')).status, 200);
});

test('a password shorter than the minimum, one given as an argument, or none at all is refused and changes nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { dataDir, base, admin } = await claimedRelay();
  const justShort = 'x'.repeat(MIN_ADMIN_PASSWORD_CHARS - 1);
  const short = await reset(dataDir, `${justShort}\n`);
  assert.equal(short.code, 1);
  assert.match(short.stderr, new RegExp(`at least ${MIN_ADMIN_PASSWORD_CHARS} characters; nothing was changed`));

  const inArgv = await reset(dataDir, '', [NEW_PASSWORD]);
  assert.equal(inArgv.code, 2);
  assert.match(inArgv.stderr, /takes no arguments: the password is asked for, or read from standard input, never given on the command line/);
  const asFlag = await reset(dataDir, '', ['--password', NEW_PASSWORD]);
  assert.equal(asFlag.code, 2);

  const empty = await reset(dataDir, '');
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /no password on standard input/);

  // nothing changed: the session lives on and the first password still logs in
  assert.equal((await admin.raw('relay.status')).status, 200);
  assert.equal((await login(base, FIRST_PASSWORD)).status, 200);

  // exactly the minimum is accepted
  const exact = 'y'.repeat(MIN_ADMIN_PASSWORD_CHARS);
  const ok = await reset(dataDir, `${exact}\n`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await login(base, exact)).status, 200);
});

test('reset-password refuses a data directory without a Moat database and creates nothing there', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dir = tempDir('moat-reset-none-');
  dirs.push(dir);
  const missing = join(dir, 'typo');
  const result = await reset(missing, `${NEW_PASSWORD}\n`);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /no Moat database in .*typo/);
  assert.equal(existsSync(missing), false);
});

test('a reset keeps the log-in lockout of an address: it ends with its window, not with the new password', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { dataDir, base } = await claimedRelay();
  const guesses = await Promise.all(Array.from({ length: LOGIN_FAILURES_PER_IP + 1 }, () => login(base, 'wrong guess 123')));
  assert.deepEqual(guesses.map((guess) => guess.code).sort(), [...Array(LOGIN_FAILURES_PER_IP).fill('WRONG_PASSWORD'), 'LOGIN_RATE_LIMITED'].sort());
  const result = await reset(dataDir, `${NEW_PASSWORD}\n`);
  assert.equal(result.code, 0, result.stderr);
  const after = await login(base, NEW_PASSWORD);
  assert.deepEqual([after.status, after.code], [429, 'LOGIN_RATE_LIMITED']);
});

/** An open event stream: its events as they come, and whether the server ended it. */
async function openEvents(base: string, cookie: string | null) {
  const response = await fetch(`${base}/api/events`, { headers: cookie ? { cookie } : {} });
  assert.equal(response.status, 200);
  const seen: string[] = [];
  let ended = false;
  const waiters = new Set<() => void>();
  void (async () => {
    let buffer = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += Buffer.from(chunk).toString('utf8');
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const name = /^event: (.*)$/m.exec(buffer.slice(0, end))?.[1];
          buffer = buffer.slice(end + 2);
          if (name) seen.push(name);
        }
        for (const wake of [...waiters]) wake();
      }
    } catch {
      // the test aborted the fetch: the stream is over all the same
    }
    ended = true;
    for (const wake of [...waiters]) wake();
  })();
  const until = (done: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${EVENT_WAIT_MS} ms; saw ${JSON.stringify(seen)}`)), EVENT_WAIT_MS);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  return { seen, ended: () => ended, until };
}

test("a live event stream of a session the reset ended is closed at the next event, which only the new session's stream gets", { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = tempDir('moat-reset-events-');
  dirs.push(dataDir);
  // nothing listens on port 9 of 127.0.0.1: the message stays queued and its events are published
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: 9, tls: 'none' }, filters: { enabled: false } }));
  const world = await startHost({}, { dataDir });
  try {
    const old = await world.admin(FIRST_PASSWORD);
    const oldStream = await openEvents(world.base, old.cookie);
    await oldStream.until(() => oldStream.seen.includes('relay'), 'first relay event');

    const result = await reset(dataDir, `${NEW_PASSWORD}\n`);
    assert.equal(result.code, 0, result.stderr);
    const fresh = await login(world.base, NEW_PASSWORD);
    assert.equal(fresh.status, 200);
    const freshStream = await openEvents(world.base, fresh.client.cookie);
    await freshStream.until(() => freshStream.seen.includes('relay'), 'first relay event');

    const address = world.host.status().addresses.mx!;
    await send(Number(address.slice(address.lastIndexOf(':') + 1)), 'alice@sender.test', ['bob@example.test'], message('after the reset'));
    await freshStream.until(() => freshStream.seen.includes('received'), 'received event on the new session');
    await oldStream.until(() => oldStream.ended(), 'end of the old stream');
    assert.equal(oldStream.seen.includes('received'), false, `the old session saw the mail that came after the reset: ${JSON.stringify(oldStream.seen)}`);
  } finally {
    await world.stop();
  }
});
