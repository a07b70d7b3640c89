import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeUserName, outsideDomainNotes, parseSenderRule, senderAllowed } from '../../../src-relay/auth/names.ts';

test('user names are lower-cased; an address is a fine name; spaces, control characters and IP addresses are not', () => {
  assert.equal(normalizeUserName('Alice'), 'alice');
  assert.equal(normalizeUserName('Alice.Smith@Example.COM'), 'alice.smith@example.com');
  for (const bad of ['', ' ', 'a b', 'a\r\nb', '-alice', '10.0.0.1', '::1', 'x'.repeat(255), 'ölaf']) assert.equal(normalizeUserName(bad), null, bad);
});

test('a sender rule is an address or @domain, stored in lower case (IDN domains as punycode)', () => {
  assert.deepEqual(parseSenderRule('Alice@Example.COM'), { ok: true, rule: 'alice@example.com' });
  assert.deepEqual(parseSenderRule('@Example.com'), { ok: true, rule: '@example.com' });
  assert.deepEqual(parseSenderRule('@bücher.example'), { ok: true, rule: '@xn--bcher-kva.example' });
  for (const bad of ['', '@', 'example.com', '@not a domain', 'a@[10.0.0.1]', '"quoted"@example.com']) assert.equal(parseSenderRule(bad).ok, false, bad);
});

test('an address is allowed when a rule names it or its domain, whatever the case; subdomains are not included', () => {
  const rules = ['alice@example.com', '@sales.example.com'];
  assert.ok(senderAllowed(rules, 'ALICE@example.COM'));
  assert.ok(senderAllowed(rules, 'anyone@Sales.Example.com'));
  assert.ok(!senderAllowed(rules, 'bob@example.com'));
  assert.ok(!senderAllowed(rules, 'x@eu.sales.example.com'));
  assert.ok(!senderAllowed(rules, ''));
  assert.ok(!senderAllowed(rules, 'alice@example.com.evil.test'));
  assert.ok(!senderAllowed([], 'alice@example.com'));
});

test("sender domains that are not the relay's get a note (a near one named as the likely meaning); the relay's own and their subdomains none", () => {
  const ours = ['office.test', 'Branch.Example'];
  assert.deepEqual(outsideDomainNotes(['ann@office.test', '@sales.office.test', '@branch.example'], ours), []);
  assert.deepEqual(outsideDomainNotes(['ann@ofice.test', '@ofice.test', 'bob@offcie.test', 'eve@partner.test'], ours), [
    "ofice.test is not one of the relay's domains (did you mean office.test?): allowed, but check the spelling",
    "offcie.test is not one of the relay's domains (did you mean office.test?): allowed, but check the spelling",
    "partner.test is not one of the relay's domains (office.test, branch.example): allowed, but check the spelling",
  ]);
  // one step past a typo's reach: three edits away is another domain, not a slip
  assert.match(outsideDomainNotes(['x@ofxyze.test'], ours)[0]!, /\(office\.test, branch\.example\)/);
  assert.deepEqual(outsideDomainNotes(['ann@ofice.test'], []), [], 'no domains set yet: nothing to compare with');
});
