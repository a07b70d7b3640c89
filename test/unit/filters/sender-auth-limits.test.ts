// Sender authentication's bounds (filters/mailauth-signature-limits.ts, MAX_FROM_DOMAINS): each just under its limit
// is checked as usual, one step beyond is not checked and gets the unchecked verdict; and DMARC for a From with more
// than one address, which mailauth leaves unchecked, is applied to each domain.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_FROM_DOMAINS, SenderAuthFilter, type AuthResolver, type SenderAuthOptions } from '../../../src-relay/filters/sender-auth.ts';
import { MAX_ARC_SETS, MAX_BODY_HASHES, MAX_DKIM_SIGNATURES, MAX_SIGNATURE_FIELD_BYTES, MAX_SIGNED_FIELDS } from '../../../src-relay/filters/mailauth-signature-limits.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { senderAuthOptions } from '../../helpers/sender-auth-options.ts';

const dir = tempDir('moat-sender-auth-limits-');
after(() => rmSync(dir, { recursive: true, force: true }));

// 198.51.100.7 is no permitted sender of any of these: DMARC fails wherever it applies
const OPTIONS = senderAuthOptions();
const { resolver } = OPTIONS;

let counter = 0;
async function check(header: string, options: Partial<SenderAuthOptions> = {}, sender = 'alice@sender.test') {
  return checkFrom('198.51.100.7', header, sender, options);
}
async function checkFrom(clientIp: string, header: string, sender: string, options: Partial<SenderAuthOptions> = {}) {
  const raw = `Received: from client.test ([${clientIp}]) by relay.example.test with ESMTP id LIMIT${counter}\r\n${header}To: bob@example.test\r\nSubject: limits ${counter}\r\n\r\nHello.\r\n`;
  const path = join(dir, `msg-${counter++}`);
  writeFileSync(path, raw);
  const context = { queueId: 'TEST', clientIp, helo: 'client.test', sender, recipients: ['bob@example.test'], path, size: raw.length, headers: [], tls: false, authenticatedUser: null };
  return new SenderAuthFilter({ ...OPTIONS, ...options }).check(context, AbortSignal.timeout(10_000));
}

/** A DKIM-Signature that parses and is worth checking, but whose body hash is wrong: no key is ever looked up. */
const signature = (tags = '') => `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.test; s=sel; h=from:to; bh=AAAA; b=AAAA${tags}\r\n`;
const FROM = 'From: Alice <alice@sender.test>\r\n';
const notChecked = (result: { verdict: string; reasons: readonly string[] }, why: RegExp) => {
  assert.equal(result.verdict, 'quarantine');
  assert.match(result.reasons[0]!, /^not checked: /);
  assert.match(result.reasons[0]!, why);
};
const checked = (result: { verdict: string; reasons: readonly string[] }) => {
  assert.doesNotMatch(result.reasons.join(' '), /not checked/);
  assert.match(result.reasons[0]!, /^spf=fail /);
};

test(`DKIM signatures: ${MAX_DKIM_SIGNATURES} are checked, one more is not (quarantine, or refused when filters.unchecked says so)`, async () => {
  const under = await check(FROM + signature().repeat(MAX_DKIM_SIGNATURES));
  checked(under);
  assert.match(under.reasons[0]!, /dkim=neutral/, 'the signatures were looked at');
  notChecked(await check(FROM + signature().repeat(MAX_DKIM_SIGNATURES + 1)), /more than 10 DKIM signatures/);
  const refused = await check(FROM + signature().repeat(MAX_DKIM_SIGNATURES + 1), { unchecked: 'reject' });
  assert.equal(refused.verdict, 'reject');
  // the attack this bounds: thousands of signatures, each with its own l= (one pass over the body each)
  const flood = Array.from({ length: 4_000 }, (_, i) => signature(`; l=${1e9 + i}`)).join('');
  notChecked(await check(FROM + flood), /more than 10 DKIM signatures/);
});

