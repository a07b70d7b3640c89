import { test } from 'node:test';
import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import { Sink, reservePort } from '../helpers/sink.ts';
import { fixtureResolver, startRelay } from '../helpers/relay.ts';
import { message, send } from '../helpers/smtp.ts';
import { createLineLogger } from '../../src-relay/log/logger.ts';
import { REFUSED_MESSAGES_SHOWN } from '../../src-relay/queue/scheduler.ts';

const queueIdOf = (response: string) => /queued as ([0-9A-Z]{22})/.exec(response)![1]!;

/** Polls a condition that the relay reaches on its own (a delivery attempt), with a deadline. */
async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Fixture DNS putting the sender's domain on a loopback "remote MX". */
// sender.test's SPF record lets the test client (127.0.0.1) send for it: with sender authentication on (VOUCHED), a
// bounce or delay notice may go to alice@sender.test (queue/dsn-policy.ts: nobody unvouched for is told)
const senderMx = () => fixtureResolver({ 'sender.test': [{ exchange: 'mx.sender.test', priority: 10 }] }, { 'mx.sender.test': ['127.0.0.1'] }, { 'sender.test': ['v=spf1 ip4:127.0.0.1 -all'] });
const VOUCHED = { filters: { enabled: true } };

test('internal server down: mail is queued and deferred, the route is reported down, and it is delivered once the server is back', async () => {
  const port = await reservePort();
  const relay = await startRelay(port);
  try {
    const routes: string[] = [];
    relay.relay.events.on('route', (state) => routes.push(`${state.route}:${state.state}`));
    const info = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('while down'));
    const id = queueIdOf(info.response);
    await until('the first attempt is deferred', () => relay.relay.queue.store.recipients(id)[0]!.attempts >= 1);
    const recipient = relay.relay.queue.store.recipients(id)[0]!;
    assert.equal(recipient.status, 'pending');
    assert.match(recipient.last_reply!, /ECONNREFUSED|connect/i);
    const down = relay.relay.routeStates().find((state) => state.route === 'internal')!;
    assert.equal(down.state, 'down');
    assert.match(down.lastError!, /ECONNREFUSED|connect/i);
    const sink = await Sink.start({ port });
    try {
      await sink.waitFor(1);
      assert.match(sink.messages[0]!.raw.toString(), /Subject: while down/);
      await until('the route is up', () => relay.relay.routeStates().find((state) => state.route === 'internal')?.state === 'up');
      // a try while down announces the route again (its last try): still down, then up
      assert.deepEqual(routes.filter((route, index) => route !== routes[index - 1]), ['internal:down', 'internal:up']);
      await until('the message is done', () => relay.relay.queue.store.message(id)!.status === 'done');
      assert.deepEqual(relay.relay.queue.store.history(id).map((row) => row.action).filter((a) => a !== 'DEFERRED'), ['DELIVERED']);
      // the server's own reply, as it came (Exchange names its message id there), not a made-up "250 accepted"
      const delivered = relay.relay.queue.store.recipients(id)[0]!;
      assert.equal(delivered.status, 'delivered');
      assert.match(delivered.last_reply!, /^250 OK: message queued/);
    } finally {
      await sink.stop();
    }
  } finally {
    await relay.stop();
  }
});

test('a route still down is announced again after a new try (its last try and error, for the screens), once a second at most however many fail', async () => {
  const port = await reservePort();
  const relay = await startRelay(port, { queue: { retryIntervalsSec: [3600] } });
  try {
    const announced: number[] = [];
    relay.relay.events.on('route', (state) => {
      if (state.route === 'internal' && state.state === 'down') announced.push(state.checkedAt);
    });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message(`still down ${i}`))).response));
    await until('all are deferred', () => ids.every((id) => relay.relay.queue.store.recipients(id)[0]!.attempts >= 1));
    const started = announced[0]!;
    const spanSec = (Math.max(...announced) - started) / 1000;
    assert.ok(announced.length <= Math.floor(spanSec) + 2, `${announced.length} announcements over ${spanSec.toFixed(1)} s of 20 failing tries`);
    // "Try it again now" a second later: the screens hear of that try
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const before = announced.length;
    relay.relay.queue.store.retryRoute('internal', 0, Date.now());
    await until('the new try is announced', () => announced.length > before);
    assert.ok(announced.at(-1)! >= started + 1000);
    const checked = relay.relay.routeStates().find((state) => state.route === 'internal')!.checkedAt;
    assert.ok(checked >= announced.at(-1)! && checked - announced.at(-1)! < 1000, 'what was announced is at most a second older than the state');
  } finally {
    await relay.stop();
  }
});

