import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { Sink, reservePort } from '../helpers/sink.ts';
import { fixtureResolver } from '../helpers/relay.ts';
import { officeMessage, queueIdOf, startSubmissionRelay, submit, until } from '../helpers/submission.ts';
import { MX_ADDRESS_LIMIT, MX_HOST_LIMIT, MX_SESSION_LIMIT } from '../../src-relay/queue/delivery.ts';
import type { Resolver } from '../../src-relay/util/resolver.ts';

/** TCP servers on 127.0.0.2, 127.0.0.3, … at one port (outbound.mxPort is one port), each counting its connections. */
async function loopbackHosts(count: number, onConnection: (socket: Socket) => void) {
  const port = await reservePort();
  const connections: string[] = [];
  const servers: Server[] = [];
  for (let i = 0; i < count; i++) {
    const address = `127.0.0.${i + 2}`;
    const server = createServer((socket) => {
      socket.on('error', () => {});
      connections.push(address);
      onConnection(socket);
    });
    await new Promise<void>((resolve) => server.listen(port, address, resolve));
    servers.push(server);
  }
  return {
    port,
    addresses: servers.map((_, i) => `127.0.0.${i + 2}`),
    connections,
    stop: () => Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve)))),
  };
}

/** partner.test with one MX host per address, in preference order. */
function partnerMx(addresses: (string | null)[]): Resolver {
  const mx = addresses.map((_, i) => ({ exchange: `mx${i + 1}.partner.test`, priority: 10 * (i + 1) }));
  const hosts = Object.fromEntries(addresses.flatMap((address, i) => (address ? [[`mx${i + 1}.partner.test`, [address]]] : [])));
  return fixtureResolver({ 'partner.test': mx }, hosts);
}

async function sendToPartner(port: number): Promise<string> {
  const info = await submit(port, { plain: true }, 'alice@example.test', ['carol@partner.test'], officeMessage('alice@example.test', 'carol@partner.test', 'to the partner'));
  return queueIdOf(info.response);
}

