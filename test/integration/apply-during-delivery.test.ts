// An Apply restarts the engine while deliveries to the internal server are under way. Past the grace
// (shutdownGraceSec), a delivery that has not sent its message yet is stopped and left to the new engine; one that
// has sent it waits for the server's answer. Before, both ran on past the old store's close and the new engine
// delivered the same messages again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { startHost } from '../helpers/admin.ts';
import { message, RawSmtp, send } from '../helpers/smtp.ts';

const TEST_TIMEOUT_MS = 90_000;

/**
 * The internal server: counts the messages it takes by Subject. Its answer to the final dot waits `finalDotMs()`;
 * while `holdRcpt()` says so, RCPT is not answered until release().
 */
async function slowServer(hold: { holdRcpt: () => boolean; finalDotMs: () => number }) {
  const taken: string[] = [];
  const held: (() => void)[] = [];
  let rcpts = 0;
  let dataEnds = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 100,
    onRcptTo: (_address, _session, callback) => {
      rcpts++;
      if (hold.holdRcpt()) held.push(() => callback());
      else callback();
    },
    onData: (stream, _session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        dataEnds++;
        setTimeout(() => {
          taken.push(/\r\nSubject: (.*)\r\n/.exec(Buffer.concat(chunks).toString())?.[1] ?? '?');
          callback();
        }, hold.finalDotMs());
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.server.address() as AddressInfo).port,
    taken,
    get rcpts() {
      return rcpts;
    },
    get dataEnds() {
      return dataEnds;
    },
    release: () => held.splice(0).forEach((answer) => answer()),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const mxPort = (address: string | null) => Number(address!.slice(address!.lastIndexOf(':') + 1));

test('an Apply while the internal server is slow to answer the final dot: each message is delivered once, none again by the new engine', { timeout: TEST_TIMEOUT_MS }, async () => {
  let slow = true;
  const internal = await slowServer({ holdRcpt: () => false, finalDotMs: () => (slow ? 3000 : 0) });
  const config = { domains: ['example.test'], internal: { host: '127.0.0.1', port: internal.port, tls: 'none' }, filters: { enabled: false } };
  const world = await startHost(config);
  try {
    const admin = await world.admin();
    const status = await admin.call('relay.status', {});
    for (const n of [1, 2, 3]) await send(mxPort(status.addresses.mx), 'alice@sender.test', ['bob@example.test'], message(`slow answer ${n}`));
    await until('the server has all three messages and has not answered', () => internal.dataEnds === 3);
    // the grace is 1 s: the answers come 3 s after the dot
    const applied = await admin.call('config.apply', { config: { ...config, mx: { maxRecipients: 60 } } });
    assert.equal(applied.state, 'running');
    slow = false;
    const store = world.host.relay!.queue.store;
    await until('the three are done', () => store.db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE status = 'done'`).get() !== undefined && (store.db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE status = 'done'`).get() as { n: number }).n === 3);
    // a second copy would come at once from the new engine; give it the time to
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual([...internal.taken].sort(), ['slow answer 1', 'slow answer 2', 'slow answer 3']);
    assert.equal(internal.dataEnds, 3, 'no message was sent a second time');
  } finally {
    await world.stop();
    await internal.stop();
  }
});

test('an Apply while a delivery is stuck before its message is sent: it is stopped at the end of the grace, and the new engine delivers it once', { timeout: TEST_TIMEOUT_MS }, async () => {
  let stuck = true;
  const internal = await slowServer({ holdRcpt: () => stuck, finalDotMs: () => 0 });
  const config = { domains: ['example.test'], internal: { host: '127.0.0.1', port: internal.port, tls: 'none' }, filters: { enabled: false } };
  const world = await startHost(config);
  try {
    const admin = await world.admin();
    const status = await admin.call('relay.status', {});
    await send(mxPort(status.addresses.mx), 'alice@sender.test', ['bob@example.test'], message('stuck at RCPT'));
    await until('the delivery waits for its RCPT answer', () => internal.rcpts === 1);
    const started = Date.now();
    stuck = false;
    const applied = await admin.call('config.apply', { config: { ...config, mx: { maxRecipients: 60 } } });
    assert.equal(applied.state, 'running');
    assert.ok(Date.now() - started < 15_000, `the Apply did not wait for the stuck delivery (${Date.now() - started} ms)`);
    await until('the message is delivered', () => internal.taken.length === 1);
    // the stuck RCPT answered now: a delivery still running from the old engine would send its copy
    internal.release();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const store = world.host.relay!.queue.store;
    const id = (store.db.prepare('SELECT id FROM messages').get() as { id: string }).id;
    await until('the message is done', () => store.message(id)?.status === 'done');
    assert.deepEqual(internal.taken, ['stuck at RCPT']);
    assert.deepEqual(store.history(id).map((row) => row.action), ['DELIVERED'], 'the stopped try is no attempt');
    assert.equal(store.recipients(id)[0]!.attempts, 1);
  } finally {
    await world.stop();
    await internal.stop();
  }
});

test('a client that opened a transaction and went quiet does not hold an Apply for the grace: it gets 421 at once', { timeout: TEST_TIMEOUT_MS }, async () => {
  const internal = await slowServer({ holdRcpt: () => false, finalDotMs: () => 0 });
  const config = { domains: ['example.test'], internal: { host: '127.0.0.1', port: internal.port, tls: 'none' }, filters: { enabled: false }, shutdownGraceSec: 20 };
  const world = await startHost({ shutdownGraceSec: 20 }, {});
  try {
    const admin = await world.admin();
    await admin.call('config.apply', { config });
    const quiet = await RawSmtp.connect(mxPort((await admin.call('relay.status', {})).addresses.mx));
    await quiet.hello();
    assert.match(await quiet.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await quiet.command('RCPT TO:<bob@example.test>'), /^250/);
    const started = Date.now();
    await admin.call('config.apply', { config: { ...config, mx: { maxRecipients: 60 } } });
    assert.ok(Date.now() - started < 10_000, `the Apply waited ${Date.now() - started} ms for the quiet client (grace 20 s)`);
    assert.match(await quiet.reply(), /^421 4\.3\.2 /);
    await quiet.waitClosed();
  } finally {
    await world.stop();
    await internal.stop();
  }
});
