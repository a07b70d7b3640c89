// The connection policy over real sockets (config keys mx.clientNetworks, mx.dnsbl, mx.rateLimit, mx.harvest,
// mx.errorDelay, mx.greetingDelayMs): each with its default, and its effect on a relay started with a small value.
// Tests connect from 127.0.0.1, which is on the default allow list, so each relay here starts with an empty one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema } from '../../src-relay/config/schema.ts';
import type { Resolver } from '../../src-relay/util/resolver.ts';
import { Sink } from '../helpers/sink.ts';
import { fixtureResolver, startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message, send } from '../helpers/smtp.ts';

const MX_DEFAULTS = ConfigSchema.parse({}).mx;

async function withRelay(
  mx: Record<string, unknown>,
  body: (relay: TestRelay, sink: Sink) => Promise<void>,
  options: { resolver?: Resolver; overrides?: Record<string, unknown>; clock?: () => number } = {},
): Promise<void> {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port, { ...options.overrides, mx: { clientNetworks: { allow: [] }, ...mx } }, { resolver: options.resolver, clock: options.clock });
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

function refusals(relay: TestRelay): string[] {
  const seen: string[] = [];
  relay.relay.events.on('refused', (event) => seen.push(event.reason));
  return seen;
}

function history(relay: TestRelay): { action: string; sender: string | null; recipient: string | null; detail: string | null }[] {
  relay.relay.queue.flushHistory();
  return relay.relay.queue.store.db.prepare("SELECT action, sender, recipient, detail FROM history WHERE action = 'REFUSED' ORDER BY id").all() as never;
}

test('the defaults: loopback allowed, nothing denied, no block lists, 60 connections and 120 messages a minute, harvest caps 5 and 20', () => {
  assert.deepEqual(MX_DEFAULTS.clientNetworks, { allow: ['127.0.0.0/8', '::1'], deny: [] });
  assert.deepEqual(MX_DEFAULTS.dnsbl, { zones: [], threshold: 1, timeoutMs: 3000 });
  assert.deepEqual(MX_DEFAULTS.rateLimit, { connectionsPerMinute: 60, messagesPerMinute: 120 });
  assert.deepEqual(MX_DEFAULTS.harvest, { maxUnknownPerSession: 5, maxUnknownPerIp: 20, windowMinutes: 10, blockMinutes: 15 });
  assert.equal(MX_DEFAULTS.greetingDelayMs, 0);
  const bad = ConfigSchema.safeParse({ mx: { clientNetworks: { deny: ['10.0.0.0/33'] }, dnsbl: { zones: [{ zone: 'not a zone' }] } } });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error!.issues.map((issue) => issue.path.join('.')).sort(), ['mx.clientNetworks.deny.0', 'mx.dnsbl.zones.0.zone']);
});

test('a client on the deny list is refused at RCPT with 554 5.7.1, and the history keeps sender and recipient', async () => {
  await withRelay({ clientNetworks: { allow: [], deny: ['127.0.0.0/8'] } }, async (relay, sink) => {
    const seen = refusals(relay);
    const client = await session(relay);
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^554 5\.7\.1 Access denied/);
    client.close();
    assert.deepEqual(seen, ['client-denied']);
    const [row] = history(relay);
    assert.equal(row?.sender, 'alice@sender.test');
    assert.equal(row?.recipient, 'bob@example.test');
    assert.match(row?.detail ?? '', /^554 5\.7\.1 Access denied for your address \(client network 127\.0\.0\.0\/8 is on the deny list\)$/);
    assert.equal(sink.messages.length, 0);
  });
});

test('a more specific allow entry inside a denied network lets that client through', async () => {
  await withRelay({ clientNetworks: { allow: ['127.0.0.1'], deny: ['127.0.0.0/8'] } }, async (relay, sink) => {
    assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('allowed inside denied'))).response, /^250 /);
    await sink.waitFor(1);
  });
});

