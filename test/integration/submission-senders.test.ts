import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { SmtpProbe, addUser, officeMessage, startSubmissionRelay, submit, withAccounts, PASSWORD, type SubmissionRelay } from '../helpers/submission.ts';

type SmtpError = Error & { responseCode?: number; response?: string; command?: string };

const refusedWith = (code: number, status: string, command?: string) => (error: SmtpError) => {
  assert.equal(error.responseCode, code, error.response);
  assert.match(error.response ?? '', new RegExp(`^${code} ${status.replace(/\./g, '\\.')} `));
  if (command) assert.equal(error.command, command);
  return true;
};

async function withRelay(run: (relay: SubmissionRelay, internal: Sink) => Promise<void>): Promise<void> {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port);
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test', '@sales.example.test']);
    await run(relay, internal);
  } finally {
    await relay.stop();
    await internal.stop();
  }
}

const alice = { user: 'alice' };

test('MAIL FROM with an address the account does not own is refused with 550 5.7.1', () =>
  withRelay(async (relay, internal) => {
    await assert.rejects(
      submit(relay.submission, alice, 'ceo@example.test', ['bob@example.test'], officeMessage('ceo@example.test', 'bob@example.test')),
      refusedWith(550, '5.7.1', 'MAIL FROM'),
    );
    await assert.rejects(submit(relay.submission, alice, '', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test')), refusedWith(550, '5.7.1'));
    assert.equal(internal.messages.length, 0);
  }));

test('a From header the account does not own is refused with 550 5.7.1 even when MAIL FROM is its own', () =>
  withRelay(async (relay, internal) => {
    await assert.rejects(
      submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], officeMessage('The CEO <ceo@example.test>', 'bob@example.test')),
      refusedWith(550, '5.7.1'),
    );
    assert.equal(internal.messages.length, 0);
    assert.equal(relay.relay.queue.store.summary().size, 0, 'nothing was queued');
  }));

test('a Resent-From the account does not own is refused with 550 5.7.1; its own is delivered', () =>
  withRelay(async (relay, internal) => {
    await assert.rejects(
      submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test', 'resent', 'Resent-From: The CEO <ceo@example.test>\r\n')),
      refusedWith(550, '5.7.1'),
    );
    await submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test', 'redirected', 'Resent-From: Alice <alice@example.test>\r\n'));
    await internal.waitFor(1);
    assert.match(internal.messages[0]!.raw.toString(), /Subject: redirected/);
  }));

test('display-name and parser tricks in From are refused: every address it shows must be owned', () =>
  withRelay(async (relay) => {
    const tricks = [
      '"ceo@example.test" <alice@example.test>',
      '<alice@example.test> <ceo@example.test>',
      '=?utf-8?B?Y2VvQGV4YW1wbGUudGVzdA==?= <alice@example.test>',
      'alice@example.test, ceo@example.test',
    ];
    for (const from of tricks) {
      await assert.rejects(submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], officeMessage(from, 'bob@example.test')), refusedWith(550, '5.7.1'), from);
    }
  }));

test('Unicode and encoding tricks in From are refused over real submission: split encoded words, look-alike at signs and dots, invisible characters, quoted-pairs, comments', () =>
  withRelay(async (relay, internal) => {
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    const tricks = [
      `=?utf-8?B?${b64('ceo@exam')}?= =?utf-8?B?${b64('ple.test')}?= <alice@example.test>`,
      '"ceo\uFF20example.test" <alice@example.test>',
      '"ceo\uFE6Bexample\u3002test" <alice@example.test>',
      '"ceo@example\u2024test" <alice@example.test>',
      '"ceo@\u200Bexample.test" <alice@example.test>',
      '"c\u00ADeo@example.test" <alice@example.test>',
      '"ceo\\@example.test" <alice@example.test>',
      'ceo@(hidden)example.test <alice@example.test>',
      'alice@example.test (ceo@example.test)',
    ];
    for (const from of tricks) {
      await assert.rejects(submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], officeMessage(from, 'bob@example.test')), refusedWith(550, '5.7.1'), from);
    }
    for (const from of ['"\u202Etset.elpmaxe@oec" <alice@example.test>', 'Staff: alice@example.test;']) {
      await assert.rejects(submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], officeMessage(from, 'bob@example.test')), refusedWith(550, '5.6.0'), from);
    }
    assert.equal(internal.messages.length, 0);
    assert.equal(relay.relay.queue.store.summary().size, 0, 'nothing was queued');
  }));

