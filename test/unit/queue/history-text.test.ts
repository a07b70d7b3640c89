import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actorText, arrivedAt, decisionDetail, decisionText, historyText, messageHistory } from '../../../src-relay/queue/history-text.ts';
import type { Decision } from '../../../src-relay/filters/policy.ts';

const row = (action: string, detail: string | null, recipient: string | null = null) => ({ action: action as never, detail, recipient });

test('A delivery to the internal server names it and the host it went to; one to the internet names the host.', () => {
  assert.equal(historyText(row('DELIVERED', 'to 127.0.0.1', 'bob@example.test'), { route: 'internal' }), 'Delivered to the internal server (127.0.0.1)');
  assert.equal(historyText(row('DELIVERED', 'to mx.remote.test', 'ann@remote.test'), { route: 'outbound' }), 'Delivered to mx.remote.test');
});

test('A deferral gives the reply and when the next try is, as a duration.', () => {
  assert.equal(
    historyText(row('DEFERRED', 'RCPT TO: 451 4.3.0 mailbox busy (retry in 300 s)', 'bob@example.test')),
    'Deferred: RCPT TO: 451 4.3.0 mailbox busy — next try in 5 min',
  );
  assert.equal(historyText(row('DEFERRED', 'connect ECONNREFUSED 127.0.0.1:2525 (retry in 45 s)')), 'Deferred: connect ECONNREFUSED 127.0.0.1:2525 — next try in 45 s');
});

test('A deferral written in another shape is still shown, with its words as they are.', () => {
  assert.equal(historyText(row('DEFERRED', 'something odd')), 'Deferred: something odd');
});

test('A notice not sent says to whom, which kind, and why, in words; rows from before keep their wording.', () => {
  assert.equal(
    historyText(row('DSN_NOT_SENT', 'no bounce notice to victim@outside.test: neither SPF nor a DKIM signature vouched for outside.test, so victim@outside.test may not have sent it')),
    'The sender was not told (no bounce notice to victim@outside.test): neither SPF nor a DKIM signature vouched for outside.test, so victim@outside.test may not have sent it; a notice could go to someone who never sent the message',
  );
  assert.match(historyText(row('DSN_NOT_SENT', 'no delay notice to a@b.test: sender authentication is off, so nothing showed that a@b.test sent it')), /^The sender was not told \(no delay notice to a@b\.test\): sender authentication is off/);
  assert.equal(
    historyText(row('DSN_NOT_SENT', 'SPF failed for victim@forged.test when the message came in')),
    'No bounce notice sent: SPF failed for victim@forged.test when the message came in, so it would have gone to someone who never sent the message',
  );
});

test('No reply after the message data says the server may have the message, that a retry may duplicate it, and how near the hold it is.', () => {
  assert.equal(
    historyText(row('NO_REPLY', 'mx.remote.test; 2 of 3')),
    'No reply after the message data: mx.remote.test ended the connection before answering, so it may have delivered the message; the next try may deliver it twice (2 of 3 before Moat holds the message)',
  );
  assert.match(historyText(row('NO_REPLY', null)), /^No reply after the message data: the server ended the connection/);
  assert.equal(
    historyText(row('HELD', 'held by Moat: the internal server ended the connection after the message data without a reply 3 times')),
    'Held by Moat: the internal server ended the connection after the message data without a reply 3 times',
  );
});

test('A bounce and a give-up after the queue lifetime say why.', () => {
  assert.equal(historyText(row('BOUNCED', 'RCPT TO: 550 5.1.1 no such user')), 'Bounced: RCPT TO: 550 5.1.1 no such user');
  assert.equal(historyText(row('BOUNCED', 'returned to the sender by the administrator')), 'Bounced: returned to the sender by the administrator');
  assert.equal(
    historyText(row('EXPIRED', 'connect ETIMEDOUT (gave up: in the queue longer than 72 h)', 'bob@example.test')),
    'Gave up after 72 h in the queue; last reply: connect ETIMEDOUT',
  );
});

