import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainError, PLAIN_ERROR_RULES } from '../../../src-renderer/lib/plain-errors.ts';
import { liveWarnings, lockedAccountWarnings, relayBadge } from '../../../src-renderer/lib/health.ts';
import { senderKey, senderLabel } from '../../../src-renderer/lib/sender.ts';
import { fromDisplayName } from '../../../src-relay/util/header-text.ts';

// Raw texts as Node, nodemailer and SMTP servers write them, each with the table row that must explain it
const CASES: [string, string][] = [
  ['connect ECONNREFUSED 127.0.0.1:2525', 'ECONNREFUSED'],
  ['Connection timeout', 'ETIMEDOUT'],
  ['connect ETIMEDOUT 10.0.0.5:25', 'ETIMEDOUT'],
  ['listen EADDRINUSE: address already in use 0.0.0.0:25', 'EADDRINUSE'],
  ["ENOENT: no such file or directory, open '/etc/moat/cert.pem'", 'ENOENT'],
  ['listen EACCES: permission denied 0.0.0.0:25', 'EACCES'],
  ['read ECONNRESET', 'ECONNRESET'],
  ['getaddrinfo ENOTFOUND exchange.corp.example', 'ENOTFOUND'],
  ['getaddrinfo ENOTFOUND 127.0.0.1:12599', 'HOST_WITH_PORT'],
  ['getaddrinfo ENOTFOUND exchange.corp.local:25', 'HOST_WITH_PORT'],
  ['getaddrinfo EAI_AGAIN [::1]:2525', 'HOST_WITH_PORT'],
  ['certificate has expired', 'CERT_HAS_EXPIRED'],
  ['CERT_HAS_EXPIRED', 'CERT_HAS_EXPIRED'],
  ['self-signed certificate', 'SELF_SIGNED'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED'],
  ["Hostname/IP does not match certificate's altnames: Host: mail.corp.example. is not in the cert's altnames: DNS:exchange.local", 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ['RCPT TO: 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown', '5.1.1'],
  ['451 4.4.1 No answer from host', '4.4.1'],
  ['RCPT TO: 550 5.7.1 Unable to relay', '5.7.1'],
  ['450 4.7.0 Greylisted, try again in 5 minutes', '4.7.0'],
  ['DATA: 552 5.2.2 Mailbox full', '5.2.2'],
  ['RCPT TO: 451 4.3.0 mailbox busy, try later', '4.3.x'],
  ['550 5.4.4 the mail hosts of partner.test have only private or loopback addresses (mx1.partner.test 10.0.0.5), which Moat does not deliver to (outbound.allowPrivateMxAddresses)', 'PRIVATE_MX'],
  ['550 5.4.4 Unable to route', '5.4.4'],
  ['421 Service not available', '4xx'],
  ['554 Transaction failed', '5xx'],
];

for (const [raw, rule] of CASES) {
  test(`"${raw}" is explained by the ${rule} row: a sentence, a next step, and the raw text kept`, () => {
    const plain = explainError(raw);
    assert.equal(plain.rule, rule);
    assert.ok(plain.sentence.length > 10 && plain.sentence !== raw);
    assert.ok(plain.next && plain.next.length > 10, 'a next step');
    assert.equal(plain.raw, raw);
  });
}

test('every row of the table has a sentence ending in a full stop and a next step', () => {
  for (const rule of PLAIN_ERROR_RULES) {
    assert.match(rule.sentence, /\.$/, rule.id);
    assert.ok(rule.next, rule.id);
  }
});

test('a name with ":port" that DNS could not find: the advice is to put the port in the Port field, never to "enter its IP address"', () => {
  const plain = explainError('getaddrinfo ENOTFOUND 127.0.0.1:12599');
  assert.match(plain.next ?? '', /^Put the port in the Port field/);
  assert.doesNotMatch(`${plain.sentence} ${plain.next}`, /IP address instead|enter its IP address|spelling/);
  // a plain name not found, and a refused IP:port, keep their own rows
  assert.match(explainError('getaddrinfo ENOTFOUND exchange.corp.example').next ?? '', /enter its IP address/);
  assert.equal(explainError('connect ECONNREFUSED 127.0.0.1:12599').rule, 'ECONNREFUSED');
  assert.equal(explainError('getaddrinfo ENOTFOUND mail.corp.local:123456').rule, 'ENOTFOUND', 'not a port: six digits');
});

test('text the table does not know comes back as its own sentence, with no next step', () => {
  const plain = explainError('  the spool directory is on fire  ');
  assert.deepEqual(plain, { sentence: 'the spool directory is on fire', next: null, raw: 'the spool directory is on fire', rule: null });
});

test('an enhanced code is matched as a whole code, not inside a longer number or an address', () => {
  assert.equal(explainError('queued as 15.1.1234').rule, null);
  assert.equal(explainError('host 45.1.1.7 said hello').rule, null);
});

const status = (overrides: Record<string, unknown> = {}) =>
  ({
    state: 'running',
    error: null,
    startedAt: 1,
    appliedAt: null,
    version: '1',
    hostname: 'relay',
    dataDir: '/d',
    addresses: { mx: null, submission: null, submissions: null, admin: null },
    routes: [],
    configProblem: null,
    ...overrides,
  }) as Parameters<typeof liveWarnings>[0];

test('a route that is down is a warning at once, with its error', () => {
  const warnings = liveWarnings(status({ routes: [{ route: 'internal', state: 'down', since: 5, lastError: 'connect ECONNREFUSED 127.0.0.1:25' }] }), null);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.title, /cannot be delivered to the internal server/);
  assert.equal(warnings[0]!.raw, 'connect ECONNREFUSED 127.0.0.1:25');
  assert.equal(warnings[0]!.since, 5);
});

test('an internal server refusing every message is a warning that says so and what usually causes it, not "unreachable"', () => {
  const [warning] = liveWarnings(status({ routes: [{ route: 'internal', state: 'refusing', since: 5, lastError: 'MAIL FROM: 452 4.3.1 Insufficient system resources' }] }), null);
  assert.equal(warning!.title, 'Mail for your users cannot be delivered to the internal server: it answers, but refuses every message');
  assert.equal(warning!.raw, 'MAIL FROM: 452 4.3.1 Insufficient system resources');
  assert.match(warning!.detail!, /back-pressure/);
  assert.doesNotMatch(`${warning!.title} ${warning!.detail}`, /unreachable|firewall/);
});

test('an internal server that is up but refuses every recipient is a warning with both likely causes and where to act, and the top bar says mail is not delivered', () => {
  const routes = [{ route: 'internal', state: 'up' as const, since: 5, checkedAt: 9, lastError: null, refusedRecipients: { messages: 6, since: 7, lastError: 'RCPT TO: 550 5.7.54 Unable to relay recipient in non-accepted domain' } }];
  const [warning, ...others] = liveWarnings(status({ routes }), null);
  assert.deepEqual(others, []);
  assert.equal(warning!.title, 'The internal server refuses every recipient: their mail is bounced to the senders, not delivered');
  assert.equal(warning!.raw, 'RCPT TO: 550 5.7.54 Unable to relay recipient in non-accepted domain');
  assert.equal(warning!.since, 7);
  assert.match(warning!.detail!, /Accepted domains/);
  assert.match(warning!.detail!, /Settings → Domains and recipients/);
  assert.equal(relayBadge(status({ routes })!, null).label, 'Running · mail not delivered');
});

test('a running relay with its routes up and delivery on has nothing to warn about', () => {
  assert.deepEqual(liveWarnings(status({ routes: [{ route: 'internal', state: 'up', since: 5, lastError: null }] }), { size: 3, oldest: 1, held: 0, queueHeld: false }), []);
});

test('a failed relay and paused delivery are warnings too', () => {
  const ids = liveWarnings(status({ state: 'failed', error: 'listen EADDRINUSE' }), { size: 0, oldest: null, held: 0, queueHeld: true }).map((warning) => warning.id);
  assert.deepEqual(ids, ['relay', 'paused']);
});

test('the top bar says "Running" in green only while mail flows: amber with what is wrong when a route is down or delivery is paused', () => {
  const up = { size: 0, oldest: null, held: 0, queueHeld: false };
  assert.deepEqual(relayBadge(status({ routes: [{ route: 'internal', state: 'up', since: 5, lastError: null }] })!, up), { label: 'Running', tone: 'ok', title: null });
  const down = relayBadge(status({ routes: [{ route: 'internal', state: 'down', since: 5, lastError: 'connect ECONNREFUSED 127.0.0.1:25' }] })!, up);
  assert.equal(down.label, 'Running · mail not delivered');
  assert.equal(down.tone, 'warning');
  assert.match(down.title!, /cannot be delivered to the internal server/);
  assert.deepEqual(relayBadge(status({})!, { ...up, queueHeld: true }), { label: 'Running · delivery paused', tone: 'warning', title: 'Delivery is paused: mail waits in the queue until you resume it' });
  const failed = relayBadge(status({ state: 'failed', error: 'listen EADDRINUSE' })!, up);
  assert.deepEqual(failed, { label: 'Failed', tone: 'critical', title: 'listen EADDRINUSE' });
});

test('a sender is shown by name and address; mail Moat wrote as Moat; a null sender from outside in words', () => {
  assert.equal(senderLabel({ sender: 'j@sender.test', senderName: 'Jürgen Weiß' }), 'Jürgen Weiß <j@sender.test>');
  assert.equal(senderLabel({ sender: 'j@sender.test', senderName: null }), 'j@sender.test');
  assert.equal(senderLabel({ sender: '', senderName: 'Moat' }), 'Moat');
  assert.equal(senderLabel({ sender: '', senderName: null }), 'Mail system (no sender address)');
  assert.equal(senderKey({ sender: '', senderName: 'Moat' }), 'Moat');
  assert.equal(senderKey({ sender: 'j@sender.test', senderName: 'Jürgen' }), 'j@sender.test');
});

test('a From line naming another address than the envelope shows both', () => {
  assert.equal(senderLabel({ sender: 'alice@sender.test', senderName: 'Jürgen Weiß <juergen@sender.test>' }), 'Jürgen Weiß <juergen@sender.test>, sent by alice@sender.test');
});

test('a display name that is another address never comes first: the address the mail came from leads, the name follows in quotes', () => {
  assert.equal(senderLabel({ sender: 'x@sender.invalid', senderName: 'paypal@paypal.com' }), 'x@sender.invalid, named "paypal@paypal.com"');
  assert.equal(senderLabel({ sender: 'bounce@esp.example', senderName: 'service@paypal.com <x@sender.invalid>' }), 'x@sender.invalid, named "service@paypal.com", sent by bounce@esp.example');
  assert.equal(senderLabel({ sender: 'x@sender.invalid', senderName: 'PayPal service@paypal.com' }), 'x@sender.invalid, named "PayPal service@paypal.com"');
  // a full-width ＠ reads as "@": the same
  assert.equal(senderLabel({ sender: 'x@sender.invalid', senderName: 'service\uff20paypal.com' }), 'x@sender.invalid, named "service\uff20paypal.com"');
  // a name that is the address itself, and names without an address in them, read as before
  assert.equal(senderLabel({ sender: 'alice@sender.test', senderName: 'Alice@Sender.test' }), 'Alice@Sender.test <alice@sender.test>');
  assert.equal(senderLabel({ sender: 'alice@sender.test', senderName: 'Alice Smith' }), 'Alice Smith <alice@sender.test>');
});

test('a display name holding "<an address of ours>" is never read as the From address: the real one leads, as the relay stores it', () => {
  // the operator review's forgery: every list showed "admin@example.test, named …", the real sender cut off
  const sender = 'hostile@sender.invalid';
  const senderName = fromDisplayName('"IT Helpdesk \u202e moc.kcaby@ <admin@example.test>" <hostile@sender.invalid>', sender);
  assert.equal(senderLabel({ sender, senderName }), 'hostile@sender.invalid, named "IT Helpdesk \ufffd moc.kcaby@ \u2039admin@example.test\u203a"');
  const other = fromDisplayName('"IT <admin@example.test>" <hostile@sender.invalid>', 'bounce@esp.example');
  assert.equal(senderLabel({ sender: 'bounce@esp.example', senderName: other }), 'hostile@sender.invalid, named "IT \u2039admin@example.test\u203a", sent by bounce@esp.example');
});

test('an account locked after failed log-ins is a warning on the dashboard with where to unlock it; an expired lock or none is not', () => {
  const now = Date.parse('2026-12-07T10:00:00Z');
  assert.deepEqual(lockedAccountWarnings([{ name: 'alice', lockedUntil: now - 1, lockedFrom: null }, { name: 'bob', lockedUntil: null, lockedFrom: null }], now), []);
  const [one] = lockedAccountWarnings([{ name: 'alice', lockedUntil: now + 15 * 60_000, lockedFrom: ['192.0.2.7'] }], now);
  assert.equal(one!.title, 'The account alice cannot log in to send mail');
  assert.match(one!.detail!, /^Locked after failed log-ins: alice from 192\.0\.2\.7, until .+\. The right password is refused too until then\./);
  assert.deepEqual(one!.link, { href: '#/settings/accounts', label: 'Unlock under Settings → Submission accounts' });
  const two = lockedAccountWarnings([{ name: 'alice', lockedUntil: now + 1, lockedFrom: null }, { name: 'scanner', lockedUntil: now + 2, lockedFrom: null }], now);
  assert.equal(two[0]!.title, '2 accounts cannot log in to send mail');
  assert.match(two[0]!.detail!, /alice from every address it has not logged in from lately, until .+; scanner from every address/);
});
