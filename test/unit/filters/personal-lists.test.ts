import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { MAX_PERSONAL_ENTRIES, PersonalLists } from '../../../src-relay/filters/personal-lists.ts';
import { openDatabase, type Db } from '../../../src-relay/store/db.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

function withLists(run: (lists: PersonalLists, db: Db) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = tempDir('moat-personal-');
    const db = openDatabase(dir);
    try {
      await run(new PersonalLists(db), db);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Fills `recipient`'s lists with `count` distinct address entries. */
function fill(lists: PersonalLists, recipient: string, count: number): void {
  for (let i = 0; i < count; i++) assert.equal(lists.set(recipient, 'deny', `filler${i}@junk.test`, 'test', 1), true);
}

test('entries are normalized like the admin list: case, spaces, a bare domain becomes @domain, nonsense is refused', () => {
  assert.equal(PersonalLists.normalize('  Alice@Partner.TEST '), 'alice@partner.test');
  assert.equal(PersonalLists.normalize('partner.test'), '@partner.test');
  assert.equal(PersonalLists.normalize('@Partner.Test'), '@partner.test');
  assert.equal(PersonalLists.normalize('not an address'), null);
  assert.equal(PersonalLists.normalize('a@b@'), null);
  assert.equal(PersonalLists.normalize(''), null);
  assert.equal(PersonalLists.normalize('evil@x.test\r\nBcc: y'), null);
});

test('a block wins over an allowance on the same recipient\'s lists', withLists((lists) => {
  lists.set('bob@example.test', 'allow', 'alice@partner.test', 'bob', 1);
  lists.set('bob@example.test', 'deny', '@partner.test', 'bob', 1);
  assert.deepEqual(lists.lookup('bob@example.test', 'alice@partner.test', []), { list: 'deny', entry: '@partner.test' });
}));

test('an allowance covers the envelope sender only: a From address on the allow list does not allow the message', withLists((lists) => {
  lists.set('bob@example.test', 'allow', 'boss@partner.test', 'bob', 1);
  assert.equal(lists.lookup('bob@example.test', 'spammer@elsewhere.test', ['boss@partner.test']), null);
  assert.deepEqual(lists.lookup('bob@example.test', 'boss@partner.test', []), { list: 'allow', entry: 'boss@partner.test' });
}));

test('a From address on the block list blocks the message, whatever the envelope sender', withLists((lists) => {
  lists.set('bob@example.test', 'deny', 'pest@annoying.test', 'bob', 1);
  assert.deepEqual(lists.lookup('bob@example.test', 'bounce@mailer.test', ['pest@annoying.test']), { list: 'deny', entry: 'pest@annoying.test' });
}));

test('a domain entry covers the domain and its subdomains, not a look-alike domain', withLists((lists) => {
  lists.set('bob@example.test', 'deny', '@partner.test', 'bob', 1);
  assert.equal(lists.lookup('bob@example.test', 'x@partner.test', [])?.list, 'deny');
  assert.equal(lists.lookup('bob@example.test', 'x@mail.eu.partner.test', [])?.list, 'deny');
  assert.equal(lists.lookup('bob@example.test', 'x@notpartner.test', []), null);
}));

test('each recipient\'s lists are their own: one user\'s entry says nothing for another; the owner is matched case-blind', withLists((lists) => {
  lists.set('Bob@Example.test', 'allow', 'alice@partner.test', 'bob', 1);
  assert.deepEqual(lists.lookup('bob@example.test', 'alice@partner.test', []), { list: 'allow', entry: 'alice@partner.test' });
  assert.equal(lists.lookup('carol@example.test', 'alice@partner.test', []), null);
  assert.equal(lists.of('carol@example.test').length, 0);
  assert.equal(lists.of('bob@example.test').length, 1);
  assert.equal(lists.remove('carol@example.test', 'alice@partner.test'), false);
  assert.equal(lists.remove('BOB@example.test', 'alice@partner.test'), true);
  assert.equal(lists.lookup('bob@example.test', 'alice@partner.test', []), null);
}));

test(`at ${MAX_PERSONAL_ENTRIES} entries an existing entry can still be changed, and a new one is refused`, withLists((lists) => {
  fill(lists, 'bob@example.test', MAX_PERSONAL_ENTRIES - 1);
  assert.equal(lists.set('bob@example.test', 'deny', 'last@junk.test', 'bob', 2), true, 'the 500th entry fits');
  assert.equal(lists.of('bob@example.test').length, MAX_PERSONAL_ENTRIES);
  assert.equal(lists.set('bob@example.test', 'allow', 'filler7@junk.test', 'bob', 3), true, 'an update of an entry already there');
  assert.equal(lists.lookup('bob@example.test', 'filler7@junk.test', [])?.list, 'allow');
  assert.equal(lists.set('bob@example.test', 'deny', 'one-more@junk.test', 'bob', 4), false, 'the 501st entry is refused');
  assert.equal(lists.of('bob@example.test').length, MAX_PERSONAL_ENTRIES);
  assert.equal(lists.lookup('bob@example.test', 'one-more@junk.test', []), null);
  // another recipient has its own 500
  assert.equal(lists.set('carol@example.test', 'deny', 'one-more@junk.test', 'carol', 4), true);
}));

test('20 new entries added at once to a list of 495 end with exactly 500, the same as one after another', withLists(async (lists) => {
  fill(lists, 'bob@example.test', MAX_PERSONAL_ENTRIES - 5);
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => lists.set('bob@example.test', 'allow', `burst${i}@friends.test`, 'bob', 5)));
  assert.equal(answers.filter(Boolean).length, 5);
  assert.equal(lists.of('bob@example.test').length, MAX_PERSONAL_ENTRIES);
}));

test('two connections to the same database (the CLI beside the relay) cannot both take the last place', withLists((lists, db) => {
  fill(lists, 'bob@example.test', MAX_PERSONAL_ENTRIES - 1);
  const other = openDatabase(db.name.replace(/\/moat\.db$/, ''));
  try {
    const second = new PersonalLists(other);
    const answers = [lists.set('bob@example.test', 'deny', 'a@x.test', 'bob', 6), second.set('bob@example.test', 'deny', 'b@x.test', 'bob', 6)];
    assert.deepEqual(answers, [true, false]);
    assert.equal(second.of('bob@example.test').length, MAX_PERSONAL_ENTRIES);
  } finally {
    other.close();
  }
}));
