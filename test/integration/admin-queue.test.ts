// The queue viewer, the queue's admin operations and message tracking of the admin API, called as the admin server
// calls them (input and output through the contract's schemas), over a live relay delivering to a real SMTP sink.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { queueHandlers } from '../../src-relay/admin/handlers/queue.ts';
import { contract } from '../../src-relay/admin/contract.ts';
import type { RelayEventMap } from '../../src-relay/events.ts';
import { historyText } from '../../src-relay/queue/history-text.ts';
import { apiContext } from '../helpers/api-context.ts';
import { apiError, callHandler } from '../helpers/api-call.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message, send } from '../helpers/smtp.ts';

const TEST_TIMEOUT_MS = 60_000;
/** Recipients the sink answers 451 for, while they are in here. */
const busy = new Set<string>();
let sink: Sink;
let relay: TestRelay;

before(async () => {
  sink = await Sink.start({ onRecipient: (address) => (busy.has(address) ? { code: 451, text: '4.3.0 mailbox busy, try later' } : undefined) });
  // one retry an hour: a deferred message stays deferred until the test retries it
  relay = await startRelay(sink.port, { queue: { retryIntervalsSec: [3600] } });
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

function call<K extends keyof typeof queueHandlers>(name: K, input: unknown = {}) {
  return callHandler(queueHandlers, name, input, apiContext(relay.relay));
}

/** Resolves with the first `name` event that `match` accepts; subscribe before doing what causes it. */
function nextEvent<K extends 'deferred' | 'delivered'>(name: K, match: (event: RelayEventMap[K][0]) => boolean, timeoutMs = 20_000): Promise<RelayEventMap[K][0]> {
  const events = relay.relay.events as unknown as import('node:events').EventEmitter;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      events.off(name, listener);
      reject(new Error(`no ${name} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (event: RelayEventMap[K][0]) => {
      if (!match(event)) return;
      clearTimeout(timer);
      events.off(name, listener);
      resolve(event);
    };
    events.on(name, listener);
  });
}

/** Resolves once `condition` holds (events fire before the scheduler's batch is written). */
async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const attempts = (id: string) => relay.relay.queue.store.recipients(id)[0]?.attempts ?? 0;


async function queued(from: string, to: string, subject: string): Promise<string> {
  const info = await send(relay.port, from, [to], message(subject));
  return /queued as (\S+)/.exec(info.response)![1]!;
}

test('the queue viewer pages, filters, searches and sorts the live queue, and every answer fits the contract', { timeout: TEST_TIMEOUT_MS }, async () => {
  busy.add('busy@example.test');
  const deferral = nextEvent('deferred', (event) => event.recipient === 'busy@example.test');
  const deferredId = await queued('zed@sender.test', 'busy@example.test', 'deferred one');
  await deferral;
  await until('the deferral is written', () => attempts(deferredId) === 1);
  const held = await call('queue.holdAll');
  assert.equal(held.queueHeld, true);
  const waitingId = await queued('amy@sender.test', 'bob@example.test', 'Waiting two');
  const thirdId = await queued('Bea@sender.test', 'carl@example.test', 'waiting three');

  const first = await queueHandlers['queue.list'](contract['queue.list'].input.parse({}), apiContext(relay.relay));
  const page = contract['queue.list'].output.parse(first);
  assert.equal(page.total, 3);
  assert.deepEqual(page.rows.map((row) => row.id), [deferredId, waitingId, thirdId]);
  const [deferred, waiting] = page.rows;
  assert.equal(deferred!.status, 'deferred');
  assert.equal(deferred!.attempts, 1);
  assert.equal(deferred!.route, 'internal');
  assert.deepEqual(deferred!.recipients, ['busy@example.test']);
  assert.match(deferred!.lastReply!, /451 4\.3\.0 mailbox busy/);
  assert.ok(deferred!.nextAttemptAt! > Date.now() + 3000_000, 'next try in about an hour');
  assert.equal(waiting!.status, 'waiting');
  assert.equal(waiting!.subject, 'Waiting two');
  assert.equal(waiting!.lastReply, null);

  const ids = async (input: Record<string, unknown>) => (await call('queue.list', input)).rows.map((row) => row.id);
  assert.deepEqual(await ids({ status: 'deferred' }), [deferredId]);
  assert.deepEqual(await ids({ status: 'waiting' }), [waitingId, thirdId]);
  assert.deepEqual(await ids({ sort: 'sender', direction: 'desc' }), [deferredId, thirdId, waitingId]);
  assert.deepEqual(await ids({ sort: 'recipient' }), [waitingId, deferredId, thirdId]);
  assert.deepEqual(await ids({ sort: 'attempts', direction: 'desc' }), [deferredId, thirdId, waitingId], 'ties by arrival, in the same direction');
  assert.deepEqual(await ids({ search: 'CARL@example' }), [thirdId]);
  assert.deepEqual(await ids({ search: '  waiting  ' }), [waitingId, thirdId], 'the contract trims the search');
  assert.deepEqual(await ids({ route: 'outbound' }), []);
  const second = await call('queue.list', { limit: 1, offset: 1 });
  assert.deepEqual([second.total, second.rows.map((row) => row.id)], [3, [waitingId]]);

  const summary = await call('queue.summary');
  assert.deepEqual({ ...summary, oldest: summary.oldest !== null }, { size: 3, oldest: true, held: 0, queueHeld: true });

  // leave the queue as the next tests expect it: empty and running
  assert.deepEqual(await call('queue.act', { action: 'delete', ids: [deferredId, waitingId, thirdId] }), { done: [deferredId, waitingId, thirdId], unchanged: [], gone: [] });
  const released = await call('queue.releaseAll');
  assert.deepEqual([released.size, released.queueHeld], [0, false]);
  busy.delete('busy@example.test');
});

test('hold, release, bounce and delete act on a selection; ids no longer queued come back as gone', { timeout: TEST_TIMEOUT_MS }, async () => {
  await call('queue.holdAll');
  const a = await queued('ann@sender.test', 'bob@example.test', 'act a');
  const b = await queued('ben@sender.test', 'bob@example.test', 'act b');
  const c = await queued('cid@sender.test', 'bob@example.test', 'act c');
  const never = 'ZZZZZZZZZZZZ0000000000';

  assert.deepEqual(await call('queue.act', { action: 'hold', ids: [a, b, never] }), { done: [a, b], unchanged: [], gone: [never] });
  assert.deepEqual((await call('queue.list', { status: 'held' })).rows.map((row) => row.id), [a, b]);
  assert.equal((await call('queue.summary')).held, 2);
  // already in the asked-for state: said so, and left out of "done" (an undo of the hold must not release it)
  assert.deepEqual(await call('queue.act', { action: 'hold', ids: [a] }), { done: [], unchanged: [a], gone: [] }, 'holding a held message changes nothing');
  assert.deepEqual(await call('queue.act', { action: 'release', ids: [b, c] }), { done: [b], unchanged: [c], gone: [] }, 'c was never held: nothing to release');
  assert.deepEqual((await call('queue.list', { status: 'held' })).rows.map((row) => row.id), [a]);
  const bHistory = (await call('queue.show', { id: b })).history.map((event) => event.text);
  assert.deepEqual(bHistory.slice(1), ['Held by admin@127.0.0.1', 'Released by admin@127.0.0.1'], 'each action says who did it');
  assert.equal((await call('queue.show', { id: c })).history.length, 1, 'releasing a message that was not held writes nothing');

  // a bounce returns the message to its sender: a DSN, queued for the internet
  assert.deepEqual(await call('queue.act', { action: 'bounce', ids: [c, never] }), { done: [c], unchanged: [], gone: [never] });
  const outbound = await call('queue.list', { route: 'outbound' });
  assert.equal(outbound.total, 1);
  const dsn = outbound.rows[0]!;
  assert.deepEqual([dsn.sender, dsn.recipients, dsn.route], ['', ['cid@sender.test'], 'outbound']);
  const bounced = await call('queue.show', { id: c });
  assert.equal(bounced.status, 'done');
  assert.deepEqual(bounced.recipients.map((recipient) => [recipient.address, recipient.status, recipient.nextAttemptAt]), [['bob@example.test', 'bounced', null]]);
  assert.equal(bounced.history.at(-1)!.text, 'Bounced: returned to the sender by admin@127.0.0.1');
  assert.equal((await call('queue.show', { id: dsn.id })).kind, 'dsn');
  const dsnText = readFileSync(relay.relay.queue.spool.path(dsn.id), 'latin1');
  assert.match(dsnText, /returned to the sender by the administrator/);
  assert.doesNotMatch(dsnText, /admin@/, 'who bounced it is for our history, not for the outside sender');

  assert.deepEqual(await call('queue.act', { action: 'delete', ids: [dsn.id, c] }), { done: [dsn.id], unchanged: [], gone: [c] });
  assert.equal(existsSync(relay.relay.queue.spool.path(dsn.id)), false, 'the spool file is removed with the message');
  assert.equal((await call('queue.show', { id: dsn.id })).history.at(-1)!.text, 'Deleted by admin@127.0.0.1');
  assert.deepEqual(await call('queue.act', { action: 'retry', ids: [c] }), { done: [], unchanged: [], gone: [c] });

  const ready = [a, b].map((id) => nextEvent('delivered', (event) => event.id === id));
  const released = await call('queue.releaseAll');
  assert.deepEqual([released.queueHeld, released.held], [false, 0]);
  await Promise.all(ready);
  assert.deepEqual(
    (await call('queue.show', { id: a })).history.map((event) => event.text).slice(1, 3),
    ['Held by admin@127.0.0.1', 'Released by admin@127.0.0.1 with the whole queue'],
    'a message released with the whole queue says so in its own history',
  );
  await sink.waitForSubject('act a');
  await until('the deliveries are written', () => relay.relay.queue.store.summary().size === 0);
  assert.equal((await call('queue.summary')).size, 0);
});

test('retry delivers a deferred message once the internal server takes it; the trace tells its story in plain words', { timeout: TEST_TIMEOUT_MS }, async () => {
  busy.add('later@example.test');
  const deferral = nextEvent('deferred', (event) => event.recipient === 'later@example.test');
  const id = await queued('ann@sender.test', 'later@example.test', 'retry me');
  await deferral;
  await until('the deferral is written', () => attempts(id) === 1);
  const again = nextEvent('deferred', (event) => event.id === id);
  assert.equal((await call('queue.retryAll')).count, 1, 'the one waiting recipient is due now');
  await again;
  await until('the second deferral is written', () => attempts(id) === 2);
  // while it waits, the pane can say how long Moat keeps trying and when the sender hears of the delay (the defaults)
  const waiting = await call('queue.show', { id });
  assert.deepEqual(waiting.retrying, { givesUpAt: waiting.receivedAt + 120 * 3_600_000, lifetimeHours: 120, warnsSenderAt: waiting.receivedAt + 4 * 3_600_000, senderWarned: false });

  busy.delete('later@example.test');
  const delivery = nextEvent('delivered', (event) => event.id === id);
  assert.deepEqual(await call('queue.act', { action: 'retry', ids: [id] }), { done: [id], unchanged: [], gone: [] });
  await delivery;
  await sink.waitForSubject('retry me');
  await until('the delivery is written', () => relay.relay.queue.store.message(id)!.status === 'done');

  const trace = await call('tracking.trace', { id });
  assert.equal(trace.status, 'done');
  assert.equal(trace.retrying, null, 'a delivered message waits for nothing');
  assert.deepEqual(trace.recipients.map((recipient) => [recipient.address, recipient.status, recipient.attempts]), [['later@example.test', 'delivered', 3]]);
  const story = trace.history.map((event) => event.text);
  assert.match(story[0]!, /^Received from 127\.0\.0\.1 \(HELO [^)]+\), \d+ bytes$/);
  assert.match(story[1]!, /^Deferred: RCPT TO: 451 4\.3\.0 mailbox busy, try later — next try in 1 h 0 min$/);
  assert.equal(story[2], 'Retry requested by admin@127.0.0.1 for the whole queue');
  assert.match(story[3]!, /^Deferred: RCPT TO: 451 4\.3\.0 mailbox busy, try later — next try in 1 h 0 min$/);
  assert.deepEqual(story.slice(4), ['Retry requested by admin@127.0.0.1', 'Delivered to the internal server (127.0.0.1)']);
  assert.deepEqual(trace.history.map((event) => event.recipient), [null, 'later@example.test', null, 'later@example.test', null, 'later@example.test']);
  assert.deepEqual(await call('queue.show', { id }), trace, 'the queue viewer shows a message finished meanwhile as it ended');
});

test('tracking finds delivered and deleted mail by sender, recipient, Message-ID and time, and refusals that never got a queue id', { timeout: TEST_TIMEOUT_MS }, async () => {
  const start = Date.now();
  const raw = message('tracked mail');
  const messageId = /^Message-ID: <([^>]+)>/m.exec(raw)![1]!;
  const delivery = nextEvent('delivered', (event) => event.recipient === 'trackme@example.test');
  const info = await send(relay.port, 'tracker@sender.test', ['trackme@example.test'], raw);
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  await delivery;
  await until('the delivery is written', () => relay.relay.queue.store.message(id)!.status === 'done');
  await call('queue.holdAll');
  const deletedId = await queued('tracker@sender.test', 'gone@example.test', 'tracked and deleted');
  await call('queue.act', { action: 'delete', ids: [deletedId] });
  await call('queue.releaseAll');

  const client = await RawSmtp.connect(relay.port);
  await client.hello();
  await client.command('MAIL FROM:<tracker@sender.test>');
  assert.match(await client.command('RCPT TO:<someone@elsewhere.test>'), /^5\d\d 5\.7\.1 /);
  client.close();
  // an address with a direction override (it would reverse the text around it) is shown with the override made visible
  const reversed = await RawSmtp.connect(relay.port);
  await reversed.hello();
  await reversed.command('MAIL FROM:<reverser@sender.test>');
  assert.match(await reversed.command('RCPT TO:<gpj.\u202eexe@other.invalid>'), /^5\d\d /);
  reversed.close();
  relay.relay.queue.flushHistory();
  const overridden = await call('tracking.search', { sender: 'reverser@', from: start });
  assert.deepEqual(overridden.rows.map((row) => row.recipients), [['gpj.\ufffdexe@other.invalid']]);

  const bySender = await call('tracking.search', { sender: 'TRACKER@sender', from: start });
  assert.equal(bySender.truncated, false);
  assert.deepEqual(
    bySender.rows.map((row) => [row.id, row.outcome, row.recipients]),
    [
      [null, 'refused', ['someone@elsewhere.test']],
      [deletedId, 'deleted', ['gone@example.test']],
      [id, 'delivered', ['trackme@example.test']],
    ],
  );
  assert.match(bySender.rows[0]!.detail!, /^Refused: 5\d\d 5\.7\.1 .* — client 127\.0\.0\.1$/);
  assert.equal(bySender.rows[2]!.subject, 'tracked mail');
  assert.equal(bySender.rows[2]!.headerMessageId, messageId);

  const byMessageId = await call('tracking.search', { messageId: ` <${messageId}> ` });
  assert.deepEqual(byMessageId.rows.map((row) => row.id), [id], 'a Message-ID, brackets or not, finds the message, never a refusal');
  assert.deepEqual((await call('tracking.search', { recipient: 'elsewhere.test', from: start })).rows.map((row) => row.outcome), ['refused']);
  assert.deepEqual((await call('tracking.search', { sender: 'tracker@', to: start - 1 })).rows, [], 'nothing before the window');

  const limited = await call('tracking.search', { sender: 'tracker@', from: start, limit: 2 });
  assert.deepEqual([limited.rows.length, limited.truncated], [2, true]);
});

test('holding, releasing and retrying the whole queue are written down with who did it', async () => {
  const desktop = apiContext(relay.relay, { actor: 'desktop' });
  const since = Date.now();
  await callHandler(queueHandlers, 'queue.holdAll', {}, desktop);
  await callHandler(queueHandlers, 'queue.releaseAll', {}, desktop);
  await callHandler(queueHandlers, 'queue.retryAll', {}, desktop);
  const rows = relay.relay.queue.store.db
    .prepare(`SELECT action, detail, recipient FROM history WHERE queue_id IS NULL AND action LIKE 'QUEUE%' AND at >= ? ORDER BY id`)
    .all(since) as Parameters<typeof historyText>[0][];
  assert.deepEqual(rows.map((row) => historyText(row)), [
    'Whole queue held by the desktop app',
    'Whole queue released by the desktop app (0 held messages too)',
    'Every waiting recipient made due by the desktop app (0 recipients)',
  ]);
});

test('unknown ids are refused with stable codes, and a relay that is not running says so', async () => {
  const never = 'ZZZZZZZZZZZZ0000000000';
  await assert.rejects(call('queue.show', { id: never }), apiError('QUEUE_ITEM_GONE'));
  await assert.rejects(call('tracking.trace', { id: never }), apiError('MESSAGE_NOT_FOUND'));
  assert.throws(() => contract['queue.list'].input.parse({ sort: 'sender; DROP TABLE messages' }));
  assert.throws(() => contract['queue.act'].input.parse({ action: 'hold', ids: ['../../etc/passwd'] }));
  await assert.rejects(callHandler(queueHandlers, 'queue.summary', {}, apiContext(null)), apiError('RELAY_NOT_RUNNING'));
});
