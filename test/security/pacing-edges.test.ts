// Pacing (smtp/pacing.ts) one step past the plain case: a place must follow its message exactly, whatever the client
// pipelines or answers, and a DATA waiting for one is not timed out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message } from '../helpers/smtp.ts';
import { PASSWORD, addUser, startSubmissionRelay } from '../helpers/submission.ts';
import { MAX_TRANSACTIONS_AT_ONCE, PACE_WAIT_MS } from '../../src-relay/smtp/pacing.ts';

async function envelope(client: RawSmtp): Promise<void> {
  assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
  assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
}

/** Sessions in DATA that keep sending well above the minimum data rate from their 354 on, so they hold their places. */
async function busyHolders(port: number, count: number, open: (port: number) => Promise<RawSmtp>): Promise<{ clients: RawSmtp[]; stop: () => void }> {
  const clients: RawSmtp[] = [];
  const timer = setInterval(() => {
    for (const client of clients) client.write(`${'x'.repeat(600)}\r\n`);
  }, 250);
  await Promise.all(
    Array.from({ length: count }, async () => {
      const client = await open(port);
      await envelope(client);
      assert.match(await client.command('DATA'), /^354/);
      clients.push(client);
    }),
  );
  return { clients, stop: () => clearInterval(timer) };
}

const mxSession = async (port: number): Promise<RawSmtp> => {
  const client = await RawSmtp.connect(port);
  assert.match(await client.hello(), /^250/);
  return client;
};

test('pacing: a message pipelined right behind the final dot holds its own place and keeps its minimum data rate', async () => {
  const sink = await Sink.start();
  const relay = await startSubmissionRelay(sink.port, { mx: { idleTimeoutSec: 3 } });
  try {
    await addUser(relay.dataDir, 'alice', ['alice@sender.test']);
    const login = async (port: number): Promise<RawSmtp> => {
      const client = await RawSmtp.connect(port, true);
      await client.hello();
      assert.match(await client.authPlain('alice', PASSWORD), /^235/);
      return client;
    };
    const piped = await login(relay.submissions);
    await envelope(piped);
    assert.match(await piped.command('DATA'), /^354/);
    piped.write(`${message('first')}.\r\nMAIL FROM:<alice@sender.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n`);
    const replies = [await piped.reply(), await piped.reply(), await piped.reply(), await piped.reply()];
    assert.deepEqual(replies.map((reply) => reply.slice(0, 3)), ['250', '250', '250', '354']);
    // the second message holds a place: one fewer is free for others (it sends meanwhile, to stay above the minimum rate)
    const sending = setInterval(() => piped.write(`${'x'.repeat(600)}\r\n`), 250);
    const others = await Promise.all(
      Array.from({ length: MAX_TRANSACTIONS_AT_ONCE }, async () => {
        const client = await login(relay.submissions);
        await envelope(client);
        return client;
      }),
    );
    for (const client of others) client.write('DATA\r\n');
    const first = await Promise.all(others.map((client) => client.reply(PACE_WAIT_MS / 4).catch(() => null)));
    clearInterval(sending);
    assert.equal(first.filter((reply) => reply !== null).length, MAX_TRANSACTIONS_AT_ONCE - 1);
    // and it is still watched: a trickle far below 500 bytes/s is cut off
    const started = Date.now();
    while (!piped.closed && Date.now() - started < 10_000) {
      piped.write('x');
      await sleep(500);
    }
    assert.ok(piped.closed, 'closed for sending too slowly');
    assert.ok(Date.now() - started < 8_000, `cut off after ${Date.now() - started} ms`);
    for (const client of others) client.close();
    await sink.waitFor(1);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('pacing: a line "DATA" answering an AUTH challenge takes no place', async () => {
  const sink = await Sink.start();
  const relay = await startSubmissionRelay(sink.port, { submission: { trustedNetworks: ['127.0.0.1'] } });
  try {
    const answered: RawSmtp[] = [];
    for (let i = 0; i < MAX_TRANSACTIONS_AT_ONCE; i++) {
      const client = await RawSmtp.connect(relay.submissions, true);
      await client.hello();
      await envelope(client);
      assert.match(await client.command('AUTH PLAIN'), /^334/);
      assert.match(await client.command('DATA'), /^5/, 'read as the AUTH answer, and refused');
      answered.push(client);
    }
    const next = await RawSmtp.connect(relay.submissions, true);
    await next.hello();
    await envelope(next);
    const started = Date.now();
    assert.match(await next.command('DATA'), /^354/);
    assert.ok(Date.now() - started < PACE_WAIT_MS / 4, `a place was free at once (${Date.now() - started} ms)`);
    next.write(`${message('trusted')}.\r\n`);
    assert.match(await next.reply(), /^250/);
    for (const client of [...answered, next]) client.close();
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('pacing: a DATA waiting for a place is not timed out by an idle timeout shorter than the wait', async () => {
  const sink = await Sink.start();
  const relay: TestRelay = await startRelay(sink.port, { mx: { idleTimeoutSec: 1 } });
  const holders = await busyHolders(relay.port, MAX_TRANSACTIONS_AT_ONCE, mxSession);
  try {
    const waiting = await mxSession(relay.port);
    await envelope(waiting);
    const started = Date.now();
    assert.match(await waiting.command('DATA'), /^354/);
    const waited = Date.now() - started;
    assert.ok(waited >= PACE_WAIT_MS - 50, `354 after the wait (${waited} ms), not a 421 at the idle timeout`);
    waiting.write(`${message('after the wait')}.\r\n`);
    assert.match(await waiting.reply(), /^250/);
    waiting.close();
  } finally {
    holders.stop();
    for (const client of holders.clients) client.close();
    await relay.stop();
    await sink.stop();
  }
});
