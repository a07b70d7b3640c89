import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressPieces, allowReport, destinationReport, lastReplyText, probeStatusWords, recipientWords, retryAllReport, retryAllSettled } from '../../../src-renderer/lib/words.ts';

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

test('Retry all says what came of it: due now, then each outcome as it comes, and why the ones still waiting wait', () => {
  const start = { due: 3, paused: false, delivered: 0, deferred: 0, bounced: 0, lastReply: null };
  assert.equal(retryAllReport(start), '3 recipients were made due now: trying…');
  const partway = { ...start, delivered: 1, deferred: 1, lastReply: 'CONN: connect ECONNREFUSED 127.0.0.1:2525' };
  assert.equal(retryAllSettled(partway), false);
  assert.equal(retryAllReport(partway), '3 recipients were made due now. So far: 1 delivered, 1 still waiting. The last try: The server refused the connection: nothing is listening at that address and port.');
  const done = { ...partway, bounced: 1 };
  assert.equal(retryAllSettled(done), true);
  assert.match(retryAllReport(done), /^3 recipients were made due now\. Tried: 1 delivered, 1 still waiting, 1 returned to the sender\. /);
  assert.equal(retryAllReport({ ...start, due: 1, delivered: 1 }), '1 recipient was made due now. Tried: 1 delivered.');
  // paused: nothing is tried, and the line says so instead of "due for delivery now"
  assert.equal(retryAllReport({ ...start, paused: true }), '3 recipients were made due now: they go as soon as you resume delivery (it is paused).');
  assert.match(retryAllReport({ ...start, due: 0 }), /^No recipient was waiting for a later try/);
  // paused with mail due already (it came in during the pause): the pause is why it waits, not "being tried already"
  assert.equal(retryAllReport({ ...start, due: 0, paused: true }), 'Delivery is paused: the waiting mail goes as soon as you resume it. Nothing was waiting for a later try.');
});

test('an action on a destination while delivery is paused says the mail goes at the resume, not now', () => {
  assert.equal(destinationReport('retry', 'Internal server', 56, false), 'Scheduled for delivery now: 56 messages to Internal server.');
  assert.equal(destinationReport('retry', 'Internal server', 56, true), 'Due: 56 messages to Internal server, sent as soon as you resume delivery (it is paused).');
  assert.equal(destinationReport('release', 'partner.test', 1, true), 'Released: 1 message to partner.test, sent as soon as you resume delivery (it is paused).');
  assert.equal(destinationReport('hold', 'partner.test', 2, true), 'Held: 2 messages to partner.test.');
  assert.match(destinationReport('retry', 'partner.test', 0, false), /^partner\.test: nothing waits for a later try/);
});

test('an address wraps after its "@" and before its dots, not inside a word', () => {
  assert.deepEqual(addressPieces('someone@example.test'), ['someone@', 'example', '.test']);
  assert.deepEqual(addressPieces('first.last@mail.example.test and 2 more'), ['first', '.last@', 'mail', '.example', '.test and 2 more']);
  assert.deepEqual(addressPieces('Mail system (no sender address)'), ['Mail system (no sender address)']);
  assert.deepEqual(addressPieces('.@.'), ['.@', '.'], 'pieces are never empty');
  assert.deepEqual(addressPieces(''), []);
});

test('"Release and allow" says which senders went on the allow list, and which of our own domains did not', () => {
  assert.equal(allowReport(['rita@sender.test'], []), 'On the allow list now: rita@sender.test.');
  assert.equal(allowReport(['a@x.test', 'b@x.test', 'c@x.test'], []), 'On the allow list now: a@x.test, b@x.test and 1 more.');
  // two messages from the same sender of ours: nothing allowed, and it says so (not "the other senders")
  assert.equal(allowReport([], ['boss@example.test']), 'Not on the allow list: boss@example.test (mail that says it is from your own domains is checked every time, because forgers pose as it).');
  assert.equal(
    allowReport(['rita@sender.test'], ['boss@example.test']),
    'On the allow list now: rita@sender.test. Not on the allow list: boss@example.test (mail that says it is from your own domains is checked every time, because forgers pose as it).',
  );
  // a message with no sender (a bounce) puts nothing on the list, and nothing is claimed
  assert.equal(allowReport([], []), '');
});