test('past a signature bound, a From still fails DMARC on SPF alone: a forged p=reject domain is refused, not quarantined; a pass lifts nothing', async () => {
  const forged = 'From: CEO <ceo@strict.test>\r\n';
  const over = {
    signatures: signature().repeat(MAX_DKIM_SIGNATURES + 1),
    'body hashes': Array.from({ length: MAX_BODY_HASHES + 1 }, (_, i) => signature(`; l=${1000 + i}`)).join(''),
    'ARC sets': Array.from({ length: MAX_ARC_SETS + 1 }, (_, i) => `ARC-Seal: i=${i + 1}; a=rsa-sha256; cv=none; d=sender.test; s=sel; b=AAAA\r\n`).join(''),
  };
  for (const [bound, fields] of Object.entries(over)) {
    const refused = await check(forged + fields);
    assert.equal(refused.verdict, 'reject', bound);
    assert.match(refused.reasons[0]!, /^dmarc=fail: strict\.test asks receivers to reject .*\(spf=fail dkim=unchecked dmarc=fail\)/, bound);
    assert.match(refused.reasons.at(-1)!, /^not checked: /, bound);
  }
  // p=quarantine, and DMARC passed on SPF (the client may send for strict.test): the unchecked verdict, DMARC beside it
  const quarantined = await check('From: a@careful.test\r\n' + over.signatures);
  notChecked(quarantined, /more than 10 DKIM signatures/);
  assert.match(quarantined.reasons[1]!, /^on SPF alone: dmarc=fail: careful\.test asks receivers to quarantine/);
  const passedOnSpf = await checkFrom('192.0.2.10', forged + over.signatures, 'ceo@strict.test');
  notChecked(passedOnSpf, /more than 10 DKIM signatures/);
  assert.equal(passedOnSpf.reasons[1], 'on SPF alone: spf=pass dkim=unchecked dmarc=pass');
  // a From that cannot be read either: the first reason stands
  const unreadable = await check('From: "CEO <ceo@strict.test>\r\n' + over.signatures);
  notChecked(unreadable, /more than 10 DKIM signatures/);
  assert.equal(unreadable.reasons[1], 'not checked: a From field that cannot be read as addresses');
  // a signature by the From domain among them could have passed DMARC (a forwarded message of its own): not refused
  const forwarded = await check(forged + signature().replace('d=sender.test', 'd=mail.strict.test') + over.signatures);
  notChecked(forwarded, /more than 10 DKIM signatures/);
  assert.match(forwarded.reasons[1]!, /^on SPF alone: dmarc=fail: strict\.test asks receivers to reject .*; not refused: a signature by mail\.strict\.test could not be verified$/);
  // DMARC's policy could not be looked up, nothing passed: deferred, as without the signatures
  const servfail = { ...resolver, resolveTxt: (name: string) => (name === '_dmarc.strict.test' ? Promise.reject(Object.assign(new Error('ESERVFAIL'), { code: 'ESERVFAIL' })) : resolver.resolveTxt(name)) };
  const deferred = await check(forged + over.signatures, { resolver: servfail });
  assert.equal(deferred.verdict, 'tempfail');
  assert.match(deferred.reasons[0]!, /^dmarc=temperror: the DMARC policy of strict\.test could not be looked up/);
  assert.match(deferred.reasons.at(-1)!, /^not checked: more than 10 DKIM signatures/);
});

test('past a signature bound, each From domain is judged on its own: a signature by one does not soften what another asks', async () => {
  const junk = signature().repeat(MAX_DKIM_SIGNATURES);
  const by = (domain: string) => signature().replace('d=sender.test', `d=${domain}`);
  const lame = { ...resolver, resolveTxt: (name: string) => (name === '_dmarc.victim.test' ? Promise.reject(Object.assign(new Error('ESERVFAIL'), { code: 'ESERVFAIL' })) : resolver.resolveTxt(name)) };
  // strict.test's refusal is softened by its own signature; victim.test's policy cannot be looked up: deferred
  const deferred = await check(`From: ceo@strict.test, ceo@victim.test\r\n${by('strict.test')}${junk}`, { resolver: lame });
  assert.equal(deferred.verdict, 'tempfail');
  assert.match(deferred.reasons[0]!, /^dmarc=temperror: the DMARC policy of victim\.test could not be looked up/);
  // a signature by the other address's domain softens nothing, in either order
  for (const from of ['a@other.test, ceo@strict.test', 'ceo@strict.test, a@other.test']) {
    const refused = await check(`From: ${from}\r\n${by('other.test')}${junk}`);
    assert.equal(refused.verdict, 'reject', from);
  }
});

