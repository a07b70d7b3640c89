// Every inbound limit (config key mx.*): its default, as the schema resolves it, and its effect on a relay started with a
// small value, over real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigSchema } from '../../src-relay/config/schema.ts';
import { validateConfig } from '../../src-relay/config/load.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message, send } from '../helpers/smtp.ts';
import { MAX_TRANSACTIONS_AT_ONCE, PACE_WAIT_MS } from '../../src-relay/smtp/pacing.ts';

const MX_DEFAULTS = ConfigSchema.parse({}).mx;

/** A sink and a relay with the given mx settings, stopped again after `body`. */
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

async function session(relay: TestRelay): Promise<RawSmtp> {
  const client = await RawSmtp.connect(relay.port);
  assert.match(await client.hello(), /^250/);
  return client;
}

/** A message of exactly `bytes` octets as smtp-server counts them (CRLF included, end-of-data dot excluded). */
function messageOfSize(bytes: number): string {
  const head = message('sized', '');
  const filler = bytes - Buffer.byteLength(head) - 2;
  assert.ok(filler > 0, 'the limit leaves room for the headers');
  const lines = Math.floor(filler / 80);
  const body = `${'x'.repeat(78)}\r\n`.repeat(lines) + 'y'.repeat(filler - lines * 80);
  const raw = `${head}${body}\r\n`;
  assert.equal(Buffer.byteLength(raw), bytes);
  return raw;
}

function spoolFiles(relay: TestRelay): { tmp: string[]; msg: string[] } {
  const root = join(relay.dataDir, 'spool');
  return { tmp: readdirSync(join(root, 'tmp')), msg: readdirSync(join(root, 'msg')) };
}

