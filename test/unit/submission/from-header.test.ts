import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressesNotOwned, checkAuthorFields, decodeEncodedWords, headerFields } from '../../../src-relay/submission/from-header.ts';

const block = (...lines: string[]) => lines.map((line) => `${line}\r\n`).join('');

test('header fields are split where a line does not continue a folded one', () => {
  assert.deepEqual(headerFields(block('From: Alice', '  <alice@example.test>', 'Subject: hi')), [
    { name: 'From', value: 'Alice  <alice@example.test>' },
    { name: 'Subject', value: 'hi' },
  ]);
});

test('a plain From gives its address, lower-cased', () => {
  assert.deepEqual(checkAuthorFields(block('From: Alice <Alice@Example.TEST>')), { ok: true, from: ['alice@example.test'], shown: ['alice@example.test'] });
});

test('every address-like text in From and Sender counts, in display names, comments and encoded words too', () => {
  const result = checkAuthorFields(block('From: "boss@bank.test" <alice@example.test> (ceo@example.test)', 'Sender: =?utf-8?q?it=40example.test?= <alice@example.test>'));
  assert.ok(result.ok);
  assert.deepEqual([...result.shown].sort(), ['alice@example.test', 'boss@bank.test', 'ceo@example.test', 'it@example.test']);
});

test('no From, two From fields, two Sender fields, an empty group or a bad address are refused', () => {
  for (const [headers, reason] of [
    [block('Subject: none'), /no From header/],
    [block('From: a@example.test', 'From: b@example.test'), /2 From headers/],
    [block('From: a@example.test', 'Sender: a@example.test', 'sender: b@example.test'), /2 Sender headers/],
    [block('From: undisclosed-recipients:;'), /group syntax/],
    [block('From: Alice <alice@[10.0.0.1]>'), /not a valid address/],
  ] as const) {
    const result = checkAuthorFields(headers);
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.reason : '', reason);
  }
});

test('encoded words are decoded in B and Q forms and unknown charsets fall back to latin1', () => {
  assert.equal(decodeEncodedWords('=?utf-8?B?SsO2cmc=?= <j@x.test>'), 'Jörg <j@x.test>');
  assert.equal(decodeEncodedWords('=?iso-8859-1?Q?J=F6rg_B?='), 'Jörg B');
  assert.equal(decodeEncodedWords('=?x-unknown?Q?abc?='), 'abc');
});

// ------------------------------------------------------------------- what a recipient's mail program displays

