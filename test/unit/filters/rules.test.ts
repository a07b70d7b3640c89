import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BuiltinRulesFilter, BUILTIN_RULES, GTUBE } from '../../../src-relay/filters/builtin-rules.ts';
import { AttachmentFilter, effectiveExtension } from '../../../src-relay/filters/attachments.ts';
import { BUILTIN_RULE_IDS, ConfigSchema, DEFAULT_BLOCKED_EXTENSIONS } from '../../../src-relay/config/schema.ts';
import { decide } from '../../../src-relay/filters/policy.ts';
import { SenderLists } from '../../../src-relay/filters/sender-lists.ts';
import { openDatabase } from '../../../src-relay/store/db.ts';
import type { MessageContext, MimePart, MimeSummary } from '../../../src-relay/filters/types.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const NOW = Date.parse('2026-11-28T10:00:00Z');
const GOOD_HEADERS = [
  { name: 'From', value: 'Alice <alice@sender.test>' },
  { name: 'To', value: 'bob@example.test' },
  { name: 'Subject', value: 'hello' },
  { name: 'Date', value: 'Sat, 28 Nov 2026 09:00:00 +0000' },
  { name: 'Message-ID', value: '<1@sender.test>' },
];

function part(extra: Partial<MimePart>): MimePart {
  return { part: '1', contentType: 'text/plain', disposition: null, filename: null, names: [], transferEncoding: '7bit', size: 10, detectedType: null, ...extra };
}

function context(headers = GOOD_HEADERS, mime: Partial<MimeSummary> = {}, extra: Partial<MessageContext> = {}): MessageContext {
  return {
    queueId: 'Q', clientIp: '192.0.2.1', helo: 'x', sender: 'alice@sender.test', recipients: ['bob@example.test'], path: '/nonexistent', size: 1,
    headers, tls: false, authenticatedUser: null,
    mime: { parts: [part({})], text: 'Hello there, a normal message.', plainChars: 25, htmlChars: 0, anomalies: [], unchecked: [], sealed: [], ...mime },
    ...extra,
  };
}

const rules = new BuiltinRulesFilter({ domains: ['example.test'], clock: () => NOW });
const hits = async (ctx: MessageContext) => (await rules.check(ctx)).reasons.map((reason) => reason.split(' ')[0]);

test('an ordinary message hits no rule', async () => {
  assert.deepEqual(await hits(context()), []);
});

test('GTUBE alone is past any reject score', async () => {
  const result = await rules.check(context(GOOD_HEADERS, { text: `x ${GTUBE} y` }));
  assert.ok(result.score >= 1000);
});

test('missing and malformed Date, From, Message-ID are each named', async () => {
  assert.deepEqual(await hits(context([{ name: 'Subject', value: 's' }])), ['MISSING_DATE', 'MISSING_FROM', 'MISSING_MESSAGE_ID']);
  assert.deepEqual(
    await hits(context([{ name: 'From', value: 'nobody' }, { name: 'Date', value: 'yesterday' }, { name: 'Message-ID', value: 'no-brackets' }, { name: 'Subject', value: 's' }])),
    ['MALFORMED_DATE', 'MALFORMED_FROM', 'MALFORMED_MESSAGE_ID'],
  );
  assert.deepEqual(await hits(context(GOOD_HEADERS.map((h) => (h.name === 'Date' ? { ...h, value: 'Sat, 28 Nov 2027 09:00:00 +0000' } : h)))), ['FUTURE_DATE']);
});

