import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHeaderText, displayText, fromDisplayName, MAX_DISPLAY_CHARS, MAX_SHOWN_NAME_CHARS, nameWithAddress, senderName } from '../../../src-relay/util/header-text.ts';

test('encoded words in UTF-8 base64 and Latin-1 quoted-printable are decoded, adjacent words joined', () => {
  assert.equal(decodeHeaderText(`=?UTF-8?B?${Buffer.from('Grüße aus Köln').toString('base64')}?=`), 'Grüße aus Köln');
  assert.equal(decodeHeaderText('=?ISO-8859-1?Q?J=FCrgen_Wei=DF?='), 'Jürgen Weiß');
  // a character split between two encoded words (RFC 2047 forbids it, mail programs do it) survives
  assert.equal(decodeHeaderText('=?UTF-8?Q?Gr=C3?= =?UTF-8?Q?=BC=C3=9Fe?='), 'Grüße');
  assert.equal(decodeHeaderText('Re: =?utf-8?q?caf=C3=A9?= tomorrow'), 'Re: café tomorrow');
});

test('plain text and already decoded text come out unchanged; null and empty give null', () => {
  assert.equal(decodeHeaderText('Quarterly report'), 'Quarterly report');
  assert.equal(decodeHeaderText('Grüße aus Köln'), 'Grüße aus Köln');
  assert.equal(decodeHeaderText(null), null);
  assert.equal(decodeHeaderText('   '), null);
});

test('a word in a charset nobody knows stays readable, never throws', () => {
  assert.doesNotThrow(() => decodeHeaderText('=?x-unknown-charset?Q?abc?='));
  assert.equal(decodeHeaderText('=?utf-8?B?####?='), '=?utf-8?B?####?=', 'a broken word that decodes to nothing is shown as written');
});

test('control characters decoded from a header become spaces, so a subject cannot break a line or a terminal', () => {
  const encoded = `=?UTF-8?B?${Buffer.from('pay now\r\nBcc: x@evil.test\x1b[2J\x07').toString('base64')}?=`;
  const shown = decodeHeaderText(encoded)!;
  assert.doesNotMatch(shown, /[\x00-\x1f\x7f]/);
  assert.equal(shown, 'pay now Bcc: x@evil.test [2J');
});

test('bidi overrides and isolates become U+FFFD so a reversed name shows the trick; direction marks vanish', () => {
  const encoded = `=?UTF-8?B?${Buffer.from('invoice \u202Efdp.exe \u2067x\u2069 \u200Fmark').toString('base64')}?=`;
  assert.equal(decodeHeaderText(encoded), 'invoice \ufffdfdp.exe \ufffdx\ufffd mark');
});

test('a decoded value is cut to the display limit, and one just under it is kept whole', () => {
  assert.equal(displayText('a'.repeat(MAX_DISPLAY_CHARS)).length, MAX_DISPLAY_CHARS);
  const cut = displayText('a'.repeat(MAX_DISPLAY_CHARS + 1));
  assert.equal(cut.length, MAX_DISPLAY_CHARS);
  assert.ok(cut.endsWith('…'));
});

test('the From display name is the first mailbox\'s name, decoded; an address alone has none', () => {
  assert.equal(fromDisplayName('=?ISO-8859-1?Q?J=FCrgen_Wei=DF?= <juergen@sender.test>'), 'Jürgen Weiß');
  assert.equal(fromDisplayName('"Weiß, Jürgen" <j@sender.test>, other@sender.test'), 'Weiß, Jürgen');
  assert.equal(fromDisplayName('juergen@sender.test'), null);
  assert.equal(fromDisplayName(null), null);
});

test('mail Moat wrote (a null sender with no client, or a DSN) is from Moat; a bounce from outside is not', () => {
  assert.equal(senderName({ fromName: null, sender: '', clientIp: null, kind: 'mail' }), 'Moat');
  assert.equal(senderName({ fromName: null, sender: '', clientIp: null, kind: 'dsn' }), 'Moat');
  assert.equal(senderName({ fromName: 'Mail Delivery System', sender: '', clientIp: '192.0.2.7', kind: 'mail' }), 'Mail Delivery System');
  assert.equal(senderName({ fromName: '=?utf-8?q?J=C3=BCrgen?=', sender: 'j@sender.test', clientIp: '192.0.2.7' }), 'Jürgen');
});