test('DNSBL: a listed client is refused at RCPT with 554 5.7.1 naming the list; an allowed one is not even looked up', async () => {
  const listed = fixtureResolver({}, { '1.0.0.127.bl.example': ['127.0.0.2'] }, { '1.0.0.127.bl.example': ['Listed for spam; see https://bl.example/q?127.0.0.1'] });
  const asked: string[] = [];
  const resolver: Resolver = { ...listed, resolve4: async (name) => (asked.push(name), listed.resolve4(name)) };
  const dnsbl = { zones: [{ zone: 'bl.example', weight: 1 }] };
  await withRelay({ dnsbl }, async (relay, sink) => {
    const seen = refusals(relay);
    const client = await session(relay);
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(
      await client.command('RCPT TO:<bob@example.test>'),
      /^554 5\.7\.1 Service unavailable; your address is on a block list: client 127\.0\.0\.1 is listed by bl\.example \(Listed for spam; see https:\/\/bl\.example\/q\?127\.0\.0\.1\)\r\n$/,
    );
    client.close();
    assert.deepEqual(seen, ['dnsbl']);
    assert.match(history(relay)[0]?.detail ?? '', /^554 5\.7\.1 Service unavailable; your address is on a block list \(client 127\.0\.0\.1 is listed by bl\.example \(Listed for spam/);
    assert.equal(sink.messages.length, 0);
  }, { resolver });
  assert.deepEqual(asked, ['1.0.0.127.bl.example']);
  await withRelay({ dnsbl, clientNetworks: { allow: ['127.0.0.1'], deny: [] } }, async (relay, sink) => {
    assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('allowed past the list'))).response, /^250 /);
    await sink.waitFor(1);
  }, { resolver });
  assert.equal(asked.length, 1, 'the allowed client was not looked up');
});

test('DNSBL: a listing that weighs less than the threshold lets the client through', async () => {
  const resolver = fixtureResolver({}, { '1.0.0.127.bl.example': ['127.0.0.2'] });
  await withRelay({ dnsbl: { zones: [{ zone: 'bl.example', weight: 0.5 }, { zone: 'other.example', weight: 1 }], threshold: 1 } }, async (relay, sink) => {
    assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('half listed'))).response, /^250 /);
    await sink.waitFor(1);
  }, { resolver });
});

test('connection rate: past connectionsPerMinute a client gets 421 instead of the greeting and is disconnected', async () => {
  await withRelay({ rateLimit: { connectionsPerMinute: 3, messagesPerMinute: 0 } }, async (relay) => {
    const seen = refusals(relay);
    for (let i = 0; i < 3; i++) {
      const client = await RawSmtp.connect(relay.port);
      assert.match(await client.reply(), /^220 /);
      client.close();
    }
    const fourth = await RawSmtp.connect(relay.port);
    assert.match(await fourth.reply(), /^421 Too many connections from your address/, 'no enhanced status before the greeting (RFC 2034)');
    await fourth.waitClosed();
    assert.deepEqual(seen, ['rate-limit']);
  });
});

test('message rate: past messagesPerMinute MAIL FROM gets 451 4.7.1, and the session may go on', async () => {
  await withRelay({ rateLimit: { connectionsPerMinute: 0, messagesPerMinute: 2 } }, async (relay) => {
    const client = await session(relay);
    for (let i = 0; i < 2; i++) {
      assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
      assert.match(await client.command('RSET'), /^250/);
    }
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^451 4\.7\.1 Too many messages from your address/);
    assert.match(await client.command('NOOP'), /^250/);
    client.close();
  });
});

/** `count` connections at once from `from`: the first reply of each (220 greeting or a refusal), the clients left open. */
async function burst(relay: TestRelay, from: string, count: number): Promise<{ codes: string[]; clients: RawSmtp[] }> {
  const clients = await Promise.all(Array.from({ length: count }, () => RawSmtp.connect(relay.port, false, from)));
  const codes = (await Promise.all(clients.map((client) => client.reply()))).map((reply) => reply.slice(0, 3));
  return { codes: codes.sort(), clients };
}

function tally(codes: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const code of codes) counts[code] = (counts[code] ?? 0) + 1;
  return counts;
}

