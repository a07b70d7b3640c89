import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actInSlices, actionTarget, BULK_CHUNK, chunks, pageSelectionState, setAll, toggleId, withoutIds } from '../../../src-renderer/lib/selection.ts';

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

test('actions go to the ticked rows, else to the open message', () => {
  assert.deepEqual(actionTarget(new Set(['a', 'b']), 'c'), { ids: ['a', 'b'], kind: 'selection' });
  assert.deepEqual(actionTarget(new Set(), 'c'), { ids: ['c'], kind: 'open' });
  assert.deepEqual(actionTarget(new Set(), null), { ids: [], kind: 'none' });
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
