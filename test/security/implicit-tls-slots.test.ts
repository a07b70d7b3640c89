// The implicit-TLS submission listener (465) before the handshake (review F2): smtp-server runs the TLS handshake
// before any hook, so silent TCP connections from one address used to hold every slot for the idle timeout (5
// minutes). The per-address cap now counts a socket from its accept, a handshake has a deadline, and sockets in their
// handshake hold slots that the stress policy frees (smtp/listener.ts onAccept). Over real sockets on 127.0.0.1 port 0;
// on Linux all of 127.0.0.0/8 is loopback, so each client binds its own address. Everything is opened in parallel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigSchema } from '../../src-relay/config/schema.ts';
import { EVICT_MIN_IDLE_MS, STRESS_IDLE_TIMEOUT_SEC, STRESS_SHARE } from '../../src-relay/smtp/stress.ts';
import { TLS_HANDSHAKE_TIMEOUT_SEC } from '../../src-relay/config/schema.ts';
import { Sink } from '../helpers/sink.ts';
import { RawSmtp } from '../helpers/smtp.ts';
import { startSubmissionRelay, until, type SubmissionRelay } from '../helpers/submission.ts';

const DEFAULTS = ConfigSchema.parse({});
const ATTACKER = '127.0.55.9';
const OFFICE = '127.0.99.9';

/** A TCP connection that never sends a byte (no TLS ClientHello), and when the server closed it. */
class SilentSocket {
  closedAt: number | undefined;
  readonly openedAt = Date.now();

  private constructor(readonly socket: Socket) {
    socket.on('error', () => {});
    socket.once('close', () => (this.closedAt = Date.now()));
  }

  static async open(port: number, from: string): Promise<SilentSocket> {
    const silent = new SilentSocket(connect({ port, host: '127.0.0.1', localAddress: from }));
    await once(silent.socket, 'connect');
    return silent;
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  /** How long the server kept it (ms). */
  get heldMs(): number {
    return this.closedAt! - this.openedAt;
  }
}

const openSilent = (port: number, count: number, from: (index: number) => string): Promise<SilentSocket[]> =>
  Promise.all(Array.from({ length: count }, (_, i) => SilentSocket.open(port, from(i))));

const closedOnes = (sockets: SilentSocket[]) => sockets.filter((socket) => socket.closed);

/** An office mail program on 465: TLS from the first byte, then the greeting. */
async function officeGreeting(port: number, from = OFFICE): Promise<string> {
  const client = await RawSmtp.connect(port, true, from);
  try {
    return await client.reply();
  } finally {
    client.close();
  }
}

async function withRelay(overrides: Record<string, unknown>, body: (relay: SubmissionRelay) => Promise<void>): Promise<void> {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port, overrides);
  try {
    await body(relay);
  } finally {
    await relay.stop();
    await internal.stop();
  }
}

test(`the TLS handshake deadline is ${TLS_HANDSHAKE_TIMEOUT_SEC} s by default, and the per-address cap on submission ${DEFAULTS.submission.maxConnectionsPerIp}`, () => {
  assert.equal(TLS_HANDSHAKE_TIMEOUT_SEC, 10);
  assert.equal(DEFAULTS.submission.tlsHandshakeTimeoutSec, TLS_HANDSHAKE_TIMEOUT_SEC);
  assert.equal(DEFAULTS.submission.maxConnectionsPerIp, 20);
  assert.throws(() => ConfigSchema.parse({ submission: { tlsHandshakeTimeoutSec: 0 } }));
});

test('465: one address opening the per-address cap + 1 silent connections at once keeps the cap; the one beyond is closed at once, and an office client from another address gets TLS and 220', async () => {
  const perIp = DEFAULTS.submission.maxConnectionsPerIp;
  // the reviewer's set-up: 30 slots on the listener, the deadline out of the way
  await withRelay({ mx: { maxConnections: 30 }, submission: { tlsHandshakeTimeoutSec: 300 } }, async (relay) => {
    const silent = await openSilent(relay.submissions, perIp + 1, () => ATTACKER);
    await until('the connection beyond the cap is closed', () => closedOnes(silent).length >= 1, 5_000);
    const [refused] = closedOnes(silent);
    assert.ok(refused!.heldMs < 2_000, `closed after ${refused!.heldMs} ms, not held until a timeout`);

    assert.match(await officeGreeting(relay.submissions), /^220 /, 'another address still gets a TLS session and the greeting');
    assert.equal(closedOnes(silent).length, 1, `exactly ${perIp} (the cap) are held`);

    // a full TLS session from the address at its cap is refused too: handshakes and sessions count together
    await assert.rejects(RawSmtp.connect(relay.submissions, true, ATTACKER));

    // one of the address's sockets goes: its place is free again, for a real session
    const held = silent.filter((socket) => !socket.closed);
    held[0]!.socket.destroy();
    await until('the address is counted one less', () => held[0]!.closed);
    const session = await untilGreeted(relay.submissions, ATTACKER);
    // the session holds the place the silent socket had: the address is at its cap again
    const beyond = await SilentSocket.open(relay.submissions, ATTACKER);
    await until('a connection beyond the cap, next to a session, is closed at once', () => beyond.closed, 5_000);
    assert.match(await session.command('EHLO pc.office.test'), /^250/, 'the session goes on');
    session.close();
    for (const socket of silent) socket.socket.destroy();
  });
});