test('a route is announced down once its try is written: "Try it again now" pressed on that news finds the message waiting', async () => {
  const port = await reservePort();
  const relay = await startRelay(port, { queue: { retryIntervalsSec: [3600] } });
  try {
    const seen: { attempts: number; retried: string[] }[] = [];
    relay.relay.events.on('route', (state) => {
      if (state.route !== 'internal' || state.state !== 'down' || seen.length > 0) return;
      const id = relay.relay.queue.store.destinationMessages('internal', null)[0];
      const attempts = id === undefined ? 0 : relay.relay.queue.store.recipients(id)[0]!.attempts;
      seen.push({ attempts, retried: relay.relay.queue.actOnDestination('retry', { route: 'internal', domain: null }) });
    });
    const id = queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message('retried on the news'))).response);
    await until('the route is announced down', () => seen.length > 0);
    assert.deepEqual(seen[0], { attempts: 1, retried: [id] });
    await until('the retry is tried', () => relay.relay.queue.store.recipients(id)[0]!.attempts >= 2);
  } finally {
    await relay.stop();
  }
});

test('when the internal server comes back, the whole backlog is retried at once instead of waiting for each backoff', async () => {
  const port = await reservePort();
  const lines: string[] = [];
  const relay = await startRelay(port, { queue: { retryIntervalsSec: [3600] } }, { logger: createLineLogger((line) => lines.push(line)) });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message(`backlog ${i}`))).response));
    await until('all are deferred', () => ids.every((id) => relay.relay.queue.store.recipients(id)[0]!.attempts >= 1));
    const wentDown = relay.relay.routeStates().find((state) => state.route === 'internal')!.since;
    // back, but asking to try later for one mailbox: that deferral, written with the try that found the server up,
    // keeps its backoff (the backlog's retry is for what waited while the server was down)
    const sink = await Sink.start({ port, onRecipient: (address) => (address === 'later@example.test' ? { code: 451, text: '4.2.0 try later' } : undefined) });
    try {
      const later = queueIdOf((await send(relay.port, 'a@sender.test', ['later@example.test'], message('the one that finds it up'))).response);
      await sink.waitFor(10);
      await until('the deferral is written', () => relay.relay.queue.store.recipients(later)[0]!.attempts >= 1);
      const deferred = relay.relay.queue.store.recipients(later)[0]!;
      assert.equal(deferred.status, 'pending');
      assert.ok(deferred.next_attempt_at > Date.now() + 60_000, `its next try is ${deferred.next_attempt_at - Date.now()} ms away`);
      // the log says since when the route was down, as a time, and for how long
      const up = lines.find((line) => line.split(' ')[2] === 'ROUTE_UP');
      assert.ok(up, 'ROUTE_UP logged');
      assert.match(up, new RegExp(`outSince=${new Date(wentDown).toISOString().replace(/\./g, '\\.')} outForSec=\\d+ was=down retried=10`));
    } finally {
      await sink.stop();
    }
  } finally {
    await relay.stop();
  }
});

