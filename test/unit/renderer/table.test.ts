import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ariaSort, clampOffset, initialQueueTable, moveIndex, nextPage, rovingStop, pageInfo, prevPage, toggleSort, toQueueListInput, withFilter, withPageSize, queueFilterFromParams } from '../../../src-renderer/lib/table.ts';

test('empty filters are left out of the request and the search is trimmed', () => {
  assert.deepEqual(toQueueListInput(initialQueueTable), { sort: 'receivedAt', direction: 'asc', offset: 0, limit: 50 });
  const state = { ...initialQueueTable, search: '  bob@example.com ', status: 'deferred' as const, route: 'internal' as const };
  assert.deepEqual(toQueueListInput(state), { sort: 'receivedAt', direction: 'asc', offset: 0, limit: 50, search: 'bob@example.com', status: 'deferred', route: 'internal' });
});

test('clicking a header sorts by it, clicking again flips, and paging starts over', () => {
  const paged = { ...initialQueueTable, offset: 100 };
  const bySender = toggleSort(paged, 'sender');
  assert.deepEqual([bySender.sort, bySender.direction, bySender.offset], ['sender', 'asc', 0]);
  assert.equal(toggleSort(bySender, 'sender').direction, 'desc');
  assert.equal(toggleSort(bySender, 'size').direction, 'desc', 'biggest first');
  assert.equal(ariaSort(bySender, 'sender'), 'ascending');
  assert.equal(ariaSort(bySender, 'size'), 'none');
});

test('a new filter shows the first page', () => {
  const state = withFilter({ ...initialQueueTable, offset: 150 }, { status: 'held' });
  assert.equal(state.offset, 0);
  assert.equal(state.status, 'held');
});

test('page info and paging stay within the rows there are', () => {
  assert.deepEqual(pageInfo(0, { offset: 0, limit: 50 }), { from: 0, to: 0, total: 0, page: 1, pages: 1, hasPrev: false, hasNext: false });
  assert.deepEqual(pageInfo(120, { offset: 50, limit: 50 }), { from: 51, to: 100, total: 120, page: 2, pages: 3, hasPrev: true, hasNext: true });
  const last = nextPage(nextPage({ offset: 0, limit: 50 }, 120), 120);
  assert.equal(last.offset, 100);
  assert.equal(nextPage(last, 120).offset, 100);
  assert.equal(prevPage(prevPage(prevPage(last))).offset, 0);
});

test('a page past the end after deliveries steps back to the last page', () => {
  assert.equal(clampOffset({ offset: 100, limit: 50 }, 60).offset, 50);
  assert.equal(clampOffset({ offset: 100, limit: 50 }, 0).offset, 0);
  assert.equal(clampOffset({ offset: 50, limit: 50 }, 60).offset, 50);
});

test('a new page size keeps the first row on screen', () => {
  assert.equal(withPageSize({ offset: 150, limit: 50 }, 100).offset, 100);
});

test('arrow keys move between rows without leaving the page', () => {
  assert.equal(moveIndex(0, 'ArrowDown', 3), 1);
  assert.equal(moveIndex(2, 'ArrowDown', 3), 2);
  assert.equal(moveIndex(0, 'ArrowUp', 3), 0);
  assert.equal(moveIndex(1, 'End', 3), 2);
  assert.equal(moveIndex(1, 'Home', 3), 0);
  assert.equal(moveIndex(0, 'ArrowDown', 0), -1);
});

test("a list is one tab stop: the row last focused while it is listed, else the open one, else the first", () => {
  assert.equal(rovingStop(['a', 'b', 'c'], 'b', 'c'), 'b');
  assert.equal(rovingStop(['a', 'b', 'c'], 'gone', 'c'), 'c');
  assert.equal(rovingStop(['a', 'b', 'c'], null, 'gone'), 'a');
  assert.equal(rovingStop([], 'a', 'a'), null);
});

test('a link names queue filters: known route and status values are taken, anything else is left out', () => {
  assert.deepEqual(queueFilterFromParams({ route: 'internal' }), { route: 'internal' });
  assert.deepEqual(queueFilterFromParams({ status: 'deferred', route: 'outbound', id: 'ABC' }), { status: 'deferred', route: 'outbound' });
  assert.deepEqual(queueFilterFromParams({ route: 'elsewhere', status: 'constructor' }), {});
  assert.deepEqual(queueFilterFromParams({}), {});
});
