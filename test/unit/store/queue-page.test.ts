import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openDatabase, type Db } from '../../../src-relay/store/db.ts';
import { QueueStore, type NewMessage, type QueuePageFilter } from '../../../src-relay/store/queue-store.ts';
import type { Route } from '../../../src-relay/events.ts';
import { newQueueId } from '../../../src-relay/util/ids.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const T0 = 1_800_000_000_000;
let dir: string;
let db: Db;
let store: QueueStore;
const ids: Record<string, string> = {};

function message(name: string, minute: number, sender: string, recipients: [string, Route][], extra: Partial<NewMessage> = {}): NewMessage {
  const id = newQueueId(T0 + minute * 60_000);
  ids[name] = id;
  return {
    id,
    receivedAt: T0 + minute * 60_000,
    clientIp: '203.0.113.9',
    helo: 'client.test',
    sender,
    size: 1000 + minute,
    spoolBytes: 1000 + minute,
    headerMessageId: `${name}@sender.test`,
    subject: `subject of ${name}`,
    kind: 'mail',
    recipients: recipients.map(([address, route]) => ({ address, route })),
    ...extra,
  };
}

/** A failed attempt for one recipient, as the scheduler records it. */
function defer(name: string, address: string, attempts: number, nextAttemptAt: number): void {
  for (let attempt = 0; attempt < attempts; attempt++) {
    store.recordResults(
      [{ messageId: ids[name]!, updates: [{ address, status: 'pending', attempted: true, nextAttemptAt, lastReply: `RCPT TO: 451 4.3.0 busy ${attempt + 1}`, lastStatus: '4.3.0' }], history: [] }],
      T0,
    );
  }
}

