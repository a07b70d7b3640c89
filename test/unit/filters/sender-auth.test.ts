// Sender authentication (filter "sender-auth") with mailauth on fixture DNS: SPF pass/fail/softfail, a DKIM signature
// made in the test with a key generated here, DMARC's policies, and what each becomes as verdict, score and header.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dkimSigned } from '../../helpers/dkim-sign.ts';
import { SenderAuthFilter, mailauthResolver, type AuthResolver, type SenderAuthOptions } from '../../../src-relay/filters/sender-auth.ts';
import type { MessageContext } from '../../../src-relay/filters/types.ts';
import { refusingResolver } from '../../helpers/relay.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { senderAuthOptions } from '../../helpers/sender-auth-options.ts';

const dir = tempDir('moat-sender-auth-');
after(() => rmSync(dir, { recursive: true, force: true }));

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PRIVATE_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const DKIM_RECORD = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

/** Fixture DNS: the shared sending domains, a softfail one, one sampling its policy, and the test's DKIM key. */
const OPTIONS = senderAuthOptions({
  'soft.test': ['v=spf1 ip4:192.0.2.10 ~all'],
  'sampled.test': ['v=spf1 ip4:192.0.2.10 -all'],
  '_dmarc.sampled.test': ['v=DMARC1; p=reject; pct=50'],
  'sel._domainkey.strict.test': [DKIM_RECORD],
  'sel._domainkey.sender.test': [DKIM_RECORD],
});
const { resolver } = OPTIONS;

let counter = 0;
/** A message file as the relay spools it: our Received header on top of what the client sent. */
async function spooled(from: string, options: { sign?: string; tamper?: boolean } = {}): Promise<string> {
  let raw =
    `From: Alice <alice@${from}>\r\nTo: bob@example.test\r\nSubject: sender auth ${counter}\r\n` +
    `Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <auth${counter}@${from}>\r\n\r\nHello.\r\n`;
  if (options.sign) {
    raw = await dkimSigned(raw, { domain: options.sign, selector: 'sel', privateKey: PRIVATE_PEM });
  }
  if (options.tamper) raw = raw.replace('Hello.', 'Hello, changed on the way.');
  raw = `Received: from client.test ([192.0.2.10]) by relay.example.test with ESMTP id TEST${counter}\r\n` + raw;
  const path = join(dir, `msg-${counter++}`);
  writeFileSync(path, raw);
  return path;
}

function context(path: string, sender: string, clientIp: string, extra: Partial<MessageContext> = {}): MessageContext {
  return { queueId: 'TEST', clientIp, helo: 'client.test', sender, recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null, ...extra };
}

async function check(path: string, sender: string, clientIp: string, options: Partial<SenderAuthOptions> = {}, extra: Partial<MessageContext> = {}) {
  return new SenderAuthFilter({ ...OPTIONS, ...options }).check(context(path, sender, clientIp, extra), AbortSignal.timeout(10_000));
}

const authResults = (result: { headers?: { name: string; value: string }[] }) => result.headers?.find((header) => header.name === 'Authentication-Results')?.value ?? '';

test('SPF pass and an aligned DKIM signature: accepted, no score, and both passes in Authentication-Results', async () => {
  const result = await check(await spooled('sender.test', { sign: 'sender.test' }), 'alice@sender.test', '192.0.2.10');
  assert.equal(result.filter, 'sender-auth');
  assert.equal(result.verdict, 'accept');
  assert.equal(result.score, 0);
  assert.match(authResults(result), /\bspf=pass\b.*smtp\.mailfrom=alice@sender\.test/);
  assert.match(authResults(result), /\bdkim=pass\b.*header\.i=@sender\.test/);
  assert.doesNotMatch(authResults(result), /relay\.example\.test;/, 'parts only: the authserv-id is added once, by the header writer');
  assert.match(result.reasons[0]!, /^spf=pass dkim=pass \(sender\.test\)/);
});

test('SPF fail: the client is not allowed for the envelope domain, scored spfFail, still accepted without a DMARC policy', async () => {
  const result = await check(await spooled('sender.test'), 'alice@sender.test', '198.51.100.7');
  assert.equal(result.verdict, 'accept');
  assert.equal(result.score, 2);
  assert.match(authResults(result), /\bspf=fail\b/);
  assert.ok(result.reasons.some((reason) => /^SPF_FAIL /.test(reason)), result.reasons.join(' | '));
});

