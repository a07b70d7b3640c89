// Header values built to make a parser backtrack (an outside review: a 60 KB From held the relay's one thread for
// 11 s, a 200 KB one for two minutes, with every listener, delivery and the admin page stopped meanwhile). Each reader
// of From, Sender, Date and attachment names is fed 256 KiB of the shape that was quadratic, and must give its
// answer (the same as for a short value) in a small part of the time the old code took: the bound is 2 s, where the
// regular expressions they replaced needed minutes. Over real SMTP, such a message is answered in seconds on both
// the mx and the submission listener, while another client's mail goes through beside it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromAddresses, mailboxAddresses } from '../../src-relay/filters/from-addresses.ts';
import { BuiltinRulesFilter } from '../../src-relay/filters/builtin-rules.ts';
import { windowsName } from '../../src-relay/filters/attachments.ts';
import { listKeysOf } from '../../src-relay/filters/sender-lists.ts';
import { checkAuthorFields } from '../../src-relay/submission/from-header.ts';
import { fromDisplayName } from '../../src-relay/util/header-text.ts';
import { checkSignatureFields } from '../../src-relay/filters/mailauth-signature-limits.ts';
import { MAX_AUTHOR_FIELD_CHARS } from '../../src-relay/util/address.ts';
import { closeUpAround, trimEndOf, withoutParenthesized } from '../../src-relay/util/linear-text.ts';
import { encodingWithoutComments } from '../../src-relay/filters/mailsplit-encoding.ts';
import { HeaderScrubber } from '../../src-relay/smtp/header-scrub.ts';
import { StageChain } from '../../src-relay/smtp/stage-chain.ts';
import { parseMessageFile } from '../../src-relay/filters/mime.ts';
import { classifyResponse } from '../../src-relay/queue/classify.ts';
import { keptReply, MAX_REPLY_CHARS, MAX_RESPONSE_BYTES } from '../../src-relay/queue/delivery.ts';
import type { MessageContext } from '../../src-relay/filters/types.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay } from '../helpers/relay.ts';
import { message, send } from '../helpers/smtp.ts';
import { addUser, officeMessage, startSubmissionRelay, submit } from '../helpers/submission.ts';

const LONG = 256 * 1024;
/** Far under what the quadratic code took at this size (minutes), far over what one pass takes on a slow box. */
const BOUND_MS = 2_000;

/** What the scrubber passes on of one message (its header block read as the mx listener reads it). */
async function scrub(message: string): Promise<string> {
  const stream = new StageChain([new HeaderScrubber({ hostname: 'relay.example.test', maxHeaderBytes: 1024 * 1024 })]);
  const out: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => out.push(chunk));
  stream.write(Buffer.from(message, 'latin1'));
  await new Promise<void>((resolve) => stream.end(resolve));
  return Buffer.concat(out).toString('latin1');
}

function timed<T>(what: string, work: () => T): T {
  const began = performance.now();
  const result = work();
  const ms = performance.now() - began;
  assert.ok(ms < BOUND_MS, `${what} took ${Math.round(ms)} ms on ${LONG} characters`);
  return result;
}

test('the one-pass text helpers do what the regular expressions they replace did', () => {
  assert.equal(closeUpAround('Alice . Smith @ example . test', '@.'), 'Alice.Smith@example.test');
  assert.equal(closeUpAround('  a @b  ', '@'), '  a@b  ');
  assert.equal(closeUpAround('a . . b', '@.'), 'a..b');
  assert.equal(withoutParenthesized('Sat, 28 Nov 2026 10:00:00 +0000 (UTC) (x'), 'Sat, 28 Nov 2026 10:00:00 +0000  (x');
  assert.equal(trimEndOf('invoice.exe . . ', /[\s.]/), 'invoice.exe');
  assert.equal(trimEndOf('...', /\./), '');
});

