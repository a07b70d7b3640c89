import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressDomain,
  checkRecipient,
  domainSet,
  inDomains,
  checkSender,
  normalizeDomain,
  splitAddress,
  MAX_ADDRESS_OCTETS,
  MAX_DOMAIN_OCTETS,
  MAX_LABEL_OCTETS,
  MAX_LOCAL_PART_OCTETS,
  type RecipientCheck,
  type RecipientPolicy,
  type RecipientRefusal,
} from '../../../src-relay/util/address.ts';

// Built the way the config loader builds it, from what an admin types in
function policyFor(domains: string[], recipients?: string[]): RecipientPolicy {
  const normalised = domains.map((domain) => {
    const ascii = normalizeDomain(domain);
    assert.ok(ascii, `test domain ${domain} must be valid`);
    return ascii;
  });
  return { domains: new Set(normalised), ...(recipients ? { recipients: new Set(recipients) } : {}) };
}

const ours = policyFor(['ours.example', 'bücher.example']);

function accepted(result: RecipientCheck, address: string, domain: string): void {
  assert.deepEqual(result, { ok: true, address, domain });
}

function refused(result: RecipientCheck, refusal: RecipientRefusal): void {
  assert.equal(result.ok, false, `expected a refusal, got ${JSON.stringify(result)}`);
  if (!result.ok) assert.equal(result.refusal, refusal, result.reason);
}

// A dotted domain of exactly `length` characters whose labels are all within MAX_LABEL_OCTETS
function domainOfLength(length: number): string {
  const labels: string[] = [];
  let rest = length - '.example'.length;
  while (rest > 0) {
    let size = Math.min(MAX_LABEL_OCTETS, rest);
    // a remainder of one character would be a dot followed by an empty label
    if (rest - size === 1) size -= 1;
    labels.push('a'.repeat(size));
    rest -= size + 1;
  }
  const domain = `${labels.join('.')}.example`;
  assert.equal(domain.length, length);
  return domain;
}

// --- normalizeDomain ---

test('normalizeDomain lower-cases a domain and drops one trailing dot', () => {
  assert.equal(normalizeDomain('OURS.Example.'), 'ours.example');
});

test('normalizeDomain turns an IDN into punycode and leaves punycode as it is', () => {
  assert.equal(normalizeDomain('bücher.example'), 'xn--bcher-kva.example');
  assert.equal(normalizeDomain('XN--BCHER-KVA.example'), 'xn--bcher-kva.example');
});

test('normalizeDomain treats full-width letters and the ideographic full stop as IDNA does', () => {
  assert.equal(normalizeDomain('ＯＵＲＳ。example'), 'ours.example');
});

test('normalizeDomain refuses empty labels, a second trailing dot and a lone dot', () => {
  for (const domain of ['', '.', 'ours..example', '.ours.example', 'ours.example..']) {
    assert.equal(normalizeDomain(domain), null, domain);
  }
});

test(`normalizeDomain accepts a label of ${MAX_LABEL_OCTETS} octets and refuses one of ${MAX_LABEL_OCTETS + 1}`, () => {
  assert.equal(normalizeDomain(`${'a'.repeat(MAX_LABEL_OCTETS)}.example`), `${'a'.repeat(MAX_LABEL_OCTETS)}.example`);
  assert.equal(normalizeDomain(`${'a'.repeat(MAX_LABEL_OCTETS + 1)}.example`), null);
});

test(`normalizeDomain accepts a domain of ${MAX_DOMAIN_OCTETS} octets and refuses one of ${MAX_DOMAIN_OCTETS + 1}`, () => {
  assert.equal(normalizeDomain(domainOfLength(MAX_DOMAIN_OCTETS)), domainOfLength(MAX_DOMAIN_OCTETS));
  assert.equal(normalizeDomain(`${domainOfLength(MAX_DOMAIN_OCTETS)}.`), domainOfLength(MAX_DOMAIN_OCTETS));
  assert.equal(normalizeDomain(domainOfLength(MAX_DOMAIN_OCTETS + 1)), null);
});

test('normalizeDomain measures the length of the punycode form, not of the Unicode one', () => {
  const unicodeLabel = 'ü'.repeat(60); // 60 characters, but far more than 63 as punycode
  assert.equal(normalizeDomain(`${unicodeLabel}.example`), null);
});

test('normalizeDomain refuses IPv4 addresses, however they are written, and numeric top labels', () => {
  for (const domain of ['1.2.3.4', '127.1', '0x7f.1', 'ours.123', 'ours.0x7f']) {
    assert.equal(normalizeDomain(domain), null, domain);
  }
});

