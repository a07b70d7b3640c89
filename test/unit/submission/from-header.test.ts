import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAuthorFields, decodeEncodedWords, headerFields } from '../../../src-relay/submission/from-header.ts';

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
    [block('From: undisclosed-recipients:;'), /no address/],
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
