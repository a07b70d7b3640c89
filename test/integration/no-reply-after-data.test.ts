import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureResolver, startRelay } from '../helpers/relay.ts';
import { message, send } from '../helpers/smtp.ts';
import { officeMessage, queueIdOf, startSubmissionRelay, submit, until } from '../helpers/submission.ts';
import { MAX_NO_REPLY_AFTER_DATA } from '../../src-relay/queue/scheduler.ts';
import { messageHistory } from '../../src-relay/queue/history-text.ts';
import type { Relay } from '../../src-relay/engine.ts';

/** What the stand-in server does with a transaction: answer the final dot, end the connection without a word, or keep it open without one. */
type Behaviour = 'reply' | 'close-after-data' | 'close-at-mail' | 'silent-after-data' | 'mixed-after-data' | 'four-digits-after-data';

/**
 * A raw SMTP server standing in for the internal server (exact control of when it stops talking): it counts every
 * message it received whole (the final dot), whether or not it answered it.
 */
async function startRawServer(behaviour: (copy: number) => Behaviour) {
  let copies = 0;
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {});
    socket.write('220 internal.example.test ESMTP\r\n');
    let buffer = '';
    let inData = false;
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end === -1) return;
          buffer = buffer.slice(end + 5);
          inData = false;
          copies++;
          if (behaviour(copies) === 'close-after-data') return void socket.destroy();
          if (behaviour(copies) === 'silent-after-data') return;
          if (behaviour(copies) === 'mixed-after-data') {
            socket.write('250-ok\r\n550 but no\r\n');
            continue;
          }
          if (behaviour(copies) === 'four-digits-after-data') {
            socket.write('2500 ok\r\n');
            continue;
          }
          socket.write('250 2.0.0 queued\r\n');
          continue;
        }
        const end = buffer.indexOf('\r\n');
        if (end === -1) return;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') socket.write('250-internal.example.test\r\n250 8BITMIME\r\n');
        else if (verb === 'MAIL' && behaviour(copies + 1) === 'close-at-mail') return void socket.destroy();
        else if (verb === 'DATA') {
          inData = true;
          socket.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') return void socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    get copies() {
      return copies;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const actions = (relay: Relay, id: string) => relay.queue.store.history(id).map((row) => row.action);
const noReplies = (relay: Relay, id: string) => actions(relay, id).filter((action) => action === 'NO_REPLY').length;

test('an internal server that takes the message data and closes without a reply gets it again, a history note each time, and at the bound the message is held instead', async () => {
  let answer = false;
  const server = await startRawServer(() => (answer ? 'reply' : 'close-after-data'));
  const relay = await startRelay(server.port);
  try {
    const id = queueIdOf((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('no reply after data'))).response);
    await until('the message is held', () => relay.relay.queue.store.message(id)!.held === 1);
    assert.equal(server.copies, MAX_NO_REPLY_AFTER_DATA, 'one copy an attempt, no attempt past the bound');
    assert.equal(noReplies(relay.relay, id), MAX_NO_REPLY_AFTER_DATA);
    const recipient = relay.relay.queue.store.recipients(id)[0]!;
    assert.equal(recipient.status, 'pending', 'neither bounced nor given up: it waits for the admin');
    assert.equal(recipient.attempts, MAX_NO_REPLY_AFTER_DATA);
    assert.match(recipient.last_reply!, /^DATA: no reply after the message data/);
    assert.equal(recipient.last_status, '4.4.2');
    assert.equal(relay.relay.routeStates().find((state) => state.route === 'internal')?.state, 'up', 'the server talked: the route is not down');

    const message_ = relay.relay.queue.store.message(id)!;
    const events = messageHistory(message_, relay.relay.queue.store.recipients(id), relay.relay.queue.store.history(id), null);
    const notes = events.filter((event) => event.action === 'NO_REPLY').map((event) => event.text);
    assert.equal(notes.length, MAX_NO_REPLY_AFTER_DATA);
    assert.match(notes[0]!, /^No reply after the message data: the internal server ended the connection before answering, so it may have delivered the message; the next try may deliver it twice \(1 of 3 before Moat holds the message\)$/);
    const held = events.find((event) => event.action === 'HELD')!;
    assert.match(held.text, /^Held by Moat: the internal server ended the connection after the message data without a reply 3 times, and may have delivered it each time; check the recipients' mailboxes, then release the message to send it again, or delete it$/);

    // held means no further copies: two retry intervals pass without an attempt
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(server.copies, MAX_NO_REPLY_AFTER_DATA);

    // the admin releases it: sent again, and this time answered
    answer = true;
    assert.equal(relay.relay.queue.release(id, 'admin@127.0.0.1'), true);
    await until('the message is done', () => relay.relay.queue.store.message(id)!.status === 'done');
    assert.equal(server.copies, MAX_NO_REPLY_AFTER_DATA + 1);
    assert.equal(relay.relay.queue.store.recipients(id)[0]!.status, 'delivered');
  } finally {
    await relay.stop();
    await server.stop();
  }
});

test('one attempt short of the bound, the message is retried and delivered without being held', async () => {
  const server = await startRawServer((copy) => (copy < MAX_NO_REPLY_AFTER_DATA ? 'close-after-data' : 'reply'));
  const relay = await startRelay(server.port);
  try {
    const id = queueIdOf((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('twice no reply'))).response);
    await until('the message is done', () => relay.relay.queue.store.message(id)!.status === 'done');
    assert.equal(server.copies, MAX_NO_REPLY_AFTER_DATA);
    assert.equal(noReplies(relay.relay, id), MAX_NO_REPLY_AFTER_DATA - 1);
    assert.ok(!actions(relay.relay, id).includes('HELD'));
    assert.equal(relay.relay.queue.store.recipients(id)[0]!.status, 'delivered');
  } finally {
    await relay.stop();
    await server.stop();
  }
});