test('a signature by the From domain is found however its fields are written: folded, spaced, in Unicode, after a z= copy of other fields', async () => {
  const junk = signature().repeat(MAX_DKIM_SIGNATURES);
  const idn = { ...resolver, resolveTxt: (name: string) => (name === '_dmarc.xn--bcher-kva.example' ? Promise.resolve([['v=DMARC1; p=reject']]) : resolver.resolveTxt(name)) };
  for (const [from, field] of [
    ['ceo@strict.test', 'DKIM-Signature: v=1; a=rsa-sha256; z=From:ceo=40x|Subject:d=3Dattacker.example; d=mail.strict.test; s=sel; bh=AAAA; b=AAAA\r\n'],
    ['ceo@strict.test', 'DKIM-Signature: v=1; a=rsa-sha256;\r\n\tD = strict.test ; s=sel; bh=AAAA; b=AAAA\r\n'],
    ['ceo@bücher.example', 'DKIM-Signature: v=1; a=rsa-sha256; d=bücher.example; s=sel; bh=AAAA; b=AAAA\r\n'],
  ]) {
    const result = await check(`From: ${from}\r\n${field}${junk}`, { resolver: idn });
    assert.equal(result.verdict, 'quarantine', field);
    assert.match(result.reasons.join(' '), /not refused: a signature by \S+ could not be verified/, field);
  }
  // a tag whose name only ends in "d" is no d=
  const refused = await check(`From: ceo@strict.test\r\nDKIM-Signature: v=1; a=rsa-sha256; bd=strict.test; d=attacker.example; s=sel; bh=AAAA; b=AAAA\r\n${junk}`);
  assert.equal(refused.verdict, 'reject');
});

test('a From that cannot be read whole is judged on the domains that could be read: a forgery beside a bad address is still refused or deferred', async () => {
  const lame = { ...resolver, resolveTxt: (name: string) => (name === '_dmarc.victim.test' ? Promise.reject(Object.assign(new Error('ESERVFAIL'), { code: 'ESERVFAIL' })) : resolver.resolveTxt(name)) };
  const deferred = await check('From: ceo@victim.test, x@-x-\r\n', { resolver: lame });
  assert.equal(deferred.verdict, 'tempfail');
  assert.match(deferred.reasons.at(-1)!, /^not checked: a From address whose domain is no host name \("-x-"\)/);
  const refused = await check('From: ceo@strict.test, x@-x-\r\n');
  assert.equal(refused.verdict, 'reject');
  // nothing readable asks more: the unchecked verdict, with what DMARC said beside it
  const kept = await check('From: x@sender.test, y@-x-\r\n');
  notChecked(kept, /a From address whose domain is no host name/);
  assert.match(kept.reasons[1]!, /^on the From domains that could be read: spf=fail dkim=none arc=none dmarc=none/);
  // and no Authentication-Results: a pass for part of a From not read whole would mislead whoever releases it
  assert.equal(kept.headers, undefined);
});

test("one message asks each DMARC name once: five sub-domains of one organizational domain whose policy fails", async () => {
  const asked: string[] = [];
  const failing = {
    ...resolver,
    resolveTxt: (name: string) => {
      asked.push(name);
      return name.endsWith('org.test') ? Promise.reject(Object.assign(new Error(`queryTxt ESERVFAIL ${name}`), { code: 'ESERVFAIL' })) : resolver.resolveTxt(name);
    },
  };
  const from = `From: ${Array.from({ length: MAX_FROM_DOMAINS }, (_, i) => `ceo@s${i}.org.test`).join(', ')}\r\n`;
  const result = await check(from, { resolver: failing });
  assert.equal(result.verdict, 'tempfail');
  const dmarc = asked.filter((name) => name.startsWith('_dmarc.'));
  assert.deepEqual(dmarc.filter((name) => name === '_dmarc.org.test'), ['_dmarc.org.test'], JSON.stringify(dmarc));
  assert.equal(new Set(dmarc).size, dmarc.length, JSON.stringify(dmarc));
});

test('Authentication-Results has a DMARC part for each From domain, and the summary names the one that says least for the message', async () => {
  const tagged = await check('From: x@attacker.test, ceo@strict.test\r\n', { dmarcReject: 'tag', resolver: { ...resolver, resolveTxt: (name: string) => (name === '_dmarc.attacker.test' ? Promise.resolve([['v=DMARC1; p=none']]) : name === 'attacker.test' ? Promise.resolve([['v=spf1 ip4:198.51.100.7 -all']]) : resolver.resolveTxt(name)) } }, 'x@attacker.test');
  assert.equal(tagged.verdict, 'tag');
  const results = tagged.headers!.find((header) => header.name === 'Authentication-Results')!.value;
  assert.match(results, /dmarc=pass[^;]*header\.from=attacker\.test/);
  assert.match(results, /dmarc=fail[^;]*header\.from=strict\.test/);
  assert.match(tagged.reasons[0]!, /dmarc=fail/);
});

