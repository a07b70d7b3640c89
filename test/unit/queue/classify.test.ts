import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyResponse, REPLY_RULES, ERROR_RULES, NO_REPLY_AFTER_DATA } from '../../../src-relay/queue/classify.ts';

const reply = (response: string) => classifyResponse({ response });

// Replies that should match each rule, keyed by the rule's own sentence. The last test checks
// that every rule in the tables appears here, so a new rule cannot land without an example.
const examples = new Map<string, () => void>();
function ruleTest(rule: string, body: () => void): void {
  examples.set(rule, body);
  test(rule[0]!.toUpperCase() + rule.slice(1) + '.', body);
}

ruleTest('a reply that says greylisting is deferred, even when it wrongly comes with a 5xx code', () => {
  assert.deepEqual(reply('450 4.2.0 <bob@example.org>: Recipient address rejected: Greylisted'), {
    action: 'defer',
    category: 'greylist',
    status: '4.2.0',
  });
  assert.deepEqual(reply('550 5.7.1 Grey-listed, please come back in 5 minutes'), {
    action: 'defer',
    category: 'greylist',
    status: '4.7.1',
  });
});

ruleTest('a 4xx reply that asks to try again later is greylisting', () => {
  assert.deepEqual(reply('451 Please try again later'), { action: 'defer', category: 'greylist', status: '4.3.0' });
});

test('A 5xx reply that only says try again later is still a bounce.', () => {
  assert.equal(reply('554 5.7.1 Rejected, try again later').action, 'bounce');
});

ruleTest('503 bad sequence of commands is deferred, because a new session can succeed', () => {
  assert.deepEqual(reply('503 5.5.1 Error: need MAIL command'), { action: 'defer', category: 'other', status: '4.5.1' });
  assert.deepEqual(reply('503 Bad sequence of commands'), { action: 'defer', category: 'other', status: '4.5.1' });
});

ruleTest('a reply about STARTTLS or encryption is a TLS failure', () => {
  assert.deepEqual(reply('530 5.7.0 Must issue a STARTTLS command first'), {
    action: 'bounce',
    category: 'tls',
    status: '5.7.0',
  });
  assert.deepEqual(reply('454 TLS not available due to temporary reason'), {
    action: 'defer',
    category: 'tls',
    status: '4.7.10',
  });
});

ruleTest('a reply about a full mailbox or quota is mailbox-full', () => {
  assert.deepEqual(reply('552-5.2.2 The email account that you tried to reach is over quota'), {
    action: 'bounce',
    category: 'mailbox-full',
    status: '5.2.2',
  });
  assert.deepEqual(reply('452 4.2.2 Mailbox full'), { action: 'defer', category: 'mailbox-full', status: '4.2.2' });
  assert.deepEqual(reply('550 Mailbox quota exceeded'), { action: 'bounce', category: 'mailbox-full', status: '5.2.2' });
});

ruleTest('a reply about message size is a size failure', () => {
  assert.deepEqual(reply('552 5.3.4 Message size exceeds fixed limit'), {
    action: 'bounce',
    category: 'size',
    status: '5.3.4',
  });
  assert.deepEqual(reply('552 Message size exceeds fixed maximum message size'), {
    action: 'bounce',
    category: 'size',
    status: '5.3.4',
  });
});

ruleTest('a reply that says the user does not exist is mailbox-unknown', () => {
  assert.deepEqual(reply('550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown'), {
    action: 'bounce',
    category: 'mailbox-unknown',
    status: '5.1.1',
  });
  assert.deepEqual(reply('550 No such user here'), { action: 'bounce', category: 'mailbox-unknown', status: '5.1.1' });
});

ruleTest('a reply about spam, blocklists or reputation is spam', () => {
  assert.deepEqual(reply('554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org'), {
    action: 'bounce',
    category: 'spam',
    status: '5.7.1',
  });
  assert.deepEqual(reply('550 Message rejected as junk'), { action: 'bounce', category: 'spam', status: '5.7.1' });
});

ruleTest('any other security or policy reply is policy', () => {
  assert.deepEqual(reply('554 5.7.1 <bob@example.org>: Relay access denied'), {
    action: 'bounce',
    category: 'policy',
    status: '5.7.1',
  });
  assert.deepEqual(reply('550-5.7.26 Unauthenticated email is not accepted from this domain'), {
    action: 'bounce',
    category: 'policy',
    status: '5.7.26',
  });
  assert.deepEqual(reply('550 SPF check failed'), { action: 'bounce', category: 'policy', status: '5.7.1' });
});

ruleTest('a routing or name-server status is dns', () => {
  assert.deepEqual(reply('550 5.1.2 Host unknown'), { action: 'bounce', category: 'dns', status: '5.1.2' });
  assert.deepEqual(reply('556 5.1.10 Recipient address has null MX'), {
    action: 'bounce',
    category: 'dns',
    status: '5.1.10',
  });
});

ruleTest('any other network status, or 421, is network', () => {
  assert.deepEqual(reply('421 Too many concurrent connections'), { action: 'defer', category: 'network', status: '4.4.2' });
  assert.deepEqual(reply('451 4.4.0 Remote server unavailable'), { action: 'defer', category: 'network', status: '4.4.0' });
});

ruleTest('a bare 552 is a full mailbox, as RFC 5321 defines it', () => {
  assert.deepEqual(reply('552 Requested mail action aborted'), { action: 'bounce', category: 'mailbox-full', status: '5.2.2' });
});

test('An enhanced status in the reply wins over the default for its code.', () => {
  assert.equal(reply('552 5.7.0 Content rejected').status, '5.7.0');
  assert.equal(reply('421 4.7.0 Try again later, closing connection').status, '4.7.0');
});