test('normalizeDomain refuses address literals', () => {
  for (const domain of ['[127.0.0.1]', '[IPv6:::1]', '[::1]']) {
    assert.equal(normalizeDomain(domain), null, domain);
  }
});

test('normalizeDomain refuses labels that are not letters, digits and inner hyphens', () => {
  for (const domain of ['ou_rs.example', '-ours.example', 'ours-.example', 'ours example', 'ours.exa*mple']) {
    assert.equal(normalizeDomain(domain), null, domain);
  }
});

test('normalizeDomain refuses what the URL host parser would decode or cut off', () => {
  // without the check these all come out of domainToASCII as "ours.example"
  for (const domain of ['ours%2Eexample', 'ours.example/evil.com', 'ours.example?evil', 'ours.example#evil', 'ours.example\\evil', 'ours.example／evil']) {
    assert.equal(normalizeDomain(domain), null, domain);
  }
});

test('normalizeDomain refuses invisible characters that IDNA would silently drop', () => {
  for (const domain of ['ours\u200B.example', 'o\u00ADurs.example', 'ours\u2060.example', 'ours\uFEFF.example', 'ours\u202E.example']) {
    assert.equal(normalizeDomain(domain), null, JSON.stringify(domain));
  }
});

test('normalizeDomain refuses a zero-width joiner where no script needs one', () => {
  assert.equal(normalizeDomain('ours\u200D.example'), null);
});

test('normalizeDomain refuses punycode that does not decode', () => {
  assert.equal(normalizeDomain('xn--zz.example'), null);
});

test('normalizeDomain refuses control characters', () => {
  for (const domain of ['ours.example\r\n', 'ours\x00.example', 'ours\x7F.example', 'ours\x85.example']) {
    assert.equal(normalizeDomain(domain), null, JSON.stringify(domain));
  }
});

// --- splitAddress ---

test('splitAddress splits at the last "@"', () => {
  assert.deepEqual(splitAddress('"a@b"@ours.example'), { local: '"a@b"', domain: 'ours.example' });
});

test('splitAddress returns null for an address without "@"', () => {
  assert.equal(splitAddress('postmaster'), null);
});

// --- checkRecipient: what is accepted ---

test('a plain address at our domain is accepted with its local part as given', () => {
  accepted(checkRecipient('Alice.Smith@ours.example', ours), 'Alice.Smith@ours.example', 'ours.example');
});

test('our domain in upper case with a trailing dot is ours', () => {
  accepted(checkRecipient('user@OURS.example.', ours), 'user@ours.example', 'ours.example');
});

test('an IDN domain in Unicode, as smtp-server hands it over, matches the configured domain', () => {
  accepted(checkRecipient('user@bücher.example', ours), 'user@xn--bcher-kva.example', 'xn--bcher-kva.example');
  accepted(checkRecipient('user@BÜCHER.example', ours), 'user@xn--bcher-kva.example', 'xn--bcher-kva.example');
});

test('an IDN domain in punycode matches a domain configured in Unicode', () => {
  accepted(checkRecipient('user@xn--bcher-kva.example', ours), 'user@xn--bcher-kva.example', 'xn--bcher-kva.example');
});

test('a domain configured in punycode matches the Unicode form', () => {
  const policy = policyFor(['xn--bcher-kva.example']);
  accepted(checkRecipient('user@bücher.example', policy), 'user@xn--bcher-kva.example', 'xn--bcher-kva.example');
});

test('RFC 5322 atext specials are accepted in the local part', () => {
  for (const local of ["o'brien+news", 'a/b=c', 'x#y$z&w', 'a*b?c^d_e`f{g|h}i~j', 'first.last-name']) {
    accepted(checkRecipient(`${local}@ours.example`, ours), `${local}@ours.example`, 'ours.example');
  }
});

test('UTF-8 letters, marks and digits are accepted in the local part', () => {
  for (const local of ['jürgen', 'δοκιμή', '用户', 'सुरेश', 'usuario٣']) {
    accepted(checkRecipient(`${local}@ours.example`, ours), `${local}@ours.example`, 'ours.example');
  }
});

// --- checkRecipient: routing forms are relay attempts ---

test('the percent hack is refused as relaying', () => {
  refused(checkRecipient('user%evil.com@ours.example', ours), 'relay');
});

test('a bang path is refused as relaying', () => {
  refused(checkRecipient('evil.com!user@ours.example', ours), 'relay');
});

