import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { Sink } from '../helpers/sink.ts';
import { fixtureResolver } from '../helpers/relay.ts';
import { officeMessage, queueIdOf, startSubmissionRelay, submit, until } from '../helpers/submission.ts';

/**
 * How long the slow route's reply is held after the fast route's outcome is written: several of the scheduler's
 * looks at the queue (every 100 ms under load), so a recipient that lost its claim would be picked again in it.
 */
const OVERLAP_WINDOW_MS = 800;

/** A remote MX that holds its reply to DATA until the test lets it go, and counts every MAIL FROM it sees. */
async function startGatedMx() {
  const received: { to: string[]; raw: string }[] = [];
  let transactions = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let onTransaction: () => void = () => {};
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 100,
    onMailFrom: (_address, _session, callback) => {
      transactions++;
      onTransaction();
      callback();
    },
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        void gate.then(() => {
          received.push({ to: session.envelope.rcptTo.map((rcpt) => rcpt.address), raw: Buffer.concat(chunks).toString() });
          callback();
        });
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    get transactions() {
      return transactions;
    },
    /** Resolves when a second transaction starts (a duplicate delivery) or after `ms`, whichever comes first. */
    secondTransactionOr(ms: number): Promise<void> {
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        onTransaction = () => {
          if (transactions >= 2) {
            clearTimeout(timer);
            resolve();
          }
        };
        onTransaction();
      });
    },
    release,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test('a message split over the internal route and an outside domain reaches each exactly once while the two deliveries overlap', async () => {
  const internal = await Sink.start();
  const mx = await startGatedMx();
  const resolver = fixtureResolver({ 'partner.test': [{ exchange: 'mx.partner.test', priority: 10 }] }, { 'mx.partner.test': ['127.0.0.1'] });
  const relay = await startSubmissionRelay(internal.port, { submission: { trustedNetworks: ['127.0.0.1'] }, outbound: { mxPort: mx.port } }, { resolver });
  try {
    const info = await submit(relay.submission, { plain: true }, 'alice@example.test', ['bob@example.test', 'carol@partner.test'], officeMessage('alice@example.test', 'bob@example.test', 'split over two routes'));
    const id = queueIdOf(info.response);
    // the internal copy is delivered and its outcome written while the outside delivery still waits for its reply
    await internal.waitFor(1);
    await until('the internal recipient is recorded delivered', () => relay.relay.queue.store.recipients(id).find((r) => r.address === 'bob@example.test')?.status === 'delivered');
    await mx.secondTransactionOr(OVERLAP_WINDOW_MS);
    mx.release();
    await until('the message is done', () => relay.relay.queue.store.message(id)?.status === 'done');
    assert.equal(mx.transactions, 1, 'the outside recipient was delivered to once, not again while its first delivery was in flight');
    assert.equal(mx.received.length, 1);
    assert.deepEqual(mx.received[0]!.to, ['carol@partner.test']);
    assert.equal(internal.messages.length, 1);
    assert.deepEqual(internal.messages[0]!.to, ['bob@example.test']);
    const recipients = relay.relay.queue.store.recipients(id);
    assert.deepEqual(recipients.map((r) => [r.address, r.status, r.attempts]), [['bob@example.test', 'delivered', 1], ['carol@partner.test', 'delivered', 1]]);
    assert.deepEqual(relay.relay.queue.store.history(id).filter((row) => row.action === 'DELIVERED').map((row) => row.recipient).sort(), ['bob@example.test', 'carol@partner.test']);
  } finally {
    mx.release();
    await relay.stop();
    await internal.stop();
    await mx.stop();
  }
});

test('a burst of messages split over both routes, sent in parallel, gives each recipient exactly one copy of each', async () => {
  const BURST = 12;
  const internal = await Sink.start();
  const mx = await startGatedMx();
  const resolver = fixtureResolver({ 'partner.test': [{ exchange: 'mx.partner.test', priority: 10 }] }, { 'mx.partner.test': ['127.0.0.1'] });
  const relay = await startSubmissionRelay(internal.port, { submission: { trustedNetworks: ['127.0.0.1'] }, outbound: { mxPort: mx.port } }, { resolver });
  try {
    const infos = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        submit(relay.submission, { plain: true }, 'alice@example.test', ['bob@example.test', 'carol@partner.test'], officeMessage('alice@example.test', 'bob@example.test', `burst ${i}`)),
      ),
    );
    const ids = infos.map((info) => queueIdOf(info.response));
    await internal.waitFor(BURST);
    await until('every internal recipient is recorded delivered', () => ids.every((id) => relay.relay.queue.store.recipients(id).find((r) => r.address === 'bob@example.test')?.status === 'delivered'));
    await mx.secondTransactionOr(OVERLAP_WINDOW_MS);
    mx.release();
    await until('every message is done', () => ids.every((id) => relay.relay.queue.store.message(id)?.status === 'done'));
    const subjects = (raws: string[]) => raws.map((raw) => /\r\nSubject: (burst \d+)\r\n/.exec(raw)![1]!).sort();
    const expected = Array.from({ length: BURST }, (_, i) => `burst ${i}`).sort();
    assert.deepEqual(subjects(internal.messages.map((m) => m.raw.toString())), expected);
    assert.deepEqual(subjects(mx.received.map((m) => m.raw)), expected);
    for (const id of ids) assert.deepEqual(relay.relay.queue.store.recipients(id).map((r) => r.attempts), [1, 1]);
  } finally {
    mx.release();
    await relay.stop();
    await internal.stop();
    await mx.stop();
  }
});

test('with few delivery slots, a split message whose first route was taken alone is never taken whole again: each recipient gets one copy', async () => {
  // maxDeliveries 3 makes a pick take one route of a message and leave the other for later; the route taken must not
  // be delivered again once its job is done (the scheduler's fresh list kept both routes and re-took them)
  const BURST = 12;
  const internal = await Sink.start();
  const mx = await startGatedMx();
  mx.release();
  const resolver = fixtureResolver({ 'partner.test': [{ exchange: 'mx.partner.test', priority: 10 }] }, { 'mx.partner.test': ['127.0.0.1'] });
  const relay = await startSubmissionRelay(internal.port, { submission: { trustedNetworks: ['127.0.0.1'] }, outbound: { mxPort: mx.port }, queue: { maxDeliveries: 3 } }, { resolver });
  try {
    const infos = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        submit(relay.submission, { plain: true }, 'alice@example.test', ['bob@example.test', 'carol@partner.test'], officeMessage('alice@example.test', 'bob@example.test', `slots ${i}`)),
      ),
    );
    const ids = infos.map((info) => queueIdOf(info.response));
    await until('every message is done', () => ids.every((id) => relay.relay.queue.store.message(id)?.status === 'done'));
    await new Promise((resolve) => setTimeout(resolve, OVERLAP_WINDOW_MS));
    const subjects = (raws: string[]) => raws.map((raw) => /\r\nSubject: (slots \d+)\r\n/.exec(raw)![1]!).sort();
    const expected = Array.from({ length: BURST }, (_, i) => `slots ${i}`).sort();
    assert.deepEqual(subjects(internal.messages.map((m) => m.raw.toString())), expected);
    assert.deepEqual(subjects(mx.received.map((m) => m.raw)), expected);
    for (const id of ids) assert.deepEqual(relay.relay.queue.store.recipients(id).map((r) => r.attempts), [1, 1]);
  } finally {
    await relay.stop();
    await internal.stop();
    await mx.stop();
  }
});