test('SPF softfail is scored spfSoftfail', async () => {
  const result = await check(await spooled('soft.test'), 'alice@soft.test', '198.51.100.7');
  assert.equal(result.score, 0.5);
  assert.match(authResults(result), /\bspf=softfail\b/);
});

test('DMARC p=reject and the message fails it (SPF fail, no signature): reject, with the policy named in the reason', async () => {
  const result = await check(await spooled('strict.test'), 'alice@strict.test', '198.51.100.7');
  assert.equal(result.verdict, 'reject');
  assert.match(result.reasons[0]!, /^dmarc=fail: strict\.test asks receivers to reject mail that fails DMARC \(p=reject\)/);
  assert.match(authResults(result), /\bdmarc=fail\b/);
  assert.equal(result.score, 4, 'SPF fail and DMARC fail');
});

test('DMARC p=reject with dmarcReject "quarantine" or "tag": the admin chose the milder action', async () => {
  const path = await spooled('strict.test');
  assert.equal((await check(path, 'alice@strict.test', '198.51.100.7', { dmarcReject: 'quarantine' })).verdict, 'quarantine');
  assert.equal((await check(path, 'alice@strict.test', '198.51.100.7', { dmarcReject: 'tag' })).verdict, 'tag');
});

test('DMARC p=reject is passed by an aligned DKIM signature even when SPF fails (a forwarded message)', async () => {
  const result = await check(await spooled('strict.test', { sign: 'strict.test' }), 'alice@strict.test', '198.51.100.7');
  assert.equal(result.verdict, 'accept');
  assert.match(authResults(result), /\bdkim=pass\b/);
  assert.match(authResults(result), /\bdmarc=pass\b/);
  assert.equal(result.score, 2, 'SPF fail is still scored');
});

test('a DKIM signature that no longer verifies (body changed) is scored dkimFail; DMARC still passes on the aligned SPF pass', async () => {
  const result = await check(await spooled('strict.test', { sign: 'strict.test', tamper: true }), 'alice@strict.test', '192.0.2.10');
  assert.match(authResults(result), /\bdkim=(fail|neutral \(body hash did not verify\))/);
  assert.ok(result.reasons.some((reason) => /^DKIM_FAIL /.test(reason)));
  assert.equal(result.verdict, 'accept', 'SPF passes aligned, so DMARC passes');
  assert.equal(result.score, 1);
});

test('DMARC p=quarantine and the message fails it: quarantine (or tag, when the admin says so)', async () => {
  const path = await spooled('careful.test');
  assert.equal((await check(path, 'alice@careful.test', '198.51.100.7')).verdict, 'quarantine');
  assert.equal((await check(path, 'alice@careful.test', '198.51.100.7', { dmarcQuarantine: 'tag' })).verdict, 'tag');
});

test('DMARC pct=50: a message inside the sample gets p=reject, one outside it the next milder policy (RFC 7489 6.6.4)', async () => {
  const path = await spooled('sampled.test');
  assert.equal((await check(path, 'alice@sampled.test', '198.51.100.7', { random: () => 0.1 })).verdict, 'reject');
  assert.equal((await check(path, 'alice@sampled.test', '198.51.100.7', { random: () => 0.9 })).verdict, 'quarantine');
});

test('DNS failures are temperrors: no score; a message whose DMARC policy cannot be looked up is deferred, not refused', async () => {
  const result = await check(await spooled('strict.test'), 'alice@strict.test', '198.51.100.7', { resolver: refusingResolver as AuthResolver });
  assert.equal(result.verdict, 'tempfail');
  assert.equal(result.score, 0);
  assert.match(authResults(result), /\bspf=temperror\b/);
  assert.match(authResults(result), /\bdmarc=temperror\b/);
});

test('a DNS failure inside an include: (SERVFAIL) is a temperror, not "-all" failing the message', async () => {
  const failing = (code: string) => ({
    ...resolver,
    resolveTxt: (name: string) =>
      name === 'includer.test' ? Promise.resolve([['v=spf1 include:broken.test -all']]) : name === 'broken.test' ? Promise.reject(Object.assign(new Error(`queryTxt ${code} ${name}`), { code })) : resolver.resolveTxt(name),
  });
  for (const code of ['ESERVFAIL', 'ECONNREFUSED']) {
    const result = await check(await spooled('includer.test'), 'alice@includer.test', '192.0.2.10', { resolver: failing(code) });
    assert.match(authResults(result), /\bspf=temperror\b/, code);
    assert.equal(result.score, 0, code);
  }
});