test('past a signature bound, an SPF check that failed (its client hung up and ended it) fails the check: no unchecked verdict in its place', async () => {
  const slow = { ...resolver, resolveTxt: (name: string) => (name === 'slow.attacker.test' ? new Promise<string[][]>((resolve) => setTimeout(() => resolve([['v=spf1 -all']]), 3000)) : resolver.resolveTxt(name)) };
  for (const extra of ['', signature().repeat(MAX_DKIM_SIGNATURES + 1)]) {
    const raw = `From: CEO <ceo@strict.test>\r\n${extra}To: bob@example.test\r\nSubject: hung up ${counter}\r\n\r\nPay it.\r\n`;
    const path = join(dir, `msg-${counter++}`);
    writeFileSync(path, raw);
    const filter = new SenderAuthFilter({ ...OPTIONS, resolver: slow });
    const transaction = { clientIp: '198.51.100.7', helo: 'client.test', sender: 'x@slow.attacker.test' };
    const early = filter.startSpf(transaction);
    setTimeout(() => early.abort(), 100);
    const context = { queueId: 'TEST', ...transaction, recipients: ['bob@example.test'], path, size: raw.length, headers: [], tls: false, authenticatedUser: null, earlySpf: early };
    await assert.rejects(filter.check(context, AbortSignal.timeout(10_000)), /dropped with its transaction/, extra ? 'with eleven signatures' : 'without');
  }
});

test(`body hashes: signatures asking for ${MAX_BODY_HASHES} different ones are checked, for one more are not`, async () => {
  const lengths = (n: number) => Array.from({ length: n }, (_, i) => signature(`; l=${1000 + i}`)).join('');
  checked(await check(FROM + lengths(MAX_BODY_HASHES)));
  notChecked(await check(FROM + lengths(MAX_BODY_HASHES + 1)), new RegExp(`${MAX_BODY_HASHES + 1} different body hashes, over the limit of ${MAX_BODY_HASHES}`));
});

test(`signed header names: ${MAX_SIGNED_FIELDS} in h= are checked, one more is not`, async () => {
  const names = (n: number) => signature().replace('h=from:to', `h=${Array.from({ length: n }, (_, i) => (i % 2 ? 'from' : `x-absent-${i}`)).join(':')}`);
  checked(await check(FROM + names(MAX_SIGNED_FIELDS)));
  notChecked(await check(FROM + names(MAX_SIGNED_FIELDS + 1)), /signs 101 header fields, over the limit of 100/);
});

test(`a signature field of ${MAX_SIGNATURE_FIELD_BYTES} bytes is checked, one byte more is not`, async () => {
  const padded = (bytes: number) => {
    const line = signature('; z=').slice(0, -2);
    return `${line}${'a'.repeat(bytes - line.length)}\r\n`;
  };
  assert.equal(padded(MAX_SIGNATURE_FIELD_BYTES).length, MAX_SIGNATURE_FIELD_BYTES + 2);
  checked(await check(FROM + padded(MAX_SIGNATURE_FIELD_BYTES)));
  notChecked(await check(FROM + padded(MAX_SIGNATURE_FIELD_BYTES + 1)), /a field dkim-signature of 65537 bytes/);
});

test(`ARC: ${MAX_ARC_SETS} ARC-Seal fields are looked at, one more is not`, async () => {
  const seals = (n: number) => Array.from({ length: n }, (_, i) => `ARC-Seal: i=${i + 1}; a=rsa-sha256; cv=none; d=sender.test; s=sel; b=AAAA\r\n`).join('');
  checked(await check(FROM + seals(MAX_ARC_SETS)));
  notChecked(await check(FROM + seals(MAX_ARC_SETS + 1)), /more than 50 arc-seal fields/);
});