/** Connects until the greeting is 220 (a closed slot is given back when smtp-server reports the close, a moment later). */
async function connectWhenFree(relay: TestRelay, timeoutMs = 5_000): Promise<RawSmtp> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = await RawSmtp.connect(relay.port);
    const greeting = await client.reply();
    if (/^220/.test(greeting)) return client;
    client.close();
    if (Date.now() > deadline) throw new Error(`no free slot within ${timeoutMs} ms, last greeting ${greeting}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('every key under mx has a default, so an empty config is a complete one', () => {
  const keys = Object.keys(ConfigSchema.shape.mx.unwrap().shape);
  assert.ok(keys.length >= 10);
  for (const key of keys) assert.notEqual(MX_DEFAULTS[key as keyof typeof MX_DEFAULTS], undefined, `mx.${key} has no default`);
});

test('message size: SIZE advertises the limit, one octet over it gets 552 and leaves no file, and the relay stays usable', async () => {
  assert.equal(MX_DEFAULTS.maxMessageBytes, 25 * 1024 * 1024);
  await withRelay({ maxMessageBytes: 2048 }, async (relay, sink) => {
    const client = await session(relay);
    client.write('EHLO client.sender.test\r\n');
    assert.match(await client.reply(), /^250[ -]SIZE 2048\r$/m);

    assert.match(await client.command('MAIL FROM:<alice@sender.test> SIZE=2049'), /^552 5\.3\.4 /, 'a declared size over the limit');
    assert.match(await client.command('MAIL FROM:<alice@sender.test> SIZE=2048'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('DATA'), /^354/);
    client.write(`${messageOfSize(2049)}.\r\n`);
    assert.equal(await client.reply(), '552 5.3.4 Message exceeds the size limit\r\n');
    assert.deepEqual(spoolFiles(relay), { tmp: [], msg: [] }, 'no spool file is left for the refused message');
    // Tracking says why: the reply the sender was given, and the limit
    relay.relay.queue.flushHistory();
    const refused = relay.relay.queue.store.db.prepare("SELECT sender, recipient, detail FROM history WHERE action = 'REFUSED'").all();
    assert.deepEqual(refused, [{ sender: 'alice@sender.test', recipient: 'bob@example.test', detail: '552 5.3.4 Message exceeds the size limit (more than 2048 bytes)' }]);
    assert.equal(relay.relay.queue.store.summary().size, 0);

    // the same session goes on, and a message of exactly the limit is taken
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('DATA'), /^354/);
    client.write(`${messageOfSize(2048)}.\r\n`);
    assert.match(await client.reply(), /^250 /);
    client.close();

    const info = await send(relay.port, 'alice@sender.test', ['carol@example.test'], message('after the refusal'));
    assert.match(info.response, /^250 /);
    await sink.waitFor(2);
  });
});

test('message size: a bare LF becomes CRLF, a byte more, and the message as the internal server would get it is held to the limit', async () => {
  // `lines` of the body's CRLFs sent as bare LF: the raw message is that many bytes smaller than `bytes`
  const withBareLf = (bytes: number, lines: number) => {
    let left = lines;
    const raw = messageOfSize(bytes).replace(/x\r\n/g, (ending) => (left-- > 0 ? 'x\n' : ending));
    assert.equal(Buffer.byteLength(raw), bytes - lines);
    return raw;
  };
  await withRelay({ maxMessageBytes: 2048 }, async (relay, sink) => {
    const client = await session(relay);
    for (const [bytes, reply] of [
      [2049, /^552 5\.3\.4 Message exceeds the size limit\r\n$/],
      [2048, /^250 /],
    ] as const) {
      assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
      assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
      assert.match(await client.command('DATA'), /^354/);
      client.write(`${withBareLf(bytes, 9)}.\r\n`);
      assert.match(await client.reply(), reply, `${bytes - 9} bytes sent with 9 bare LFs`);
    }
    client.close();
    await sink.waitFor(1);
    assert.equal(sink.messages.length, 1);
  });
});

test('message size: an oversized message is not written to disk past the limit while it streams in', async () => {
  await withRelay({ maxMessageBytes: 2048 }, async (relay) => {
    const client = await session(relay);
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('DATA'), /^354/);
    const tmp = join(relay.dataDir, 'spool', 'tmp');
    let largest = 0;
    const measure = () => {
      for (const name of readdirSync(tmp)) {
        try {
          largest = Math.max(largest, statSync(join(tmp, name)).size);
        } catch {
          // removed between readdir and stat
        }
      }
    };
    const line = `${'z'.repeat(998)}\r\n`;
    const piece = line.repeat(64);
    for (let sent = 0; sent < 4 * 1024 * 1024; sent += piece.length) {
      await new Promise<void>((resolve, reject) => client.socket.write(piece, (error) => (error ? reject(error) : resolve())));
      measure();
    }
    client.write('.\r\n');
    assert.match(await client.reply(), /^552 /);
    measure();
    client.close();
    // the chunk that crosses the limit is dropped whole, so the file stays at most one chunk of it plus the Received header
    assert.ok(largest < 2048 + 128 * 1024, `the temp file grew to ${largest} bytes for a 4 MiB message`);
    assert.deepEqual(readdirSync(tmp), []);
  });
});

test('recipients per message: past the limit RCPT gets 452 4.5.3, and the message goes to the ones accepted', async () => {
  assert.equal(MX_DEFAULTS.maxRecipients, 100);
  await withRelay({ maxRecipients: 3 }, async (relay, sink) => {
    const client = await session(relay);
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    for (const name of ['one', 'two', 'three']) assert.match(await client.command(`RCPT TO:<${name}@example.test>`), /^250/);
    assert.match(await client.command('RCPT TO:<four@example.test>'), /^452 4\.5\.3 /);
    assert.match(await client.command('RCPT TO:<five@example.test>'), /^452 4\.5\.3 /);
    assert.match(await client.command('RCPT TO:<ONE@example.test>'), /^250/, 'a recipient given again does not count twice');
    assert.match(await client.command('DATA'), /^354/);
    client.write(`${message('many recipients')}\r\n.\r\n`);
    assert.match(await client.reply(), /^250 /);
    client.close();
    await sink.waitFor(1);
    assert.deepEqual(sink.messages[0]!.to.map((address) => address.toLowerCase()).sort(), ['one@example.test', 'three@example.test', 'two@example.test']);
  });
});

test('recipients per message: a repeat in a form Moat rewrites ("postmaster", a full-width domain) counts once, thousands pipelined; one more distinct than the limit gets 452', async () => {
  await withRelay({ maxRecipients: 3 }, async (relay, sink) => {
    const client = await session(relay);
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    // smtp-server filed each repeat under the typed form while the envelope held ours: every one was added again,
    // past the limit, after a scan of the whole list (50,000 stalled the relay for minutes)
    const repeats = 3_000;
    client.write('RCPT TO:<postmaster>\r\nRCPT TO:<dup@\uff45xample.test>\r\n'.repeat(repeats / 2));
    const replies: string[] = [];
    for (let i = 0; i < repeats; i += 1) replies.push(await client.reply());
    assert.deepEqual(replies.filter((reply) => !/^250 /.test(reply)), [], 'each repeat is taken again');
    assert.match(await client.command('RCPT TO:<one@example.test>'), /^250/, 'two recipients so far, however often given');
    assert.match(await client.command('RCPT TO:<two@example.test>'), /^452 4\.5\.3 /, 'one past the limit of 3');
    assert.match(await client.command('RCPT TO:<Postmaster@Example.test>'), /^452 4\.5\.3 /, 'at the limit a spelling not given before is refused (smtp-server counts it as new): the earlier one stays');
    assert.match(await client.command('DATA'), /^354/);
    client.write(`${message('repeated recipients')}\r\n.\r\n`);
    assert.match(await client.reply(), /^250 /);
    client.close();
    await sink.waitFor(1);
    assert.deepEqual(sink.messages[0]!.to.map((address) => address.toLowerCase()).sort(), ['dup@example.test', 'one@example.test', 'postmaster@example.test'], 'each recipient once');
  });
});

test('connections in total: one more than the limit gets 421 and is closed, and a slot frees when one closes', async () => {
  assert.equal(MX_DEFAULTS.maxConnections, 200);
  await withRelay({ maxConnections: 2 }, async (relay) => {
    const first = await session(relay);
    const second = await session(relay);
    const third = await RawSmtp.connect(relay.port);
    assert.match(await third.reply(), /^421 /);
    await third.waitClosed();
    assert.match(await second.command('NOOP'), /^250/, 'the open sessions are not disturbed');
    assert.match(await first.command('QUIT'), /^221/);
    await first.waitClosed();
    const fourth = await connectWhenFree(relay);
    assert.match(await fourth.command('EHLO client.sender.test'), /^250/);
    for (const client of [second, third, fourth]) client.close();
  });
});

test('connections per client IP: the extra one gets 421 and is closed, and a slot frees when one closes', async () => {
  assert.equal(MX_DEFAULTS.maxConnectionsPerIp, 20);
  await withRelay({ maxConnectionsPerIp: 2 }, async (relay) => {
    const first = await session(relay);
    const second = await session(relay);
    const third = await RawSmtp.connect(relay.port);
    assert.match(await third.reply(), /^421 .*[Tt]oo many connections from your address/);
    await third.waitClosed();
    assert.match(await second.command('NOOP'), /^250/, 'the open sessions are not disturbed');
    assert.match(await first.command('QUIT'), /^221/);
    await first.waitClosed();
    const fourth = await connectWhenFree(relay);
    assert.match(await fourth.command('EHLO client.sender.test'), /^250/);
    for (const client of [second, third, fourth]) client.close();
  });
});

/** Sessions that each hold a place: greeted, MAIL FROM accepted, then silent. */
/** `count` sessions each with a recipient given, ready to send DATA. */
async function envelopes(relay: TestRelay, count: number): Promise<RawSmtp[]> {
  const clients = await Promise.all(Array.from({ length: count }, () => session(relay)));
  for (const client of clients) {
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
  }
  return clients;
}

/** `count` sessions each in DATA (354 received, message not yet sent): each holds a place. */
async function transactions(relay: TestRelay, count: number): Promise<RawSmtp[]> {
  const clients = await envelopes(relay, count);
  for (const client of clients) assert.match(await client.command('DATA'), /^354/);
  return clients;
}

test('transactions at once: past the limit a DATA waits, and gets its 354 as soon as a message ends (its reply, or a close)', async () => {
  await withRelay({}, async (relay, sink) => {
    const held = await transactions(relay, MAX_TRANSACTIONS_AT_ONCE);
    const waiting = await envelopes(relay, 2);
    const sent = Date.now();
    for (const client of waiting) client.write('DATA\r\n');
    await assert.rejects(waiting[0]!.reply(PACE_WAIT_MS / 4), /no reply within/, 'no place: the 354 waits');
    // a message ends with its reply after the final dot: the first waiter gets the place, the second still waits
    const finishing = held[0]!;
    finishing.write(`${message('paced')}.\r\n`);
    assert.match(await finishing.reply(), /^250 /);
    assert.match(await waiting[0]!.reply(PACE_WAIT_MS / 2), /^354 /);
    assert.ok(Date.now() - sent < PACE_WAIT_MS, 'answered because a place came free, before the longest wait');
    await assert.rejects(waiting[1]!.reply(100), /no reply within/);
    // a connection that closes gives its place up too
    held[1]!.close();
    assert.match(await waiting[1]!.reply(PACE_WAIT_MS / 2), /^354 /);
    waiting[1]!.write(`${message('paced after a close')}.\r\n`);
    assert.match(await waiting[1]!.reply(), /^250 /);
    await sink.waitFor(2);
    for (const client of [...held, ...waiting]) client.close();
  });
});

test('transactions at once, one step beyond with every place held: the DATA goes ahead after the longest wait, never refused', async () => {
  await withRelay({}, async (relay, sink) => {
    const held = await transactions(relay, MAX_TRANSACTIONS_AT_ONCE);
    const [late] = await envelopes(relay, 1);
    const sent = Date.now();
    assert.match(await late!.command('DATA'), /^354 /);
    const waited = Date.now() - sent;
    assert.ok(waited >= PACE_WAIT_MS - 50 && waited < PACE_WAIT_MS + 1_500, `answered after ${waited} ms`);
    late!.write(`${message('late')}.\r\n`);
    assert.match(await late!.reply(), /^250 /);
    await sink.waitFor(1);
    for (const client of [...held, late!]) client.close();
  });
});

test('transactions at once: with every place held MAIL FROM and RCPT never wait, and a DATA without recipients is answered at once and takes no place', async () => {
  await withRelay({}, async (relay) => {
    const held = await transactions(relay, MAX_TRANSACTIONS_AT_ONCE);
    const empty = await session(relay);
    const sent = Date.now();
    assert.match(await empty.command('DATA'), /^503 /);
    assert.match(await empty.command('MAIL FROM:<carol@sender.test>'), /^250 /);
    assert.match(await empty.command('RCPT TO:<nobody@elsewhere.test>'), /^5/);
    assert.match(await empty.command('DATA'), /^503 /);
    assert.ok(Date.now() - sent < PACE_WAIT_MS / 4, 'answered at once');
    held[0]!.write(`${message('frees a place')}.\r\n`);
    assert.match(await held[0]!.reply(), /^250 /);
    const [next] = await envelopes(relay, 1);
    const started = Date.now();
    assert.match(await next!.command('DATA'), /^354 /);
    assert.ok(Date.now() - started < PACE_WAIT_MS / 4, 'the freed place was there: the refused DATAs took none');
    for (const client of [...held, empty, next!]) client.close();
  });
});

test('transactions at once: of DATAs arriving together, exactly the limit are answered at once, the rest after the wait', async () => {
  await withRelay({}, async (relay) => {
    const clients = await envelopes(relay, MAX_TRANSACTIONS_AT_ONCE + 4);
    const sent = Date.now();
    for (const client of clients) client.write('DATA\r\n');
    const first = await Promise.all(clients.map((client) => client.reply(PACE_WAIT_MS / 4).catch(() => null)));
    assert.equal(first.filter((reply) => reply !== null).length, MAX_TRANSACTIONS_AT_ONCE);
    const rest = clients.filter((_, i) => first[i] === null);
    for (const reply of await Promise.all(rest.map((client) => client.reply(PACE_WAIT_MS * 2)))) assert.match(reply, /^354 /);
    assert.ok(Date.now() - sent >= PACE_WAIT_MS - 50, 'the rest went ahead only at the end of the wait');
    for (const client of clients) client.close();
  });
});

test('idle timeout: a client that says nothing for idleTimeoutSec gets 421 and is disconnected', async () => {
  assert.equal(MX_DEFAULTS.idleTimeoutSec, 300);
  await withRelay({ idleTimeoutSec: 1 }, async (relay) => {
    const client = await session(relay);
    const started = Date.now();
    assert.match(await client.reply(5_000), /^421 4\.4\.2 /);
    const waited = Date.now() - started;
    await client.waitClosed();
    assert.ok(waited >= 900 && waited < 4_000, `closed after ${waited} ms`);
  });
});

test('session deadline: a busy session is still closed with 421 4.4.2 once sessionDeadlineSec has passed', async () => {
  assert.equal(MX_DEFAULTS.sessionDeadlineSec, 1800);
  const minimum = 10;
  assert.equal(validateConfig({ mx: { sessionDeadlineSec: minimum - 1 } }).ok, false, `the schema's minimum is ${minimum} s`);
  await withRelay({ sessionDeadlineSec: minimum, idleTimeoutSec: 2 }, async (relay) => {
    const started = Date.now();
    const client = await session(relay);
    let reply: string;
    // a NOOP every half second keeps the idle timeout from ever firing; the 421 comes in between, unasked
    for (;;) {
      reply = await client.command('NOOP');
      if (!/^250/.test(reply)) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const lasted = Date.now() - started;
    assert.match(reply, /^421 4\.4\.2 Session time limit/);
    await client.waitClosed();
    assert.ok(lasted >= minimum * 1000 - 200 && lasted < minimum * 1000 + 2_000, `closed after ${lasted} ms`);
  });
});