before(() => {
  dir = tempDir('moat-queue-page-');
  db = openDatabase(dir);
  store = new QueueStore(db);
  store.insertBatch(
    [
      message('alpha', 1, 'Zed@sender.test', [['carol@example.test', 'internal']]),
      message('bravo', 2, 'amy@sender.test', [['bob@example.test', 'internal'], ['x@remote.test', 'outbound']]),
      message('charlie', 3, 'mike@sender.test', [['Alice@example.test', 'internal']]),
      message('delta', 4, 'amy@sender.test', [['dave@remote.test', 'outbound']], { subject: '100% off_today' }),
      message('echo', 5, 'bob@sender.test', [['erin@example.test', 'internal']]),
      message('quarantined', 6, 'amy@sender.test', [['bob@example.test', 'internal']], { status: 'quarantined' }),
    ],
    [],
  );
  defer('alpha', 'carol@example.test', 3, T0 + 3_600_000);
  defer('delta', 'dave@remote.test', 1, T0 + 600_000);
  store.setHeld(ids.echo!, true, { at: T0, queueId: ids.echo!, action: 'HELD', detail: 'held by the administrator' });
});
after(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const names = (filter: QueuePageFilter) => {
  const byId = Object.fromEntries(Object.entries(ids).map(([name, id]) => [id, name]));
  return store.page(filter).rows.map((row) => byId[row.id]);
};

test('The first page lists queued messages oldest first, with the total; quarantined ones are not in the queue.', () => {
  const page = store.page({});
  assert.equal(page.total, 5);
  assert.deepEqual(names({}), ['alpha', 'bravo', 'charlie', 'delta', 'echo']);
});

test('A row carries its waiting recipients, route, status, attempts, next attempt and last reply.', () => {
  const rows = new Map(store.page({}).rows.map((row) => [row.id, row]));
  assert.deepEqual(rows.get(ids.alpha!), {
    id: ids.alpha,
    receivedAt: T0 + 60_000,
    sender: 'Zed@sender.test',
    recipients: ['carol@example.test'],
    subject: 'subject of alpha',
    senderName: null,
    size: 1001,
    route: 'internal',
    status: 'deferred',
    attempts: 3,
    nextAttemptAt: T0 + 3_600_000,
    lastReply: 'RCPT TO: 451 4.3.0 busy 3',
  });
  assert.equal(rows.get(ids.bravo!)!.route, 'mixed');
  assert.equal(rows.get(ids.bravo!)!.status, 'waiting');
  assert.equal(rows.get(ids.bravo!)!.lastReply, null);
  assert.equal(rows.get(ids.echo!)!.status, 'held');
});

test('Sorting by sender ignores case and breaks ties by arrival, in both directions.', () => {
  assert.deepEqual(names({ sort: 'sender' }), ['bravo', 'delta', 'echo', 'charlie', 'alpha']);
  assert.deepEqual(names({ sort: 'sender', direction: 'desc' }), ['alpha', 'charlie', 'echo', 'delta', 'bravo']);
});

test('Sorting by recipient uses the first waiting recipient, ignoring case.', () => {
  assert.deepEqual(names({ sort: 'recipient' }), ['charlie', 'bravo', 'alpha', 'delta', 'echo']);
});

test('Sorting by size, attempts and next attempt follows those columns.', () => {
  assert.deepEqual(names({ sort: 'size', direction: 'desc' }), ['echo', 'delta', 'charlie', 'bravo', 'alpha']);
  assert.deepEqual(names({ sort: 'attempts', direction: 'desc' }).slice(0, 2), ['alpha', 'delta']);
  assert.deepEqual(names({ sort: 'nextAttemptAt' }), ['bravo', 'charlie', 'echo', 'delta', 'alpha']);
});

test('Filtering by status separates waiting, deferred and held messages, and the total counts the filtered set.', () => {
  assert.deepEqual(names({ status: 'waiting' }), ['bravo', 'charlie']);
  assert.deepEqual(names({ status: 'deferred' }), ['alpha', 'delta']);
  assert.deepEqual(names({ status: 'held' }), ['echo']);
  assert.equal(store.page({ status: 'deferred' }).total, 2);
});

test('Filtering by route finds messages with a recipient waiting on it; a mixed message is in both.', () => {
  assert.deepEqual(names({ route: 'outbound' }), ['bravo', 'delta']);
  assert.deepEqual(names({ route: 'internal' }), ['alpha', 'bravo', 'charlie', 'echo']);
  assert.deepEqual(names({ route: 'internal', status: 'waiting', sort: 'sender', direction: 'desc' }), ['charlie', 'bravo']);
});

test('Search matches sender, recipient, subject, queue id and Message-ID anywhere, ignoring case.', () => {
  assert.deepEqual(names({ search: 'AMY@' }), ['bravo', 'delta']);
  assert.deepEqual(names({ search: 'alice@EXAMPLE' }), ['charlie']);
  assert.deepEqual(names({ search: 'of echo' }), ['echo']);
  assert.deepEqual(names({ search: ids.charlie!.toLowerCase() }), ['charlie']);
  assert.deepEqual(names({ search: 'delta@SENDER' }), ['delta']);
  assert.deepEqual(names({ search: 'nothing like it' }), []);
  assert.equal(store.page({ search: 'amy' }).total, 2);
});

test('Search takes % and _ literally: they are not wildcards.', () => {
  assert.deepEqual(names({ search: '100%' }), ['delta']);
  assert.deepEqual(names({ search: 'off_today' }), ['delta']);
  assert.deepEqual(names({ search: '%' }), ['delta']);
  assert.deepEqual(names({ search: 'of_' }), []);
});

test('Offset and limit page through the sorted set while the total stays the whole match.', () => {
  const first = store.page({ sort: 'sender', limit: 2 });
  const second = store.page({ sort: 'sender', limit: 2, offset: 2 });
  const last = store.page({ sort: 'sender', limit: 2, offset: 4 });
  assert.deepEqual([first.total, second.total, last.total], [5, 5, 5]);
  assert.deepEqual([...first.rows, ...second.rows, ...last.rows].map((row) => row.id), store.page({ sort: 'sender' }).rows.map((row) => row.id));
  assert.deepEqual(store.page({ offset: 50 }).rows, []);
});

test('The sort keys follow delivery: a delivered recipient drops out, a retry makes the message due now.', () => {
  const bravo = ids.bravo!;
  store.recordResults([{ messageId: bravo, updates: [{ address: 'bob@example.test', status: 'delivered', attempted: true, nextAttemptAt: T0, lastReply: '250 accepted', lastStatus: '2.0.0' }], history: [] }], T0);
  const row = store.page({ search: bravo }).rows[0]!;
  assert.deepEqual([row.recipients, row.route], [['x@remote.test'], 'outbound']);
  assert.deepEqual(names({ route: 'internal' }), ['alpha', 'charlie', 'echo']);
  assert.deepEqual(names({ sort: 'recipient' }).slice(-2), ['echo', 'bravo'], 'x@remote.test sorts last now');
  store.retry(ids.alpha!, T0 - 1);
  assert.equal(names({ sort: 'nextAttemptAt' })[0], 'alpha');
  store.finish(ids.charlie!, 'deleted', T0, { at: T0, queueId: ids.charlie!, action: 'DELETED', detail: 'deleted by the administrator' });
  assert.equal(store.page({}).total, 4);
});

test('A sort key, status or route outside the whitelist is refused before any SQL is built.', () => {
  assert.throws(() => store.page({ sort: 'sender; DROP TABLE messages' as never }), RangeError);
  assert.throws(() => store.page({ sort: 'constructor' as never }), RangeError);
  assert.throws(() => store.page({ status: '1=1' as never }), RangeError);
  assert.throws(() => store.page({ route: 'x' as never }), RangeError);
  assert.equal(store.page({}).total, 4);
});

test('Tracking finds messages in any state by sender, recipient, Message-ID and time, newest first, bounded by limit.', () => {
  const found = (filter: Parameters<QueueStore['trackMessages']>[0]) => {
    const byId = Object.fromEntries(Object.entries(ids).map(([name, id]) => [id, name]));
    return store.trackMessages(filter).map((row) => byId[row.id]);
  };
  assert.deepEqual(found({ sender: 'AMY', limit: 10 }), ['quarantined', 'delta', 'bravo']);
  assert.deepEqual(found({ recipient: 'bob@example', limit: 10 }), ['quarantined', 'bravo']);
  assert.deepEqual(found({ messageId: 'charlie@sender', limit: 10 }), ['charlie'], 'deleted mail is found too');
  assert.deepEqual(found({ from: T0 + 2 * 60_000, to: T0 + 4 * 60_000, limit: 10 }), ['delta', 'charlie', 'bravo']);
  assert.deepEqual(found({ limit: 2 }), ['quarantined', 'echo']);
  const [bravo] = store.trackMessages({ messageId: '<bravo@sender.test>', limit: 1 });
  assert.deepEqual(bravo!.recipients, [{ address: 'bob@example.test', status: 'delivered', attempts: 1 }, { address: 'x@remote.test', status: 'pending', attempts: 0 }]);
});

test('Tracking finds refusals, which have no message row, by sender, recipient and time.', () => {
  store.insertHistory([
    { at: T0 + 10, action: 'REFUSED', clientIp: '198.51.100.7', sender: 'spam@bad.test', recipient: 'nobody@example.test', detail: '550 5.1.1 no such user' },
    { at: T0 + 20, queueId: newQueueId(T0 + 20), action: 'REJECTED', sender: 'spam@bad.test', recipient: 'a@example.test, b@example.test', detail: '550 5.7.1 junk; score 20' },
    { at: T0 + 30, queueId: ids.alpha!, action: 'DEFERRED', sender: 'Zed@sender.test', recipient: 'carol@example.test', detail: 'not a refusal' },
  ]);
  assert.deepEqual(store.trackRefusals({ sender: 'BAD.test', limit: 10 }).map((row) => row.action), ['REJECTED', 'REFUSED']);
  assert.deepEqual(store.trackRefusals({ recipient: 'nobody', limit: 10 }).map((row) => row.detail), ['550 5.1.1 no such user']);
  assert.deepEqual(store.trackRefusals({ from: T0 + 15, limit: 10 }).map((row) => row.action), ['REJECTED']);
  assert.equal(store.trackRefusals({ limit: 1 }).length, 1);
});

test('Upgrading a database that already holds a queue fills in the sort keys of its messages.', () => {
  const old = tempDir('moat-queue-upgrade-');
  try {
    // schema 4 is what Moat wrote before the queue viewer (issue 6)
    const before = openDatabase(old, { schemaVersion: 4 });
    before.exec(`INSERT INTO messages (id, received_at, sender, size, spool_bytes) VALUES ('OLD000000000AAAAAAAAAA', ${T0}, 'a@sender.test', 10, 10);
      INSERT INTO recipients (message_id, address, route, attempts, next_attempt_at, updated_at) VALUES
        ('OLD000000000AAAAAAAAAA', 'zoe@example.test', 'internal', 2, ${T0 + 5000}, ${T0}),
        ('OLD000000000AAAAAAAAAA', 'Yan@remote.test', 'outbound', 0, ${T0 + 9000}, ${T0}),
        ('OLD000000000AAAAAAAAAA', 'abe@example.test', 'internal', 7, ${T0}, ${T0});
      UPDATE recipients SET status = 'delivered' WHERE address = 'abe@example.test';`);
    before.close();
    const upgraded = openDatabase(old);
    try {
      const row = upgraded.prepare(`SELECT queue_first_recipient, queue_attempts, queue_next_attempt_at, queue_routes FROM messages`).get();
      assert.deepEqual(row, { queue_first_recipient: 'Yan@remote.test', queue_attempts: 2, queue_next_attempt_at: T0 + 5000, queue_routes: 3 }, 'from the waiting recipients only');
      assert.deepEqual(new QueueStore(upgraded).page({ sort: 'recipient' }).rows.map((page) => page.recipients), [['Yan@remote.test', 'zoe@example.test']]);
    } finally {
      upgraded.close();
    }
  } finally {
    rmSync(old, { recursive: true, force: true });
  }
});

test('Every sort walks an index in order instead of sorting the queue.', () => {
  const expressions = ['m.received_at', 'm.sender COLLATE NOCASE', 'm.queue_first_recipient COLLATE NOCASE', 'm.size', 'm.queue_attempts', 'm.queue_next_attempt_at'];
  for (const sort of ['receivedAt', 'sender', 'recipient', 'size', 'attempts', 'nextAttemptAt'] as const) store.page({ sort, direction: 'desc' });
  // the statements the store prepared (private: the plan is what this test is about)
  const prepared = [...(store as unknown as { pageStatements: Map<string, unknown> }).pageStatements.keys()];
  for (const expression of expressions) {
    const sql = prepared.find((key) => /INDEXED BY \w+ WHERE m.status = 'queued'\n/.test(key) && key.includes(`ORDER BY ${expression} DESC`));
    assert.ok(sql, expression);
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ limit: 1, offset: 0 }) as { detail: string }[]).map((step) => step.detail).join(' | ');
    assert.match(plan, /USING (COVERING )?INDEX messages_(queue_|status)/, plan);
    assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
  }
});