test('Expiry from quarantine reads as a removal after the retention time.', () => {
  assert.equal(historyText(row('EXPIRED', 'quarantine kept 30 days; removed')), 'Removed from quarantine after 30 days');
});

test('Quarantine gives the score and, with the decision at hand, its cause.', () => {
  const detail = 'junk score 12.3 (quarantine at 10); score 12.3';
  assert.equal(historyText(row('QUARANTINED', detail), { decision: { cause: 'junk' } }), 'Kept in quarantine: score 12.3 (junk)');
  assert.equal(historyText(row('QUARANTINED', detail)), 'Kept in quarantine: score 12.3 — junk score 12.3 (quarantine at 10)');
});

test('Refusals say at which point the mail was refused, with the reply sent.', () => {
  assert.equal(historyText(row('REFUSED', '550 5.7.1 relaying denied', 'x@elsewhere.test')), 'Refused: 550 5.7.1 relaying denied');
  assert.equal(historyText(row('REJECTED', '550 5.7.1 junk score 20 (reject at 15); score 20')), 'Refused after the content check: 550 5.7.1 junk score 20 (reject at 15)');
  assert.equal(historyText(row('REJECTED', '550 5.7.1 clamav: Eicar-Signature found; score 0')), 'Refused after the content check: 550 5.7.1 clamav: Eicar-Signature found; score 0');
  assert.equal(
    historyText(row('TEMPFAILED', '451 4.7.1 clamav: unavailable; score 0')),
    'Refused for now after the content check (the sender may try again): 451 4.7.1 clamav: unavailable; score 0',
  );
});

test("The administrator's actions, already in words, are shown as written with a capital letter.", () => {
  assert.equal(historyText(row('HELD', 'held by the administrator')), 'Held by the administrator');
  assert.equal(historyText(row('RELEASED', 'released from quarantine by admin@127.0.0.1; a@b.test added to the allow list')), 'Released from quarantine by admin@127.0.0.1; a@b.test added to the allow list');
  assert.equal(historyText(row('RETRY', 'retry requested by the administrator')), 'Retry requested by the administrator');
  assert.equal(historyText(row('DELETED', null)), 'Deleted');
  assert.equal(historyText(row('QUEUE_HELD', null)), 'Queue held');
});

test('An admin action says who did it in plain words: the admin at an address, the desktop app, or an OS account at the command line.', () => {
  assert.equal(historyText(row('HELD', 'held by admin@127.0.0.1')), 'Held by admin@127.0.0.1');
  assert.equal(historyText(row('RELEASED', 'released by cli:alice')), 'Released by OS user alice on the command line');
  assert.equal(historyText(row('RETRY', 'retry requested by desktop for the whole queue')), 'Retry requested by the desktop app for the whole queue');
  assert.equal(historyText(row('DELETED', 'deleted by cli')), 'Deleted by the command line');
  assert.equal(historyText(row('QUEUE_RELEASED', 'whole queue released by cli:root (2 held messages too)')), 'Whole queue released by OS user root on the command line (2 held messages too)');
  assert.equal(historyText(row('QUEUE_RETRY', 'every waiting recipient made due by admin@::1 (3 recipients)')), 'Every waiting recipient made due by admin@::1 (3 recipients)');
  assert.equal(historyText(row('RELEASED', 'released from quarantine by cli:bob; a@b.test added to the allow list')), 'Released from quarantine by OS user bob on the command line; a@b.test added to the allow list');
  assert.equal(historyText(row('BOUNCED', 'returned to the sender by cli:alice', 'x@example.test')), 'Bounced: returned to the sender by OS user alice on the command line');
});

test("A server's bounce reply is kept as it came, even when it has the word \"by\" in it.", () => {
  assert.equal(historyText(row('BOUNCED', 'RCPT TO: 550 5.7.1 rejected by cli policy')), 'Bounced: RCPT TO: 550 5.7.1 rejected by cli policy');
});