test('a quoted local part holding another address is refused as relaying', () => {
  // smtp-server refuses a second "@", so this only arrives if that ever changes
  refused(checkRecipient('"user@evil.com"@ours.example', ours), 'relay');
});

test('a quoted local part is refused as relaying', () => {
  refused(checkRecipient('"user"@ours.example', ours), 'relay');
});

test('a backslash in the local part is refused as relaying', () => {
  refused(checkRecipient('us\\er@ours.example', ours), 'relay');
});

test('a source route left in the local part is refused as relaying', () => {
  refused(checkRecipient('@evil.com:user@ours.example', ours), 'relay');
  refused(checkRecipient('evil.com:user@ours.example', ours), 'relay');
  refused(checkRecipient('a,b@ours.example', ours), 'relay');
});

test('brackets and angle brackets in the local part are refused as relaying', () => {
  for (const local of ['user[1]', '<user>', 'user>']) {
    refused(checkRecipient(`${local}@ours.example`, ours), 'relay');
  }
});

test('an IPv4 address literal is refused as relaying', () => {
  refused(checkRecipient('user@[127.0.0.1]', ours), 'relay');
});

test('an IPv6 address literal is refused as relaying', () => {
  refused(checkRecipient('user@[IPv6:::1]', ours), 'relay');
});

test('a foreign domain is refused as relaying', () => {
  refused(checkRecipient('user@evil.com', ours), 'relay');
});

test('a subdomain of ours is refused as relaying', () => {
  refused(checkRecipient('user@mail.ours.example', ours), 'relay');
});

test('a subdomain that is listed itself is accepted', () => {
  const policy = policyFor(['ours.example', 'mail.ours.example']);
  accepted(checkRecipient('user@mail.ours.example', policy), 'user@mail.ours.example', 'mail.ours.example');
});

test('a parent of our domain, or a name that merely ends like it, is refused as relaying', () => {
  for (const domain of ['example', 'evilours.example', 'ours.example.evil.com']) {
    refused(checkRecipient(`user@${domain}`, ours), 'relay');
  }
});

test('look-alike letters from other scripts make a different, foreign domain', () => {
  refused(checkRecipient('user@\u043Eurs.example', ours), 'relay'); // Cyrillic "о"
  refused(checkRecipient('user@ours.exam\u0131ple', ours), 'relay'); // dotless "ı"
});

test('an address listed as a recipient is still refused when its domain is not ours', () => {
  refused(checkRecipient('bob@evil.com', policyFor(['ours.example'], ['bob@evil.com'])), 'relay');
});

// --- checkRecipient: malformed addresses ---

test('control characters anywhere in the address are refused as syntax', () => {
  for (const address of ['user\r\n@ours.example', 'user@ours.example\r\nRCPT TO:<x@evil.com>', 'us\x00er@ours.example', 'us\x7Fer@ours.example', 'us\x85er@ours.example', 'us\ter@ours.example']) {
    refused(checkRecipient(address, ours), 'syntax');
  }
});

test('the reason for a refusal never repeats the address, so it is safe to log and reply with', () => {
  const result = checkRecipient('user\r\n250 OK@ours.example', ours);
  assert.equal(result.ok, false);
  if (!result.ok) assert.doesNotMatch(result.reason, /[\r\n]|250 OK/);
});

test('a lone surrogate, which has no UTF-8 form, is refused as syntax', () => {
  refused(checkRecipient('us\uD800er@ours.example', ours), 'syntax');
});

test('zero-width and other invisible characters are refused as syntax', () => {
  for (const address of ['us\u200Ber@ours.example', 'us\u200Der@ours.example', 'us\u200Cer@ours.example', 'user\u00AD@ours.example', 'user@ours\u200B.example', 'user@o\u00ADurs.example', 'user\u202E@ours.example', '\uFEFFuser@ours.example']) {
    refused(checkRecipient(address, ours), 'syntax');
  }
  const result = checkRecipient('us\u200Ber@ours.example', ours);
  assert.ok(!result.ok && /invisible/.test(result.reason), 'the reason names the invisible character');
});

test('a space in the local part is refused as syntax', () => {
  refused(checkRecipient('first last@ours.example', ours), 'syntax');
});

test('symbols that are not letters or digits are refused in the local part', () => {
  refused(checkRecipient('snow\u2603@ours.example', ours), 'syntax');
});

test('an empty local part is refused as syntax', () => {
  refused(checkRecipient('@ours.example', ours), 'syntax');
});