test('From our own domain from outside is suspicious unless DKIM, DMARC or SPF passed for it', async () => {
  const own = GOOD_HEADERS.map((h) => (h.name === 'From' ? { ...h, value: 'CEO <ceo@example.test>' } : h));
  assert.deepEqual(await hits(context(own)), ['FROM_OWN_DOMAIN_UNAUTHENTICATED']);
  // what sender authentication passed, as data (FilterResult.passed); the header text is not read
  const passedAs = (passed: { dmarc: string[]; dkim: string[]; spf?: string[] }, value = '') => [{ filter: 'sender-auth', verdict: 'accept' as const, score: 0, reasons: [], headers: [{ name: 'Authentication-Results', value }], passed }];
  assert.deepEqual(await hits(context(own, {}, { results: passedAs({ dmarc: [], dkim: ['example.test'] }) })), []);
  assert.deepEqual(await hits(context(own, {}, { authenticatedUser: 'ceo' })), []);
  // a sub-domain of ours signing; a DMARC pass for our domain
  assert.deepEqual(await hits(context(own, {}, { results: passedAs({ dmarc: [], dkim: ['mail.example.test'] }) })), []);
  assert.deepEqual(await hits(context(own, {}, { results: passedAs({ dmarc: ['example.test'], dkim: [] }) })), []);
  // the office's web shop, sending as our domain from a host our SPF record allows, with no DMARC record published
  assert.deepEqual(await hits(context(own, {}, { results: passedAs({ dmarc: [], dkim: [], spf: ['example.test'] }) })), []);
  assert.deepEqual(await hits(context(own, {}, { results: passedAs({ dmarc: [], dkim: [], spf: ['attacker.test'] }) })), ['FROM_OWN_DOMAIN_UNAUTHENTICATED'], "an SPF pass for the sender's own domain is not one for ours");
  // an attacker's signature passes for its own domain, not for ours; words in the header text count for nothing
  assert.deepEqual(await hits(context(own, {}, { results: passedAs({ dmarc: [], dkim: ['attacker.test', 'notexample.test', 'test'] }) })), ['FROM_OWN_DOMAIN_UNAUTHENTICATED']);
  const spoken = 'spf=fail smtp.mailfrom="dmarc=pass@attacker.test"; dkim=pass header.d=example.test (header.i=@example.test); dmarc=pass';
  assert.deepEqual(await hits(context(own, {}, { results: passedAs({ dmarc: [], dkim: [] }, spoken) })), ['FROM_OWN_DOMAIN_UNAUTHENTICATED']);
  // a sub-domain of ours, and the relay's own name (the sender of its quarantine digests), forged from outside
  const withHost = new BuiltinRulesFilter({ domains: ['example.test'], hostname: 'mx.office-relay.test', clock: () => NOW });
  for (const value of ['IT <it@sub.example.test>', '"Mail filter on mx.office-relay.test" <postmaster@mx.office-relay.test>']) {
    const reasons = (await withHost.check(context(GOOD_HEADERS.map((h) => (h.name === 'From' ? { ...h, value } : h))))).reasons;
    assert.ok(reasons.some((reason) => reason.startsWith('FROM_OWN_DOMAIN_UNAUTHENTICATED')), value);
  }
  // a pass for another name of ours counts (relaxed alignment): news.example.test sent through bounce.example.test
  const news = GOOD_HEADERS.map((h) => (h.name === 'From' ? { ...h, value: 'News <news@news.example.test>' } : h));
  assert.deepEqual(await hits(context(news, {}, { results: passedAs({ dmarc: [], dkim: [], spf: ['bounce.example.test'] }) })), []);
  assert.deepEqual(await hits(context(news, {}, { results: passedAs({ dmarc: [], dkim: ['example.test.attacker.test'] }) })), ['FROM_OWN_DOMAIN_UNAUTHENTICATED']);
  // a domain that only ends in the same letters is not ours
  assert.deepEqual(await hits(context(GOOD_HEADERS.map((h) => (h.name === 'From' ? { ...h, value: 'x <x@notexample.test>' } : h)))), []);
  // our domain behind a comment or spaces, as RFC 5322 reads it (and a mail program shows it)
  for (const value of ['CEO <ceo@(x)example.test>', 'CEO <ceo @ example . test>', 'Board: ceo@example.test;']) {
    assert.ok((await hits(context(GOOD_HEADERS.map((h) => (h.name === 'From' ? { ...h, value } : h))))).includes('FROM_OWN_DOMAIN_UNAUTHENTICATED'), value);
  }
});

