// Floods (issue 11): silent connections from many client addresses must not lock real senders out (smtp/stress.ts),
// and a client trickling its message is cut off long before the session deadline (smtp/data-rate.ts). Over real
// sockets; Linux routes all of 127.0.0.0/8 to the loopback interface, so each flood client binds its own address.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigSchema } from '../../src-relay/config/schema.ts';
import { EVICT_MIN_IDLE_MS, STRESS_IDLE_TIMEOUT_SEC, STRESS_SHARE } from '../../src-relay/smtp/stress.ts';
import { MIN_DATA_RATE_BYTES_PER_SEC } from '../../src-relay/smtp/data-rate.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message, send } from '../helpers/smtp.ts';

const MX_DEFAULTS = ConfigSchema.parse({}).mx;
/** Flood clients bind 127.0.0.2 .. 127.0.0.250 (127.0.0.1 is the real sender's): 249 addresses. */
const FLOOD_ADDRESSES = 249;
const floodAddress = (index: number): string => `127.0.0.${2 + (index % FLOOD_ADDRESSES)}`;

async function withRelay(mx: Record<string, unknown>, body: (relay: TestRelay, sink: Sink) => Promise<void>): Promise<void> {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port, { mx });
  try {
    await body(relay, sink);
  } finally {
    await relay.stop();
    await sink.stop();
  }
}

/** A client that connects, reads the greeting (220, or 421 when refused) and then says nothing. */
async function silent(port: number, from: string): Promise<{ client: RawSmtp; greeting: string }> {
  const client = await RawSmtp.connect(port, false, from);
  return { client, greeting: await client.reply() };
}

/** Opens silent connections one after the other (each greeted before the next), all expected to get 220. */
async function silentSessions(port: number, count: number): Promise<RawSmtp[]> {
  const clients: RawSmtp[] = [];
  for (let i = 0; i < count; i++) {
    const { client, greeting } = await silent(port, floodAddress(i));
    assert.match(greeting, /^220 /, `silent connection ${i + 1} of ${count} is greeted`);
    clients.push(client);
  }
  return clients;
}

function maxRssMiB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

test('300 silent connections from 249 client addresses never hold more than maxConnections, and a real sender still gets its message in within seconds', async (t) => {
  assert.equal(MX_DEFAULTS.maxConnections, 200);
  await withRelay({}, async (relay, sink) => {
    // in one parallel burst: the cap holds exactly as it does for connections made one after the other
    const flood = await Promise.all(Array.from({ length: 300 }, (_, i) => silent(relay.port, floodAddress(i))));
    const greeted = flood.filter(({ greeting }) => /^220 /.test(greeting));
    const refused = flood.filter(({ greeting }) => /^421 /.test(greeting));
    assert.equal(greeted.length + refused.length, 300);
    // past the cap each newcomer was refused, or (on a slow machine, once a second had passed) took an idle one's slot
    assert.ok(refused.length >= 1 && refused.length <= 100, `${refused.length} of the 300 were refused at once`);
    await Promise.all(refused.map(({ client }) => client.waitClosed()));

    // the flood stands: every slot is held by a client that has said nothing for a while
    await sleep(EVICT_MIN_IDLE_MS);
    const started = Date.now();
    const info = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('through the flood'));
    const waitedMs = Date.now() - started;
    assert.match(info.response, /^250 /, 'accepted at the first attempt');
    assert.ok(waitedMs < 3_000, `the real sender waited ${waitedMs} ms`);
    await sink.waitFor(1);

    // the sender took the slot of a silent one, which was told why
    const evicted = greeted.filter(({ client }) => client.closed);
    assert.ok(evicted.length >= 1, 'a silent session made room');
    for (const { client } of evicted) assert.match(await client.reply(), /^421 4\.4\.2 Server busy and this session idle/);
    assert.equal(greeted.length - evicted.length, MX_DEFAULTS.maxConnections - 1, 'the cap holds: the sender had the one slot made for it');
    t.diagnostic(`flood of 300 silent connections: real sender's message accepted after ${waitedMs} ms; test process (relay and all clients) max RSS ${maxRssMiB()} MiB`);
    for (const { client } of flood) client.close();
  });
});