test('an address without a domain, or with an empty one, is refused as syntax', () => {
  refused(checkRecipient('user', ours), 'syntax');
  refused(checkRecipient('user@', ours), 'syntax');
  refused(checkRecipient('', ours), 'syntax');
});

test('a domain that is not a valid domain name is refused as syntax, never accepted', () => {
  for (const domain of ['ours..example', 'ours%2Eexample', 'ours.example/evil.com', 'ou_rs.example']) {
    refused(checkRecipient(`user@${domain}`, ours), 'syntax');
  }
});

test('a leading, trailing or doubled dot in the local part is refused as syntax', () => {
  for (const local of ['.user', 'user.', 'us..er']) {
    refused(checkRecipient(`${local}@ours.example`, ours), 'syntax');
  }
});

test(`a local part of ${MAX_LOCAL_PART_OCTETS} octets is accepted and one of ${MAX_LOCAL_PART_OCTETS + 1} is refused`, () => {
  const longest = 'a'.repeat(MAX_LOCAL_PART_OCTETS);
  accepted(checkRecipient(`${longest}@ours.example`, ours), `${longest}@ours.example`, 'ours.example');
  refused(checkRecipient(`${longest}a@ours.example`, ours), 'syntax');
});

test('the local part limit counts UTF-8 octets, not characters', () => {
  const half = 'ü'.repeat(MAX_LOCAL_PART_OCTETS / 2); // two octets each
  accepted(checkRecipient(`${half}@ours.example`, ours), `${half}@ours.example`, 'ours.example');
  refused(checkRecipient(`${half}ü@ours.example`, ours), 'syntax');
});

test(`an address of ${MAX_ADDRESS_OCTETS} octets is accepted and one of ${MAX_ADDRESS_OCTETS + 1} is refused`, () => {
  const domain = domainOfLength(MAX_ADDRESS_OCTETS - MAX_LOCAL_PART_OCTETS - 1);
  const policy = policyFor([domain]);
  const longest = `${'a'.repeat(MAX_LOCAL_PART_OCTETS)}@${domain}`;
  assert.equal(longest.length, MAX_ADDRESS_OCTETS);
  accepted(checkRecipient(longest, policy), longest, domain);

  const longerDomain = domainOfLength(MAX_ADDRESS_OCTETS - MAX_LOCAL_PART_OCTETS);
  refused(checkRecipient(`${'a'.repeat(MAX_LOCAL_PART_OCTETS)}@${longerDomain}`, policyFor([longerDomain])), 'syntax');
});

// --- checkRecipient: postmaster ---

test('the bare postmaster is accepted for the first accepted domain', () => {
  accepted(checkRecipient('postmaster', ours), 'postmaster@ours.example', 'ours.example');
});

test('the bare postmaster is recognised in any case', () => {
  accepted(checkRecipient('PostMaster', ours), 'postmaster@ours.example', 'ours.example');
});

test('the bare postmaster is refused when no domain is accepted at all', () => {
  refused(checkRecipient('postmaster', { domains: new Set() }), 'relay');
});

test('postmaster at our domain is accepted even when the recipient list leaves it out', () => {
  const policy = policyFor(['ours.example'], ['alice@ours.example']);
  accepted(checkRecipient('postmaster@ours.example', policy), 'postmaster@ours.example', 'ours.example');
  accepted(checkRecipient('POSTMASTER@OURS.example', policy), 'POSTMASTER@ours.example', 'ours.example');
  accepted(checkRecipient('postmaster', policy), 'postmaster@ours.example', 'ours.example');
});

test('postmaster at a foreign domain or an address literal is refused as relaying', () => {
  refused(checkRecipient('postmaster@evil.com', ours), 'relay');
  refused(checkRecipient('postmaster@[127.0.0.1]', ours), 'relay');
});

// --- checkRecipient: recipient list ---

test('a listed recipient is accepted', () => {
  const policy = policyFor(['ours.example'], ['alice@ours.example']);
  accepted(checkRecipient('alice@ours.example', policy), 'alice@ours.example', 'ours.example');
});

test('a recipient at our domain that is not listed is refused as unknown', () => {
  refused(checkRecipient('bob@ours.example', policyFor(['ours.example'], ['alice@ours.example'])), 'unknown-recipient');
});