test('a forged From of our own domain alone is tagged under the default scores, not delivered unmarked', async () => {
  const own = GOOD_HEADERS.map((h) => (h.name === 'From' ? { ...h, value: 'CEO <ceo@example.test>' } : h));
  const result = await rules.check(context(own));
  const { tagScore, quarantineScore, rejectScore, failMode } = ConfigSchema.parse({}).filters;
  const decision = decide([{ ...result, role: 'junk', ms: 1 }], { tagScore, quarantineScore, rejectScore, failMode });
  assert.equal(decision.action, 'tag', `score ${decision.score}`);
});

test('HTML-only with almost no text, base64 text, needless encoded subject, display name hiding an address', async () => {
  const html = { parts: [part({ contentType: 'text/html', transferEncoding: 'base64' })], htmlChars: 12, plainChars: 0 };
  assert.deepEqual(await hits(context(GOOD_HEADERS, html)), ['HTML_ONLY', 'HTML_LITTLE_TEXT', 'BASE64_TEXT']);
  const tricky = GOOD_HEADERS.map((h) =>
    h.name === 'Subject' ? { ...h, value: '=?utf-8?B?SGVsbG8=?=' } : h.name === 'From' ? { ...h, value: '"paypal@paypal.com" <x@evil.test>' } : h,
  );
  assert.deepEqual(await hits(context(tricky)), ['FROM_NAME_HIDES_ADDRESS', 'NEEDLESSLY_ENCODED_SUBJECT']);
  // the same name in an encoded word, as a mail program decodes and shows it (base64 and Q); its own address shown is no trick
  for (const value of ['=?utf-8?B?cGF5cGFsQHBheXBhbC5jb20=?= <x@evil.test>', '"=?utf-8?Q?PayPal_=3Cpaypal=40paypal.com=3E?=" <x@evil.test>']) {
    assert.deepEqual(await hits(context(GOOD_HEADERS.map((h) => (h.name === 'From' ? { ...h, value } : h)))), ['FROM_NAME_HIDES_ADDRESS'], value);
  }
  assert.deepEqual(await hits(context(GOOD_HEADERS.map((h) => (h.name === 'From' ? { ...h, value: '=?utf-8?B?eEBldmlsLnRlc3Q=?= <x@evil.test>' } : h)))), []);
});

test('a mailing list that shows its poster "via" the list, with its List-Id, does not hide an address; the same name without that form does', async () => {
  const withFrom = (from: string, listId?: string) =>
    context([...GOOD_HEADERS.map((h) => (h.name === 'From' ? { ...h, value: from } : h)), ...(listId ? [{ name: 'List-Id', value: listId }] : [])]);
  // Google Groups and Mailman rewrite a poster with no display name so
  assert.deepEqual(await hits(withFrom(`"'ann@partner.test' via Staff" <staff@googlegroups.com>`, '<staff.googlegroups.com>')), []);
  assert.deepEqual(await hits(withFrom('"ann@partner.test via Staff" <staff@lists.example.org>', 'Staff list <staff.lists.example.org>')), []);
  // no List-Id, one of another domain, or a name that is not the poster "via" a list: the trick it is
  assert.deepEqual(await hits(withFrom(`"'paypal@paypal.com' via Support" <x@evil.test>`)), ['FROM_NAME_HIDES_ADDRESS']);
  assert.deepEqual(await hits(withFrom(`"'paypal@paypal.com' via Support" <x@evil.test>`, '<support.googlegroups.com>')), ['FROM_NAME_HIDES_ADDRESS']);
  assert.deepEqual(await hits(withFrom('"Account team paypal@paypal.com via Support" <x@evil.test>', '<support.evil.test>')), ['FROM_NAME_HIDES_ADDRESS']);
  assert.deepEqual(await hits(withFrom('"paypal@paypal.com" <x@evil.test>', '<support.evil.test>')), ['FROM_NAME_HIDES_ADDRESS']);
});

test('a disguised attachment name scores: double extension, right-to-left mark, padding', async () => {
  for (const name of ['invoice.pdf.exe', 'photo\u202Egpj.scr', 'report.doc                   .exe']) {
    assert.deepEqual(await hits(context(GOOD_HEADERS, { parts: [part({}), part({ filename: name, names: [name], disposition: 'attachment' })] })), ['DISGUISED_ATTACHMENT_NAME'], name);
  }
});