test('a server that closes before the message data is an ordinary deferral: no no-reply note, never held', async () => {
  let closing = true;
  const server = await startRawServer(() => (closing ? 'close-at-mail' : 'reply'));
  const relay = await startRelay(server.port);
  try {
    const id = queueIdOf((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('closed at mail'))).response);
    await until(`${MAX_NO_REPLY_AFTER_DATA + 1} attempts`, () => relay.relay.queue.store.recipients(id)[0]!.attempts >= MAX_NO_REPLY_AFTER_DATA + 1);
    assert.equal(server.copies, 0);
    assert.equal(noReplies(relay.relay, id), 0);
    assert.equal(relay.relay.queue.store.message(id)!.held, 0);
    assert.doesNotMatch(relay.relay.queue.store.recipients(id)[0]!.last_reply!, /no reply after the message data/);
    closing = false;
    await until('the message is done', () => relay.relay.queue.store.message(id)!.status === 'done');
    assert.equal(server.copies, 1);
  } finally {
    await relay.stop();
    await server.stop();
  }
});

test('an MX host that closes without a reply after the message data is not followed by the next MX host in the same attempt', async () => {
  const mx = await startRawServer((copy) => (copy === 1 ? 'close-after-data' : 'reply'));
  const resolver = fixtureResolver(
    { 'partner.test': [{ exchange: 'mx1.partner.test', priority: 10 }, { exchange: 'mx2.partner.test', priority: 20 }] },
    { 'mx1.partner.test': ['127.0.0.1'], 'mx2.partner.test': ['127.0.0.1'] },
  );
  const relay = await startSubmissionRelay(1, { submission: { trustedNetworks: ['127.0.0.1'] }, outbound: { mxPort: mx.port } }, { resolver });
  try {
    const info = await submit(relay.submission, { plain: true }, 'alice@example.test', ['carol@partner.test'], officeMessage('alice@example.test', 'carol@partner.test', 'mx no reply'));
    const id = queueIdOf(info.response);
    await until('the first attempt is written', () => relay.relay.queue.store.recipients(id)[0]!.attempts >= 1);
    assert.equal(mx.copies, 1, 'the second MX host was not handed another copy at once');
    assert.equal(noReplies(relay.relay, id), 1);
    await until('the message is done', () => relay.relay.queue.store.message(id)!.status === 'done');
    assert.equal(mx.copies, 2);
  } finally {
    await relay.stop();
    await mx.stop();
  }
});

test('a stop while the internal server has the message and never answers: the connection is closed after the wait, "no reply" is recorded before the store closes, and the next engine\'s copy is on the record', { timeout: 120_000 }, async () => {
  let silent = true;
  const server = await startRawServer(() => (silent ? 'silent-after-data' : 'reply'));
  const dataDir = mkdtempSync(join(tmpdir(), 'moat-no-reply-stop-'));
  try {
    const first = await startRelay(server.port, { shutdownGraceSec: 1 }, { dataDir });
    const id = queueIdOf((await send(first.port, 'alice@sender.test', ['bob@example.test'], message('never answered'))).response);
    await until('the server has the message', () => server.copies === 1);
    const started = Date.now();
    await first.stop();
    const took = Date.now() - started;
    // the grace (1 s), the wait for the answer (30 s), the close (at once): before, the delivery outlived the store,
    // its outcome was lost and the process stayed up to the socket's timeout
    assert.ok(took < 40_000, `the stop took ${took} ms`);
    silent = false;
    const second = await startRelay(server.port, { shutdownGraceSec: 1 }, { dataDir });
    try {
      await until('delivered by the next engine', () => second.relay.queue.store.message(id)?.status === 'done');
      assert.equal(server.copies, 2, 'sent again, as RFC 1047 allows');
      assert.deepEqual(actions(second.relay, id), ['DEFERRED', 'NO_REPLY', 'DELIVERED'], 'the first copy is on the record');
      assert.equal(second.relay.queue.store.recipients(id)[0]!.attempts, 2);
    } finally {
      await second.stop();
    }
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('an answer to the final dot that is no proper reply ("250-ok" then "550 but no", or "2500 ok") is not taken for a delivery: it is recorded as no reply, and sent again', async () => {
  for (const garble of ['mixed-after-data', 'four-digits-after-data'] as const) {
    let answer = false;
    const server = await startRawServer(() => (answer ? 'reply' : garble));
    const relay = await startRelay(server.port);
    try {
      const id = queueIdOf((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`garbled ${garble}`))).response);
      await until('the first copy is recorded', () => noReplies(relay.relay, id) === 1);
      const recipient = relay.relay.queue.store.recipients(id)[0]!;
      assert.equal(recipient.status, 'pending', garble);
      assert.match(recipient.last_reply!, garble === 'mixed-after-data' ? /mixed reply codes or lines \(250 first\): "250-ok 550 but no"/ : /was not an SMTP reply: "2500 ok"/);
      answer = true;
      await until('delivered on a retry', () => relay.relay.queue.store.message(id)?.status === 'done');
      assert.equal(server.copies, 2, garble);
    } finally {
      await relay.stop();
      await server.stop();
    }
  }
});