test('an internal server that answers but puts every message off (back-pressure: 452 4.3.1 to MAIL FROM) is refusing, not up; once it takes mail what was put off goes at once', async () => {
  let pressure = false;
  const sink = await Sink.start({
    onSender: () => (pressure ? { code: 452, text: '4.3.1 Insufficient system resources' } : undefined),
    onMessage: (sunk) => (sunk.raw.includes('\r\nSubject: to a full mailbox\r\n') ? { code: 452, text: '4.2.2 Mailbox full' } : undefined),
  });
  const lines: string[] = [];
  const relay = await startRelay(sink.port, { queue: { retryIntervalsSec: [3600] } }, { logger: createLineLogger((line) => lines.push(line)) });
  const internal = () => relay.relay.routeStates().find((state) => state.route === 'internal');
  const tried = (id: string) => relay.relay.queue.store.recipients(id)[0]!.attempts >= 1;
  try {
    await send(relay.port, 'a@sender.test', ['b@example.test'], message('taken first'));
    await sink.waitFor(1);
    // one message put off at its end says little of the server: still up, and it keeps its backoff below
    const full = queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message('to a full mailbox'))).response);
    await until('the full mailbox is tried', () => tried(full));
    assert.equal(internal()?.state, 'up');
    await send(relay.port, 'a@sender.test', ['b@example.test'], message('taken between'));
    await sink.waitFor(2);

    pressure = true;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message(`pressure ${i}`))).response));
    await until('all are put off', () => ids.every(tried));
    assert.equal(internal()?.state, 'refusing', 'two messages in a row put off');
    assert.match(internal()!.lastError!, /^MAIL FROM: 452 4\.3\.1 Insufficient system resources/);
    assert.ok(lines.some((line) => line.split(' ')[2] === 'ROUTE_REFUSING'), 'ROUTE_REFUSING logged');

    pressure = false;
    // the first try that is taken brings forward what was put off meanwhile (its backoff was an hour), not the full mailbox
    await send(relay.port, 'a@sender.test', ['b@example.test'], message('the one that finds it taking mail'));
    await sink.waitFor(6);
    assert.equal(internal()?.state, 'up');
    assert.match(lines.find((line) => line.split(' ')[2] === 'ROUTE_UP') ?? '', /outSince=\S+ outForSec=\d+ was=refusing retried=3/);
    assert.equal(relay.relay.queue.store.recipients(full)[0]!.attempts, 1);
    assert.ok(relay.relay.queue.store.recipients(full)[0]!.next_attempt_at > Date.now() + 3000_000, 'the full mailbox keeps its backoff');
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('a server that goes from unreachable to refusing (or back) has not taken mail since it went down: the alert\'s clock is not started again', async () => {
  const port = await reservePort();
  const relay = await startRelay(port, { queue: { retryIntervalsSec: [3600] } });
  const internal = () => relay.relay.routeStates().find((state) => state.route === 'internal');
  try {
    const first = queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message('while down'))).response);
    await until('the route is down', () => internal()?.state === 'down');
    const { since } = internal()!;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const sink = await Sink.start({ port, onSender: () => ({ code: 421, text: '4.3.2 Service not available, closing transmission channel' }) });
    try {
      await send(relay.port, 'a@sender.test', ['b@example.test'], message('while refusing'));
      await until('the route is refusing', () => internal()?.state === 'refusing');
      assert.equal(internal()!.since, since);
      assert.equal(relay.relay.queue.store.recipients(first)[0]!.attempts, 1, 'a refusing server brings nothing forward');
    } finally {
      await sink.stop();
    }
  } finally {
    await relay.stop();
  }
});

test('a 5xx from the internal server bounces the recipient and the DSN reaches the sender through the outbound route', async () => {
  const internal = await Sink.start({ onRecipient: (address) => (address === 'nobody@example.test' ? { code: 550, text: '5.1.1 no such user' } : undefined) });
  const remote = await Sink.start();
  const relay = await startRelay(internal.port, { ...VOUCHED, outbound: { mxPort: remote.port } }, { resolver: senderMx() });
  try {
    const info = await send(relay.port, 'alice@sender.test', ['nobody@example.test'], message('to nobody'));
    const id = queueIdOf(info.response);
    await remote.waitFor(1);
    const dsn = remote.messages[0]!;
    assert.equal(dsn.from, '', 'a DSN has a null envelope sender');
    assert.deepEqual(dsn.to, ['alice@sender.test']);
    const text = dsn.raw.toString();
    assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status/i);
    assert.match(text, /Final-Recipient: rfc822; ?nobody@example\.test/i);
    assert.match(text, /Action: failed/);
    assert.match(text, /Status: 5\.1\.1/);
    assert.match(text, /Subject: to nobody/, 'the original headers are returned');
    // the internal server is the office's own business: the notice names no host for it
    assert.match(text, /The\s+receiving\s+server\s+answered:\s+550 5\.1\.1 no such user/);
    assert.doesNotMatch(text, /Remote-MTA|The server 127\.0\.0\.1/);
    await until('the message is done', () => relay.relay.queue.store.message(id)!.status === 'done');
    assert.equal(relay.relay.queue.store.recipients(id)[0]!.status, 'bounced');
  } finally {
    await relay.stop();
    await internal.stop();
    await remote.stop();
  }
});