test('Actors the admin API and the CLI write read as people and programs; anything else is shown as it is.', () => {
  assert.equal(actorText('admin@10.0.0.5'), 'admin@10.0.0.5');
  assert.equal(actorText('desktop'), 'the desktop app');
  assert.equal(actorText('cli:alice'), 'OS user alice on the command line');
  assert.equal(actorText('cli'), 'the command line');
  assert.equal(actorText('the administrator'), 'the administrator');
});

test('Submission, signing, repairs, delay warnings and damage read as sentences.', () => {
  assert.equal(historyText(row('SUBMITTED', 'authenticated as ann on 587 (TLS)')), 'Submitted by an office client, authenticated as ann on 587 (TLS)');
  assert.equal(historyText(row('SIGNED', 'DKIM signature for example.test')), 'Signed with DKIM for example.test');
  assert.equal(historyText(row('NORMALIZED', '3 bare CR/LF rewritten to CRLF')), 'Repaired on arrival: 3 bare CR/LF rewritten to CRLF');
  assert.equal(historyText(row('DELAY_WARNED', 'sender told the message is delayed (1 recipients)')), 'The sender was told the message is delayed (1 recipient still waiting)');
  assert.equal(historyText(row('DAMAGED', 'spool file is missing')), 'Set aside, not delivered: spool file is missing');
});

test('An action this version does not know is shown with its own words rather than dropped.', () => {
  assert.equal(historyText(row('FUTURE_THING', 'did something')), 'FUTURE_THING: did something');
  assert.equal(historyText(row('FUTURE_THING', null)), 'FUTURE_THING');
});

const decision: Decision = {
  action: 'quarantine',
  score: 11,
  cause: 'junk',
  reason: 'junk score 11 (quarantine at 10)',
  senderList: null,
  results: [
    { filter: 'spam-rules', role: 'junk', verdict: 'accept', score: 11, reasons: ['MISSING_DATE (11)'], ms: 2 },
    { filter: 'clamav', role: 'virus', verdict: 'tempfail', score: 0, reasons: [], ms: 3000, failed: 'timed out' },
  ],
};

test("The filters' decision reads as one line, and each filter's answer as a line of its detail.", () => {
  assert.equal(decisionText(decision), 'Filters: kept in quarantine (junk), score 11 — junk score 11 (quarantine at 10)');
  assert.equal(decisionText({ action: 'accept', score: 0, cause: null, reason: 'no filter objected' }), 'Filters: passed, score 0 — no filter objected');
  // a scoring filter's "accept" beside a quarantine read as "every filter accepted it": it only adds points
  assert.equal(decisionDetail(decision), 'spam-rules: points only +11 — MISSING_DATE (11)\nclamav: refuse for now (4xx) (failed: timed out)');
  assert.equal(decisionDetail({ results: [{ filter: 'attachments', role: 'policy', verdict: 'accept', score: 0, reasons: [], ms: 1 }] }), 'attachments: no objection');
  assert.equal(decisionDetail({ results: [{ filter: 'clamav', role: 'virus', verdict: 'reject', score: 0, reasons: ['virus found: Eicar'], ms: 1 }] }), 'clamav: refuse (5xx) — virus found: Eicar');
  assert.equal(decisionDetail({ results: [] }), null);
});

