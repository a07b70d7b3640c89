// Sender authentication through the whole relay (config filters.senderAuth), with fixture DNS: a message failing
// DMARC under p=reject is refused at the end of DATA; a signed one arrives with its Authentication-Results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
// the signer alone, as the relay loads it: mailauth's index would load its verifiers before the key cache is put in
import { dkimSigned } from '../helpers/dkim-sign.ts';
import { ConfigSchema } from '../../src-relay/config/schema.ts';
import { Sink } from '../helpers/sink.ts';
import { fixtureResolver, startRelay, type TestRelay } from '../helpers/relay.ts';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts';
import { message, send } from '../helpers/smtp.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const fixtures = fixtureResolver({}, {}, {
  // the test client is 127.0.0.1: not a permitted sender of either domain
  'strict.test': ['v=spf1 ip4:192.0.2.10 -all'],
  '_dmarc.strict.test': ['v=DMARC1; p=reject'],
  // the office's own domain: its SPF record allows the host of its web shop (here the test client), no DMARC record
  'example.test': ['v=spf1 ip4:127.0.0.1 -all'],
  'sel._domainkey.strict.test': [`v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`],
});
// lame.test's name servers fail (SERVFAIL) for its DMARC policy
const resolver = { ...fixtures, resolveTxt: (name: string) => (name === '_dmarc.lame.test' ? Promise.reject(Object.assign(new Error(`queryTxt ESERVFAIL ${name}`), { code: 'ESERVFAIL' })) : fixtures.resolveTxt!(name)) };

let sink: Sink;
let relay: TestRelay;

