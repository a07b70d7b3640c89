// The recipients' own allow and block lists through the admin API over HTTP: add, list, search, remove, the limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHost, type AdminClient, type TestHost } from '../helpers/admin.ts';
import { MAX_PERSONAL_ENTRIES, PersonalLists } from '../../src-relay/filters/personal-lists.ts';
import { openDatabase } from '../../src-relay/store/db.ts';

let world: TestHost;
let admin: AdminClient;

before(async () => {
  world = await startHost({ domains: ['example.test'] });
  admin = await world.admin();
});
after(() => world.stop());

/** Fills `recipient`'s lists straight in the data directory's database (what 495 API calls would do, faster). */
function fill(recipient: string, count: number): void {
  const db = openDatabase(world.dataDir);
  try {
    const lists = new PersonalLists(db);
    for (let i = 0; i < count; i++) lists.set(recipient, 'deny', `filler${i}@junk.test`, 'test', 1);
  } finally {
    db.close();
  }
}

test('an entry is added in its normal form, listed per recipient and by search, moved between lists, and removed', async () => {
  const added = await admin.call('senders.personalSet', { recipient: 'Bob@Example.TEST', list: 'allow', entry: ' Friend@Partner.TEST ' });
  assert.equal(added.recipient, 'bob@example.test');
  assert.equal(added.entry, 'friend@partner.test');
  assert.equal(added.list, 'allow');
  assert.match(added.addedBy ?? '', /^admin@/);
  await admin.call('senders.personalSet', { recipient: 'carol@example.test', list: 'deny', entry: 'annoying.test' });

  const all = await admin.call('senders.personalList', {});
  assert.deepEqual(all.entries.map((row) => [row.recipient, row.list, row.entry]), [['bob@example.test', 'allow', 'friend@partner.test'], ['carol@example.test', 'deny', '@annoying.test']]);
  assert.equal(all.truncated, false);
  assert.equal(all.maxPerRecipient, MAX_PERSONAL_ENTRIES);
  assert.deepEqual((await admin.call('senders.personalList', { recipient: 'CAROL@example.test' })).entries.map((row) => row.entry), ['@annoying.test']);
  assert.deepEqual((await admin.call('senders.personalList', { search: 'PARTNER' })).entries.map((row) => row.recipient), ['bob@example.test']);
  assert.deepEqual((await admin.call('senders.personalList', { search: '%' })).entries, [], 'a % is looked for as itself');

  const moved = await admin.call('senders.personalSet', { recipient: 'bob@example.test', list: 'deny', entry: 'friend@partner.test' });
  assert.equal(moved.list, 'deny');
  assert.equal((await admin.call('senders.personalList', { recipient: 'bob@example.test' })).entries.length, 1, 'one entry is on one list only');

  assert.deepEqual(await admin.call('senders.personalRemove', { recipient: 'bob@example.test', entry: 'FRIEND@partner.test' }), {});
  const gone = await admin.raw('senders.personalRemove', { recipient: 'bob@example.test', entry: 'friend@partner.test' });
  assert.equal(gone.status, 404);
  assert.equal(gone.body.code, 'PERSONAL_ENTRY_GONE');
  assert.match(gone.body.message ?? '', /friend@partner\.test is on neither of bob@example\.test's own lists/);
});

test('a bad entry, or a recipient who is not one of this relay\'s users, is refused in words at the field', async () => {
  const badEntry = await admin.raw('senders.personalSet', { recipient: 'bob@example.test', list: 'allow', entry: 'not an address' });
  assert.equal(badEntry.status, 400);
  assert.deepEqual(badEntry.body.issues?.map((issue) => issue.path), ['entry']);
  assert.match(badEntry.body.issues![0]!.message, /neither an address \(user@example\.com\) nor a domain/);
  const own = await admin.raw('senders.personalSet', { recipient: 'bob@example.test', list: 'allow', entry: 'ceo@example.test' });
  assert.equal(own.status, 400);
  assert.deepEqual(own.body.issues?.map((issue) => issue.path), ['entry']);
  assert.match(own.body.issues![0]!.message, /"ceo@example\.test" covers our own domain example\.test/);
  const foreign = await admin.raw('senders.personalSet', { recipient: 'someone@elsewhere.test', list: 'deny', entry: 'x@y.test' });
  assert.equal(foreign.status, 400);
  assert.deepEqual(foreign.body.issues?.map((issue) => issue.path), ['recipient']);
  assert.match(foreign.body.issues![0]!.message, /not an address of this relay's domains \(example\.test\)/);
});

test(`a recipient with ${MAX_PERSONAL_ENTRIES - 1} entries takes one more; at ${MAX_PERSONAL_ENTRIES} a new one is PERSONAL_LIST_FULL, an existing one still changes`, async () => {
  fill('dave@example.test', MAX_PERSONAL_ENTRIES - 1);
  await admin.call('senders.personalSet', { recipient: 'dave@example.test', list: 'allow', entry: 'last@friends.test' });
  const full = await admin.raw('senders.personalSet', { recipient: 'dave@example.test', list: 'allow', entry: 'one-more@friends.test' });
  assert.equal(full.status, 409);
  assert.equal(full.body.code, 'PERSONAL_LIST_FULL');
  assert.match(full.body.message ?? '', /dave@example\.test's own lists have 500 entries, the most one user may keep: remove some before adding one-more@friends\.test/);
  const changed = await admin.call('senders.personalSet', { recipient: 'dave@example.test', list: 'allow', entry: 'filler3@junk.test' });
  assert.equal(changed.list, 'allow');
  assert.equal((await admin.call('senders.personalList', { recipient: 'dave@example.test' })).entries.length, MAX_PERSONAL_ENTRIES);
});

test('20 requests at once to a recipient with 495 entries add exactly 5; the other 15 are PERSONAL_LIST_FULL', async () => {
  fill('erin@example.test', MAX_PERSONAL_ENTRIES - 5);
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) => admin.raw('senders.personalSet', { recipient: 'erin@example.test', list: 'deny', entry: `burst${i}@junk.test` })),
  );
  assert.equal(answers.filter((answer) => answer.status === 200).length, 5);
  assert.deepEqual([...new Set(answers.filter((answer) => answer.status !== 200).map((answer) => answer.body.code))], ['PERSONAL_LIST_FULL']);
  assert.equal((await admin.call('senders.personalList', { recipient: 'erin@example.test' })).entries.length, MAX_PERSONAL_ENTRIES);
});