test('DMARC with more than one From address: each domain is checked and the strictest policy counts (mailauth alone says none)', async () => {
  const rejected = (result: { verdict: string; reasons: readonly string[] }) => {
    assert.equal(result.verdict, 'reject');
    assert.match(result.reasons[0]!, /^dmarc=fail: strict\.test asks receivers to reject/);
  };
  // one From field with two addresses, either order; two From fields; two addresses of the one domain
  rejected(await check('From: CEO <ceo@strict.test>, <nobody@example.invalid>\r\n'));
  rejected(await check('From: <nobody@example.invalid>, CEO <ceo@strict.test>\r\n'));
  rejected(await check('From: CEO <ceo@strict.test>\r\nFrom: x@example.invalid\r\n', {}, 'x@example.invalid'));
  rejected(await check('From: ceo@strict.test, cfo@STRICT.test\r\n'));
  // reject beats quarantine, whichever comes first
  rejected(await check('From: a@careful.test, ceo@strict.test\r\n'));
  const careful = await check('From: a@careful.test, b@sender.test\r\n');
  assert.equal(careful.verdict, 'quarantine');
  assert.match(careful.reasons[0]!, /^dmarc=fail: careful\.test asks receivers to quarantine/);
  // a domain whose policy cannot be looked up is deferred, whatever another address beside it says: one that fails
  // under p=none, or one its own SPF passes for
  const lame = {
    ...resolver,
    resolveTxt: (name: string) =>
      name === '_dmarc.victim.test' || name === '_dmarc.lame.attacker.test'
        ? Promise.reject(Object.assign(new Error(`queryTxt ESERVFAIL ${name}`), { code: 'ESERVFAIL' }))
        : name === '_dmarc.attacker.test'
          ? Promise.resolve([['v=DMARC1; p=none']])
          : name === 'lame.attacker.test'
            ? Promise.resolve([['v=spf1 ip4:198.51.100.7 -all']])
            : resolver.resolveTxt(name),
  };
  for (const [from, sender] of [['ceo@victim.test', 'x@sender.test'], ['ceo@victim.test, x@attacker.test', 'x@sender.test'], ['x@attacker.test, ceo@victim.test', 'x@sender.test'], ['x@lame.attacker.test, ceo@victim.test', 'x@lame.attacker.test']]) {
    const result = await check(`From: ${from}\r\n`, { resolver: lame }, sender);
    assert.equal(result.verdict, 'tempfail', from);
    assert.match(result.reasons[0]!, /^dmarc=temperror: the DMARC policy of victim\.test could not be looked up/, from);
  }
});

test(`a From naming ${MAX_FROM_DOMAINS} domains is checked for each, one more is not checked`, async () => {
  const from = (n: number) => `From: ${['ceo@strict.test', ...Array.from({ length: n - 1 }, (_, i) => `x@d${i}.example.invalid`)].join(', ')}\r\n`;
  const under = await check(from(MAX_FROM_DOMAINS));
  assert.equal(under.verdict, 'reject');
  // one more is not checked whole: the first five are still judged, and strict.test among them refuses it
  const over = await check(from(MAX_FROM_DOMAINS + 1));
  assert.equal(over.verdict, 'reject');
  assert.match(over.reasons[0]!, /^dmarc=fail: strict\.test asks receivers to reject/);
  assert.match(over.reasons.at(-1)!, /^not checked: a From naming 6 domains, over the limit of 5/);
  const quiet = (n: number) => `From: ${Array.from({ length: n }, (_, i) => `x@d${i}.example.invalid`).join(', ')}\r\n`;
  notChecked(await check(quiet(MAX_FROM_DOMAINS + 1)), /a From naming 6 domains, over the limit of 5/);
  // raw UTF-8 in a group, read as UTF-8: its own domain, not a garbled one
  const idn = await check('From: Board: ceo@bücher.example, x@sender.test;\r\n', { resolver: { ...OPTIONS.resolver, resolveTxt: (name: string) => (name === '_dmarc.xn--bcher-kva.example' ? Promise.resolve([['v=DMARC1; p=reject']]) : OPTIONS.resolver.resolveTxt(name)) } });
  assert.equal(idn.verdict, 'reject');
});

test('a DKIM or ARC field naming __proto__ is not checked, and nothing reaches Object.prototype', async () => {
  notChecked(await check(`${FROM}ARC-Authentication-Results: i=1; mx.example.test; spf=pass __proto__.seal=1\r\n`), /a field arc-authentication-results naming __proto__/);
  notChecked(await check(FROM + signature('; __proto__=x')), /a field dkim-signature naming __proto__/);
  // spelled with what mailauth's parser drops: quotes, a backslash, a folded line
  for (const spelled of ['_"_"proto__.seal=1', "_'_'proto__.seal=1", '_\\_proto__.seal=1', '__pro\r\n to__.seal=1']) {
    notChecked(await check(`${FROM}ARC-Authentication-Results: i=1; mx.example.test; spf=pass ${spelled}\r\n`), /naming __proto__/);
  }
  assert.equal((Object.prototype as Record<string, unknown>).seal, undefined);
  checked(await check(FROM + signature()));
});

