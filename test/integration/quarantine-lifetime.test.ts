import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { fixtureResolver, startRelay } from '../helpers/relay.ts';
import { message, send } from '../helpers/smtp.ts';
import { queueIdOf, until } from '../helpers/submission.ts';
import type { Filter } from '../../src-relay/filters/types.ts';

const HOUR = 3600_000;
const keep: Filter = {
  name: 'test-keep',
  check: async () => ({ filter: 'test-keep', verdict: 'quarantine', score: 0, reasons: ['the test keeps everything'] }),
};

test('a message released after days in quarantine keeps its arrival time; its queue lifetime, delay warning and wait start at the release', async () => {
  let offset = 0;
  const clock = () => Date.now() + offset;
  // the internal server answers 451 to every recipient: every delivery is deferred (a port nothing listens on may be
  // taken meanwhile by another test's connection, and then a delivery waits for its greeting)
  const internal = await Sink.start({ onRecipient: () => ({ code: 451, text: 'try again later' }) });
  // sender.test's SPF record lets the test client send for it: only a sender vouched for is warned (queue/dsn-policy.ts)
  const resolver = fixtureResolver({}, {}, { 'sender.test': ['v=spf1 ip4:127.0.0.1 -all'] });
  const relay = await startRelay(internal.port, { filters: { enabled: true }, queue: { lifetimeHours: 48, delayWarningHours: 4, retryIntervalsSec: [1] } }, { filters: [keep], clock, resolver });
  const { queue, quarantine } = relay.relay;
  const history = (id: string) => {
    queue.flushHistory();
    return queue.store.history(id).map((row) => row.action);
  };
  try {
    const whole = queueIdOf((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('kept whole'))).response);
    const shared = queueIdOf((await send(relay.port, 'alice@sender.test', ['carol@example.test', 'dave@example.test'], message('kept for two'))).response);
    const arrived = queue.store.message(whole)!.received_at;
    const sharedArrived = queue.store.message(shared)!.received_at;

    offset = 72 * HOUR; // longer in quarantine than the queue's whole lifetime
    assert.equal(quarantine.release(whole, { by: 'test-admin' }).released, true);
    assert.equal(await quarantine.releaseTo(shared, 'carol@example.test', { by: 'carol@example.test', how: 'user page' }), 'released');
    const copy = queue.store.db.prepare(`SELECT id FROM messages WHERE id != ? AND id != ?`).pluck().get(whole, shared) as string;

    assert.equal(queue.store.message(whole)!.received_at, arrived, 'the queue and tracking still show when it came in');
    assert.equal(queue.store.message(copy)!.received_at, sharedArrived, "a recipient's copy came in with the message");
    const warnings = () => queue.store.db.prepare(`SELECT COUNT(*) FROM messages WHERE kind = 'dsn'`).pluck().get() as number;
    for (const id of [whole, copy]) {
      await until(`${id} deferred`, () => queue.store.recipients(id)[0]!.attempts >= 1);
      assert.equal(queue.store.recipients(id)[0]!.status, 'pending', 'the first failure after the release does not expire it');
      assert.ok(!history(id).includes('EXPIRED'));
    }
    assert.equal(warnings(), 0, 'no "still trying" warning 72 h after arrival: the wait started at the release');
    const waitedMs = clock() - queue.store.summary().oldest!;
    assert.ok(waitedMs >= 0 && waitedMs < HOUR, `the queue's oldest wait is since the release (${waitedMs} ms), not 72 h`);

    offset = (72 + 5) * HOUR; // past delayWarningHours since the release
    await until('a delay warning for each', () => warnings() === 2);

    offset = (72 + 49) * HOUR; // the lifetime counted from the release has passed
    for (const id of [whole, copy]) {
      await until(`${id} expired`, () => history(id).includes('EXPIRED'));
      assert.equal(queue.store.message(id)!.received_at, id === whole ? arrived : sharedArrived);
    }
  } finally {
    await relay.stop();
    await internal.stop();
  }
});