test('command line length: a line at the limit is read, a longer one gets 421 and nothing after it is run', async () => {
  assert.equal(MX_DEFAULTS.maxCommandLineBytes, 2048);
  await withRelay({ maxCommandLineBytes: 512 }, async (relay) => {
    const atLimit = await session(relay);
    assert.match(await atLimit.command(`NOOP ${'a'.repeat(512 - 5)}`), /^250/);
    atLimit.write(`NOOP ${'a'.repeat(512 - 4)}\r\nMAIL FROM:<alice@sender.test>\r\nRCPT TO:<bob@example.test>\r\n`);
    assert.match(await atLimit.reply(), /^421 .*[Cc]ommand line too long/);
    assert.equal(await atLimit.reply(), '', 'the commands pipelined after the long line got no reply');
    await atLimit.waitClosed();

    // a line that never ends is cut off as well, instead of being buffered without a bound
    const endless = await session(relay);
    endless.write('RCPT TO:<'.padEnd(4096, 'b'));
    assert.match(await endless.reply(), /^421 .*[Cc]ommand line too long/);
    await endless.waitClosed();

    assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('still fine'))).response, /^250 /);
  });
});

test('errors per session: after maxErrors refused commands the server says 421 4.7.0 and closes', async () => {
  assert.equal(MX_DEFAULTS.maxErrors, 10);
  await withRelay({ maxErrors: 3 }, async (relay) => {
    const client = await session(relay);
    assert.match(await client.command('BOGUS'), /^500/);
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/, 'an accepted command does not reset the count');
    assert.match(await client.command('RCPT TO:<victim@evil.test>'), /^554 /);
    assert.match(await client.command('RCPT TO:<no-brackets@example.test'), /^501 /);
    assert.match(await client.reply(), /^421 4\.7\.0 Too many errors/);
    await client.waitClosed();
    // another session starts with a clean slate
    const next = await session(relay);
    assert.match(await next.command('BOGUS'), /^500/);
    assert.match(await next.command('NOOP'), /^250/);
    next.close();
  });
});
