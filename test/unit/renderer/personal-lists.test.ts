import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupByRecipient, listWord, personalFormProblems } from '../../../src-renderer/lib/personal-lists.ts';

const row = (recipient: string, list: 'allow' | 'deny', entry: string) => ({ recipient, list, entry, addedAt: 1, addedBy: null });

test('entries are grouped per user, in the order given, allowances apart from blocks', () => {
  const groups = groupByRecipient([row('bob@example.test', 'allow', 'a@x.test'), row('bob@example.test', 'deny', '@y.test'), row('carol@example.test', 'deny', 'z@z.test')]);
  assert.deepEqual(groups.map((group) => [group.recipient, group.allow.map((e) => e.entry), group.block.map((e) => e.entry)]), [
    ['bob@example.test', ['a@x.test'], ['@y.test']],
    ['carol@example.test', [], ['z@z.test']],
  ]);
});

test('the add form wants a whole user address and an address or domain to list', () => {
  assert.deepEqual(personalFormProblems('bob@example.test', '@partner.test'), {});
  assert.deepEqual(personalFormProblems('bob@example.test', 'partner.test'), {});
  assert.ok(personalFormProblems('bob', 'a@b.test').recipient);
  assert.ok(personalFormProblems('bob@example.test', 'not an address').entry);
});

test('the engine\'s deny list is called blocked on screen', () => {
  assert.equal(listWord('deny'), 'blocked');
  assert.equal(listWord('allow'), 'allowed');
});