test(`an internal server that refuses every recipient of ${REFUSED_MESSAGES_SHOWN} messages in a row, none delivered, is said to (up, yet bouncing all); one delivery ends it`, async () => {
  // Exchange without the accepted domain answers like this to every recipient (an admin's review saw "Up" and nothing else)
  let refusing = true;
  const internal = await Sink.start({ onRecipient: () => (refusing ? { code: 550, text: '5.7.54 Unable to relay recipient in non-accepted domain' } : undefined) });
  const relay = await startRelay(internal.port);
  try {
    const routes: string[] = [];
    relay.relay.events.on('route', (state) => routes.push(`${state.state}${state.refusedRecipients ? ` refusing ${state.refusedRecipients.messages}` : ''}`));
    const internalState = () => relay.relay.routeStates().find((state) => state.route === 'internal');
    const bounced = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const id = queueIdOf((await send(relay.port, 'alice@sender.test', [`user${i}@example.test`], message(`refused ${i}`))).response);
        await until('the recipient is bounced', () => relay.relay.queue.store.recipients(id)[0]!.status === 'bounced');
      }
    };
    await bounced(REFUSED_MESSAGES_SHOWN - 1);
    assert.equal(internalState()?.state, 'up');
    assert.equal(internalState()?.refusedRecipients, undefined, 'a few refused recipients are addresses that do not exist');
    await bounced(1);
    // the outcome is written in a batch: the route's count may come a moment before or after it
    await until('the route says so', () => internalState()?.refusedRecipients !== undefined);
    const refused = internalState()!.refusedRecipients!;
    assert.equal(refused.messages, REFUSED_MESSAGES_SHOWN);
    assert.match(refused.lastError, /550 5\.7\.54 Unable to relay recipient in non-accepted domain/);
    assert.deepEqual(routes, ['up', `up refusing ${REFUSED_MESSAGES_SHOWN}`], 'the screens hear of it once');
    await bounced(1);
    await until('the count goes on', () => internalState()?.refusedRecipients?.messages === REFUSED_MESSAGES_SHOWN + 1);
    assert.equal(routes.length, 2, 'the count goes on without a new event');

    refusing = false;
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('taken'));
    await internal.waitFor(1);
    await until('the refusals are forgotten', () => internalState()?.refusedRecipients === undefined);
    assert.deepEqual(routes, ['up', `up refusing ${REFUSED_MESSAGES_SHOWN}`, 'up']);
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('an MX host that refuses the session at its greeting (421 or 554) is passed over for the next one, which gets the message', async () => {
  for (const greeting of ['421 4.3.2 too busy, try later', '554 5.7.1 no service for you']) {
    // the backup MX on 127.0.0.1, the broken preferred one on 127.0.0.2 at the same port (outbound.mxPort is one port)
    const backup = await Sink.start();
    const refused: string[] = [];
    const preferred = createServer((socket) => {
      socket.on('error', () => {});
      refused.push(greeting);
      socket.end(`${greeting}\r\n`);
    });
    await new Promise<void>((resolve) => preferred.listen(backup.port, '127.0.0.2', resolve));
    const internal = await Sink.start({ onRecipient: () => ({ code: 550, text: '5.1.1 no such user' }) });
    const resolver = fixtureResolver(
      { 'sender.test': [{ exchange: 'mx2.sender.test', priority: 20 }, { exchange: 'mx1.sender.test', priority: 10 }] },
      { 'mx1.sender.test': ['127.0.0.2'], 'mx2.sender.test': ['127.0.0.1'] },
      { 'sender.test': ['v=spf1 ip4:127.0.0.1 -all'] },
    );
    const relay = await startRelay(internal.port, { ...VOUCHED, outbound: { mxPort: backup.port } }, { resolver });
    try {
      // the bounce report to alice@sender.test is the outbound mail here
      await send(relay.port, 'alice@sender.test', ['nobody@example.test'], message(`greeting ${greeting.slice(0, 3)}`));
      await backup.waitFor(1);
      assert.ok(refused.length >= 1, `${greeting}: the preferred host was tried first`);
      assert.deepEqual(backup.messages[0]!.to, ['alice@sender.test'], `${greeting}: the backup MX took it in the same attempt`);
    } finally {
      await relay.stop();
      await new Promise((resolve) => preferred.close(resolve));
      await internal.stop();
      await backup.stop();
    }
  }
});