test('An enhanced status is found after the code on a multi-line reply.', () => {
  assert.deepEqual(
    reply('550-5.1.1 The email account that you tried to reach does not exist.\n550 5.1.1 Please check the address'),
    { action: 'bounce', category: 'mailbox-unknown', status: '5.1.1' },
  );
});

test('An IP address after the reply code is not taken for an enhanced status.', () => {
  assert.deepEqual(reply('550 5.6.7.8 listed at a DNSBL'), { action: 'bounce', category: 'spam', status: '5.7.1' });
});

test('An enhanced status whose class contradicts the reply code takes the class of the action.', () => {
  assert.deepEqual(reply('550 4.2.2 Mailbox full'), { action: 'bounce', category: 'mailbox-full', status: '5.2.2' });
  assert.deepEqual(reply('450 5.1.1 Mailbox busy'), { action: 'defer', category: 'mailbox-unknown', status: '4.1.1' });
});

test('A reply without an enhanced status or a matching rule gets the standard status for its code.', () => {
  const expected: Record<number, string> = { 451: '4.3.0', 452: '4.3.1', 500: '5.5.2', 501: '5.5.4', 535: '5.7.8', 553: '5.1.3' };
  for (const [code, status] of Object.entries(expected)) {
    assert.equal(reply(`${code} Something went wrong`).status, status, code);
  }
});

test('A 4xx reply without a known code is deferred with 4.0.0, a 5xx one bounced with 5.0.0.', () => {
  assert.deepEqual(reply('450 Requested action not taken'), { action: 'defer', category: 'other', status: '4.0.0' });
  assert.deepEqual(reply('550 Requested action not taken: mailbox unavailable'), {
    action: 'bounce',
    category: 'other',
    status: '5.0.0',
  });
});

test('The responseCode field wins over the code at the start of the text.', () => {
  assert.equal(classifyResponse({ responseCode: 450, response: '550 5.1.1 User unknown' }).action, 'defer');
  assert.equal(classifyResponse({ responseCode: 550 }).status, '5.0.0');
});

test('A reply given by a connection error is classified by the reply, not the error code.', () => {
  assert.deepEqual(classifyResponse({ code: 'ECONNECTION', responseCode: 554, response: '554 5.7.1 Relay access denied' }), {
    action: 'bounce',
    category: 'policy',
    status: '5.7.1',
  });
});

ruleTest('a refused or timed-out connection is deferred as no answer from host', () => {
  assert.deepEqual(classifyResponse({ code: 'ECONNREFUSED' }), { action: 'defer', category: 'network', status: '4.4.1' });
  assert.deepEqual(classifyResponse({ code: 'ETIMEDOUT' }), { action: 'defer', category: 'network', status: '4.4.1' });
});

test('The original code under ESOCKET decides, so a refused connection is not reported as dropped.', () => {
  assert.equal(classifyResponse({ code: 'ESOCKET', originalCode: 'ECONNREFUSED' }).status, '4.4.1');
  assert.equal(classifyResponse({ code: 'ESOCKET', originalCode: 'ESOMETHINGNEW' }).status, '4.4.2');
});

ruleTest('no reply after the message data is deferred as connection dropped, never bounced: the server may have the message', () => {
  assert.deepEqual(classifyResponse({ code: NO_REPLY_AFTER_DATA }), { action: 'defer', category: 'network', status: '4.4.2' });
});

ruleTest('a connection that dropped is deferred as connection dropped', () => {
  assert.deepEqual(classifyResponse({ code: 'ECONNECTION' }), { action: 'defer', category: 'network', status: '4.4.2' });
  assert.deepEqual(classifyResponse({ code: 'ESOCKET' }), { action: 'defer', category: 'network', status: '4.4.2' });
});

ruleTest('a DNS failure is deferred as a temporary routing-server failure', () => {
  assert.deepEqual(classifyResponse({ code: 'EDNS' }), { action: 'defer', category: 'dns', status: '4.4.3' });
});

ruleTest('a TLS handshake failure is deferred as a cryptographic failure', () => {
  assert.deepEqual(classifyResponse({ code: 'ETLS' }), { action: 'defer', category: 'tls', status: '4.7.5' });
});

ruleTest('an unexpected reply is deferred as a protocol failure', () => {
  assert.deepEqual(classifyResponse({ code: 'EPROTOCOL', responseCode: 250, response: '250 OK' }), {
    action: 'defer',
    category: 'other',
    status: '4.5.0',
  });
});

ruleTest('an envelope the client refuses to send is bounced as a bad address', () => {
  assert.deepEqual(classifyResponse({ code: 'EENVELOPE' }), { action: 'bounce', category: 'other', status: '5.1.3' });
});

test('An envelope rejected by the server is classified by its reply.', () => {
  assert.equal(classifyResponse({ code: 'EENVELOPE', responseCode: 450, response: '450 4.2.1 Mailbox busy' }).action, 'defer');
});

test('A failure with no reply and an unknown code is deferred, since a wrong bounce cannot be undone.', () => {
  assert.deepEqual(classifyResponse({ code: 'ESTREAM' }), { action: 'defer', category: 'other', status: '4.0.0' });
  assert.deepEqual(classifyResponse({}), { action: 'defer', category: 'other', status: '4.0.0' });
});

test('Every rule in the tables has a test named after it.', () => {
  for (const { rule } of [...REPLY_RULES, ...ERROR_RULES]) {
    assert.ok(examples.has(rule), `no test for rule: ${rule}`);
  }
});