test('at the cap a newcomer takes the slot of the session idle longest before MAIL, never one in a transaction, and gets 421 when none has been idle long enough', async () => {
  await withRelay({ maxConnections: 5 }, async (relay) => {
    const [inTransaction, ...idle] = await silentSessions(relay.port, 5);
    assert.match(await inTransaction!.command('EHLO client.sender.test'), /^250/);
    assert.match(await inTransaction!.command('MAIL FROM:<alice@sender.test>'), /^250/);

    // one step beyond the cap while every session is fresh: refused, nobody is closed
    const early = await silent(relay.port, '127.0.0.251');
    assert.match(early.greeting, /^421 /);
    await early.client.waitClosed();
    assert.ok(idle.every((client) => !client.closed));

    await sleep(EVICT_MIN_IDLE_MS + 200);
    // a parallel burst of 6: the 4 idle sessions make room for 4 of them, the other 2 are refused; the cap holds
    const burst = await Promise.all(Array.from({ length: 6 }, (_, i) => silent(relay.port, `127.0.1.${i + 1}`)));
    assert.equal(burst.filter(({ greeting }) => /^220 /.test(greeting)).length, 4);
    assert.equal(burst.filter(({ greeting }) => /^421 /.test(greeting)).length, 2);
    for (const client of idle) {
      assert.match(await client.reply(), /^421 4\.4\.2 Server busy and this session idle/);
      await client.waitClosed();
    }
    assert.match(await inTransaction!.command('RCPT TO:<bob@example.test>'), /^250/, 'the transaction goes on');
    assert.match(await inTransaction!.command('DATA'), /^354/);
    inTransaction!.write(`${message('kept its slot')}\r\n.\r\n`);
    assert.match(await inTransaction!.reply(), /^250 /);
    for (const { client } of burst) client.close();
    inTransaction!.close();
  });
});

test(`under stress (${STRESS_SHARE * 100} % of maxConnections open) a session silent for ${STRESS_IDLE_TIMEOUT_SEC} s gets 421 4.4.2, also with MAIL given, while busy ones stay; below it the idle timeout stays`, async () => {
  assert.equal(MX_DEFAULTS.idleTimeoutSec, 300);
  await withRelay({ maxConnections: 10 }, async (stressed) => {
    await withRelay({ maxConnections: 10 }, async (calm) => {
      const started = Date.now();
      const [withMail, idle] = await silentSessions(stressed.port, 2);
      assert.match(await withMail!.command('EHLO client.sender.test'), /^250/);
      assert.match(await withMail!.command('MAIL FROM:<alice@sender.test>'), /^250/);
      // 8 sessions that move their messages on every 2 s keep the listener at the stress threshold (8 of 10)
      const talkers = await Promise.all(Array.from({ length: 8 }, (_, i) => RawSmtp.connect(stressed.port, false, `127.0.2.${i + 1}`)));
      for (const talker of talkers) assert.match(await talker.hello(), /^250/);
      // 7 of 10 is just below the threshold
      const calmOnes = await silentSessions(calm.port, 7);

      let talking = true;
      const talkerReplies: string[] = [];
      // each step moves a real message on: MAIL, a recipient, its data (a repeated RCPT or MAIL would be stalling)
      const talk = Promise.all(
        talkers.map(async (talker, i) => {
          for (let step = 0; talking && !talker.closed; step++) {
            if (step % 3 === 0) talkerReplies.push(await talker.command(`MAIL FROM:<talker${i}@sender.test>`));
            else if (step % 3 === 1) talkerReplies.push(await talker.command('RCPT TO:<bob@example.test>'));
            else {
              assert.match(await talker.command('DATA'), /^354/);
              talker.write(`${message(`talker ${i}, step ${step}`)}\r\n.\r\n`);
              talkerReplies.push(await talker.reply());
            }
            await sleep(2_000);
          }
        }),
      );
      try {
        for (const client of [withMail!, idle!]) {
          assert.match(await client.reply(STRESS_IDLE_TIMEOUT_SEC * 1000 + 5_000), /^421 4\.4\.2 Server busy and this session idle/);
          await client.waitClosed();
        }
      } finally {
        talking = false;
        await talk;
      }
      const closedAfter = Date.now() - started;
      assert.ok(closedAfter >= STRESS_IDLE_TIMEOUT_SEC * 1000 - 500 && closedAfter < STRESS_IDLE_TIMEOUT_SEC * 1000 + 3_000, `closed after ${closedAfter} ms`);
      assert.ok(talkerReplies.length >= 8 * 5 && talkerReplies.every((reply) => /^250/.test(reply)), talkerReplies.join(''));
      for (const client of [...talkers, ...calmOnes]) assert.match(await client.command('NOOP'), /^250/, 'busy sessions, and silent ones below the threshold, are still open');
      for (const client of [...talkers, ...calmOnes]) client.close();
    });
  });
});

