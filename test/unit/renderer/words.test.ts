import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastReplyText, probeStatusWords, recipientWords } from '../../../src-renderer/lib/words.ts';

test("a recipient's last reply says its status once: not \"2.0.0 250 2.0.0 Ok\"", () => {
  assert.equal(lastReplyText('2.0.0', '250 2.0.0 Ok: queued as 4F2A'), '250 2.0.0 Ok: queued as 4F2A');
  assert.equal(lastReplyText('2.0.0', '250 Ok'), '2.0.0 250 Ok', 'a reply without one gets it in front');
  assert.equal(lastReplyText('4.4.1', 'CONN: connect ECONNREFUSED 127.0.0.1:25'), '4.4.1 CONN: connect ECONNREFUSED 127.0.0.1:25');
  assert.equal(lastReplyText('5.1.1', '550 5.1.10 no such user'), '5.1.1 550 5.1.10 no such user', 'a longer code is another code');
  assert.equal(lastReplyText(null, '250 Ok'), '250 Ok');
  assert.equal(lastReplyText('4.4.1', null), '4.4.1');
});

test('a probe that ran and could not tell is not "Not checked", as one that never ran is', () => {
  assert.equal(probeStatusWords({ status: 'unknown', checkedAt: null }).label, 'Not checked');
  assert.equal(probeStatusWords({ status: 'unknown', checkedAt: 1_000 }).label, 'Unknown');
  assert.equal(probeStatusWords({ status: 'failing', checkedAt: 1_000 }).label, 'Failing');
});

test('a connection test says whether it asked about a mailbox, and that no answer is not a "no"', () => {
  const step = (name: 'connect' | 'greeting' | 'ehlo' | 'mail' | 'rcpt', ok: boolean) => ({ step: name, ok, detail: '' });
  assert.equal(recipientWords({ recipientAccepted: true, steps: [step('connect', true), step('rcpt', true)] }), 'yes');
  assert.equal(recipientWords({ recipientAccepted: false, steps: [step('connect', true), step('rcpt', false)] }), 'no');
  // a 451 to the probe, or no answer at all
  assert.equal(recipientWords({ recipientAccepted: null, steps: [step('connect', true), step('rcpt', false)] }), 'no clear answer (see the steps above)');
  assert.equal(recipientWords({ recipientAccepted: null, steps: [step('connect', true)] }), 'not asked: this test names no mailbox');
  assert.equal(recipientWords({ recipientAccepted: null, steps: [step('connect', false)] }), 'not asked: the test stopped before it (see the steps above)');
  assert.equal(recipientWords({ recipientAccepted: null, steps: [step('connect', true), step('greeting', true), step('ehlo', true), step('mail', false)] }), 'not asked: the test stopped before it (see the steps above)');
});