test('connection rate in parallel: connections at once from one address get exactly connectionsPerMinute greetings, the rest 421', async () => {
  await withRelay({ rateLimit: { connectionsPerMinute: 4, messagesPerMinute: 0 } }, async (relay) => {
    const under = await burst(relay, '127.0.0.11', 4);
    assert.deepEqual(tally(under.codes), { 220: 4 }, 'just at the limit, all are greeted');
    const over = await burst(relay, '127.0.0.12', 10);
    assert.deepEqual(tally(over.codes), { 220: 4, 421: 6 });
    for (const client of [...under.clients, ...over.clients]) client.close();
  });
});

test('connections per client IP in parallel: connections at once from one address get exactly maxConnectionsPerIp greetings, the rest 421', async () => {
  await withRelay({ maxConnectionsPerIp: 4, rateLimit: { connectionsPerMinute: 0, messagesPerMinute: 0 } }, async (relay) => {
    const under = await burst(relay, '127.0.0.13', 4);
    assert.deepEqual(tally(under.codes), { 220: 4 }, 'just at the limit, all are greeted');
    const over = await burst(relay, '127.0.0.14', 10);
    assert.deepEqual(tally(over.codes), { 220: 4, 421: 6 });
    for (const client of [...under.clients, ...over.clients]) client.close();
  });
});

test('message rate in parallel: MAIL FROM at once in many sessions of one address gets exactly messagesPerMinute 250s, the rest 451', async () => {
  await withRelay({ rateLimit: { connectionsPerMinute: 0, messagesPerMinute: 4 } }, async (relay) => {
    for (const [from, count, expected] of [['127.0.0.15', 4, { 250: 4 }], ['127.0.0.16', 10, { 250: 4, 451: 6 }]] as const) {
      const { clients } = await burst(relay, from, count);
      await Promise.all(clients.map(async (client) => assert.match(await client.command('EHLO client.sender.test'), /^250/)));
      const replies = await Promise.all(clients.map((client) => client.command('MAIL FROM:<alice@sender.test>')));
      assert.deepEqual(tally(replies.map((reply) => reply.slice(0, 3))), expected);
      for (const client of clients) client.close();
    }
  });
});

test('DNSBL in parallel: connections at once from one address share one look-up per list, and each is refused at RCPT', async () => {
  const listed = fixtureResolver({}, { '17.0.0.127.bl.example': ['127.0.0.2'] });
  const asked: string[] = [];
  const resolver: Resolver = { ...listed, resolve4: async (name) => (asked.push(name), listed.resolve4(name)) };
  await withRelay({ dnsbl: { zones: [{ zone: 'bl.example', weight: 1 }] }, rateLimit: { connectionsPerMinute: 0, messagesPerMinute: 0 } }, async (relay) => {
    const { codes, clients } = await burst(relay, '127.0.0.17', 10);
    assert.deepEqual(tally(codes), { 220: 10 });
    const replies = await Promise.all(clients.map(async (client) => {
      await client.command('EHLO client.sender.test');
      await client.command('MAIL FROM:<alice@sender.test>');
      return client.command('RCPT TO:<bob@example.test>');
    }));
    assert.deepEqual(tally(replies.map((reply) => reply.slice(0, 9))), { '554 5.7.1': 10 });
    for (const client of clients) client.close();
  }, { resolver });
  assert.deepEqual(asked, ['17.0.0.127.bl.example'], 'one look-up for all ten connections');
});

test('pregreet: a client that talks before the greeting gets 421 "You talk too soon" and is disconnected', async () => {
  await withRelay({}, async (relay) => {
    const seen = refusals(relay);
    const early = await RawSmtp.connect(relay.port);
    early.write('EHLO early.example\r\n');
    assert.match(await early.reply(), /^421 .*You talk too soon/);
    await early.waitClosed();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(seen, ['pregreet'], 'logged and counted although none of our hooks ran (within the 100 ms window)');
  });
});