test('the recipient list is compared without regard to case', () => {
  const policy = policyFor(['ours.example', 'bücher.example'], ['alice@ours.example', 'jürgen@xn--bcher-kva.example']);
  accepted(checkRecipient('Alice@OURS.example', policy), 'Alice@ours.example', 'ours.example');
  accepted(checkRecipient('JÜRGEN@Bücher.example', policy), 'JÜRGEN@xn--bcher-kva.example', 'xn--bcher-kva.example');
});

test('an empty recipient list accepts every plain address at our domains', () => {
  const policy = policyFor(['ours.example'], []);
  accepted(checkRecipient('anyone@ours.example', policy), 'anyone@ours.example', 'ours.example');
});

// --- checkSender ---

test('the null sender is valid', () => {
  assert.deepEqual(checkSender(''), { ok: true, address: '' });
});

test('a sender is returned with its local part as given and its domain normalised', () => {
  assert.deepEqual(checkSender('Bob@Bücher.Example.'), { ok: true, address: 'Bob@xn--bcher-kva.example' });
});

test('a sender may be at any valid domain', () => {
  assert.deepEqual(checkSender('bob@evil.com'), { ok: true, address: 'bob@evil.com' });
});

test('a sender may use "%" and "!", which are plain atext when nothing is routed by them', () => {
  assert.deepEqual(checkSender('list-bounces%x!y@lists.example'), { ok: true, address: 'list-bounces%x!y@lists.example' });
});

test('a sender with an address literal is refused', () => {
  assert.equal(checkSender('bob@[192.0.2.1]').ok, false);
  assert.equal(checkSender('bob@[IPv6:2001:db8::1]').ok, false);
});

test('a sender with a quoted local part is refused', () => {
  assert.equal(checkSender('"bob"@example.com').ok, false);
});

test('a sender with control characters is refused', () => {
  for (const address of ['bob\r\n@example.com', 'bob@example.com\n', 'b\x00ob@example.com']) {
    assert.equal(checkSender(address).ok, false, JSON.stringify(address));
  }
});

test('a sender with invisible characters is refused', () => {
  assert.equal(checkSender('bob\u200B@example.com').ok, false);
  assert.equal(checkSender('bob@exa\u200Bmple.com').ok, false);
});

test('a sender without a domain, even postmaster, is refused', () => {
  assert.equal(checkSender('postmaster').ok, false);
  assert.equal(checkSender('bob@').ok, false);
  assert.equal(checkSender('@example.com').ok, false);
});

test('a sender whose domain is not a valid domain name is refused', () => {
  for (const domain of ['example..com', '1.2.3.4', 'exa_mple.com', 'example.com/x']) {
    assert.equal(checkSender(`bob@${domain}`).ok, false, domain);
  }
});

test('a sender with badly placed dots in the local part is refused', () => {
  assert.equal(checkSender('.bob@example.com').ok, false);
  assert.equal(checkSender('bob..x@example.com').ok, false);
});

test('the sender length limits are those of recipients', () => {
  assert.equal(checkSender(`${'a'.repeat(MAX_LOCAL_PART_OCTETS)}@example.com`).ok, true);
  assert.equal(checkSender(`${'a'.repeat(MAX_LOCAL_PART_OCTETS + 1)}@example.com`).ok, false);
  const domain = domainOfLength(MAX_ADDRESS_OCTETS - MAX_LOCAL_PART_OCTETS - 1);
  assert.equal(checkSender(`${'a'.repeat(MAX_LOCAL_PART_OCTETS)}@${domain}`).ok, true);
  assert.equal(checkSender(`${'a'.repeat(MAX_LOCAL_PART_OCTETS)}@a${domain}`).ok, false);
});

test('inDomains: an address is in our domains whatever its case, Unicode form or root dot; a subdomain, a look-alike or no domain is not', () => {
  const own = domainSet(['Example.TEST', 'bücher.test', 'not a domain']);
  assert.deepEqual([...own], ['example.test', 'xn--bcher-kva.test']);
  for (const address of ['boss@example.test', 'Boss@EXAMPLE.test', 'a@example.test.', 'a@b@example.test', 'x@BÜCHER.test', 'x@xn--bcher-kva.test', 'x@ｅｘａｍｐｌｅ.test']) {
    assert.equal(inDomains(address, own), true, address);
  }
  for (const address of ['boss@mail.example.test', 'boss@example.test.evil', 'boss@examp1e.test', 'example.test', 'boss@', '', 'boss@example\u200b.test']) {
    assert.equal(inDomains(address, own), false, address);
  }
  assert.equal(addressDomain('a@BÜCHER.test'), 'xn--bcher-kva.test');
  assert.equal(addressDomain('no-at-sign'), null);
});
