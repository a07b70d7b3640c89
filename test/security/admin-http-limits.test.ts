// The admin listener's own limits, over real sockets: request bodies of callers without a session, and connections
// open at once, per address and in all. Whoever reaches the port must not make the relay hold memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { ANONYMOUS_BODY_BYTES, MAX_BODY_BYTES } from '../../src-relay/admin/api.ts';
import { connect as connectTls } from 'node:tls';
import { once } from 'node:events';
import { AdminServer, HANDSHAKE_TIMEOUT_MS, MAX_HTTP_CONNECTIONS, MAX_HTTP_CONNECTIONS_PER_IP } from '../../src-relay/http/server.ts';
import { Router, sendText } from '../../src-relay/http/router.ts';
import { silentLogger } from '../../src-relay/log/logger.ts';
import { selfSignedCertificate } from '../../src-relay/smtp/self-signed.ts';
import { ADMIN_PASSWORD, startHost } from '../helpers/admin.ts';

const TEST_TIMEOUT_MS = 60_000;

/** A JSON log-in body of exactly `bytes` octets. */
function loginBody(bytes: number): string {
  const head = '{"password":"';
  const tail = '"}';
  return head + 'x'.repeat(bytes - head.length - tail.length) + tail;
}

test(`a caller without a session may send ${ANONYMOUS_BODY_BYTES} bytes, not one more, even in parallel and unannounced; a session may send ${MAX_BODY_BYTES}`, { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  try {
    const admin = await world.admin();
    const anonymous = world.client();
    const atLimit = await anonymous.raw('auth.login', loginBody(ANONYMOUS_BODY_BYTES));
    assert.deepEqual([atLimit.status, atLimit.body.code], [400, 'INVALID_INPUT'], 'read whole, and judged by its schema');
    const past = await Promise.all(Array.from({ length: 20 }, () => anonymous.raw('auth.login', loginBody(ANONYMOUS_BODY_BYTES + 1))));
    assert.deepEqual(new Set(past.map((answer) => `${answer.status} ${answer.body.code}`)), new Set(['413 PAYLOAD_TOO_LARGE']));
    // no Content-Length: the body is cut off as it comes
    const streamed = await fetch(`${world.base}/api/auth.login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(loginBody(ANONYMOUS_BODY_BYTES + 1)));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(streamed.status, 413);
    assert.equal((await anonymous.raw('auth.login', { password: ADMIN_PASSWORD })).status, 200, 'the refused bodies cost no guesses');
    const big = await admin.raw('config.validate', JSON.stringify({ config: { note: 'x'.repeat(ANONYMOUS_BODY_BYTES * 4) } }));
    assert.notEqual(big.status, 413, 'the admin may send a pasted certificate chain');
  } finally {
    await world.stop();
  }
});

/** A connection to the admin port from `localAddress`; `closed` resolves when the server ends it. */
function open(port: number, localAddress: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', () => {});
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
}

const closedWithin = (closed: Promise<void>, ms: number) => Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

/** The status line of an HTTP answer on a connection the test holds ('closed' when the server closed it instead). */
function get(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5_000);
    socket.once('data', (chunk: Buffer) => (clearTimeout(timer), resolve(chunk.toString('latin1').split('\r\n')[0]!)));
    socket.once('close', () => (clearTimeout(timer), resolve('closed')));
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
  });
}

test(`${MAX_HTTP_CONNECTIONS_PER_IP} connections from one address, opened at once, are kept and the next is closed; at ${MAX_HTTP_CONNECTIONS} in all a newcomer takes the place of the crowd's oldest`, { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  const port = Number(world.host.adminAddress!.split(':').pop());
  const held: Socket[] = [];
  try {
    const first = await Promise.all(Array.from({ length: MAX_HTTP_CONNECTIONS_PER_IP }, () => open(port, '127.0.0.1')));
    held.push(...first.map((connection) => connection.socket));
    const extra = await open(port, '127.0.0.1');
    held.push(extra.socket);
    assert.equal(await closedWithin(extra.closed, 2_000), true, 'one past the cap from one address is closed');
    assert.match(await get(first[0]!.socket), /^HTTP\/1\.1 /, 'those within it are served');
    const other = await open(port, '127.0.0.2');
    held.push(other.socket);
    assert.match(await get(other.socket), /^HTTP\/1\.1 /, 'another address has its own');
    first.at(-1)!.socket.destroy();
    await first.at(-1)!.closed;
    // the server hears of the close a moment after the client: a few tries
    let again = 'closed';
    for (let tries = 0; tries < 20 && again === 'closed'; tries++) {
      const connection = await open(port, '127.0.0.1');
      held.push(connection.socket);
      again = await get(connection.socket);
      if (again === 'closed') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(again, /^HTTP\/1\.1 /, 'a place given back is taken again');

    // the rest of the total from a few more addresses, each within its own cap
    const total = MAX_HTTP_CONNECTIONS - MAX_HTTP_CONNECTIONS_PER_IP - 1;
    const rest = await Promise.all(Array.from({ length: total }, (_, i) => open(port, `127.0.1.${1 + Math.floor(i / MAX_HTTP_CONNECTIONS_PER_IP)}`)));
    held.push(...rest.map((connection) => connection.socket));
    const crowd = [...first.slice(0, -1), ...rest];
    assert.equal(await closedWithin(Promise.race(crowd.map((connection) => connection.closed)), 500), false, `${MAX_HTTP_CONNECTIONS} open in all`);
    // full: a newcomer from another address is served all the same, and an address holding the most gives one up
    const newcomer = await open(port, '127.0.2.1');
    held.push(newcomer.socket);
    assert.match(await get(newcomer.socket), /^HTTP\/1\.1 /, 'a crowd from a few addresses does not keep others out');
    assert.equal(await closedWithin(Promise.race(crowd.map((connection) => connection.closed)), 2_000), true, 'the crowd gave one up');
    const gaveUp = (await Promise.all(crowd.map((connection) => closedWithin(connection.closed, 0)))).filter(Boolean).length;
    assert.equal(gaveUp, 1, 'exactly one');
  } finally {
    for (const socket of held) socket.destroy();
    await world.stop();
  }
});

test(`over HTTPS a connection that never sends its TLS handshake is closed after ${HANDSHAKE_TIMEOUT_MS / 1000} s, not before, while a browser's is served`, { timeout: TEST_TIMEOUT_MS }, async () => {
  assert.equal(HANDSHAKE_TIMEOUT_MS, 10_000);
  const pems = await selfSignedCertificate('admin.test', new Date(Date.now() + 86_400_000));
  const router = new Router().get('/healthz', ({ res }) => sendText(res, 200, 'text/plain', 'ok'));
  const server = new AdminServer({ listen: '127.0.0.1:0', router, logger: silentLogger, tls: { cert: Buffer.from(pems.cert), key: Buffer.from(pems.key) } });
  await server.start();
  const port = Number(server.address!.split(':').pop());
  try {
    const openedAt = Date.now();
    const [silent, trickled] = await Promise.all([open(port, '127.0.3.1'), open(port, '127.0.3.2')]);
    // the first bytes of a TLS record, then nothing
    trickled.socket.write(Buffer.from([0x16, 0x03, 0x01]));
    const browser = connectTls({ socket: connect({ host: '127.0.0.1', port, localAddress: '127.0.3.3' }), rejectUnauthorized: false });
    await once(browser, 'secureConnect');
    assert.match(await get(browser), /^HTTP\/1\.1 200/);
    browser.destroy();
    assert.equal(await closedWithin(Promise.race([silent.closed, trickled.closed]), HANDSHAKE_TIMEOUT_MS - 500 - (Date.now() - openedAt)), false, 'open until the deadline');
    assert.equal(await closedWithin(Promise.all([silent.closed, trickled.closed]).then(() => undefined), 3_000), true, 'closed at the deadline');
  } finally {
    await server.stop();
  }
});
