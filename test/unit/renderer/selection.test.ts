import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actInSlices, BULK_CHUNK, bulkLabel, chunks, CONFIRM_NAMED_MAX, confirmLabel, confirmTitle, nameMessages, pageSelectionState, rememberRows, setAll, ticksAfter, toggleId, withoutIds, type MessageLabel } from '../../../src-renderer/lib/selection.ts';

test('ticking and unticking rows', () => {
  const one = toggleId(new Set(), 'a');
  assert.deepEqual([...one], ['a']);
  assert.deepEqual([...toggleId(one, 'a')], []);
});

test('the header checkbox ticks the page and shows all, some or none', () => {
  const page = ['a', 'b', 'c'];
  const all = setAll(new Set(['z']), page, true);
  assert.equal(pageSelectionState(all, page), 'all');
  assert.ok(all.has('z'), 'rows of other pages stay ticked');
  assert.equal(pageSelectionState(new Set(['b']), page), 'some');
  assert.equal(pageSelectionState(setAll(all, page, false), page), 'none');
});

test('bulk buttons say how many ticked messages they act on, and name no count with none ticked', () => {
  assert.equal(bulkLabel('Delete', 3), 'Delete 3 selected');
  assert.equal(bulkLabel('Delete', 1), 'Delete 1 selected');
  assert.equal(bulkLabel('Delete', 1200), 'Delete 1,200 selected');
  assert.equal(bulkLabel('Hold', 0), 'Hold selected');
});

test("a confirmation asks about 'this message' from the pane and counts ticked ones from the toolbar", () => {
  assert.equal(confirmTitle('Delete', 1, 'this'), 'Delete this message?');
  assert.equal(confirmTitle('Delete', 1, 'count'), 'Delete 1 message?');
  assert.equal(confirmTitle('Bounce', 3, 'count'), 'Bounce 3 messages?');
  // a release that also allows the sender says so in its title, not only in the text below it
  assert.equal(confirmTitle('Release', 1, 'this', ' and allow its sender'), 'Release this message and allow its sender?');
  assert.equal(confirmTitle('Release', 2, 'count', ' and allow their senders'), 'Release 2 messages and allow their senders?');
  assert.equal(confirmLabel('Delete', 1), 'Delete 1 message');
  assert.equal(confirmLabel('Delete', 2), 'Delete 2 messages');
});

test('a confirmation names sender and subject of each message up to its limit, then how many more', () => {
  const known = new Map<string, MessageLabel>(
    Array.from({ length: CONFIRM_NAMED_MAX + 3 }, (_, i) => [`id${i}`, { id: `id${i}`, sender: `s${i}@example.test`, subject: i === 1 ? null : `subject ${i}` }] as const),
  );
  known.set('bounce', { id: 'bounce', sender: '', subject: 'Undelivered' });
  const few = nameMessages(['id0', 'id1', 'bounce'], known);
  assert.deepEqual(few, {
    count: 3,
    named: [
      { id: 'id0', sender: 's0@example.test', subject: 'subject 0' },
      { id: 'id1', sender: 's1@example.test', subject: '(no subject)' },
      { id: 'bounce', sender: '<> (bounce)', subject: 'Undelivered' },
    ],
    more: 0,
  });
  const just = nameMessages([...known.keys()].slice(0, CONFIRM_NAMED_MAX), known);
  assert.equal(just.named.length, CONFIRM_NAMED_MAX);
  assert.equal(just.more, 0);
  const over = nameMessages([...known.keys()].slice(0, CONFIRM_NAMED_MAX + 1), known);
  assert.equal(over.named.length, CONFIRM_NAMED_MAX);
  assert.equal(over.more, 1);
  assert.equal(over.count, CONFIRM_NAMED_MAX + 1);
  // a ticked id the screen never saw is still counted and shown as what it is, not left out
  assert.deepEqual(nameMessages(['nope'], known).named, [{ id: 'nope', sender: 'unknown sender', subject: '(message nope)' }]);
});

test('the rows remembered for confirmations are the page shown plus ticked ones from other pages, nothing else', () => {
  const page1 = [
    { id: 'a', sender: 'a@x', subject: 'A' },
    { id: 'b', sender: 'b@x', subject: null },
  ];
  const page2 = [{ id: 'c', sender: 'c@x', subject: 'C' }];
  const seen = rememberRows(new Map(), page1, new Set());
  assert.deepEqual([...seen.keys()], ['a', 'b']);
  const later = rememberRows(seen, page2, new Set(['b']));
  assert.deepEqual([...later.keys()].sort(), ['b', 'c'], 'a (not ticked, not shown) is forgotten; b (ticked) is kept');
  assert.deepEqual(later.get('b'), { id: 'b', sender: 'b@x', subject: null });
});

test('a bulk action clears every tick; a pane action drops only the messages that left', () => {
  const ticks = new Set(['b', 'c']);
  assert.deepEqual([...ticksAfter(ticks, 'bulk', [])], []);
  assert.deepEqual([...ticksAfter(ticks, 'pane', ['a'])].sort(), ['b', 'c']);
  assert.deepEqual([...ticksAfter(ticks, 'pane', ['b'])], ['c']);
});

test('gone ids leave the selection and big selections go in slices', () => {
  assert.deepEqual([...withoutIds(new Set(['a', 'b']), ['a'])], ['b']);
  const ids = Array.from({ length: 2500 }, (_, i) => `id${i}`);
  assert.deepEqual(chunks(ids).map((chunk) => chunk.length), [1000, 1000, 500]);
});

test('a bulk action goes to the server in slices and adds up what each slice did', async () => {
  const ids = Array.from({ length: BULK_CHUNK * 2 + 1 }, (_, i) => `ID${i}`);
  const calls: number[] = [];
  const result = await actInSlices(ids, async (slice) => {
    calls.push(slice.length);
    return { done: slice.filter((id) => id !== 'ID3'), gone: slice.filter((id) => id === 'ID3') };
  });
  assert.deepEqual(calls, [BULK_CHUNK, BULK_CHUNK, 1]);
  assert.equal(result.done.length, ids.length - 1);
  assert.deepEqual(result.gone, ['ID3']);
});
