import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressesNotOwned, checkAuthorFields, decodeEncodedWords, headerFields } from '../../../src-relay/submission/from-header.ts';
import { HeaderPeek } from '../../../src-relay/smtp/header-peek.ts';
import { StageChain } from '../../../src-relay/smtp/stage-chain.ts';

const block = (...lines: string[]) => lines.map((line) => `${line}\r\n`).join('');

test('header fields are split where a line does not continue a folded one', () => {
  assert.deepEqual(headerFields(block('From: Alice', '  <alice@example.test>', 'Subject: hi')), [
    { name: 'From', value: 'Alice  <alice@example.test>' },
    { name: 'Subject', value: 'hi' },
  ]);
});

test('a plain From gives its address, lower-cased', () => {
  assert.deepEqual(checkAuthorFields(block('From: Alice <Alice@Example.TEST>')), { ok: true, from: ['alice@example.test'], shown: ['alice@example.test'], misread: [] });
});

test('every address-like text in From and Sender counts, in display names, comments and encoded words too', () => {
  const result = checkAuthorFields(block('From: "boss@bank.test" <alice@example.test> (ceo@example.test)', 'Sender: =?utf-8?q?it=40example.test?= <alice@example.test>'));
  assert.ok(result.ok);
  assert.deepEqual([...result.shown].sort(), ['alice@example.test', 'boss@bank.test', 'ceo@example.test', 'it@example.test']);
});