test('an MX on loopback, private or IPv4-in-IPv6 addresses is never connected to by default: the sender gets a 550 5.4.4 bounce naming it', async () => {
  const internal = await Sink.start();
  const hosts = await loopbackHosts(1, (socket) => socket.end('220 would have taken it\r\n'));
  // the listener, the same address written as IPv6, and IPv6 loopback
  const resolver = partnerMx(['127.0.0.2', '::ffff:7f00:2', '::1']);
  const relay = await startSubmissionRelay(internal.port, { submission: { trustedNetworks: ['127.0.0.1'] }, outbound: { mxPort: hosts.port, allowPrivateMxAddresses: false } }, { resolver });
  try {
    const id = await sendToPartner(relay.submission);
    await until('the recipient is bounced', () => relay.relay.queue.store.recipients(id)[0]?.status === 'bounced');
    const recipient = relay.relay.queue.store.recipients(id)[0]!;
    assert.match(recipient.last_reply!, /^550 5\.4\.4 the mail hosts of partner\.test have only private or loopback addresses \(mx1\.partner\.test 127\.0\.0\.2, mx2\.partner\.test ::ffff:7f00:2, mx3\.partner\.test ::1\)/);
    assert.equal(recipient.attempts, 1, 'bounced at the first attempt, not retried for days');
    // the bounce report goes to alice, on the internal route
    await internal.waitFor(1);
    const bounce = internal.messages[0]!.raw.toString();
    assert.match(bounce, /Status: 5\.4\.4/);
    // Moat's own refusal, not a partner's answer: alice must not think partner.test refused her mail
    const words = bounce.replace(/=\r\n/g, '').replace(/\r\n/g, ' ');
    assert.match(words, /No receiving server was asked: this mail system did not send it \(550 5\.4\.4 the mail hosts of partner\.test have only private/);
    assert.doesNotMatch(words, /server answered/);
    assert.deepEqual(hosts.connections, [], 'no connection was made');
  } finally {
    await relay.stop();
    await internal.stop();
    await hosts.stop();
  }
});

/** One message to carol@partner.test through a relay delivering to `hosts`' port with `resolver`: its recipient after the first attempt. */
async function afterFirstAttempt(hosts: { port: number }, resolver: Resolver, outbound: Record<string, unknown> = {}) {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(
    internal.port,
    { submission: { trustedNetworks: ['127.0.0.1'] }, outbound: { mxPort: hosts.port, ...outbound }, queue: { retryIntervalsSec: [3600] } },
    { resolver },
  );
  try {
    const id = await sendToPartner(relay.submission);
    await until('the first attempt ends', () => relay.relay.queue.store.recipients(id)[0]!.attempts >= 1);
    return relay.relay.queue.store.recipients(id)[0]!;
  } finally {
    await relay.stop();
    await internal.stop();
  }
}

test('an MX on a loopback address beside one whose address look-up failed is not bounced: the mail waits for the next try', async () => {
  const hosts = await loopbackHosts(1, (socket) => socket.end('220 would have taken it\r\n'));
  const fixture = partnerMx(['127.0.0.2', null]);
  const resolver: Resolver = {
    ...fixture,
    resolve4: (host) => (host === 'mx2.partner.test' ? Promise.reject(Object.assign(new Error('queryA ESERVFAIL'), { code: 'ESERVFAIL' })) : fixture.resolve4(host)),
  };
  try {
    assert.equal((await afterFirstAttempt(hosts, resolver, { allowPrivateMxAddresses: false })).status, 'pending');
    assert.deepEqual(hosts.connections, []);
  } finally {
    await hosts.stop();
  }
});

test(`an attempt stops after ${MX_SESSION_LIMIT} MX hosts that refuse the session at their greeting, and the mail waits for the next try`, async () => {
  const hosts = await loopbackHosts(MX_SESSION_LIMIT + 3, (socket) => socket.end('421 4.3.2 too busy\r\n'));
  try {
    const recipient = await afterFirstAttempt(hosts, partnerMx(hosts.addresses));
    assert.equal(recipient.status, 'pending');
    assert.match(recipient.last_reply!, /421 4\.3\.2 too busy/);
    assert.deepEqual(hosts.connections, hosts.addresses.slice(0, MX_SESSION_LIMIT), 'the preferred hosts, and one session more would have been past the limit');
  } finally {
    await hosts.stop();
  }
});

test(`an attempt connects to at most ${MX_ADDRESS_LIMIT} MX addresses that drop the connection before any greeting`, async () => {
  const hosts = await loopbackHosts(MX_ADDRESS_LIMIT + 2, (socket) => socket.destroy());
  try {
    assert.equal((await afterFirstAttempt(hosts, partnerMx(hosts.addresses))).status, 'pending');
    assert.deepEqual(hosts.connections, hosts.addresses.slice(0, MX_ADDRESS_LIMIT));
  } finally {
    await hosts.stop();
  }
});

test(`an attempt looks up the addresses of at most ${MX_HOST_LIMIT} MX host names`, async () => {
  const hosts = await loopbackHosts(1, (socket) => socket.end('220 here\r\n'));
  // the first MX_HOST_LIMIT host names have no address; the one after them has a server
  const fixture = partnerMx([...Array<null>(MX_HOST_LIMIT).fill(null), hosts.addresses[0]!]);
  const looked: string[] = [];
  const resolver: Resolver = { ...fixture, resolve4: (host) => (looked.push(host), fixture.resolve4(host)) };
  try {
    assert.equal((await afterFirstAttempt(hosts, resolver)).status, 'pending');
    assert.deepEqual(looked, Array.from({ length: MX_HOST_LIMIT }, (_, i) => `mx${i + 1}.partner.test`));
    assert.deepEqual(hosts.connections, []);
  } finally {
    await hosts.stop();
  }
});

/** An MX that answers RCPT with a multi-line 450 of `bytes` of "mailbox " words (no full stop: the reply rules' gaps run to its end). */
function hostileReplies(bytes: number) {
  const line = `450-${'mailbox '.repeat(118)}`;
  const reply = `${Array.from({ length: Math.ceil(bytes / line.length) }, () => line).join('\r\n')}\r\n450 ${'mailbox '.repeat(118)}\r\n`;
  return (socket: Socket) => {
    socket.write('220 mx.partner.test\r\n');
    let buffer = '';
    socket.on('data', (data) => {
      buffer += data.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const command = buffer.slice(0, 4).toUpperCase();
        buffer = buffer.slice(end + 2);
        socket.write(command === 'RCPT' ? reply : command === 'QUIT' ? '221 bye\r\n' : command === 'EHLO' ? '250 mx.partner.test\r\n' : '250 ok\r\n');
      }
    });
  };
}

test('a next hop whose reply to RCPT runs to 40 KB is kept and classified at 512 characters; one past 64 KiB ends its session, and the mail waits either way', async () => {
  for (const [bytes, kept] of [[40 * 1024, /^RCPT TO: 450-mailbox mailbox/], [300 * 1024, /./]] as const) {
    const hosts = await loopbackHosts(1, hostileReplies(bytes));
    try {
      const began = Date.now();
      const recipient = await afterFirstAttempt(hosts, partnerMx(hosts.addresses), { allowPrivateMxAddresses: true });
      assert.equal(recipient.status, 'pending', 'deferred, not bounced');
      assert.ok(recipient.last_reply!.length <= 600, `kept ${recipient.last_reply!.length} characters`);
      assert.match(recipient.last_reply!, kept);
      assert.ok(Date.now() - began < 15_000, `the attempt took ${Date.now() - began} ms`);
    } finally {
      await hosts.stop();
    }
  }
});