test('an SPF macro that expands to a name DNS cannot ask ("alice+news") is a temperror, not "-all" failing the message', async () => {
  const macro = { ...resolver, resolveTxt: (name: string) => (name === 'macro.test' ? Promise.resolve([['v=spf1 exists:%{l}._spf.macro.test -all']]) : resolver.resolveTxt(name)) };
  const result = await check(await spooled('macro.test'), 'alice+news@macro.test', '192.0.2.10', { resolver: macro });
  assert.match(authResults(result), /\bspf=temperror\b/);
  assert.equal(result.score, 0);
});

test('a message submitted by a logged-in user is not checked', async () => {
  const result = await check(await spooled('strict.test'), 'alice@strict.test', '198.51.100.7', {}, { authenticatedUser: 'alice' });
  assert.deepEqual([result.verdict, result.score, result.headers], ['accept', 0, undefined]);
});

test('the deadline passing while mailauth still loads ends the check with an error, never an unhandled one (the copy read once, and the file)', async () => {
  const { spawnSync } = await import('node:child_process');
  const script = new URL('../../helpers/cold-sender-auth-abort.ts', import.meta.url).pathname;
  for (const form of ['content', 'file']) {
    const run = spawnSync(process.execPath, ['--import', 'tsx', script, form], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, `${form}: ${run.stderr.slice(-800)}`);
    assert.match(run.stdout, /^rejected: /m, form);
  }
});

test('once the deadline has passed, every further DNS look-up fails at once', async () => {
  const controller = new AbortController();
  const ask = mailauthResolver(resolver, { signal: controller.signal });
  assert.deepEqual(await ask('sender.test', 'TXT'), [['v=spf1 ip4:192.0.2.10 -all']]);
  controller.abort(new Error('deadline'));
  await assert.rejects(ask('sender.test', 'TXT'), /deadline/);
  // a fixture resolver has no PTR; a PTR look-up that fails is no answer (RFC 7208 5.5: ptr does not match)
  assert.deepEqual(await mailauthResolver(resolver)('x.test', 'PTR'), []);
  assert.deepEqual(await mailauthResolver({ ...resolver, resolvePtr: () => Promise.reject(Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' })) })('7.100.51.198.in-addr.arpa', 'PTR'), []);
});

test('a DNS answer that does not come in time is a temperror: per look-up, and for all look-ups of a message together', async () => {
  const silent: AuthResolver = { ...resolver, resolveTxt: () => new Promise<string[][]>(() => {}) };
  const started = Date.now();
  await assert.rejects(mailauthResolver(silent, { lookupTimeoutMs: 100 })('sender.test', 'TXT'), { code: 'ETIMEOUT' });
  assert.ok(Date.now() - started < 1000);
  await assert.rejects(mailauthResolver(resolver, { budgetEndsAt: performance.now() })('sender.test', 'TXT'), { code: 'ETIMEOUT' }, 'the budget is spent: not even asked');
  const filter = new SenderAuthFilter({ ...OPTIONS, resolver: silent, lookupTimeoutMs: 200, dnsBudgetMs: 300 });
  const path = await spooled('strict.test');
  const before = Date.now();
  const result = await filter.check(context(path, 'alice@strict.test', '198.51.100.7'), AbortSignal.timeout(60_000)).catch((error: Error) => error);
  assert.ok(!(result instanceof Error), 'a resolver that never answers still gives a result');
  // DMARC's policy could not be looked up either, and nothing passed: deferred
  assert.equal(result.verdict, 'tempfail');
  assert.match(authResults(result), /\bspf=temperror\b/);
  assert.ok(Date.now() - before < 2000, `done in ${Date.now() - before} ms: the budget cut the remaining look-ups short`);
});

test('a message that cannot be read fails the check at once, in place of waiting out its deadline', async () => {
  const filter = new SenderAuthFilter(OPTIONS);
  const started = Date.now();
  const gone = { ...context(join(dir, 'no-such-message.eml'), 'alice@strict.test', '198.51.100.7'), content: null };
  await assert.rejects(filter.check(gone, AbortSignal.timeout(60_000)), { code: 'ENOENT' });
  assert.ok(Date.now() - started < 5000, `failed in ${Date.now() - started} ms`);
});
