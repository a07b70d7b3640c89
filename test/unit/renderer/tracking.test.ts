import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyTrackingForm, quickRange, recipientOutcomeLines, toTrackingInput } from '../../../src-renderer/lib/tracking.ts';
import { actionReport, outcomeWords, summarizeList } from '../../../src-renderer/lib/words.ts';

test('an empty form asks for the latest messages', () => {
  assert.deepEqual(toTrackingInput(emptyTrackingForm), { input: { limit: 100 }, problems: {} });
});

test('the form becomes a search: trimmed, brackets off the Message-ID, times in the local zone', () => {
  const { input, problems } = toTrackingInput({ ...emptyTrackingForm, sender: ' bob@example.com ', recipient: '', messageId: '<abc@host.example>', from: '2025-03-12T10:00', to: '2025-03-12T12:30' });
  assert.deepEqual(problems, {});
  assert.deepEqual(input, { limit: 100, sender: 'bob@example.com', messageId: 'abc@host.example', from: new Date(2025, 2, 12, 10, 0).getTime(), to: new Date(2025, 2, 12, 12, 30, 59, 999).getTime() });
});

test('outcome, client address and subject narrow the search; an empty one does not, and each is at most 200 characters', () => {
  const { input } = toTrackingInput({ ...emptyTrackingForm, outcome: 'deferred', clientIp: ' 203.0.113. ', subject: ' invoice ' });
  assert.deepEqual(input, { limit: 100, outcome: 'deferred', clientIp: '203.0.113.', subject: 'invoice' });
  assert.deepEqual(toTrackingInput({ ...emptyTrackingForm, clientIp: '   ', subject: '' }).input, { limit: 100 });
  assert.deepEqual(toTrackingInput({ ...emptyTrackingForm, subject: 'x'.repeat(200) }).problems, {});
  assert.deepEqual(toTrackingInput({ ...emptyTrackingForm, subject: 'x'.repeat(201) }).problems, { subject: 'at most 200 characters' });
});

test('a range that ends before it starts is refused at the end field', () => {
  const { problems } = toTrackingInput({ ...emptyTrackingForm, from: '2025-03-12T12:00', to: '2025-03-12T10:00' });
  assert.deepEqual(problems, { to: 'the end is before the start' });
});

test('quick ranges end now', () => {
  const now = new Date(2025, 2, 12, 15, 30).getTime();
  assert.deepEqual(quickRange('hour', now), { from: now - 3_600_000, to: now });
  assert.equal(quickRange('today', now).from, new Date(2025, 2, 12).getTime());
});

test('outcomes and reports read as sentences', () => {
  assert.deepEqual(outcomeWords('delivered'), { label: 'Delivered', tone: 'ok' });
  assert.equal(outcomeWords('expired').label, 'Expired');
  assert.deepEqual(outcomeWords('deferred'), { label: 'Waiting to retry', tone: 'warning' });
  assert.equal(summarizeList(['a', 'b', 'c', 'd']), 'a, b and 2 more');
  assert.equal(actionReport('Retried', 3, 0), 'Retried 3 messages.');
  assert.equal(actionReport('Deleted', 1, 1, 'quarantine'), 'Deleted 1 message; 1 was no longer in the quarantine.');
  // a message already in the asked-for state is not counted as done, and the line says why
  assert.equal(actionReport('Released', 0, 0, 'queue', { count: 1, already: 'not held: nothing to release' }), 'Released 0 messages; 1 was not held: nothing to release.');
  assert.equal(actionReport('Held', 2, 1, 'queue', { count: 1, already: 'held already' }), 'Held 2 messages; 1 was held already; 1 was no longer in the queue.');
});

test('"until 10:37" runs to the end of that minute, so from 10:37 until 10:37 finds mail sent at 10:37:20; a second given ends there', () => {
  const minute = toTrackingInput({ ...emptyTrackingForm, from: '2025-03-12T10:37', to: '2025-03-12T10:37' });
  assert.deepEqual(minute.problems, {});
  assert.deepEqual([minute.input.from, minute.input.to], [new Date(2025, 2, 12, 10, 37).getTime(), new Date(2025, 2, 12, 10, 37, 59, 999).getTime()]);
  const second = toTrackingInput({ ...emptyTrackingForm, to: '2025-03-12T10:37:20' });
  assert.equal(second.input.to, new Date(2025, 2, 12, 10, 37, 20, 999).getTime());
});

test("a message whose recipients fared differently says each one's outcome; one whose recipients fared alike says nothing more than its badge", () => {
  assert.deepEqual(
    recipientOutcomeLines([
      { address: 'later@example.test', outcome: 'deferred' },
      { address: 'ok@example.test', outcome: 'delivered' },
      { address: 'also@example.test', outcome: 'delivered' },
      { address: 'too@example.test', outcome: 'delivered' },
    ]),
    ['Waiting to retry: later@example.test', 'Delivered: ok@example.test, also@example.test and 1 more'],
  );
  assert.deepEqual(recipientOutcomeLines([{ address: 'a@example.test', outcome: 'delivered' }, { address: 'b@example.test', outcome: 'delivered' }]), []);
  assert.deepEqual(recipientOutcomeLines([]), []);
});