test('partial failure: one recipient delivered, one bounced, one deferred and delivered on a later attempt', async () => {
  let laterAccepted = false;
  const internal = await Sink.start({
    onRecipient: (address) => {
      if (address === 'gone@example.test') return { code: 550, text: '5.1.1 gone' };
      if (address === 'later@example.test' && !laterAccepted) {
        laterAccepted = true;
        return { code: 451, text: '4.3.0 try later' };
      }
      return undefined;
    },
  });
  const remote = await Sink.start();
  const relay = await startRelay(internal.port, { ...VOUCHED, outbound: { mxPort: remote.port } }, { resolver: senderMx() });
  try {
    const info = await send(relay.port, 'alice@sender.test', ['ok@example.test', 'gone@example.test', 'later@example.test'], message('partial'));
    const id = queueIdOf(info.response);
    await internal.waitFor(2);
    assert.deepEqual(internal.messages[0]!.to, ['ok@example.test']);
    assert.deepEqual(internal.messages[1]!.to, ['later@example.test']);
    await remote.waitFor(1);
    assert.match(remote.messages[0]!.raw.toString(), /Final-Recipient: rfc822; ?gone@example\.test/i);
    assert.doesNotMatch(remote.messages[0]!.raw.toString(), /Final-Recipient: rfc822; ?(ok|later)@/i);
    await until('the message is done', () => relay.relay.queue.store.message(id)!.status === 'done');
    const states = Object.fromEntries(relay.relay.queue.store.recipients(id).map((row) => [row.address, row.status]));
    assert.deepEqual(states, { 'gone@example.test': 'bounced', 'later@example.test': 'delivered', 'ok@example.test': 'delivered' });
  } finally {
    await relay.stop();
    await internal.stop();
    await remote.stop();
  }
});

