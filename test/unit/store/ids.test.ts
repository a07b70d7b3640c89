import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newQueueId, QUEUE_ID_PATTERN } from '../../../src-relay/util/ids.ts';

test('queue ids are unique, match their pattern and sort by arrival', () => {
  const ids = Array.from({ length: 3000 }, (_, i) => newQueueId(1_700_000_000_000 + Math.floor(i / 10)));
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.match(id, QUEUE_ID_PATTERN);
  assert.deepEqual([...ids].sort(), ids);
});

test('the queue id pattern refuses path tricks', () => {
  for (const bad of ['../etc/passwd', '', 'abc', `${newQueueId()}/x`, newQueueId().toLowerCase()]) assert.doesNotMatch(bad, QUEUE_ID_PATTERN);
});