test('From readers on 256 KiB of letters, spaces, quotes, dots and commas answer at once, and as for a short value', async () => {
  const shapes = ['a'.repeat(LONG) + ' <x@sender.test>', 'x' + ' '.repeat(LONG) + 'y <x@sender.test>', '"' + '\\"'.repeat(LONG / 2), 'a@' + '.'.repeat(LONG) + 'b', 'a,'.repeat(LONG / 2), '('.repeat(LONG)];
  for (const value of shapes) {
    timed('fromAddresses', () => fromAddresses([{ name: 'From', value }]));
    timed('mailboxAddresses', () => mailboxAddresses(value));
    timed('fromDisplayName', () => fromDisplayName(value, 'x@sender.test'));
  }
  assert.deepEqual(timed('fromAddresses', () => fromAddresses([{ name: 'From', value: shapes[0]! }])), ['x@sender.test']);
  assert.deepEqual(timed('mailboxAddresses', () => mailboxAddresses(shapes[1]!)), { addresses: ['x@sender.test'], malformed: false });
  // a domain of 256 Ki dots: its parents only as far as a domain name can be long (no list entry is longer)
  const keys = timed('listKeysOf', () => listKeysOf(shapes[3]!));
  assert.equal(keys[0], shapes[3]!.toLowerCase());
  assert.ok(keys.length <= 1 + 253 && keys.every((key, i) => i === 0 || key.length <= 254), `${keys.length} keys`);
  // and a From domain past that length still has its registered domain among its keys: a deny of @evil.test holds
  const long = `ceo@${'x.'.repeat(125)}evil.test`;
  assert.ok(listKeysOf(long).includes('@evil.test'));
  assert.ok(listKeysOf(long).includes('@x.evil.test'));
});

test('the built-in rules judge a 256 KiB Date of "(" and an attachment name of 256 Ki spaces at once, as for short ones', async () => {
  const rules = new BuiltinRulesFilter({ domains: ['example.test'], clock: () => Date.parse('2026-11-28T10:00:00Z') });
  const context = (date: string, name: string): MessageContext => ({
    queueId: 'Q', clientIp: '192.0.2.1', helo: 'x', sender: 'alice@sender.test', recipients: ['bob@example.test'], path: '/nonexistent', size: 1, tls: false, authenticatedUser: null,
    headers: [{ name: 'From', value: 'a'.repeat(LONG) + ' <alice@sender.test>' }, { name: 'Date', value: date }, { name: 'Message-ID', value: '<1@sender.test>' }, { name: 'Subject', value: 's' }],
    mime: { parts: [{ part: '1', contentType: 'application/octet-stream', disposition: 'attachment', filename: name, names: [name], transferEncoding: 'base64', size: 10, detectedType: null }], text: '', plainChars: 0, htmlChars: 0, anomalies: [], unchecked: [], sealed: [] },
  });
  const began = performance.now();
  const result = await rules.check(context('('.repeat(LONG), `invoice.pdf${' '.repeat(LONG)}x`));
  assert.ok(performance.now() - began < BOUND_MS, `the rules took ${Math.round(performance.now() - began)} ms`);
  const ids = result.reasons.map((reason) => reason.split(' ')[0]);
  assert.ok(ids.includes('MALFORMED_DATE'), ids.join(', '));
  assert.ok(!ids.includes('DISGUISED_ATTACHMENT_NAME'), 'spaces not followed by an extension hide none');
  const hidden = await rules.check(context('Sat, 28 Nov 2026 09:00:00 +0000', `invoice.pdf${' '.repeat(LONG)}.exe`));
  assert.ok(hidden.reasons.some((reason) => reason.startsWith('DISGUISED_ATTACHMENT_NAME')));
  assert.equal(timed('windowsName', () => windowsName(`tool.exe${' .'.repeat(LONG / 2)}`)), 'tool.exe');
});

test(`a From over ${MAX_AUTHOR_FIELD_CHARS} characters: submission refuses it as invalid at once; DKIM/DMARC leave it unchecked (the filter's unchecked verdict), never parsed`, () => {
  const over = 'a,'.repeat(MAX_AUTHOR_FIELD_CHARS / 2) + 'x <alice@example.test>';
  const refused = timed('checkAuthorFields', () => checkAuthorFields(`From: ${over}\r\nTo: bob@partner.test\r\n\r\n`));
  assert.deepEqual(refused, { ok: false, fault: 'invalid', reason: `the From field is ${over.length} characters long, over the limit of ${MAX_AUTHOR_FIELD_CHARS}` });
  // one step under the limit is read as before
  const under = `${'a'.repeat(MAX_AUTHOR_FIELD_CHARS - 22)} <alice@example.test>`;
  assert.equal(under.length, MAX_AUTHOR_FIELD_CHARS - 1);
  assert.equal(checkAuthorFields(`From: ${under}\r\n\r\n`).ok, true);
  // 15 Ki letters and one é: every charset reading of it scanned, no longer each in quadratic time
  assert.equal(timed('checkAuthorFields', () => checkAuthorFields(`From: ${'a'.repeat(MAX_AUTHOR_FIELD_CHARS - 30)}é <alice@example.test>\r\n\r\n`)).ok, true);
  const line = (value: string) => ({ key: 'from', line: Buffer.from(`From: ${value}\r\n`) });
  assert.throws(() => checkSignatureFields({ parsed: [line('x'.repeat(MAX_AUTHOR_FIELD_CHARS))] }), { name: 'NotCheckedError', message: /^a From field of \d+ bytes, over the limit of 8192$/ });
  assert.doesNotThrow(() => checkSignatureFields({ parsed: [line('x'.repeat(MAX_AUTHOR_FIELD_CHARS - 9))] }));
});

