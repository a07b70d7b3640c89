import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dsnDecision, inboundSenderCheck, parseSenderCheck, serializeSenderCheck, submittedSenderCheck } from '../../../src-relay/queue/dsn-policy.ts';
import type { FilterOutcome } from '../../../src-relay/filters/policy.ts';

function senderAuth(passed: FilterOutcome['passed'], reasons: string[] = []): { results: FilterOutcome[] } {
  return { results: [{ filter: 'sender-auth', role: 'policy', verdict: 'accept', score: 0, reasons, ms: 1, ...(passed ? { passed } : {}) }] };
}

test('mail from the internet: only an SPF pass, a verified DKIM signature or a DMARC pass for the sender domain (or a parent) vouches for its sender', () => {
  const none = { dmarc: [], dkim: [], spf: [] };
  const cases: [string, ReturnType<typeof senderAuth> | null, boolean][] = [
    ['victim@outside.test', senderAuth(none), false],
    ['victim@outside.test', senderAuth({ ...none, spf: ['outside.test'] }), true],
    ['victim@outside.test', senderAuth({ ...none, spf: ['attacker.test'] }), false],
    ['victim@outside.test', senderAuth({ ...none, dkim: ['attacker.test'] }), false],
    ['victim@outside.test', senderAuth({ ...none, dkim: ['outside.test'] }), true],
    ['bounce@mail.outside.test', senderAuth({ ...none, dkim: ['outside.test'] }), true],
    ['victim@outside.test', senderAuth({ ...none, dkim: ['mail.outside.test'] }), false],
    ['victim@notoutside.test', senderAuth({ ...none, dkim: ['outside.test'] }), false],
    ['victim@outside.test', senderAuth({ ...none, dmarc: ['outside.test'] }), true],
    ['Victim@OUTSIDE.test', senderAuth({ ...none, spf: ['outside.test'] }), true],
    // the filters off, or sender authentication failed: nothing vouched
    ['victim@outside.test', null, false],
    ['victim@outside.test', { results: [] }, false],
    ['victim@outside.test', senderAuth(undefined), false],
  ];
  for (const [sender, decision, notify] of cases) {
    assert.equal(inboundSenderCheck(sender, decision).notify, notify, `${sender} ${JSON.stringify(decision?.results[0]?.passed ?? decision)}`);
  }
  assert.equal(inboundSenderCheck('victim@outside.test', senderAuth(none)).why, 'neither SPF nor a DKIM signature vouched for outside.test, so victim@outside.test may not have sent it');
  assert.equal(inboundSenderCheck('victim@outside.test', null).why, 'sender authentication is off, so nothing showed that victim@outside.test sent it');
});

test('the decision is kept with the message; a message from before it was kept is told only when it was submitted', () => {
  const kept = serializeSenderCheck(submittedSenderCheck('logged in as alice'));
  assert.deepEqual(dsnDecision({ sender_check: kept, decision: null }, () => assert.fail('not asked')), { notify: true, why: 'submitted by the office (logged in as alice)' });
  assert.equal(dsnDecision({ sender_check: null, decision: null }, () => true).notify, true);
  assert.deepEqual(dsnDecision({ sender_check: null, decision: null }, () => false), { notify: false, why: 'it came in from the internet before Moat kept its sender checks' });
  const spfFail = JSON.stringify(senderAuth({ dmarc: [], dkim: [], spf: [] }, ['SPF_FAIL victim@forged.test']));
  assert.equal(dsnDecision({ sender_check: null, decision: spfFail }, () => false).why, 'SPF failed for the sender when the message came in');
  assert.equal(parseSenderCheck('{"notify":"yes"}'), null);
  assert.equal(parseSenderCheck('not json'), null);
});