test("A message's history starts with its receipt and the decision, then every row in order, with the recipient's route.", () => {
  const events = messageHistory(
    { received_at: 1000, client_ip: '203.0.113.5', helo: 'mail.sender.test', size: 1234, kind: 'mail' },
    [{ address: 'bob@example.test', route: 'internal' }],
    [
      { at: 1000, action: 'QUARANTINED', detail: 'junk score 11 (quarantine at 10); score 11', recipient: null },
      { at: 5000, action: 'RELEASED', detail: 'released from quarantine by admin@127.0.0.1', recipient: null },
      { at: 6000, action: 'DELIVERED', detail: 'to 127.0.0.1', recipient: 'bob@example.test' },
    ],
    decision,
  );
  assert.deepEqual(
    events.map((event) => [event.at, event.action, event.text]),
    [
      [1000, 'RECEIVED', 'Received from 203.0.113.5 (HELO mail.sender.test), 1234 bytes'],
      [1000, 'FILTERED', 'Filters: kept in quarantine (junk), score 11 — junk score 11 (quarantine at 10)'],
      [1000, 'QUARANTINED', 'Kept in quarantine: score 11 (junk)'],
      [5000, 'RELEASED', 'Released from quarantine by admin@127.0.0.1'],
      [6000, 'DELIVERED', 'Delivered to the internal server (127.0.0.1)'],
    ],
  );
  assert.equal(events[4]!.recipient, 'bob@example.test');
  // "to 127.0.0.1" is in the words already ("the internal server (127.0.0.1)"): not said again beside them
  assert.equal(events[4]!.detail, null);
  // a row the words already say whole is not said twice (once capitalised) beside them
  assert.equal(events[3]!.detail, null);
  assert.equal(events[2]!.detail, 'junk score 11 (quarantine at 10); score 11');
});

test("A deferral, a server's bounce and an expiry carry the next hop's reply as it came, for the screens to put in words; other rows carry none.", () => {
  const events = messageHistory(
    { received_at: 1000, client_ip: '203.0.113.5', helo: null, size: 10, kind: 'mail' },
    [{ address: 'bob@example.test', route: 'internal' }],
    [
      { at: 2000, action: 'DEFERRED', detail: 'connect ECONNREFUSED 127.0.0.1:2599 (retry in 300 s)', recipient: 'bob@example.test' },
      { at: 3000, action: 'DEFERRED', detail: 'an older row in another shape', recipient: 'bob@example.test' },
      { at: 4000, action: 'EXPIRED', detail: '452 4.3.1 Insufficient system resources (gave up: in the queue longer than 120 h)', recipient: 'bob@example.test' },
      { at: 4000, action: 'EXPIRED', detail: 'quarantine kept 30 days', recipient: null },
      { at: 5000, action: 'BOUNCED', detail: '550 5.1.1 User unknown', recipient: 'bob@example.test' },
      { at: 6000, action: 'BOUNCED', detail: 'returned to the sender by admin@127.0.0.1', recipient: 'bob@example.test' },
      { at: 7000, action: 'RETRY', detail: 'retry requested by admin@127.0.0.1', recipient: null },
    ],
    null,
  );
  assert.deepEqual(
    events.map((event) => event.reply),
    [null, 'connect ECONNREFUSED 127.0.0.1:2599', 'an older row in another shape', '452 4.3.1 Insufficient system resources', null, '550 5.1.1 User unknown', null, null],
  );
});

test('A bounce Moat wrote itself says so instead of naming a client.', () => {
  const [received] = messageHistory({ received_at: 1, client_ip: null, helo: null, size: 900, kind: 'dsn' }, [], [], null);
  assert.equal(received!.text, 'Written by Moat: a delivery status notification, 900 bytes');
});

test('A message released from quarantine arrived when its history began, not at the release.', () => {
  assert.equal(arrivedAt({ received_at: 9000 }, [{ at: 1000 }, { at: 9000 }]), 1000);
  assert.equal(arrivedAt({ received_at: 9000 }, []), 9000);
});

test("The user page's rows read as written, the recipient's address first and not capitalised; a denial names who denied it.", () => {
  assert.equal(historyText(row('RELEASE_REQUESTED', 'anna@example.test asked for release (user page)', 'anna@example.test')), 'anna@example.test asked for release (user page)');
  assert.equal(historyText(row('SENDER_BLOCKED', 'anna@example.test blocked news@shop.test (user page)')), 'anna@example.test blocked news@shop.test (user page)');
  assert.equal(
    historyText(row('RELEASE_DENIED', 'release to anna@example.test denied by desktop; the message stays in quarantine')),
    `Release to anna@example.test denied by ${actorText('desktop')}; the message stays in quarantine`,
  );
  assert.equal(historyText(row('RELEASED', 'released to anna@example.test by anna@example.test (user page)')), 'Released to anna@example.test by anna@example.test (user page)');
});
