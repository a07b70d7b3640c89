import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';
import { verifyPassword } from '../../src-relay/auth/password.ts';
import { PASSWORD, SmtpProbe, addUser, startSubmissionRelay, type SubmissionRelay } from '../helpers/submission.ts';

/** Flood clients: 30 addresses (127.0.1.1 …), 5 attempts each, under every per-address limit; a fresh name each time. */
const FLOOD_ADDRESSES = 30;
const PER_ADDRESS = 5;
const FLOOD_AT_ONCE = 20;

/**
 * One attack attempt on port 465: TLS, EHLO, AUTH PLAIN with a made-up name. Every other one hangs up as soon as the
 * AUTH is sent (the repro's fire-and-forget client); the rest wait for the answer, which is returned.
 */
async function guess(relay: SubmissionRelay, i: number): Promise<string | null> {
  const from = `127.0.1.${1 + (i % FLOOD_ADDRESSES)}`;
  const probe = await SmtpProbe.connect(relay.submissions, true, from);
  try {
    await probe.hello();
    const name = `u${i.toString(16)}x${Math.random().toString(36).slice(2)}@nowhere.test`;
    if (i % 2 === 0) {
      probe.socket.write(`AUTH PLAIN ${Buffer.from(`\0${name}\0wrongpassword1`).toString('base64')}\r\n`);
      return null;
    }
    return await probe.authPlain(name, 'wrongpassword1');
  } catch {
    return null;
  } finally {
    probe.close();
  }
}

async function flood(relay: SubmissionRelay): Promise<(string | null)[]> {
  const total = FLOOD_ADDRESSES * PER_ADDRESS;
  const answers: (string | null)[] = [];
  let next = 0;
  const lane = async () => {
    while (next < total) answers.push(await guess(relay, next++));
  };
  await Promise.all(Array.from({ length: FLOOD_AT_ONCE }, lane));
  return answers;
}

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = Date.now();
  const value = await run();
  return { ms: Date.now() - started, value };
}

test('during a flood of failing logins with fresh names from many addresses, inbound mail still gets its 250 promptly and the real user still logs in', async () => {
  const internal = await Sink.start();
  const checks = { started: 0 };
  // the real scrypt: the point is that it shares libuv's pool with the spool's fsyncs
  const verify = (password: string, hash: string) => (checks.started++, verifyPassword(password, hash));
  const relay = await startSubmissionRelay(internal.port, {}, { verifyPassword: verify });
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test']);
    const usual = await SmtpProbe.connect(relay.submissions, true);
    await usual.hello();
    assert.match(await usual.authPlain('alice', PASSWORD), /^235 /, 'alice logs in from her usual address before the flood');
    usual.close();
    const before = checks.started;

    const attack = flood(relay);
    // let the flood get going before the real traffic arrives
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const inbound = await timed(() => send(relay.port, 'someone@sender.test', ['bob@example.test'], message('during the flood')));
    const login = await timed(async () => {
      const probe = await SmtpProbe.connect(relay.submissions, true);
      try {
        await probe.hello();
        return await probe.authPlain('alice', PASSWORD);
      } finally {
        probe.close();
      }
    });
    const answers = await attack;

    assert.match(inbound.value.response, /^250 /);
    // generous: a loaded test machine is slow; before the limit a message waited over 60 s behind the checks
    assert.ok(inbound.ms < 10_000, `inbound message took ${inbound.ms} ms during the flood`);
    assert.match(login.value, /^235 /, 'the real user logs in during the flood');
    assert.ok(login.ms < 10_000, `her login took ${login.ms} ms during the flood`);
    const replies = answers.filter((answer): answer is string => answer !== null).map((answer) => answer.slice(0, 3));
    assert.ok(replies.length > 0);
    assert.deepEqual([...new Set(replies)].filter((code) => code !== '535' && code !== '454'), [], `flood answers: ${replies.join(' ')}`);
    const floodChecks = checks.started - before - 1;
    assert.ok(floodChecks <= 60, `${floodChecks} password checks for ${answers.length} guesses: no more than the strangers' budget a minute`);
  } finally {
    await relay.stop();
    await internal.stop();
  }
});
