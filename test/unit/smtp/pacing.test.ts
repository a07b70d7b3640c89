// Transaction pacing (smtp/pacing.ts) as a pure policy: who gets a place, in which order, that a wait never outlasts
// its bound, and what a connection that closes while it waits leaves behind. Over real sockets: test/security/limits.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_TRANSACTIONS_AT_ONCE, PACE_WAIT_MS, TransactionPacing } from '../../../src-relay/smtp/pacing.ts';

function recorder(max: number, maxWaitMs = 60_000) {
  const events: string[] = [];
  const pacing = new TransactionPacing(max, maxWaitMs);
  const start = (id: string) => pacing.start(id, () => events.push(id));
  return { pacing, events, start };
}

test('the defaults: 8 messages taken in at once, a wait of at most 2 s', () => {
  assert.equal(MAX_TRANSACTIONS_AT_ONCE, 8);
  assert.equal(PACE_WAIT_MS, 2_000);
});

test('first come, first served; one that closes while it waits is forgotten, its wait timer too', async () => {
  const { pacing, events, start } = recorder(1, 100);
  start('a');
  start('b');
  start('c');
  assert.deepEqual(events, ['a']);
  assert.equal(pacing.queued, 2);
  pacing.end('b');
  pacing.end('a');
  assert.deepEqual(events, ['a', 'c']);
  assert.equal(pacing.queued, 0);
  await sleep(200);
  assert.deepEqual(events, ['a', 'c'], 'nothing more: b left, c had its place');
});

test('a wait ends at its bound: the transaction goes ahead anyway and holds a place like the others', async () => {
  const { pacing, events, start } = recorder(1, 50);
  start('a');
  start('b');
  await sleep(120);
  assert.deepEqual(events, ['a', 'b']);
  start('c');
  pacing.end('a');
  assert.deepEqual(events, ['a', 'b'], 'b still holds a place: one place, one holder');
  pacing.end('b');
  assert.deepEqual(events, ['a', 'b', 'c']);
});

test('a session holding a place starts its next transaction at once; ending twice or unknown changes nothing', () => {
  const { pacing, events, start } = recorder(1);
  start('a');
  start('b');
  start('a');
  assert.deepEqual(events, ['a', 'a']);
  pacing.end('x');
  pacing.end('a');
  pacing.end('a');
  assert.deepEqual(events, ['a', 'a', 'b']);
  start('c');
  assert.equal(pacing.queued, 1, 'b holds the one place');
});