test('a rule score of 0 in the settings turns it off; every rule has an id and words', async () => {
  const quiet = new BuiltinRulesFilter({ domains: [], scores: { MISSING_DATE: 0 }, clock: () => NOW });
  assert.deepEqual((await quiet.check(context(GOOD_HEADERS.filter((h) => h.name !== 'Date')))).reasons, []);
  for (const rule of BUILTIN_RULES) {
    assert.match(rule.id, /^[A-Z0-9_]+$/);
    assert.ok(rule.description.length > 10);
  }
});

test('the extension Windows acts on: trailing dots and spaces, direction marks, paths', () => {
  assert.equal(effectiveExtension('invoice.pdf.exe. . '), 'exe');
  assert.equal(effectiveExtension('photo\u202Egpj.exe'), 'exe');
  assert.equal(effectiveExtension('a\\b/c.JS'), 'js');
  assert.equal(effectiveExtension('README'), '');
});

test('attachments: blocked by any name, by executable content, inside a zip; the action is the setting', async () => {
  const filter = new AttachmentFilter({ action: 'quarantine', blockedExtensions: DEFAULT_BLOCKED_EXTENSIONS, scanArchives: true });
  const check = async (p: MimePart) => filter.check(context(GOOD_HEADERS, { parts: [part({}), p] }));
  assert.equal((await check(part({ filename: 'report.pdf', names: ['report.pdf'] }))).verdict, 'accept');
  const byName = await check(part({ filename: 'photo.jpg', names: ['photo.jpg', 'setup.exe'] }));
  assert.equal(byName.verdict, 'quarantine');
  assert.match(byName.reasons[0]!, /\.exe: "setup\.exe"/);
  assert.match((await check(part({ filename: 'cat.jpg', names: ['cat.jpg'], detectedType: 'pe-executable' }))).reasons[0]!, /is a program/);
  const zipped = await check(part({ filename: 'files.zip', names: ['files.zip'], archive: { members: [{ name: 'a/run.vbs', encrypted: false, size: 1 }], problem: null } }));
  assert.match(zipped.reasons[0]!, /inside "files\.zip": "a\/run\.vbs"/);
});

test('the default block list has the file types Windows opens that malware moved to: OneNote, ClickOnce, search and library links, Java Web Start', async () => {
  const filter = new AttachmentFilter({ action: 'quarantine', blockedExtensions: DEFAULT_BLOCKED_EXTENSIONS, scanArchives: true });
  for (const name of ['invoice.one', 'update.appref-ms', 'docs.library-ms', 'files.search-ms', 'share.searchconnector-ms', 'viewer.jnlp']) {
    const result = await filter.check(context(GOOD_HEADERS, { parts: [part({}), part({ filename: name, names: [name] })] }));
    assert.equal(result.verdict, 'quarantine', name);
  }
});

test('sender lists: addresses and domains with subdomains; deny beats allow; allow only by the envelope sender', () => {
  const dir = tempDir('moat-senders-');
  const db = openDatabase(dir);
  try {
    const lists = new SenderLists(db);
    assert.equal(SenderLists.normalize('Example.COM'), '@example.com');
    assert.equal(SenderLists.normalize('Bob@Example.com'), 'bob@example.com');
    assert.equal(SenderLists.normalize('not an address'), null);
    lists.set('allow', '@partner.test', 'test', null, NOW);
    lists.set('deny', 'spam@partner.test', 'test', null, NOW);
    assert.deepEqual(lists.lookup('ann@mail.partner.test', []), { list: 'allow', entry: '@partner.test' });
    assert.deepEqual(lists.lookup('spam@partner.test', []), { list: 'deny', entry: 'spam@partner.test' });
    assert.deepEqual(lists.lookup('x@other.test', ['spam@partner.test']), { list: 'deny', entry: 'spam@partner.test' });
    assert.equal(lists.lookup('x@other.test', ['ann@partner.test']), null);
  } finally {
    db.close();
  }
});

test("Settings' help for the rule scores names every built-in rule, and only those", () => {
  assert.deepEqual([...BUILTIN_RULE_IDS].sort(), BUILTIN_RULES.map((rule) => rule.id).sort());
});