test('a legitimate display name with a comment, one equal to the own address, and an encoded international name are delivered', () =>
  withRelay(async (relay, internal) => {
    const names = ['"Alice Doe (Sales)" <alice@example.test>', 'Alice Doe (Sales) <alice@example.test>', '"alice@example.test" <alice@example.test>', '=?utf-8?B?QWxpY2UgTcO8bGxlcg==?= <alice@example.test>'];
    for (const [index, from] of names.entries()) {
      await submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], officeMessage(from, 'bob@example.test', `legit ${index}`));
    }
    await internal.waitFor(names.length);
  }));

/**
 * One message over a real authenticated submission session, as exact bytes (a From line of raw bytes that no mail
 * library would write); returns the reply to the end of DATA.
 */
async function submitBytes(port: number, fromLine: Buffer, charset = 'utf-8'): Promise<string> {
  const rest = officeMessage('alice@example.test', 'bob@example.test', 'raw bytes').replace(/^From: .*\r\n/, '').replace('charset=utf-8', `charset=${charset}`);
  const probe = await SmtpProbe.connect(port);
  try {
    await probe.hello();
    await probe.startTls();
    assert.match(await probe.authPlain('alice', PASSWORD), /^235 /);
    assert.match(await probe.command('MAIL FROM:<alice@example.test> BODY=8BITMIME'), /^250 /);
    assert.match(await probe.command('RCPT TO:<bob@example.test>'), /^250 /);
    assert.match(await probe.command('DATA'), /^354 /);
    probe.write(Buffer.concat([Buffer.from('From: '), fromLine, Buffer.from('\r\n'), Buffer.from(rest, 'utf8'), Buffer.from('.\r\n')]));
    return await probe.reply();
  } finally {
    probe.close();
  }
}

const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))));

test('raw ISO-2022-JP or Shift_JIS bytes in the From display name are refused over real submission (550 5.6.0, encode the header); a fullwidth at sign in an encoded word is caught', () =>
  withRelay(async (relay, internal) => {
    const advice = /^550 5\.6\.0 The From or Sender header holds raw bytes that mail programs read differently; let your mail program encode it \(RFC 2047\)/;
    // "ceo＠example.test" as a Japanese mail program shows it: ESC $ B ! w ESC ( B is the fullwidth at sign in JIS
    const jis = bytes('"ceo', [0x1b, 0x24, 0x42, 0x21, 0x77, 0x1b, 0x28, 0x42], 'example.test" <alice@example.test>');
    assert.match(await submitBytes(relay.submission, jis, 'iso-2022-jp'), advice);
    const sjis = bytes('"ceo', [0x81, 0x97], 'example.test" <alice@example.test>');
    assert.match(await submitBytes(relay.submission, sjis, 'shift_jis'), advice);
    // valid UTF-8 (U+10057 is F0 90 81 97) that a program reading the declared Shift_JIS shows as "ceo?＠example.test"
    const misread = bytes('"ceo\u{10057}example.test" <alice@example.test>');
    assert.match(await submitBytes(relay.submission, misread, 'shift_jis'), /^550 5\.6\.0 .*read as shift_jis/);
    const encoded = `=?ISO-2022-JP?B?${Buffer.from(bytes('ceo', [0x1b, 0x24, 0x42, 0x21, 0x77, 0x1b, 0x28, 0x42], 'example.test')).toString('base64')}?= <alice@example.test>`;
    assert.match(await submitBytes(relay.submission, bytes(encoded), 'iso-2022-jp'), /^550 5\.7\.1 /);
    assert.equal(internal.messages.length, 0);
    assert.equal(relay.relay.queue.store.summary().size, 0, 'nothing was queued');
  }));

