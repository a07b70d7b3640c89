// DMARC's strict alignment (adkim=s, aspf=s), which mailauth itself never applies (mailauth-strict-alignment.ts), and
// DMARC records in every valid spelling (dmarc-record.ts): through the sender-auth filter, with real signatures and
// fixture DNS, and the check that refuses an unchanged module.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dkimSigned } from '../../helpers/dkim-sign.ts';
import { SenderAuthFilter, mailauthResolver, withDkimPolicy } from '../../../src-relay/filters/sender-auth.ts';
import { checkStrictAlignment, withStrictAlignment } from '../../../src-relay/filters/mailauth-strict-alignment.ts';
import { canonicalDmarcRecord } from '../../../src-relay/filters/dmarc-record.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { senderAuthOptions } from '../../helpers/sender-auth-options.ts';

const dir = tempDir('moat-strict-alignment-');
after(() => rmSync(dir, { recursive: true, force: true }));

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PRIVATE_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const KEY = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
const SPF = ['v=spf1 ip4:192.0.2.10 -all'];

// strict.example asks for strict alignment of both, relaxed.example for neither; each has a sub-domain that signs
// and one that sends (SPF); relaxed alignment lets those count for the parent, strict alignment does not
/** Records as domain owners write them, valid all (RFC 7489 6.4: keywords in any case, spaces around "="), each on its own domain. */
const SPELLED = ['v=DMARC1; p=REJECT; adkim=S; aspf=S', 'V=dmarc1;P=Reject;ADKIM=S;ASPF=S', 'v = DMARC1 ; p = reject ; adkim = s ; aspf = s', 'v=DMARC1;\tp=reject;\tadkim=\ts;\taspf=\ts;'];
const spelledDomain = (index: number) => `spelled${index}.example`;
const OPTIONS = senderAuthOptions({
  ...Object.fromEntries(SPELLED.flatMap((record, index) => [
    [`_dmarc.${spelledDomain(index)}`, [record]],
    [`sel._domainkey.mail.${spelledDomain(index)}`, [KEY]],
    [`bounce.${spelledDomain(index)}`, SPF],
  ])),
  '_dmarc.strict.example': ['v=DMARC1; p=reject; adkim=s; aspf=s'],
  '_dmarc.relaxed.example': ['v=DMARC1; p=reject'],
  'sel._domainkey.strict.example': [KEY],
  'sel._domainkey.mail.strict.example': [KEY],
  'sel._domainkey.mail.relaxed.example': [KEY],
  'strict.example': SPF,
  'bounce.strict.example': SPF,
  'bounce.relaxed.example': SPF,
});

let counter = 0;
async function spooled(fromDomain: string, signer?: string): Promise<string> {
  let raw = `From: CEO <ceo@${fromDomain}>\r\nTo: bob@example.test\r\nSubject: alignment ${counter}\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n\r\nPay it.\r\n`;
  if (signer) raw = await dkimSigned(raw, { domain: signer, selector: 'sel', privateKey: PRIVATE_PEM });
  const path = join(dir, `msg-${counter++}`);
  writeFileSync(path, raw);
  return path;
}

