// Admission (smtp/admission.ts) as a pure policy: who is let in, in which order, and what a connection that closes
// while it waits leaves behind. The listener's use of it, over real sockets: test/security/limits.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admission } from '../../../src-relay/smtp/admission.ts';

function recorder(maxBusy: number, idle: Set<string> = new Set(), maxWaitMs = 60_000, maxBusyPerClient = maxBusy) {
  const events: string[] = [];
  const admission = new Admission({ maxBusy, maxBusyPerClient, busy: (id) => !idle.has(id), maxWaitMs });
  // the session id's first letter stands for its client address
  const enter = (id: string) => admission.enter(id, id[0]!, () => events.push(`admit ${id}`), () => events.push(`give up ${id}`));
  return { admission, events, enter };
}

test('first come, first served; a connection that closes while it waits is forgotten, its wait timer too', async () => {
  const { admission, events, enter } = recorder(1, new Set(), 100);
  enter('a');
  enter('b');
  enter('c');
  assert.deepEqual(events, ['admit a']);
  assert.equal(admission.queued, 2);
  admission.leave('b');
  admission.leave('a');
  assert.deepEqual(events, ['admit a', 'admit c']);
  assert.equal(admission.queued, 0);
  await sleep(200);
  assert.deepEqual(events, ['admit a', 'admit c'], 'no give-up for the admitted nor for the one that left');
});

test('a newcomer does not pass the queue, even when a place is free at that moment', () => {
  const idle = new Set<string>();
  const { events, enter } = recorder(1, idle);
  enter('a');
  enter('b');
  idle.add('a'); // a falls silent: a place is free, but b came first
  enter('c');
  assert.deepEqual(events, ['admit a', 'admit b']);
});

test('leaving twice, or leaving unknown, changes nothing', () => {
  const { admission, events, enter } = recorder(1);
  enter('a');
  enter('b');
  admission.leave('x');
  admission.leave('a');
  admission.leave('a');
  assert.deepEqual(events, ['admit a', 'admit b']);
  enter('c');
  assert.deepEqual(events, ['admit a', 'admit b'], 'b still holds the one place');
  assert.equal(admission.queued, 1);
  admission.leave('c');
  assert.equal(admission.queued, 0);
});

test('one client address holds at most its share; its next waits while others go ahead, and goes when one of its own ends', () => {
  const { admission, events, enter } = recorder(4, new Set(), 60_000, 2);
  enter('a1');
  enter('a2');
  enter('a3');
  enter('b1');
  enter('a4');
  enter('b2');
  assert.deepEqual(events, ['admit a1', 'admit a2', 'admit b1', 'admit b2'], 'a3 and a4 wait for a place of their own address');
  enter('c1');
  assert.deepEqual(events.at(-1), 'admit b2', 'all four places are taken: c1 waits too');
  admission.leave('b1');
  assert.deepEqual(events.at(-1), 'admit c1', 'a place of b goes to c1, the first waiter whose address has room');
  admission.leave('a1');
  assert.deepEqual(events.at(-1), 'admit a3', 'a place of a goes to the first waiting a');
  assert.equal(admission.queued, 1);
});