test('over real SMTP: a 200 KB From is answered in seconds on the mx listener, and another client is served beside it', { timeout: 60_000 }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port, { filters: { enabled: true } });
  try {
    const hostile = message('hostile').replace('From: Alice <alice@sender.test>', `From: ${'a'.repeat(200_000)} <x@sender.test>`);
    const began = performance.now();
    const [answer] = await Promise.all([
      send(relay.port, 'x@sender.test', ['bob@example.test'], hostile).then((info) => info.response),
      send(relay.port, 'alice@sender.test', ['bob@example.test'], message('beside it')),
    ]);
    assert.ok(performance.now() - began < 10_000, `answered after ${Math.round(performance.now() - began)} ms`);
    assert.match(answer, /^250 /);
    await sink.waitFor(1);
    assert.match(sink.messages[0]!.raw.toString(), /Subject: beside it/);
    // its From could not be read for DMARC: the unchecked verdict (quarantine), never "pass"
    const id = /queued as (\S+)/.exec(answer)![1]!;
    assert.equal(relay.relay.queue.store.message(id)?.status, 'quarantined');
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('over real SMTP: a logged-in client whose From is 60 KB of letters and an é is refused in seconds, not held for minutes', { timeout: 60_000 }, async () => {
  const internal = await Sink.start();
  const relay = await startSubmissionRelay(internal.port);
  await addUser(relay.dataDir, 'alice', ['alice@example.test']);
  try {
    const raw = officeMessage('alice@example.test', 'bob@partner.test').replace('From: alice@example.test', `From: ${'a'.repeat(60_000)}é <alice@example.test>`);
    const began = performance.now();
    await assert.rejects(submit(relay.submission, { user: 'alice' }, 'alice@example.test', ['bob@partner.test'], raw), /550 5\.6\.0 .*the From field is 60022 characters long, over the limit of 8192/);
    assert.ok(performance.now() - began < 10_000, `answered after ${Math.round(performance.now() - began)} ms`);
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('an Authentication-Results field of 120,000 nested comments is read for its authserv-id in one pass: ours behind them is still removed, another kept', async () => {
  const nested = '('.repeat(120_000) + ')'.repeat(120_000);
  const began = performance.now();
  const scrubbed = await scrub(`Authentication-Results: ${nested} relay.example.test; spf=pass\r\nAuthentication-Results: ${nested} other.example; spf=pass\r\nSubject: s\r\n\r\nbody\r\n`);
  assert.ok(performance.now() - began < BOUND_MS, `the scrubber took ${Math.round(performance.now() - began)} ms`);
  assert.doesNotMatch(scrubbed, /relay\.example\.test; spf=pass/, 'a forged result in our name is removed');
  assert.match(scrubbed, /other\.example; spf=pass/);
});

test("a part's Content-Transfer-Encoding of 250,000 \"(\" is read in one pass, and stays an unknown encoding (not checked whole)", async () => {
  const values = ['('.repeat(250_000), `base64 (${'('.repeat(1000)}`, 'quoted-printable (comment)', '((a)) base64 ( x ) (', 'base64'];
  for (const value of values) assert.equal(encodingWithoutComments(value), value.replace(/\(.*\)/g, '').replaceAll('(', '?'), value.slice(0, 40));
  const raw = `From: a@sender.test\r\nTo: bob@example.test\r\nSubject: cte\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: ${'('.repeat(250_000)}\r\n\r\nhello\r\n`;
  const began = performance.now();
  const parsed = await parseMessageFile('/nonexistent', undefined, { content: Buffer.from(raw), size: raw.length });
  assert.ok(performance.now() - began < BOUND_MS, `the walk took ${Math.round(performance.now() - began)} ms`);
  assert.ok(parsed.summary.unchecked.some((why) => /^part 1 is in the unknown transfer encoding "\(\(\(/.test(why)), parsed.summary.unchecked.join('; '));
});

test('a next hop reply of 1 MiB is classified from its start at once, and kept (logged, stored) at 512 characters', () => {
  const reply = `450-${'mailbox '.repeat(131_072)}`;
  const classified = timed('classifyResponse', () => classifyResponse({ responseCode: 450, response: reply }));
  assert.equal(classified.action, 'defer');
  assert.equal(keptReply(reply)!.length, MAX_REPLY_CHARS);
  assert.equal(MAX_RESPONSE_BYTES, 64 * 1024, 'and nodemailer is told to end a session whose one reply is longer');
});