/** The DMARC result and verdict of a message from `clientIp` with envelope sender `sender`. */
async function dmarcOf(path: string, sender: string, clientIp = '192.0.2.10'): Promise<{ dmarc: string; verdict: string }> {
  const result = await new SenderAuthFilter(OPTIONS).check(
    { queueId: 'TEST', clientIp, helo: 'client.test', sender, recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
    AbortSignal.timeout(10_000),
  );
  return { dmarc: /\bdmarc=(\w+)/.exec(result.reasons[0] ?? '')?.[1] ?? '?', verdict: result.verdict };
}

test('adkim=s: a signature by a sub-domain of the From domain does not align, one by the From domain does', async () => {
  // SPF fails (a client SPF does not allow): only DKIM can align
  assert.deepEqual(await dmarcOf(await spooled('strict.example', 'mail.strict.example'), 'ceo@strict.example', '198.51.100.7'), { dmarc: 'fail', verdict: 'reject' });
  assert.deepEqual(await dmarcOf(await spooled('strict.example', 'strict.example'), 'ceo@strict.example', '198.51.100.7'), { dmarc: 'pass', verdict: 'accept' });
  // relaxed (the default): the sub-domain's signature counts for its parent
  assert.deepEqual(await dmarcOf(await spooled('relaxed.example', 'mail.relaxed.example'), 'ceo@relaxed.example', '198.51.100.7'), { dmarc: 'pass', verdict: 'accept' });
});

test('aspf=s: an SPF pass for a sub-domain of the From domain does not align, one for the From domain does', async () => {
  assert.deepEqual(await dmarcOf(await spooled('strict.example'), 'bounces@bounce.strict.example'), { dmarc: 'fail', verdict: 'reject' });
  assert.deepEqual(await dmarcOf(await spooled('strict.example'), 'ceo@strict.example'), { dmarc: 'pass', verdict: 'accept' });
  assert.deepEqual(await dmarcOf(await spooled('relaxed.example'), 'bounces@bounce.relaxed.example'), { dmarc: 'pass', verdict: 'accept' });
});

test('a DMARC record in any valid spelling is applied as written: p=REJECT refuses, adkim=S and aspf=S are strict', async () => {
  for (const [index, record] of SPELLED.entries()) {
    const domain = spelledDomain(index);
    // no authentication at all: the policy alone decides
    assert.deepEqual(await dmarcOf(await spooled(domain), `ceo@${domain}`, '198.51.100.7'), { dmarc: 'fail', verdict: 'reject' }, record);
    // a sub-domain's signature, and an SPF pass for a sub-domain, do not align
    assert.deepEqual(await dmarcOf(await spooled(domain, `mail.${domain}`), `ceo@${domain}`, '198.51.100.7'), { dmarc: 'fail', verdict: 'reject' }, record);
    assert.deepEqual(await dmarcOf(await spooled(domain), `bounces@bounce.${domain}`), { dmarc: 'fail', verdict: 'reject' }, record);
  }
});

test('a DMARC record is given in one spelling: tags trimmed, names and keywords in lower case, URIs kept', () => {
  assert.equal(canonicalDmarcRecord(' v = dmarc1 ;P=Quarantine;  sp = NONE ; rua = mailto:DMARC@Example.COM ; pct = 50 ;'), 'v=DMARC1; p=quarantine; sp=none; rua=mailto:DMARC@Example.COM; pct=50');
  assert.equal(canonicalDmarcRecord('v=DMARC1;\tadkim=\tS;aspf=S;fo=D'), 'v=DMARC1; adkim=s; aspf=s; fo=d');
  // not a DMARC record: as it is (mailauth passes it over)
  for (const other of ['v=spf1 -all', 'p=reject; v=DMARC1', 'v=DMARC2; p=reject', '']) assert.equal(canonicalDmarcRecord(other), other);
});

test("strict alignment compares whole domains in mailauth's comparison form; relaxed stays mailauth's own", () => {
  const relaxed = (from: string, domains: unknown) => ((domains as { domain: string }[]).find((entry) => entry.domain.endsWith(from)) ?? false);
  const lower = (domain: string) => domain.toLowerCase();
  const aligned = withStrictAlignment(relaxed, lower);
  assert.deepEqual(aligned('Example.com', [{ domain: 'mail.example.com' }, { domain: 'EXAMPLE.COM' }], { strict: true }), { domain: 'EXAMPLE.COM' });
  assert.equal(aligned('example.com', [{ domain: 'mail.example.com' }, 'xexample.com'], { strict: true }), false);
  assert.deepEqual(aligned('example.com', ['example.com'], true), { domain: 'example.com' });
  // { strict: false }, false or nothing: mailauth's relaxed comparison, as it was
  for (const strict of [{ strict: false }, false, undefined]) assert.deepEqual(aligned('example.com', [{ domain: 'mail.example.com' }], strict), { domain: 'mail.example.com' });
});

test('a DMARC check that does not apply strict alignment is refused when mailauth loads', async () => {
  await assert.rejects(checkStrictAlignment(async () => ({ status: { result: 'pass' } })), /does not apply strict alignment/);
  await checkStrictAlignment(async () => ({ status: { result: 'fail' } }));
});

/** The names asked of `OPTIONS.resolver`'s TXT records through `asking`, and that resolver answering as node:dns does: a name over 253 characters is EBADNAME, asked of no server. */
const askedNames: string[] = [];
const asNodeDns = {
  ...OPTIONS,
  resolver: {
    ...OPTIONS.resolver,
    resolveTxt: (name: string) => {
      askedNames.push(name);
      return name.length > 253 ? Promise.reject(Object.assign(new Error(`queryTxt EBADNAME ${name}`), { code: 'EBADNAME' })) : OPTIONS.resolver.resolveTxt(name);
    },
  },
};

test('a DKIM d= that is no DNS name (victim/x.attacker) passes nothing: its key is not asked for, DMARC of the victim fails', async () => {
  const signer = 'relaxed.example/x.attacker.example';
  // the attacker's key, where DNS would have found it (the labels "relaxed", "example/x", "attacker", "example")
  const options = { ...asNodeDns, resolver: { ...asNodeDns.resolver, resolveTxt: (name: string) => (name === `sel._domainkey.${signer}` ? Promise.resolve([[KEY]]) : asNodeDns.resolver.resolveTxt(name)) } };
  askedNames.length = 0;
  const path = await spooled('relaxed.example', signer);
  const result = await new SenderAuthFilter(options).check(
    { queueId: 'TEST', clientIp: '198.51.100.7', helo: 'client.test', sender: 'ceo@relaxed.example', recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
    AbortSignal.timeout(10_000),
  );
  assert.equal(result.verdict, 'reject');
  assert.match(result.reasons[0] ?? '', /dmarc=fail: relaxed\.example asks receivers to reject/);
  assert.deepEqual(result.passed?.dmarc, []);
  assert.ok(!askedNames.some((name) => name.includes('/')), 'no name with "/" was asked');
});

test("a From domain too long for DNS under _dmarc. falls back to its organizational domain's policy, not a temperror", async () => {
  const long = `${['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(45)].join('.')}.relaxed.example`;
  assert.equal(long.length, 253);
  askedNames.length = 0;
  const path = await spooled(long);
  const result = await new SenderAuthFilter(asNodeDns).check(
    { queueId: 'TEST', clientIp: '198.51.100.7', helo: 'client.test', sender: `ceo@${long}`, recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
    AbortSignal.timeout(10_000),
  );
  assert.equal(result.verdict, 'reject', result.reasons.join(' | '));
  assert.match(result.reasons[0] ?? '', /dmarc=fail: relaxed\.example asks receivers to reject/);
  assert.ok(askedNames.includes('_dmarc.relaxed.example'));
});

test('a pct= that is no number is the default, 100: the whole policy applies', async () => {
  const options = senderAuthOptions({ '_dmarc.pct.example': ['v=DMARC1; p=reject; pct=abc'] });
  const path = await spooled('pct.example');
  for (let i = 0; i < 3; i++) {
    const result = await new SenderAuthFilter({ ...options, random: () => 0.99 }).check(
      { queueId: 'TEST', clientIp: '198.51.100.7', helo: 'client.test', sender: 'ceo@pct.example', recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
      AbortSignal.timeout(10_000),
    );
    assert.equal(result.verdict, 'reject');
  }
  assert.equal(canonicalDmarcRecord('v=DMARC1; p=reject; pct=abc; pct=; pct=50%'), 'v=DMARC1; p=reject');
  assert.equal(canonicalDmarcRecord('v=DMARC1; p=reject; pct=25'), 'v=DMARC1; p=reject; pct=25');
});

test('a signature that verifies but does not count: rsa-sha1 (RFC 8301), and one whose l= leaves text unsigned after it', async () => {
  const raw = 'From: CEO <ceo@strict.example>\r\nTo: bob@example.test\r\nSubject: signed\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n\r\nPay invoice 1.\r\n';
  const judged = async (message: string) => {
    const path = join(dir, `msg-${counter++}`);
    writeFileSync(path, message);
    const result = await new SenderAuthFilter(OPTIONS).check(
      { queueId: 'TEST', clientIp: '198.51.100.7', helo: 'client.test', sender: 'ceo@strict.example', recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
      AbortSignal.timeout(10_000),
    );
    const results = result.headers?.find((header) => header.name === 'Authentication-Results')?.value ?? '';
    return { verdict: result.verdict, dkim: /\bdkim=(\w+)/.exec(results)?.[1], rule: /policy\.dkim-rules=([\w-]+)/.exec(results)?.[1], dkimPassed: result.passed?.dkim };
  };
  const key = { domain: 'strict.example', selector: 'sel', privateKey: PRIVATE_PEM };
  // the same signature with sha256 passes: what differs is the algorithm
  assert.deepEqual(await judged(await dkimSigned(raw, key)), { verdict: 'accept', dkim: 'pass', rule: undefined, dkimPassed: ['strict.example'] });
  assert.deepEqual(await judged(await dkimSigned(raw, { ...key, algorithm: 'rsa-sha1' })), { verdict: 'reject', dkim: 'policy', rule: 'weak-algorithm', dkimPassed: [] });
  // l= the body's length: all of it signed, a pass; the same message with a payload appended: not a pass
  const limited = await dkimSigned(raw, { ...key, maxBodyLength: 'Pay invoice 1.\r\n'.length });
  assert.deepEqual(await judged(limited), { verdict: 'accept', dkim: 'pass', rule: undefined, dkimPassed: ['strict.example'] });
  assert.deepEqual(await judged(`${limited}Pay to account 666 instead.\r\n`), { verdict: 'reject', dkim: 'policy', rule: 'unsigned-body', dkimPassed: [] });
});

test("DMARC fails while the sender's own DNS failed for the check that could pass it: deferred (451), not refused", async () => {
  // the office's SPF names a provider whose zone answers SERVFAIL: SPF is a temperror (RFC 7208), DMARC has no pass
  const servfail = (name: string) => Promise.reject(Object.assign(new Error(`queryTxt ESERVFAIL ${name}`), { code: 'ESERVFAIL' }));
  const options = senderAuthOptions({ 'office.example': ['v=spf1 include:spf.lame.example include:spf.provider.example -all'], 'spf.provider.example': ['v=spf1 ip4:192.0.2.10 -all'], '_dmarc.office.example': ['v=DMARC1; p=reject'] });
  const lame = { ...options, resolver: { ...options.resolver, resolveTxt: (name: string) => (name === 'spf.lame.example' ? servfail(name) : options.resolver.resolveTxt(name)) } };
  const judge = async (sender: string, from: string) => {
    const path = await spooled(from);
    return new SenderAuthFilter(lame).check(
      { queueId: 'TEST', clientIp: '192.0.2.10', helo: 'client.test', sender, recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
      AbortSignal.timeout(10_000),
    );
  };
  const deferred = await judge('ceo@office.example', 'office.example');
  assert.equal(deferred.verdict, 'tempfail');
  assert.match(deferred.reasons[0] ?? '', /^dmarc=fail: office\.example asks receivers to reject .* failed for DNS \(temperror\): try again later/);
  // a forger's own envelope domain failing for DNS does not align with the From it forges: still refused
  const forged = await judge('x@office.example', 'strict.test');
  assert.equal(forged.verdict, 'reject');
});

test('a deferral is never had where the policy would not refuse: pct below 100, the admin chose "tag", a HELO DNS cannot ask', async () => {
  const servfail = (name: string) => Promise.reject(Object.assign(new Error(`queryTxt ESERVFAIL ${name}`), { code: 'ESERVFAIL' }));
  const options = senderAuthOptions({ 'office.example': ['v=spf1 include:spf.lame.example -all'], '_dmarc.office.example': ['v=DMARC1; p=quarantine; pct=50'], '_dmarc.tagged.example': ['v=DMARC1; p=reject'], '_dmarc.relaxed.example': ['v=DMARC1; p=reject'], 'tagged.example': ['v=spf1 include:spf.lame.example -all'] });
  const lame = { ...options, resolver: { ...options.resolver, resolveTxt: (name: string) => (name === 'spf.lame.example' ? servfail(name) : options.resolver.resolveTxt(name)) } };
  const judge = async (domain: string, more: Partial<typeof lame> = {}, helo = 'client.test', sender = `ceo@${domain}`) => {
    const path = await spooled(domain);
    return (await new SenderAuthFilter({ ...lame, ...more }).check(
      { queueId: 'TEST', clientIp: '192.0.2.10', helo, sender, recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
      AbortSignal.timeout(10_000),
    )).verdict;
  };
  // pct=50: inside the sample quarantined, outside it accepted, each try alike (a deferral would draw again)
  assert.equal(await judge('office.example', { random: () => 0 }), 'quarantine');
  assert.equal(await judge('office.example', { random: () => 0.99 }), 'accept');
  // the admin tags what p=reject asks to refuse: tagged, not deferred
  assert.equal(await judge('tagged.example', { dmarcReject: 'tag' }), 'tag');
  // a bounce (null sender) whose HELO of 254 characters ends in the forged domain: SPF cannot be asked, still refused
  const helo = `${['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(46)].join('.')}.relaxed.example`;
  assert.equal(helo.length, 254);
  assert.equal(await judge('relaxed.example', {}, helo, ''), 'reject');
});

test('a From domain with a capital ẞ is checked as mail programs read it (straße, the address read in lower case), not as UTS 46 maps it (strasse)', async () => {
  // the victim is straße.example (p=reject); the forger owns strasse.example and may send for it
  const options = senderAuthOptions({ '_dmarc.xn--strae-oqa.example': ['v=DMARC1; p=reject'], 'strasse.example': ['v=spf1 ip4:192.0.2.10 -all'] });
  const path = join(dir, `msg-${counter++}`);
  writeFileSync(path, 'From: Chef <chef@STRAẞE.example>\r\nTo: bob@example.test\r\nSubject: s\r\n\r\nZahlen.\r\n');
  const result = await new SenderAuthFilter(options).check(
    { queueId: 'TEST', clientIp: '192.0.2.10', helo: 'client.test', sender: 'chef@strasse.example', recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
    AbortSignal.timeout(10_000),
  );
  assert.equal(result.verdict, 'reject', result.reasons.join(' | '));
});

test('SHA-1 in any algorithm (ed25519-sha1 too) does not count; the finding says why a verified signature does not', async () => {
  const format = (method: string, status: unknown) => `${method}=${(status as { result: string }).result}`;
  for (const algo of ['rsa-sha1', 'ed25519-sha1', 'RSA-SHA1 ']) {
    const outcome = withDkimPolicy({ results: [{ algo, signingDomain: 'x.example', status: { result: 'pass' } }] }, format);
    assert.equal(outcome.results![0]!.status!.result, 'policy', algo);
    assert.equal(outcome.results![0]!.info, 'dkim=policy');
  }
  assert.equal(withDkimPolicy({ results: [{ algo: 'rsa-sha256', status: { result: 'pass' } }] }, format).results![0]!.status!.result, 'pass');
  const raw = 'From: CEO <ceo@strict.example>\r\nTo: bob@example.test\r\nSubject: sha1\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n\r\nHello.\r\n';
  const path = join(dir, `msg-${counter++}`);
  writeFileSync(path, await dkimSigned(raw, { domain: 'strict.example', selector: 'sel', privateKey: PRIVATE_PEM, algorithm: 'rsa-sha1' }));
  const result = await new SenderAuthFilter(OPTIONS).check(
    { queueId: 'TEST', clientIp: '198.51.100.7', helo: 'client.test', sender: 'ceo@strict.example', recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
    AbortSignal.timeout(10_000),
  );
  assert.ok(result.reasons.includes('DKIM_FAIL the signature of strict.example (SHA-1: no longer accepted) does not verify or does not count'), result.reasons.join(' | '));
});

test('a name written in Unicode (a DKIM d= in U-labels, RFC 8616) is asked in punycode, as node:dns asks it', async () => {
  const asked: string[] = [];
  const recording = { ...OPTIONS.resolver, resolveTxt: (name: string) => (asked.push(name), Promise.resolve([[KEY]])) };
  assert.deepEqual(await mailauthResolver(recording)('sel._domainkey.bücher.example', 'TXT'), [[KEY]]);
  assert.deepEqual(asked, ['sel._domainkey.xn--bcher-kva.example']);
  // the form it aligns as (lower case, then punycode): the capital ẞ is asked where straße is, not at strasse
  assert.deepEqual(await mailauthResolver(recording)('sel._domainkey.STRAẞE.example', 'TXT'), [[KEY]]);
  assert.deepEqual(asked, ['sel._domainkey.xn--bcher-kva.example', 'sel._domainkey.xn--strae-oqa.example']);
  // a label that is no name in any script is still no name, not cut where a URL's host would end ("com/ü" is not
  // "com"), nor mapped to another name (full-width letters to ASCII)
  for (const name of ['sel._domainkey.bü/cher.example', 'sel._domainkey.victim.com/ü.attacker.example', 'sel._domainkey.bü cher.example', 'sel._domainkey.ｖictim.example']) {
    await assert.rejects(mailauthResolver(recording)(name, 'TXT'), { code: 'ENOTFOUND' }, name);
  }
  assert.equal(asked.length, 2);
});

test("a sub-domain whose own DMARC look-up fails is judged by its organizational domain's sp=: deferred, not accepted", async () => {
  const servfail = (name: string) => Promise.reject(Object.assign(new Error(`queryTxt ESERVFAIL ${name}`), { code: 'ESERVFAIL' }));
  const options = senderAuthOptions({ '_dmarc.lenient.example': ['v=DMARC1; p=reject; sp=none'], 'own.strict.test': ['v=spf1 ip4:198.51.100.7 -all'] });
  const broken = { ...options, resolver: { ...options.resolver, resolveTxt: (name: string) => (/^_dmarc\.(corp|own)\./.test(name) ? servfail(name) : options.resolver.resolveTxt(name)) } };
  const judge = async (from: string) => {
    const path = await spooled(from);
    return new SenderAuthFilter(broken).check(
      { queueId: 'TEST', clientIp: '198.51.100.7', helo: 'client.test', sender: `ceo@${from}`, recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
      AbortSignal.timeout(10_000),
    );
  };
  // strict.test asks p=reject, so its sub-domains' too (sp defaults to p): a forgery of corp.strict.test is deferred
  const forged = await judge('corp.strict.test');
  assert.equal(forged.verdict, 'tempfail');
  assert.match(forged.reasons[0] ?? '', /^dmarc=temperror: .* strict\.test asks receivers to reject its sub-domains' mail .*try again later/);
  // an organizational domain that lets its sub-domains' mail through (sp=none): the sub-domain's own policy is still
  // unknown, and nothing passed for it: deferred as any policy that cannot be looked up
  // its own SPF passed (aligned): it would pass any policy, nothing to defer
  assert.equal((await judge('own.strict.test')).verdict, 'accept');
  const lenient = await judge('corp.lenient.example');
  assert.equal(lenient.verdict, 'tempfail');
  assert.match(lenient.reasons[0] ?? '', /^dmarc=temperror: the DMARC policy of corp\.lenient\.example could not be looked up, and neither SPF nor DKIM passed for it/);
});

test("the From domain's own DMARC look-up fails: deferred (451) unless SPF or DKIM passed aligned with it, or the admin chose tag", async () => {
  const servfail = (name: string) => Promise.reject(Object.assign(new Error(`queryTxt ESERVFAIL ${name}`), { code: 'ESERVFAIL' }));
  const options = senderAuthOptions({ 'office.example': SPF, 'bounce.office.example': SPF, 'sel._domainkey.office.example': [KEY] });
  const broken = { ...options, resolver: { ...options.resolver, resolveTxt: (name: string) => (name === '_dmarc.office.example' ? servfail(name) : options.resolver.resolveTxt(name)) } };
  const judge = async (sender: string, clientIp: string, more: Partial<typeof broken> = {}, signer?: string) => {
    const path = await spooled('office.example', signer);
    return new SenderAuthFilter({ ...broken, ...more }).check(
      { queueId: 'TEST', clientIp, helo: 'client.test', sender, recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
      AbortSignal.timeout(10_000),
    );
  };
  // a forger: its client is no sender for office.example, nothing is signed
  const forged = await judge('ceo@office.example', '198.51.100.7');
  assert.equal(forged.verdict, 'tempfail');
  assert.match(forged.reasons[0] ?? '', /^dmarc=temperror: the DMARC policy of office\.example could not be looked up, and neither SPF nor DKIM passed for it: try again later/);
  // SPF passed for a domain of someone else: not aligned, deferred too
  assert.equal((await judge('alice@sender.test', '192.0.2.10', { resolver: { ...broken.resolver, resolveTxt: (name: string) => (name === 'sender.test' ? Promise.resolve([SPF]) : broken.resolver.resolveTxt(name)) } })).verdict, 'tempfail');
  // an aligned pass would pass any policy: SPF for the domain or a sub-domain of it, or its DKIM signature
  for (const [sender, clientIp, signer] of [['ceo@office.example', '192.0.2.10'], ['bounces@bounce.office.example', '192.0.2.10'], ['ceo@office.example', '198.51.100.7', 'office.example']] as const) {
    const passed = await judge(sender, clientIp, {}, signer);
    assert.equal(passed.verdict, 'accept', `${sender} ${clientIp} ${signer ?? ''}`);
    assert.match(passed.reasons[0] ?? '', /dmarc=temperror/);
  }
  // the admin asked DMARC to refuse nothing (tag): nothing deferred either
  assert.equal((await judge('ceo@office.example', '198.51.100.7', { dmarcReject: 'tag' })).verdict, 'accept');
});

test('under aspf=s a temperror for a sub-domain could not have aligned: refused, not deferred', async () => {
  const servfail = (name: string) => Promise.reject(Object.assign(new Error(`queryTxt ESERVFAIL ${name}`), { code: 'ESERVFAIL' }));
  const broken = { ...OPTIONS, resolver: { ...OPTIONS.resolver, resolveTxt: (name: string) => (name === 'corp.strict.example' || name === 'corp.relaxed.example' ? servfail(name) : OPTIONS.resolver.resolveTxt(name)) } };
  const judge = async (from: string) => {
    const path = await spooled(from);
    return (await new SenderAuthFilter(broken).check(
      { queueId: 'TEST', clientIp: '198.51.100.7', helo: 'client.test', sender: `x@corp.${from}`, recipients: ['bob@example.test'], path, size: 0, headers: [], tls: false, authenticatedUser: null },
      AbortSignal.timeout(10_000),
    )).verdict;
  };
  assert.equal(await judge('strict.example'), 'reject');
  // relaxed: the sub-domain's SPF could have aligned, so its DNS failure defers
  assert.equal(await judge('relaxed.example'), 'tempfail');
});