/** postmaster@example.test spelt the `n`th way: the letters of "example" whose bit in `n` is set are full-width. */
function postmasterSpelt(n: number): string {
  const domain = [...'example'].map((letter, bit) => ((n >> bit) & 1 ? String.fromCodePoint(letter.codePointAt(0)! - 0x61 + 0xff41) : letter)).join('');
  return `postmaster@${domain}.test`;
}

test(`stalling is idleness: under stress sessions that send NOOP, RSET, HELP, EHLO again or the same RCPT again (each time spelt anew) every 2 s get 421 4.4.2 after ${STRESS_IDLE_TIMEOUT_SEC} s, also with MAIL given; at the cap one stalling before MAIL makes room for a newcomer`, async () => {
  await withRelay({ maxConnections: 10 }, async (relay) => {
    const started = Date.now();
    // 8 of 10: the stress threshold; 4 of them in a transaction
    const stallers = await Promise.all(Array.from({ length: 8 }, (_, i) => RawSmtp.connect(relay.port, false, `127.0.3.${i + 1}`)));
    for (const [i, staller] of stallers.entries()) {
      assert.match(await staller.hello(), /^250/);
      if (i < 4) assert.match(await staller.command(`MAIL FROM:<staller${i}@sender.test>`), /^250/);
    }
    const stalls = ['NOOP', 'RSET', 'HELP', 'EHLO again.sender.test'];
    const closedAfter = await Promise.all(
      stallers.map(async (staller, i) => {
        for (let step = 0; Date.now() - started < STRESS_IDLE_TIMEOUT_SEC * 1000 + 10_000; step++) {
          // a stall after a transaction started keeps it (RSET would end it): those give the same recipient again, in
          // a new spelling each time (full-width letters in its domain), which the relay takes as the same mailbox
          // (the 421 comes unasked: one that came while this one slept is in the buffer of a closed session)
          const reply = staller.closed ? await staller.reply() : await staller.command(i < 4 ? `RCPT TO:<${postmasterSpelt(step)}>` : stalls[step % stalls.length]!);
          if (/^421 /.test(reply)) {
            assert.match(reply, /^421 4\.4\.2 Server busy and this session idle/);
            await staller.waitClosed();
            return Date.now() - started;
          }
          assert.match(reply, /^(250|214)/);
          await sleep(2_000);
        }
        return assert.fail(`staller ${i + 1} still open ${Date.now() - started} ms after it last made progress`);
      }),
    );
    for (const ms of closedAfter) assert.ok(ms >= STRESS_IDLE_TIMEOUT_SEC * 1000 - 500 && ms < STRESS_IDLE_TIMEOUT_SEC * 1000 + 5_000, `a staller was closed after ${ms} ms`);
  });

  await withRelay({ maxConnections: 5 }, async (relay) => {
    const stallers = await Promise.all(Array.from({ length: 5 }, (_, i) => RawSmtp.connect(relay.port, false, `127.0.4.${i + 1}`)));
    for (const staller of stallers) assert.match(await staller.hello(), /^250/);
    let stalling = true;
    const stall = Promise.all(
      stallers.map(async (staller) => {
        while (stalling) {
          const reply = staller.closed ? await staller.reply() : await staller.command('NOOP');
          if (/^421 /.test(reply)) return staller.waitClosed();
          await sleep(300);
        }
      }),
    );
    try {
      await sleep(EVICT_MIN_IDLE_MS + 500);
      // every session said NOOP within the last 300 ms, yet none has made progress for more than a second
      const newcomer = await silent(relay.port, '127.0.4.100');
      assert.match(newcomer.greeting, /^220 /, 'the newcomer gets a slot at its first attempt');
      newcomer.client.close();
    } finally {
      stalling = false;
      await stall;
    }
    assert.equal(stallers.filter((staller) => staller.closed).length, 1, 'one staller made room');
    for (const staller of stallers) staller.close();
  });
});

test('40 clients dropping their connections at once right after DATA leave no spool file and no open descriptor behind', async () => {
  await withRelay({}, async (relay, sink) => {
    const spoolTmp = join(relay.dataDir, 'spool', 'tmp');
    const openDescriptors = () => readdirSync('/proc/self/fd').length;
    // one whole message first, so that every file the relay opens lazily is open before the count
    assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('before'))).response, /^250/);
    const before = openDescriptors();
    // the connection goes while the relay opens the spool file, before it reads the message (smtp-server then
    // destroys the DATA stream without an error): the receive must still end, and discard its file
    await Promise.all(
      Array.from({ length: 40 }, async (_, index) => {
        const client = await RawSmtp.connect(relay.port, false, floodAddress(index));
        assert.match(await client.hello(), /^250/);
        assert.match(await client.command('MAIL FROM:<gone@sender.test>'), /^250/);
        assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
        client.write('DATA\r\n');
        client.socket.destroy();
      }),
    );
    const deadline = Date.now() + 5_000;
    while (readdirSync(spoolTmp).length > 0 && Date.now() < deadline) await sleep(50);
    await sleep(300);
    assert.deepEqual(readdirSync(spoolTmp), [], 'every cut-off transfer discarded its spool file');
    assert.ok(openDescriptors() <= before, `open descriptors: ${before} before, ${openDescriptors()} after`);
    assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('after'))).response, /^250/);
    await sink.waitFor(2);
    assert.equal(sink.messages.filter((sunk) => sunk.from === 'gone@sender.test').length, 0);
  });
});