test('a message with a null sender that bounces produces no DSN', async () => {
  const internal = await Sink.start({ onRecipient: () => ({ code: 550, text: '5.1.1 no' }) });
  const remote = await Sink.start();
  const relay = await startRelay(internal.port, { outbound: { mxPort: remote.port } }, { resolver: senderMx() });
  try {
    const id = queueIdOf((await send(relay.port, '', ['x@example.test'], message('null sender'))).response);
    await until('the message is done', () => relay.relay.queue.store.message(id)!.status === 'done');
    const count = relay.relay.queue.store.db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE kind = 'dsn'`).get() as { n: number };
    assert.equal(count.n, 0);
    assert.equal(remote.messages.length, 0);
  } finally {
    await relay.stop();
    await internal.stop();
    await remote.stop();
  }
});

test('after the queue lifetime a deferred recipient bounces with a permanent 5.x.x status, and a delay warning came first', async () => {
  let offset = 0;
  const clock = () => Date.now() + offset;
  const port = await reservePort();
  const remote = await Sink.start();
  const relay = await startRelay(
    port,
    { ...VOUCHED, queue: { lifetimeHours: 48, delayWarningHours: 4, retryIntervalsSec: [1] }, outbound: { mxPort: remote.port } },
    { resolver: senderMx(), clock },
  );
  try {
    const id = queueIdOf((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('old'))).response);
    await until('deferred once', () => relay.relay.queue.store.recipients(id)[0]!.attempts >= 1);
    offset = 5 * 3600_000;
    await remote.waitFor(1);
    const warning = remote.messages[0]!.raw.toString();
    assert.match(warning, /Action: delayed/);
    assert.match(warning, /Status: 4\.4\.1/);
    const attempts = relay.relay.queue.store.recipients(id)[0]!.attempts;
    await until('another attempt', () => relay.relay.queue.store.recipients(id)[0]!.attempts > attempts + 1);
    assert.equal(remote.messages.length, 1, 'the delay warning is sent once');
    offset = 49 * 3600_000;
    await remote.waitFor(2);
    const bounce = remote.messages[1]!.raw.toString();
    assert.match(bounce, /Action: failed/);
    assert.match(bounce, /Status: 5\.4\.1/);
    assert.equal(relay.relay.queue.store.message(id)!.status, 'done');
    assert.ok(relay.relay.queue.store.history(id).some((row) => row.action === 'EXPIRED'));
  } finally {
    await relay.stop();
    await remote.stop();
  }
});

test('a held message is not attempted until it is released; holding the whole queue holds new mail too', async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  const { queue } = relay.relay;
  try {
    queue.holdAll();
    const first = queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message('during maintenance'))).response);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sink.messages.length, 0, 'nothing is delivered while the queue is held');
    assert.equal(queue.store.recipients(first)[0]!.attempts, 0);
    assert.ok(queue.hold(first));
    queue.releaseAll();
    assert.equal(queue.store.message(first)!.held, 0, 'releasing the queue releases held messages');
    await sink.waitFor(1);

  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('a single held message waits while the rest of the queue is delivered, and goes once released', async () => {
  const port = await reservePort();
  const relay = await startRelay(port);
  const { queue } = relay.relay;
  try {
    const held = queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message('held one'))).response);
    const free = queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message('free one'))).response);
    assert.ok(queue.hold(held));
    const sink = await Sink.start({ port });
    try {
      queue.retryAll();
      await sink.waitFor(1);
      await until('the free message is done', () => queue.store.message(free)!.status === 'done');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(queue.store.message(held)!.status, 'queued', 'the held message was not delivered');
      assert.equal(sink.messages.length, 1);
      assert.ok(queue.release(held));
      await sink.waitFor(2);
      assert.match(sink.messages[1]!.raw.toString(), /Subject: held one/);
    } finally {
      await sink.stop();
    }
  } finally {
    await relay.stop();
  }
});

/** A waiting recipient's wait before its next try, in seconds: reckoned from the failure, whose row is written a few milliseconds later. */
const secondsToNextTry = (row: { next_attempt_at: number; updated_at: number }) => Math.round((row.next_attempt_at - row.updated_at) / 1000);

test('"Retry now" while the internal server is down never stretches the wait before the next automatic try', async () => {
  const port = await reservePort();
  const relay = await startRelay(port, { queue: { retryIntervalsSec: [60, 120, 240] } });
  const { queue } = relay.relay;
  const recipient = (id: string) => queue.store.recipients(id)[0]!;
  const waitSeconds = (id: string) => secondsToNextTry(recipient(id));
  try {
    const id = queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message('server down'))).response);
    await until('the first try failed', () => recipient(id).attempts === 1);
    assert.equal(waitSeconds(id), 60);
    // each press tries at once and fails; the next automatic try stays 60 s after it, not 120, 240, 240
    for (let attempts = 2; attempts <= 4; attempts++) {
      queue.retryAll('admin');
      await until(`try ${attempts} failed`, () => recipient(id).attempts === attempts);
      assert.equal(waitSeconds(id), 60, `after the pulled-forward try ${attempts}`);
    }
  } finally {
    await relay.stop();
  }
});

test('tries that fail at once on schedule still back off: 1, 2, then 4 s (the step grows when a try came when due)', async () => {
  const port = await reservePort();
  const relay = await startRelay(port, { queue: { retryIntervalsSec: [1, 2, 4] } });
  const { queue } = relay.relay;
  const recipient = (id: string) => queue.store.recipients(id)[0]!;
  const waitSeconds = (id: string) => secondsToNextTry(recipient(id));
  try {
    const id = queueIdOf((await send(relay.port, 'a@sender.test', ['b@example.test'], message('refused at once'))).response);
    const waits: number[] = [];
    for (let attempts = 1; attempts <= 3; attempts++) {
      await until(`try ${attempts} failed`, () => recipient(id).attempts === attempts);
      waits.push(waitSeconds(id));
    }
    assert.deepEqual(waits, [1, 2, 4]);
  } finally {
    await relay.stop();
  }
});

test('the deferred and delivered events come once the outcome is written: a listener reading the queue sees it', async () => {
  const port = await reservePort();
  const relay = await startRelay(port, { queue: { retryIntervalsSec: [3600] } });
  try {
    const seen: string[] = [];
    const store = relay.relay.queue.store;
    relay.relay.events.on('deferred', (event) => seen.push(`deferred: attempts ${store.recipients(event.id)[0]!.attempts}`));
    relay.relay.events.on('delivered', (event) => seen.push(`delivered: ${store.recipients(event.id)[0]!.status}`));
    const id = queueIdOf((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('told after the write'))).response);
    await until('the first attempt is deferred', () => seen.length === 1);
    const sink = await Sink.start({ port });
    try {
      relay.relay.queue.retry(id);
      await until('the message is delivered', () => seen.length === 2);
      assert.deepEqual(seen, ['deferred: attempts 1', 'delivered: delivered']);
    } finally {
      await sink.stop();
    }
  } finally {
    await relay.stop();
  }
});