/** The verdict the submission listener reaches for an account with these sender rules. */
function verdict(fromLines: string[], rules: string[] = ['jane@own.test']): { ok: true } | { ok: false; why: string } {
  const author = checkAuthorFields(block(...fromLines, 'Subject: hi'));
  if (!author.ok) return { ok: false, why: author.reason };
  const foreign = addressesNotOwned(author.shown, rules);
  return foreign.length ? { ok: false, why: `not owned: ${foreign.join(', ')}` } : { ok: true };
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

// Each trick shows a reader an address the account does not own; each must be refused.
const TRICKS: [trick: string, fromLines: string[]][] = [
  ['a quoted display name holding another address', ['From: "boss@corp.example" <jane@own.test>']],
  ['the real address belongs to someone else', ['From: "boss@corp.example" <attacker@x.test>']],
  ['an encoded word split across two adjacent words (base64, split inside a character)', [`From: =?utf-8?B?${b64('boss@corp.exam')}?= =?utf-8?B?${b64('ple ✓')}?= <jane@own.test>`]],
  ['an encoded word split across folded lines (quoted-printable)', ['From: =?utf-8?Q?boss=40co?=', ' =?utf-8?Q?rp.example?= <jane@own.test>']],
  ['a fullwidth at sign U+FF20', ['From: "boss\uFF20corp.example" <jane@own.test>']],
  ['a small commercial at U+FE6B', ['From: boss\uFE6Bcorp.example <jane@own.test>']],
  ['an encoded fullwidth at sign', [`From: =?utf-8?B?${b64('boss\uFF20corp.example')}?= <jane@own.test>`]],
  ['a one-dot leader U+2024 as the dot', ['From: "boss@corp\u2024example" <jane@own.test>']],
  ['an ideographic full stop U+3002 as the dot', ['From: "boss@corp\u3002example" <jane@own.test>']],
  ['a fullwidth full stop U+FF0E as the dot', ['From: "boss@corp\uFF0Eexample" <jane@own.test>']],
  ['a halfwidth ideographic full stop U+FF61 as the dot', ['From: "boss@corp\uFF61example" <jane@own.test>']],
  ['a zero-width space inside the address', ['From: "boss@\u200Bcorp.example" <jane@own.test>']],
  ['zero-width joiners around the at sign', ['From: "boss\u200D@\u200Ccorp.example" <jane@own.test>']],
  ['a soft hyphen inside the address', ['From: "bo\u00ADss@corp.example" <jane@own.test>']],
  ['a word joiner and a BOM inside the address', ['From: "boss\u2060@corp\uFEFF.example" <jane@own.test>']],
  ['an address in a comment', ['From: jane@own.test (boss@corp.example)']],
  ['parentheses inside quotes (shown as they are) next to the at sign', ['From: "boss@(x)corp.example" <jane@own.test>']],
  ['a comment splitting an address outside quotes, joined when comments are dropped', ['From: boss@(hidden)corp.example <jane@own.test>']],
  ['nested comments hiding an address', ['From: Jane ((boss@corp.example)) <jane@own.test>']],
  ['a quoted-pair escaping the at sign', ['From: "boss\\@corp.example" <jane@own.test>']],
  ['quoted-pairs throughout the address', ['From: "b\\o\\s\\s\\@\\c\\o\\r\\p.example" <jane@own.test>']],
  ['spaces around the at sign', ['From: "boss @ corp.example" <jane@own.test>']],
  ['a right-to-left override that shows a reversed address', ['From: "\u202Eelpmaxe.proc@ssob\u202C" <jane@own.test>']],
  ['an encoded right-to-left override', [`From: =?utf-8?B?${b64('\u202Eelpmaxe.proc@ssob')}?= <jane@own.test>`]],
  ['a left-to-right isolate', ['From: "\u2066jane@own.test\u2069 boss" <jane@own.test>']],
  ['a second From address the account does not own', ['From: jane@own.test, boss@corp.example']],
  ['a second From address hidden behind the first angle address', ['From: <jane@own.test> <boss@corp.example>']],
  ['group syntax naming another address', ['From: boss@corp.example: jane@own.test;']],
  ['group syntax, even with only the own address', ['From: Staff: jane@own.test;']],
  ['an empty group', ['From: undisclosed-recipients:;']],
  ['a Sender the account does not own', ['From: jane@own.test', 'Sender: "boss@corp.example" <jane@own.test>']],
  ['an encoded word libmime cannot read (odd charset name), which another program may', ['From: =?utf.8?Q?boss=40corp.example?= <jane@own.test>']],
  ['a lone at sign with a foreign domain', ['From: "Ask @corp.example" <jane@own.test>']],
  ['a look-alike own domain (Cyrillic o)', ['From: "jane@\u043Ewn.test" <jane@own.test>']],
];

for (const [trick, fromLines] of TRICKS) {
  test(`From tricks are refused: ${trick}`, () => {
    const result = verdict(fromLines);
    assert.equal(result.ok, false, JSON.stringify(fromLines));
  });
}

test('a display name with a comment-like part in quotes, and one equal to the own address, pass', () => {
  assert.deepEqual(verdict(['From: "Jane Doe (Sales)" <jane@own.test>']), { ok: true });
  assert.deepEqual(verdict(['From: Jane Doe (Sales) <jane@own.test>']), { ok: true });
  assert.deepEqual(verdict(['From: "jane@own.test" <jane@own.test>']), { ok: true });
  assert.deepEqual(verdict(['From: "Jane@Own.Test" <jane@own.test>']), { ok: true });
  assert.deepEqual(verdict(['From: jane@own.test']), { ok: true });
});

test('legitimate international display names pass: encoded words, fullwidth letters, right-to-left script with marks', () => {
  assert.deepEqual(verdict([`From: =?utf-8?B?${b64('Jörg Müller ')}?= =?utf-8?B?${b64('(Vertrieb)')}?= <jane@own.test>`]), { ok: true });
  assert.deepEqual(verdict(['From: =?iso-8859-1?Q?J=F6rg_M=FCller?= <jane@own.test>']), { ok: true });
  assert.deepEqual(verdict(['From: "山田 太郎" <jane@own.test>']), { ok: true });
  assert.deepEqual(verdict(['From: "\u05D3\u05E0\u05D4 \u200F\u05DB\u05D4\u05DF" <jane@own.test>']), { ok: true });
  assert.deepEqual(verdict([`From: "jane\uFF20own\u3002test" <jane@own.test>`]), { ok: true }, 'a look-alike of the own address shows the own address');
});

test('an address the account owns through a domain rule may appear in the display name', () => {
  assert.deepEqual(verdict(['From: "sales@own.test" <jane@own.test>'], ['jane@own.test', '@own.test']), { ok: true });
  assert.equal(verdict(['From: "sales@own.test" <jane@own.test>'], ['jane@own.test']).ok, false);
});

test('the refusal names what was shown, folded to what the reader sees', () => {
  assert.deepEqual(verdict(['From: "boss\uFF20corp\u3002example" <jane@own.test>']), { ok: false, why: 'not owned: boss@corp.example' });
  const group = verdict(['From: Staff: jane@own.test;']);
  assert.match(group.ok ? '' : group.why, /group syntax/);
  const override = verdict(['From: "\u202Eelpmaxe.proc@ssob" <jane@own.test>']);
  assert.match(override.ok ? '' : override.why, /bidirectional override/);
});