test('a display name whose From address is not the envelope sender keeps that address beside it', () => {
  const from = '=?ISO-8859-1?Q?J=FCrgen_Wei=DF?= <juergen@sender.test>';
  assert.equal(fromDisplayName(from, 'JUERGEN@sender.test'), 'Jürgen Weiß', 'the same address, in any case: the name alone');
  assert.equal(fromDisplayName(from, 'alice@sender.test'), 'Jürgen Weiß <juergen@sender.test>');
  assert.equal(fromDisplayName('"Your Bank" <evil@attacker.test>', ''), 'Your Bank <evil@attacker.test>');
  // angle brackets in the name become look-alikes: the one "<address>" left is the real one (or none)
  assert.equal(fromDisplayName('"IT Helpdesk <admin@example.test>" <evil@attacker.test>', 'evil@attacker.test'), 'IT Helpdesk \u2039admin@example.test\u203a');
  assert.equal(fromDisplayName('"IT <admin@example.test>" <evil@attacker.test>', 'bounce@attacker.test'), 'IT \u2039admin@example.test\u203a <evil@attacker.test>');
  assert.equal(fromDisplayName('"a <b@c.test>" <evil@attacker.test>, d <e@f.test>', 'x@y.test'), 'a \u2039b@c.test\u203a <evil@attacker.test>, d <e@f.test>');
});

test('a From with no name that is not the envelope sender is shown as its address; the envelope sender itself is not repeated', () => {
  assert.equal(fromDisplayName('ceo@bank.example', 'someone@sender.invalid'), 'ceo@bank.example');
  // addressparser drops a name that is the address itself
  assert.equal(fromDisplayName('"billing@example.test" <billing@example.test>', 'someone@sender.invalid'), 'billing@example.test');
  assert.equal(fromDisplayName('Juergen@Sender.test', 'juergen@sender.test'), null);
  assert.equal(fromDisplayName('<ceo@bank.example>', ''), 'ceo@bank.example', 'a bounce from outside shows whom it names');
});

test('a From of several mailboxes or a group is shown whole, the envelope sender among them', () => {
  assert.equal(fromDisplayName('someone@sender.invalid, CEO Bank <ceo@bank.example>', 'someone@sender.invalid'), 'someone@sender.invalid, CEO Bank <ceo@bank.example>');
  assert.equal(fromDisplayName('G: someone@sender.invalid, ceo@bank.example;', 'someone@sender.invalid'), 'someone@sender.invalid, ceo@bank.example');
});

test('a sender with its name: the address whole, the name cut short, and a name holding an address (full-width ＠ too) after the real one', () => {
  assert.equal(nameWithAddress('Alice', 'a@sender.test'), 'Alice <a@sender.test>');
  assert.equal(nameWithAddress(null, 'a@sender.test'), 'a@sender.test');
  assert.equal(nameWithAddress('A@Sender.test', 'a@sender.test'), 'a@sender.test');
  assert.equal(nameWithAddress('it-helpdesk@example.test', 'x@evil.test'), 'x@evil.test, named "it-helpdesk@example.test"');
  assert.equal(nameWithAddress('it-helpdesk\uff20example.test', 'x@evil.test'), 'x@evil.test, named "it-helpdesk\uff20example.test"');
  assert.equal(nameWithAddress('it-helpdesk\ufe6bexample.test', 'x@evil.test'), 'x@evil.test, named "it-helpdesk\ufe6bexample.test"');
  const padded = nameWithAddress(`IT Helpdesk ${'\u2800'.repeat(980)}`, 'x@evil.test');
  assert.ok(padded.endsWith('… <x@evil.test>') && padded.length === MAX_SHOWN_NAME_CHARS + ' <x@evil.test>'.length, padded.length.toString());
});
