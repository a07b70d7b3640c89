import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { QueueStore } from '../../../src-relay/store/queue-store.ts';
import { newQueueId } from '../../../src-relay/util/ids.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const T0 = 1_800_000_000_000;

test('the quarantine lists the messages a recipient asked to have released first, then the rest, newest first, page by page', () => {
  const dir = tempDir('moat-quarantine-page-');
  const db = openDatabase(dir);
  try {
    const store = new QueueStore(db);
    const ids = Array.from({ length: 7 }, (_, minute) => newQueueId(T0 + minute * 60_000));
    store.insertBatch(
      ids.map((id, minute) => ({
        id, receivedAt: T0 + minute * 60_000, clientIp: '203.0.113.9', helo: 'client.test', sender: 'amy@sender.test', size: 100, spoolBytes: 100,
        headerMessageId: null, subject: `junk ${minute}`, kind: 'mail' as const, status: 'quarantined' as const,
        recipients: [{ address: `u${minute}@example.test`, route: 'internal' as const }],
      })),
      [],
    );
    // the two oldest were asked for: they come first, above five newer ones
    for (const minute of [0, 1]) {
      assert.ok(store.addReleaseRequest(ids[minute]!, `u${minute}@example.test`, T0, { at: T0, queueId: ids[minute]!, action: 'RELEASE_REQUESTED', detail: 'asked' }));
    }
    const whole = [ids[1], ids[0], ids[6], ids[5], ids[4], ids[3], ids[2]];
    assert.deepEqual(store.quarantineList({ limit: 50, offset: 0 }).map((row) => row.id), whole);
    for (const [offset, limit] of [[0, 1], [0, 2], [1, 2], [2, 2], [3, 3], [6, 5], [7, 5]] as const) {
      assert.deepEqual(store.quarantineList({ limit, offset }).map((row) => row.id), whole.slice(offset, offset + limit), `offset ${offset}, limit ${limit}`);
    }
    assert.deepEqual(store.quarantineList({ limit: 50, offset: 0 }).map((row) => row.release_requests), ['u1@example.test', 'u0@example.test', null, null, null, null, null]);
    // a search narrows both parts alike
    assert.deepEqual(store.quarantineList({ search: 'junk 0', limit: 50, offset: 0 }).map((row) => row.id), [ids[0]]);
    assert.deepEqual(store.quarantineList({ search: 'junk 6', limit: 50, offset: 0 }).map((row) => row.id), [ids[6]]);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