test('greeting delay: the 220 comes after greetingDelayMs; talking within it is refused, an allowed client is greeted at once', async () => {
  await withRelay({ greetingDelayMs: 600 }, async (relay) => {
    const seen = refusals(relay);
    const started = Date.now();
    const patient = await RawSmtp.connect(relay.port);
    assert.match(await patient.reply(), /^220 /);
    assert.ok(Date.now() - started >= 550, `greeted after ${Date.now() - started} ms`);
    patient.close();
    const hasty = await RawSmtp.connect(relay.port);
    await new Promise((resolve) => setTimeout(resolve, 300));
    hasty.write('EHLO hasty.example\r\n');
    assert.match(await hasty.reply(), /^421 .*You talk too soon/, 'talking 300 ms in, before the 600 ms greeting');
    await hasty.waitClosed();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(seen, ['pregreet'], 'counted once');
  });
  await withRelay({ greetingDelayMs: 5000, clientNetworks: { allow: ['127.0.0.1'], deny: [] } }, async (relay) => {
    const started = Date.now();
    const client = await RawSmtp.connect(relay.port);
    assert.match(await client.reply(), /^220 /);
    assert.ok(Date.now() - started < 2000, 'no greeting delay for an allowed client');
    client.close();
  });
});

test('harvest: past maxUnknownPerSession the next unknown recipient ends the session with 421 4.7.1', async () => {
  await withRelay({ harvest: { maxUnknownPerSession: 2, maxUnknownPerIp: 0 } }, async (relay) => {
    const seen = refusals(relay);
    const client = await session(relay);
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<nobody1@example.test>'), /^550 5\.1\.1 /);
    assert.match(await client.command('RCPT TO:<nobody2@example.test>'), /^550 5\.1\.1 /);
    assert.match(await client.command('RCPT TO:<nobody3@example.test>'), /^421 4\.7\.1 Too many unknown recipients/);
    await client.waitClosed();
    assert.deepEqual(seen, ['unknown-recipient', 'unknown-recipient', 'unknown-recipient', 'harvest']);
    // another session starts with its own count
    const next = await session(relay);
    assert.match(await next.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await next.command('RCPT TO:<nobody4@example.test>'), /^550 5\.1\.1 /);
    next.close();
  }, { overrides: { recipients: ['bob@example.test'] } });
});

test('harvest: past maxUnknownPerIp the client is blocked with 421 at connect for blockMinutes, then let in again', async () => {
  let offset = 0;
  await withRelay({ harvest: { maxUnknownPerSession: 0, maxUnknownPerIp: 3, windowMinutes: 10, blockMinutes: 15 } }, async (relay) => {
    for (const batch of [['a', 'b'], ['c', 'd']]) {
      const client = await session(relay);
      assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
      for (const name of batch) {
        const reply = await client.command(`RCPT TO:<${name}@example.test>`);
        if (name === 'd') assert.match(reply, /^421 4\.7\.1 /, 'the fourth unknown from the client within the window');
        else assert.match(reply, /^550 5\.1\.1 /);
      }
      client.close();
    }
    const blocked = await RawSmtp.connect(relay.port);
    assert.match(await blocked.reply(), /^421 Too many unknown recipients/);
    await blocked.waitClosed();
    offset = 15 * 60_000 + 1000;
    const later = await RawSmtp.connect(relay.port);
    assert.match(await later.reply(), /^220 /, 'after blockMinutes the client is greeted again');
    later.close();
  }, { overrides: { recipients: ['bob@example.test'] }, clock: () => Date.now() + offset });
});

test('error delay (tarpit): past afterErrors refused commands each MAIL/RCPT reply waits stepMs more, up to maxMs', async () => {
  await withRelay({ errorDelay: { afterErrors: 1, stepMs: 400, maxMs: 600 }, maxErrors: 100 }, async (relay) => {
    const client = await session(relay);
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    const timings: number[] = [];
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      assert.match(await client.command(`RCPT TO:<someone@elsewhere${i}.test>`), /^554 5\.7\.1 /);
      timings.push(Date.now() - started);
    }
    client.close();
    // errors before each RCPT: 0, 1, 2, 3 -> delays 0, 0, 400, 600 (capped)
    assert.ok(timings[0]! < 300 && timings[1]! < 300, `no delay up to afterErrors: ${timings}`);
    assert.ok(timings[2]! >= 380 && timings[2]! < 800, `one step: ${timings}`);
    assert.ok(timings[3]! >= 580 && timings[3]! < 1000, `capped at maxMs: ${timings}`);
  });
});