test('a Japanese display name is delivered, as raw UTF-8 and as an ISO-2022-JP encoded word, and a raw UTF-8 German name under a declared Shift_JIS', () =>
  withRelay(async (relay, internal) => {
    assert.match(await submitBytes(relay.submission, bytes('"山田太郎" <alice@example.test>')), /^250 /);
    assert.match(await submitBytes(relay.submission, bytes('=?ISO-2022-JP?B?GyRCOzNFRBsoQiAbJEJCQE86GyhC?= <alice@example.test>'), 'iso-2022-jp'), /^250 /);
    assert.match(await submitBytes(relay.submission, bytes('"J\u00fcrgen M\u00fcller" <alice@example.test>'), 'shift_jis'), /^250 /);
    await internal.waitFor(3);
  }));

test('a message needs exactly one From header with an address (550 5.6.0)', () =>
  withRelay(async (relay) => {
    const twoFroms = officeMessage('alice@example.test', 'bob@example.test', 'two', 'From: ceo@example.test\r\n');
    await assert.rejects(submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], twoFroms), refusedWith(550, '5.6.0'));
    const none = officeMessage('alice@example.test', 'bob@example.test').replace(/^From: .*\r\n/, '');
    await assert.rejects(submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], none), refusedWith(550, '5.6.0'));
    const group = officeMessage('undisclosed:;', 'bob@example.test');
    await assert.rejects(submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], group), refusedWith(550, '5.6.0'));
  }));

test('several From addresses pass when the account owns them all; a domain rule covers every address at it', () =>
  withRelay(async (relay, internal) => {
    await submit(relay.submission, alice, 'alice@example.test', ['bob@example.test'], officeMessage('Alice <alice@example.test>, Sales <orders@sales.example.test>', 'bob@example.test', 'both', 'Sender: alice@example.test\r\n'));
    await submit(relay.submission, alice, 'Anyone@Sales.Example.Test', ['bob@example.test'], officeMessage('"Sales team" <Anyone@SALES.example.test>', 'bob@example.test', 'sales'));
    await internal.waitFor(2);
  }));

test('changing an account\'s senders takes effect on the running relay at once', () =>
  withRelay(async (relay, internal) => {
    withAccounts(relay.dataDir, (accounts) => accounts.setSenders('alice', ['alice@example.test'], Date.now()));
    await assert.rejects(
      submit(relay.submission, alice, 'orders@sales.example.test', ['bob@example.test'], officeMessage('orders@sales.example.test', 'bob@example.test')),
      refusedWith(550, '5.7.1', 'MAIL FROM'),
    );
    withAccounts(relay.dataDir, (accounts) => accounts.remove('alice'));
    const probe = await SmtpProbe.connect(relay.submission);
    try {
      await probe.hello();
      await probe.startTls();
      assert.match(await probe.authPlain('alice', PASSWORD), /^535 5\.7\.8 /, 'a removed account cannot log in');
    } finally {
      probe.close();
    }
    assert.equal(internal.messages.length, 0);
  }));

test('a recipient given again in a form Moat rewrites (a full-width letter, an ideographic full stop) is one recipient of the message, not one a time', () =>
  withRelay(async (relay, internal) => {
    const probe = await SmtpProbe.connect(relay.submission);
    try {
      await probe.hello();
      await probe.startTls();
      assert.match(await probe.authPlain('alice', PASSWORD), /^235 /);
      assert.match(await probe.command('MAIL FROM:<alice@example.test>'), /^250 /);
      const repeats = 200;
      probe.write('RCPT TO:<bob@\uff45xample.test>\r\nRCPT TO:<carol@example\u3002test>\r\n'.repeat(repeats / 2));
      const replies: string[] = [];
      for (let i = 0; i < repeats; i += 1) replies.push(await probe.reply());
      assert.deepEqual(replies.filter((reply) => !/^250 /.test(reply)), []);
      // the repeats were each added again, past the limit of recipients: a new one then got 452
      assert.match(await probe.command('RCPT TO:<dave@example.test>'), /^250 /, 'three recipients so far, however often given');
      assert.match(await probe.command('DATA'), /^354 /);
      probe.write(`${officeMessage('alice@example.test', 'bob@example.test')}\r\n.\r\n`);
      assert.match(await probe.reply(), /^250 /);
    } finally {
      probe.close();
    }
    await internal.waitFor(1);
    assert.deepEqual(internal.messages[0]!.to.map((address) => address.toLowerCase()).sort(), ['bob@example.test', 'carol@example.test', 'dave@example.test']);
  }));