/** The address's count drops as its socket's close reaches the server: retried until the server has seen it. */
async function untilGreeted(port: number, from: string): Promise<RawSmtp> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      const client = await RawSmtp.connect(port, true, from);
      assert.match(await client.reply(), /^220 /);
      return client;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
  }
}

test('465: a connection silent before its TLS handshake is closed at the handshake deadline, not before; a client that finishes its handshake within it keeps its session', async () => {
  const deadlineSec = 2;
  await withRelay({ submission: { tlsHandshakeTimeoutSec: deadlineSec } }, async (relay) => {
    const [silent, halfHello] = await openSilent(relay.submissions, 2, (i) => `127.0.57.${i + 1}`);
    // a handshake trickled: the first bytes of a TLS record (handshake, TLS 1.0 header), then nothing
    halfHello!.socket.write(Buffer.from([0x16, 0x03, 0x01]));
    // a real client starting its handshake halfway to the deadline finishes it, and the deadline never touches it
    await sleep((deadlineSec * 1000) / 2);
    const late = await RawSmtp.connect(relay.submissions, true, '127.0.57.3');
    assert.match(await late.reply(), /^220 /);
    assert.ok(!silent!.closed && !halfHello!.closed, 'still open halfway to the deadline');

    await until('both are closed', () => silent!.closed && halfHello!.closed, deadlineSec * 1000 + 5_000);
    for (const socket of [silent!, halfHello!]) {
      assert.ok(socket.heldMs >= deadlineSec * 1000 - 50, `closed after ${socket.heldMs} ms, not before the deadline`);
      assert.ok(socket.heldMs < deadlineSec * 1000 + 3_000, `closed after ${socket.heldMs} ms, at the deadline`);
    }
    await sleep(500);
    assert.match(await late.command('EHLO pc.office.test'), /^250/, 'a session whose handshake ended in time is past the deadline unharmed');
    late.close();
  });
});

test('465: sockets in their handshake hold slots of mx.maxConnections; at the cap a newcomer is closed until one has been silent 1 s, then takes the slot of the oldest', async () => {
  const max = 10;
  await withRelay({ mx: { maxConnections: max }, submission: { tlsHandshakeTimeoutSec: 300 } }, async (relay) => {
    // the cap from as many addresses: the per-address cap does not come into it
    const first = await openSilent(relay.submissions, max - 1, (i) => `127.0.58.${i + 1}`);
    await sleep(EVICT_MIN_IDLE_MS + 300);
    const last = await SilentSocket.open(relay.submissions, '127.0.58.100');
    const silent = [...first, last];

    // one step beyond, in parallel: only the nine silent for a second may go; the newest is safe
    const burst = await openSilent(relay.submissions, max, (i) => `127.0.59.${i + 1}`);
    await until('the burst is answered', () => closedOnes(silent).length + closedOnes(burst).length >= max, 5_000);
    assert.equal(closedOnes(silent).length, max - 1, 'the nine that were silent for a second made room');
    assert.ok(!last.closed, 'the socket accepted last had not been silent long enough to go');
    assert.equal(closedOnes(burst).length, 1, 'with nothing left that may go, the one beyond the cap is closed at once');

    // the nine newcomers and the last hold every slot now, all fresh: an office client waits for one to age
    await sleep(EVICT_MIN_IDLE_MS + 300);
    assert.match(await officeGreeting(relay.submissions), /^220 /, 'a real client takes the slot of a silent one');
    assert.ok(last.closed, 'the oldest silent socket went first');
    assert.equal(closedOnes(burst).length, 1, 'and only it');
    for (const socket of [...silent, ...burst]) socket.socket.destroy();
  });
});

test(`465 under stress (${STRESS_SHARE * 100} % of maxConnections, handshakes counted): a socket silent in its handshake for ${STRESS_IDLE_TIMEOUT_SEC} s is closed; below it, it stays`, async () => {
  const max = 30;
  const threshold = Math.ceil(max * STRESS_SHARE);
  const overrides = { mx: { maxConnections: max }, submission: { tlsHandshakeTimeoutSec: 300 } };
  await withRelay(overrides, async (stressed) => {
    await withRelay(overrides, async (calm) => {
      const early = await openSilent(stressed.submissions, max - threshold - 1, (i) => `127.0.60.${i + 1}`);
      const belowThreshold = await openSilent(calm.submissions, threshold - 1, (i) => `127.0.61.${i + 1}`);
      // handshakes alone put the listener under stress, and keep it there while the early ones are closed
      await sleep(2_000);
      const keepers = await openSilent(stressed.submissions, threshold, (i) => `127.0.62.${i + 1}`);
      await until('the early silent handshakes are closed', () => closedOnes(early).length === early.length, STRESS_IDLE_TIMEOUT_SEC * 1000 + 5_000);
      for (const socket of early) {
        assert.ok(socket.heldMs >= STRESS_IDLE_TIMEOUT_SEC * 1000 - 50 && socket.heldMs < STRESS_IDLE_TIMEOUT_SEC * 1000 + 2_000, `closed after ${socket.heldMs} ms`);
      }
      assert.equal(closedOnes(keepers).length, 0, 'those silent for less are kept');
      assert.equal(closedOnes(belowThreshold).length, 0, 'below the stress threshold the handshake deadline alone applies');
      assert.match(await officeGreeting(stressed.submissions), /^220 /);
      for (const socket of [...early, ...keepers, ...belowThreshold]) socket.socket.destroy();
    });
  });
});
