import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckGate, type CheckSlot } from '../../../src-relay/auth/check-gate.ts';

test('places at once: exactly the running places and the queue are given, one step beyond is refused at once', async () => {
  const gate = new CheckGate({ maxRunning: 2, maxQueued: 3 });
  const entered = Array.from({ length: 6 }, () => gate.enter(false));
  assert.deepEqual(entered.map((place) => place !== null), [true, true, true, true, true, false]);
  assert.deepEqual(gate.load, { running: 2, queued: 3 });
  const slots: (CheckSlot | null)[] = [];
  entered.slice(0, 5).forEach((place, i) => void place!.then((slot) => (slots[i] = slot)));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(slots.filter(Boolean).length, 2, 'two run, three wait');
  slots[0]!.release();
  slots[0]!.release();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(slots.filter(Boolean).length, 3, 'a released place goes to one waiting attempt, once');
  assert.deepEqual(gate.load, { running: 2, queued: 2 });
});

test('an attempt whose client left while it waited is skipped: it never runs and its place goes to the next', async () => {
  const gate = new CheckGate({ maxRunning: 1, maxQueued: 2 });
  const first = await gate.enter(false)!;
  const gone = new AbortController();
  const abandoned = gate.enter(false, gone.signal)!;
  const next = gate.enter(false)!;
  gone.abort();
  assert.equal(await abandoned, null);
  assert.deepEqual(gate.load, { running: 1, queued: 1 }, 'the abandoned attempt no longer holds a queue place');
  assert.notEqual(gate.enter(false), null, 'so another may queue');
  first!.release();
  assert.notEqual(await next, null);
  assert.equal(await gate.enter(false, AbortSignal.abort()), null, 'an attempt already abandoned does not queue');
});

test('attempts from familiar addresses have a queue of their own, served first, that strangers cannot fill', async () => {
  const gate = new CheckGate({ maxRunning: 1, maxQueued: 2 });
  const running = await gate.enter(false)!;
  const order: string[] = [];
  for (const who of ['stranger 1', 'stranger 2']) void gate.enter(false)!.then((slot) => (order.push(who), slot!.release()));
  assert.equal(gate.enter(false), null, 'the strangers\' queue is full');
  const familiar = gate.enter(true);
  assert.notEqual(familiar, null, 'a familiar address still gets a place');
  void familiar!.then((slot) => (order.push('familiar'), slot!.release()));
  running!.release();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(order, ['familiar', 'stranger 1', 'stranger 2']);
});