test('every Resent-From and Resent-Sender counts like Sender (a program may show the first or the last)', () => {
  const redirected = checkAuthorFields(block('Resent-From: CEO <ceo@example.test>', 'Resent-Sender: it@example.test', 'From: alice@example.test'));
  assert.ok(redirected.ok);
  assert.deepEqual([...redirected.shown].sort(), ['alice@example.test', 'ceo@example.test', 'it@example.test']);
  const twice = checkAuthorFields(block('Resent-From: alice@example.test', 'Resent-From: ceo@example.test', 'From: alice@example.test'));
  assert.ok(twice.ok);
  assert.deepEqual([...twice.shown].sort(), ['alice@example.test', 'ceo@example.test']);
  const bad = checkAuthorFields(block('Resent-From: undisclosed:;', 'From: alice@example.test'));
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.reason, /^Resent-From: /);
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
  if (foreign.length) return { ok: false, why: `not owned: ${foreign.join(', ')}` };
  const misread = author.misread.filter((entry) => addressesNotOwned([entry.address], rules).length > 0);
  return misread.length ? { ok: false, why: `misread: ${misread.map((entry) => `${entry.address} as ${entry.charset}`).join(', ')}` } : { ok: true };
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

// ------------------------------------------------------------------- raw bytes: what a program may read them as

/** The header block exactly as the submission listener gets it: raw bytes through HeaderPeek (read as UTF-8). */
async function peeked(...lines: (string | Buffer)[]): Promise<string> {
  const peek = new HeaderPeek();
  const stream = new StageChain([peek]);
  stream.resume();
  const bytes = Buffer.concat([...lines.flatMap((line) => [Buffer.isBuffer(line) ? line : Buffer.from(line, 'utf8'), Buffer.from('\r\n')]), Buffer.from('\r\nbody\r\n')]);
  await new Promise<void>((resolve) => stream.end(bytes, resolve));
  return peek.headerBlock().text;
}

async function rawVerdict(lines: (string | Buffer)[], rules: string[] = ['jane@own.test']) {
  const author = checkAuthorFields(await peeked(...lines, 'Subject: hi'));
  if (!author.ok) return { ok: false as const, fault: author.fault, why: author.reason };
  const foreign = addressesNotOwned(author.shown, rules);
  if (foreign.length) return { ok: false as const, fault: 'not-owned', why: foreign.join(', ') };
  const misread = author.misread.filter((entry) => addressesNotOwned([entry.address], rules).length > 0);
  if (misread.length) return { ok: false as const, fault: 'misread', why: misread.map((entry) => `${entry.address} as ${entry.charset}`).join(', ') };
  return { ok: true as const };
}

/** A From line whose display name is these raw bytes, with the own address after it. */
const rawFrom = (name: number[] | Buffer, field = 'From') => Buffer.concat([Buffer.from(`${field}: "`), Buffer.from(name), Buffer.from('" <jane@own.test>')]);
const ascii = (text: string) => [...Buffer.from(text, 'latin1')];
const word = (charset: string, bytes: number[]) => `=?${charset}?B?${Buffer.from(bytes).toString('base64')}?=`;
// the fullwidth at sign U+FF20 in each legacy charset
const ISO2022JP_AT = [0x1b, 0x24, 0x42, 0x21, 0x77, 0x1b, 0x28, 0x42];
const SJIS_AT = [0x81, 0x97];
const EUCJP_AT = [0xa1, 0xf7];
const GB18030_AT = [0xa3, 0xc0];
const BIG5_AT = [0xa2, 0x49];
const utf8 = (text: string) => Buffer.from(text, 'utf8');
// valid UTF-8 (U+10057, bytes F0 90 81 97) that Shift_JIS reads as a user-defined character and then "＠"
const UTF8_READ_AS_SJIS_AT = utf8('boss\u{10057}corp.example');

const RAW_TRICKS: [trick: string, lines: (string | Buffer)[], fault: string][] = [
  ['raw ISO-2022-JP (ESC $ B ! w ESC ( B: a fullwidth at sign) in the display name', [rawFrom([...ascii('boss'), ...ISO2022JP_AT, ...ascii('corp.example')])], 'raw-bytes'],
  ['raw ISO-2022-JP with the message declaring charset=iso-2022-jp', [rawFrom([...ascii('boss'), ...ISO2022JP_AT, ...ascii('corp.example')]), 'Content-Type: text/plain; charset=iso-2022-jp'], 'raw-bytes'],
  ['a raw ESC sequence that shows nothing address-like (raw JIS is refused as such)', [rawFrom([0x1b, 0x24, 0x42, 0x3b, 0x33, 0x45, 0x44, 0x1b, 0x28, 0x42])], 'raw-bytes'],
  ['raw ISO-2022-KR shift bytes (SO/SI)', [rawFrom([0x1b, 0x24, 0x29, 0x43, 0x0e, 0x23, 0x40, 0x0f])], 'raw-bytes'],
  ['raw Shift_JIS 0x81 0x97 (a fullwidth at sign)', [rawFrom([...ascii('boss'), ...SJIS_AT, ...ascii('corp.example')])], 'raw-bytes'],
  ['raw Shift_JIS with the message declaring charset=shift_jis', [rawFrom([...ascii('boss'), ...SJIS_AT, ...ascii('corp.example')]), 'Content-Type: text/plain; charset=Shift_JIS'], 'raw-bytes'],
  ['raw EUC-JP 0xA1 0xF7', [rawFrom([...ascii('boss'), ...EUCJP_AT, ...ascii('corp.example')])], 'raw-bytes'],
  ['raw GB18030 0xA3 0xC0', [rawFrom([...ascii('boss'), ...GB18030_AT, ...ascii('corp.example')])], 'raw-bytes'],
  ['raw Big5 0xA2 0x49', [rawFrom([...ascii('boss'), ...BIG5_AT, ...ascii('corp.example')])], 'raw-bytes'],
  ['raw windows-1252 bytes (not UTF-8)', [rawFrom([...ascii('J'), 0xfc, ...ascii('rgen')])], 'raw-bytes'],
  ['raw Shift_JIS in the Sender field', ['From: jane@own.test', rawFrom([...ascii('boss'), ...SJIS_AT, ...ascii('corp.example')], 'Sender')], 'raw-bytes'],
  ['valid UTF-8 crafted to read as a fullwidth at sign in the declared charset (shift_jis)', [rawFrom(UTF8_READ_AS_SJIS_AT), 'Content-Type: text/plain; charset=shift_jis'], 'misread'],
  ['valid UTF-8 crafted to read as a fullwidth at sign in a sniffed charset (no charset declared)', [rawFrom(UTF8_READ_AS_SJIS_AT)], 'misread'],
  ['valid UTF-8 crafted to read as one in a sniffed charset though the message declares utf-8', [rawFrom(UTF8_READ_AS_SJIS_AT), 'Content-Type: text/plain; charset=utf-8'], 'misread'],
  ['pure ASCII that UTF-7, the declared charset, reads as a fullwidth at sign', [rawFrom(ascii('boss+/yA-corp.example')), 'Content-Type: text/plain; charset="utf-7"'], 'misread'],
  ['an ISO-2022-JP encoded word holding a fullwidth at sign', [`From: ${word('ISO-2022-JP', [...ascii('boss'), ...ISO2022JP_AT, ...ascii('corp.example')])} <jane@own.test>`], 'not-owned'],
  ['a Shift_JIS encoded word holding a fullwidth at sign', [`From: ${word('shift_jis', [...ascii('boss'), ...SJIS_AT, ...ascii('corp.example')])} <jane@own.test>`], 'not-owned'],
  ['an EUC-JP encoded word holding a fullwidth at sign', [`From: ${word('euc-jp', [...ascii('boss'), ...EUCJP_AT, ...ascii('corp.example')])} <jane@own.test>`], 'not-owned'],
  ['a GB18030 encoded word holding a fullwidth at sign', [`From: ${word('gb18030', [...ascii('boss'), ...GB18030_AT, ...ascii('corp.example')])} <jane@own.test>`], 'not-owned'],
  ['a Big5 encoded word holding a fullwidth at sign', [`From: ${word('big5', [...ascii('boss'), ...BIG5_AT, ...ascii('corp.example')])} <jane@own.test>`], 'not-owned'],
  ['a cp932 encoded word holding a fullwidth at sign', [`From: ${word('cp932', [...ascii('boss'), ...SJIS_AT, ...ascii('corp.example')])} <jane@own.test>`], 'not-owned'],
  ['a UTF-7 encoded word holding a fullwidth at sign', ['From: =?utf-7?Q?boss+/yA-corp.example?= <jane@own.test>'], 'not-owned'],
  ['an encoded word in a charset this relay cannot read (ISO-2022-KR)', [`From: ${word('iso-2022-kr', [0x1b, 0x24, 0x29, 0x43, 0x0e, 0x23, 0x40, 0x0f])} <jane@own.test>`], 'invalid'],
  ['an encoded word in an unknown charset', ['From: =?x-mystery?Q?boss=40corp.example?= <jane@own.test>'], 'invalid'],
  ['an encoded word that decodes to an ESC sequence', ['From: =?us-ascii?Q?boss=1B$B!w=1B(Bcorp.example?= <jane@own.test>'], 'invalid'],
];

for (const [trick, lines, fault] of RAW_TRICKS) {
  test(`raw-byte and charset tricks in From are refused: ${trick}`, async () => {
    const result = await rawVerdict(lines);
    assert.equal(result.ok, false, 'refused');
    assert.equal(result.ok ? '' : result.fault, fault, result.ok ? '' : result.why);
  });
}

test('a raw-byte refusal tells the sender to let the mail program encode the name', async () => {
  const esc = await rawVerdict([rawFrom([...ascii('boss'), ...ISO2022JP_AT, ...ascii('corp.example')])]);
  assert.match(esc.ok ? '' : esc.why, /^From: it holds a raw ESC byte .*RFC 2047/);
  const sjis = await rawVerdict([rawFrom([...ascii('boss'), ...SJIS_AT, ...ascii('corp.example')])]);
  assert.match(sjis.ok ? '' : sjis.why, /^From: it holds raw 8-bit bytes that are not UTF-8; let the mail program encode the name \(RFC 2047\)$/);
  const misread = await rawVerdict([rawFrom(UTF8_READ_AS_SJIS_AT), 'Content-Type: text/plain; charset=shift_jis']);
  assert.match(misread.ok ? '' : misread.why, /@corp\.example as shift_jis/);
});

test('legitimate display names pass: raw UTF-8 in any declared charset, and encoded words in UTF-8, ISO-2022-JP, Shift_JIS and Latin-1', async () => {
  const names = ['Jürgen Müller', '山田太郎', '山田 太郎', 'José Álvarez', 'Łukasz Żółć', 'Дмитрий Иванов', 'Ελένη Παπαδοπούλου', 'محمد علي', '김철수', '王小明', 'アイティ部', 'Zoë «Sales»', 'jane@own.test 山田'];
  for (const charset of ['utf-8', 'shift_jis', 'iso-2022-jp', 'iso-8859-1', 'gb2312', 'big5']) {
    for (const name of names) {
      assert.deepEqual(await rawVerdict([rawFrom(utf8(name)), `Content-Type: text/plain; charset=${charset}`]), { ok: true }, `${name} (${charset})`);
    }
  }
  const yamada = '=?ISO-2022-JP?B?GyRCOzNFRBsoQiAbJEJCQE86GyhC?='; // 山田 太郎, as Japanese mail programs encode it
  assert.equal(decodeEncodedWords(yamada), '山田 太郎');
  assert.deepEqual(await rawVerdict([`From: ${yamada} <jane@own.test>`, 'Content-Type: text/plain; charset=ISO-2022-JP']), { ok: true });
  const sjisYamada = word('shift_jis', [0x8e, 0x52, 0x93, 0x63, 0x20, 0x91, 0xbe, 0x98, 0x59]);
  assert.equal(decodeEncodedWords(sjisYamada), '山田 太郎');
  assert.deepEqual(await rawVerdict([`From: ${sjisYamada} <jane@own.test>`]), { ok: true });
  assert.deepEqual(await rawVerdict(['From: =?iso-8859-1?Q?J=FCrgen_M=FCller?= <jane@own.test>']), { ok: true });
  assert.deepEqual(await rawVerdict(['From: =?windows-1252?Q?J=FCrgen?= <jane@own.test>', 'Content-Type: text/plain; charset=utf-7']), { ok: true });
});