describe('minimum data rate in DATA', { concurrency: true }, () => {
  // mx.idleTimeoutSec is the budget's cap: 1 s here instead of 300 s, so a trickler is cut within seconds
  let sink: Sink;
  let relay: TestRelay;
  before(async () => {
    sink = await Sink.start();
    relay = await startRelay(sink.port, { mx: { idleTimeoutSec: 1 } });
  });
  after(async () => {
    try {
      assert.deepEqual(readdirSync(join(relay.dataDir, 'spool', 'tmp')), [], 'no spool file of a refused transfer is left behind');
    } finally {
      await relay.stop();
      await sink.stop();
    }
  });

  /** Opens a transaction and sends `bytesPerTick` bytes every `tickMs` for `ticks` ticks, then the end of data. */
  async function trickle(sender: string, bytesPerTick: number, tickMs: number, ticks: number): Promise<{ reply: string; lastedMs: number; sent: number }> {
    const client = await RawSmtp.connect(relay.port);
    assert.match(await client.hello(), /^250/);
    assert.match(await client.command(`MAIL FROM:<${sender}>`), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('DATA'), /^354/);
    const started = Date.now();
    const body = Buffer.from(`${message('trickled', 'x'.repeat(bytesPerTick * ticks))}\r\n`);
    let sent = 0;
    for (let tick = 0; tick < ticks && !client.closed && sent < body.length; tick++) {
      client.write(body.subarray(sent, sent + bytesPerTick));
      sent += bytesPerTick;
      await sleep(tickMs);
    }
    if (!client.closed) client.write(Buffer.concat([body.subarray(sent), Buffer.from('.\r\n')]));
    const reply = await client.reply();
    const lastedMs = Date.now() - started;
    if (/^421 /.test(reply)) await client.waitClosed();
    client.close();
    return { reply, lastedMs, sent };
  }

  function nothingQueuedFrom(sender: string): void {
    assert.deepEqual(relay.relay.queue.store.trackMessages({ sender, limit: 10 }), [], `nothing from ${sender} was queued`);
    assert.equal(sink.messages.filter((sunk) => sunk.from === sender).length, 0);
  }

  test('a client sending one byte every 100 ms gets 421 4.4.2 within seconds and nothing is queued', async (t) => {
    assert.ok(MX_DEFAULTS.idleTimeoutSec * 4 <= MX_DEFAULTS.sessionDeadlineSec, 'at the defaults the budget (the idle timeout) ends well before the session deadline');
    const { reply, lastedMs } = await trickle('trickler@sender.test', 1, 100, 100);
    assert.match(reply, /^421 4\.4\.2 Message data arriving too slowly/);
    assert.ok(lastedMs < 3_000, `cut off after ${lastedMs} ms`);
    nothingQueuedFrom('trickler@sender.test');
    t.diagnostic(`trickler (10 B/s) cut after ${lastedMs} ms with a 1 s budget; test process max RSS ${maxRssMiB()} MiB`);
  });

  test(`a client sending at 80 % of the minimum (${MIN_DATA_RATE_BYTES_PER_SEC} bytes/s) runs out of budget, gets 421 4.4.2 and nothing is queued`, async () => {
    // the budget shrinks by 0.2 s each second: spent after about 5 s
    const { reply, lastedMs } = await trickle('slow@sender.test', 40, 100, 100);
    assert.match(reply, /^421 4\.4\.2 Message data arriving too slowly/);
    assert.ok(lastedMs > 2_000 && lastedMs < 9_000, `cut off after ${lastedMs} ms`);
    nothingQueuedFrom('slow@sender.test');
  });

  test('a client sending at 120 % of the minimum for 5 s is accepted and its message delivered', async () => {
    const { reply, sent } = await trickle('steady@sender.test', 60, 100, 50);
    assert.match(reply, /^250 /);
    assert.ok(sent >= 2_500);
    await sink.waitFor(1);
    assert.equal(sink.messages[0]!.from, 'steady@sender.test');
  });
});