test('DMARC reads every address a From field shows as RFC 5322 reads it: in a group, behind a comment or spaces, quoted, doubled "@"', async () => {
  for (const from of [
    'From: Board: CEO <ceo@strict.test>;',
    'From: undisclosed:ceo@strict.test',
    'From: CEO <ceo@(a comment)strict.test>',
    'From: CEO <ceo @ strict . test>',
    'From: Board: "ceo"@strict.test, x@attacker.example;',
    'From: ceo@strict.test (a comment, x@attacker.example)',
    'From: ceo@strict.test@attacker.example',
  ]) {
    const result = await check(`${from}\r\n`);
    assert.equal(result.verdict, 'reject', from);
    assert.match(result.reasons[0]!, /^dmarc=fail: strict\.test asks receivers to reject/, from);
  }
});

test('a From that cannot be read (no address, words after the brackets, a domain that is no host name) is not checked; one without From is', async () => {
  notChecked(await check('From: =?utf-8?Q?CEO_ceo=40strict.test?=\r\n'), /a From field with no address in it/);
  notChecked(await check('From: "CEO <ceo@strict.test>\r\n'), /a From field that cannot be read as addresses/);
  notChecked(await check('From: The CEO\r\n'), /a From field with no address in it/);
  // what mail programs read otherwise than a word search would: a mailbox before a ":" (no group name), words after
  // an address or its brackets, an encoded word where the address goes (Thunderbird decodes it), empty brackets
  for (const from of [
    'a <b@attacker.example> ceo@strict.test',
    '<ceo@strict.test>:<x@sender.test>',
    'CEO <ceo@strict.test>:<x@sender.test>',
    '<ceo@strict.test>[:<x@sender.test>',
    'ceo@strict.test:, x@sender.test',
    'ceo@strict.test x',
    'ceo@strict.test (CEO) x',
    'Jane <x@sender.test> via list',
    '<=?utf-8?q?ceo=40strict.test?=>, x@sender.test',
    '<>, x@sender.test',
  ]) {
    notChecked(await check(`From: ${from}\r\n`), /a From field that cannot be read as addresses/);
  }
  notChecked(await check('From: CEO <ceo@strict.test;>\r\n'), /a From address whose domain is no host name \("strict\.test;"\)/);
  notChecked(await check(`From: ceo@${'a'.repeat(64)}.strict.test\r\n`), /whose domain is no host name/);
  notChecked(await check('From: ceo@[192.0.2.1]\r\n'), /whose domain is no host name/);
  // but an address in a display name or a comment is not the sender: not refused for the domain it names
  // nor are the words of an unquoted display name with a comma (some mail programs write it so)
  for (const from of ['"ceo@strict.test" <x@sender.test>', 'x@sender.test (ceo@strict.test)', 'Doe, Jane <x@sender.test>']) {
    const result = await check(`From: ${from}\r\n`);
    assert.equal(result.verdict, 'accept', from);
    assert.match(result.reasons[0]!, /dmarc=none/, from);
  }
  const noFrom = await check('');
  assert.equal(noFrom.verdict, 'accept');
  assert.match(noFrom.reasons[0]!, /dmarc=none/);
});

test("look-ups the sender makes slow (its DKIM keys never answer) do not use up the From domain's DMARC look-up: still refused", async () => {
  const bh = createHash('sha256').update('Hello.\r\n').digest('base64');
  const signatures = [1, 2, 3].map((n) => `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=slow.test; s=sel${n}; h=from; bh=${bh}; b=AAAA\r\n`).join('');
  const hanging: AuthResolver = { ...resolver, resolveTxt: (name: string) => (name.endsWith('._domainkey.slow.test') ? new Promise<string[][]>(() => {}) : resolver.resolveTxt(name)) };
  const result = await check(`${signatures}From: CEO <ceo@strict.test>\r\n`, { resolver: hanging, lookupTimeoutMs: 100, dnsBudgetMs: 250 });
  assert.match(result.reasons.join(' '), /dkim=temperror/, 'the keys were asked for and never came');
  assert.equal(result.verdict, 'reject');
  assert.match(result.reasons[0]!, /^dmarc=fail: strict\.test asks receivers to reject/);
});