before(async () => {
  sink = await Sink.start();
  relay = await startRelay(sink.port, { filters: { enabled: true } }, { resolver });
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

function fromStrict(subject: string): string {
  return message(subject).replace('From: Alice <alice@sender.test>', 'From: Alice <alice@strict.test>');
}

test('the defaults: sender authentication on, DMARC p=reject refused, p=quarantine quarantined', () => {
  const defaults = ConfigSchema.parse({}).filters.senderAuth;
  assert.deepEqual(defaults, { enabled: true, dmarcReject: 'reject', dmarcQuarantine: 'quarantine', spfFailScore: 2, spfSoftfailScore: 0.5, dkimFailScore: 1, dmarcFailScore: 2 });
});

test('DMARC p=reject: a forged From of that domain is refused with 550 5.7.1 at the end of DATA, and nothing is queued', async () => {
  await assert.rejects(send(relay.port, 'alice@strict.test', ['bob@example.test'], fromStrict('forged')), (error: { responseCode?: number; response?: string }) => {
    assert.equal(error.responseCode, 550);
    assert.match(error.response ?? '', /^550 5\.7\.1 .*p=reject/);
    return true;
  });
  assert.equal(relay.relay.queue.store.summary().size, 0);
  assert.equal(sink.messages.length, 0);
});

async function signedByStrict(subject: string): Promise<string> {
  const raw = fromStrict(subject);
  return dkimSigned(raw, { domain: 'strict.test', selector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
}

test('an aligned DKIM signature passes DMARC from anywhere: delivered with dkim=pass and dmarc=pass in Authentication-Results', async () => {
  assert.match((await send(relay.port, 'alice@strict.test', ['bob@example.test'], await signedByStrict('signed'))).response, /^250 /);
  await sink.waitFor(1);
  const delivered = sink.messages[0]!.raw.toString('utf8');
  const header = /^Authentication-Results: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)/m.exec(delivered)?.[1]?.replace(/\r\n[ \t]+/g, ' ') ?? '';
  assert.match(header, /^relay\.example\.test; /, 'our authserv-id, once');
  assert.match(header, /\bdkim=pass\b/);
  assert.match(header, /\bspf=fail\b/);
  assert.match(header, /\bdmarc=pass\b/);
});

test('messages signed with one key, sent one after another, all pass: the key kept by the thread verifies them', async () => {
  const before = sink.messages.length;
  for (const subject of ['first of the domain', 'second', 'third']) {
    assert.match((await send(relay.port, 'alice@strict.test', ['bob@example.test'], await signedByStrict(subject))).response, /^250 /);
  }
  await sink.waitFor(before + 3);
  for (const delivered of sink.messages.slice(before)) assert.match(delivered.raw.toString('utf8'), /\bdkim=pass\b/);
});

test('a second From address does not slip past DMARC p=reject: refused with 550 5.7.1, in the same field or in a second From field', async () => {
  const forged = [
    fromStrict('two addresses').replace('From: Alice <alice@strict.test>', 'From: Alice <alice@strict.test>, <nobody@example.invalid>'),
    fromStrict('two fields').replace('From: Alice <alice@strict.test>', 'From: Alice <alice@strict.test>\r\nFrom: <nobody@example.invalid>'),
  ];
  for (const raw of forged) {
    await assert.rejects(send(relay.port, 'nobody@example.invalid', ['bob@example.test'], raw), (error: { responseCode?: number; response?: string }) => {
      assert.equal(error.responseCode, 550);
      assert.match(error.response ?? '', /^550 5\.7\.1 .*p=reject/);
      return true;
    });
  }
});

test('4,000 DKIM signatures, each with its own l=, are not worked through: the message is quarantined unchecked, and messages sent beside it are delivered', async () => {
  const before = sink.messages.length;
  const signatures = Array.from({ length: 4_000 }, (_, i) => `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=strict.test; s=sel; l=${1e9 + i}; h=from; bh=AAAA; b=AAAA\r\n`).join('');
  const [flood, ...others] = await Promise.all([
    send(relay.port, 'alice@sender.test', ['bob@example.test'], signatures + message('signature flood')),
    ...Array.from({ length: 5 }, (_, i) => send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`beside the flood ${i}`))),
  ]);
  const id = /queued as (\S+)/.exec(flood.response)![1]!;
  assert.equal(relay.relay.queue.store.message(id)!.status, 'quarantined');
  assert.match(JSON.stringify(relay.relay.queue.store.message(id)), /not checked: more than 10 DKIM signatures/);
  for (const other of others) assert.match(other.response, /^250 /);
  await sink.waitFor(before + 5);
});

test("a DMARC policy that cannot be looked up defers the message: 451 saying why, counted apart from a filter outage", async () => {
  const rejected = async () => sampleValue(parsePrometheus(await (await fetch(`http://${relay.relay.addresses.admin}/metrics`)).text()), 'moat_messages_rejected_total', { reason: 'policy-deferred' });
  const before = await rejected();
  const forged = message('lame policy').replace('From: Alice <alice@sender.test>', 'From: Alice <alice@lame.test>');
  await assert.rejects(send(relay.port, 'alice@lame.test', ['bob@example.test'], forged), (error: { responseCode?: number; response?: string }) => {
    assert.match(error.response ?? '', /^451 4\.7\.1 Message deferred by policy, try again later: dmarc=temperror: the DMARC policy of lame\.test could not be looked up/);
    return true;
  });
  assert.equal(await rejected(), (before ?? 0) + 1);
});

test("mail as our own domain from a host our SPF record allows (a web shop, no DMARC record published) is not scored as a forgery of it; from a host it does not allow, it is", async () => {
  const own = (subject: string) => message(subject).replace('From: Alice <alice@sender.test>', 'From: Shop <info@example.test>');
  await send(relay.port, 'info@example.test', ['bob@example.test'], own('order 1001 shipped'));
  const shop = await sink.waitForSubject('order 1001 shipped');
  assert.match(shop, /spf=pass/);
  assert.doesNotMatch(shop, /FROM_OWN_DOMAIN_UNAUTHENTICATED/);
  await send(relay.port, 'alice@sender.test', ['bob@example.test'], own('forged order 1002'));
  assert.match(await sink.waitForSubject('forged order 1002'), /FROM_OWN_DOMAIN_UNAUTHENTICATED/);
});

test("a forged copy of the relay's own quarantine digest from outside (From postmaster@ its host name) is scored as a forgery of our domain, not delivered as clean", async () => {
  const digest = message('1 message held for you by the mail filter').replace('From: Alice <alice@sender.test>', '"Mail filter on relay.example.test" <postmaster@relay.example.test>'.replace(/^/, 'From: '));
  await send(relay.port, 'postmaster@relay.example.test', ['bob@example.test'], `Auto-Submitted: auto-generated\r\n${digest}`);
  const delivered = await sink.waitForSubject('1 message held for you by the mail filter');
  assert.match(delivered, /FROM_OWN_DOMAIN_UNAUTHENTICATED/);
  assert.doesNotMatch(delivered, /X-Spam-Status: No/);
});
