import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Previews, PREVIEWS_AT_ONCE, PreviewUnreadable, type MessagePreview } from '../../../src-relay/quarantine/previews.ts';

const PREVIEW: MessagePreview = { headers: [], text: 'hello', attachments: [], truncated: false };

test(`a reader that throws at once gives its place back: after ${PREVIEWS_AT_ONCE} such failures a preview is still read (a review found the count leaked)`, async () => {
  const previews = new Previews((id) => {
    if (id.startsWith('bad')) throw new Error('not a queue id');
    return Promise.resolve(PREVIEW);
  }, Date.now);
  for (let i = 0; i < PREVIEWS_AT_ONCE + 1; i++) await assert.rejects(previews.of(`bad${i}`), /not a queue id/);
  assert.equal((await previews.of('good')).text, 'hello');
});

test('a failed read is not kept: the next look reads again; a good one is kept', async () => {
  let reads = 0;
  const previews = new Previews(async () => {
    reads += 1;
    if (reads === 1) throw new PreviewUnreadable('slow');
    return PREVIEW;
  }, Date.now);
  await assert.rejects(previews.of('a'), PreviewUnreadable);
  assert.equal((await previews.of('a')).text, 'hello');
  await previews.of('a');
  assert.equal(reads, 2);
});
