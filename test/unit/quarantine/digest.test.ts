// The quarantine digest's composition and bookkeeping over a real store in a temp data directory: decoded subjects,
// reasons in words, signed links bound to the recipient and message that expire after linkDays, the per-digest bound,
// no links while the user page is off, "listed once", and the schedule's "is it due" rule.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { validateConfig, mergeConfig } from '../../../src-relay/config/load.ts';
import type { Config } from '../../../src-relay/config/schema.ts';
import { openStore } from '../../../src-relay/engine.ts';
import { silentLogger } from '../../../src-relay/log/logger.ts';
import type { Decision } from '../../../src-relay/filters/policy.ts';
import { heldBecauseText } from '../../../src-relay/queue/history-text.ts';
import {
  MAX_DIGEST_MESSAGES,
  QuarantineDigest,
  dateInWords,
  digestEntry,
  isInternalRecipient,
  userPageBase,
} from '../../../src-relay/quarantine/digest.ts';
import { UserLinks } from '../../../src-relay/quarantine/user-links.ts';
import { newQueueId } from '../../../src-relay/util/ids.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { digestLinks, header, mailPart } from '../../helpers/digest-mail.ts';

const DAY_MS = 24 * 3600 * 1000;
// Monday 3 June 2024, 09:30 local time
const NOW = new Date(2024, 5, 3, 9, 30).getTime();
const SUBJECT = 'Grüße aus Köln – Rechnung Nr. 7';
const ENCODED_SUBJECT = `=?UTF-8?B?${Buffer.from(SUBJECT).toString('base64')}?=`;

const junk: Decision = { action: 'quarantine', score: 11, cause: 'junk', reason: 'junk score 11 (quarantine at 10)', senderList: null, results: [] };
const blocked: Decision = { action: 'quarantine', score: 0, cause: 'policy', reason: 'attachments: blocked file type .exe (invoice.exe)', senderList: null, results: [] };

const opened: { close(): void; dir: string }[] = [];
afterEach(() => {
  for (const item of opened.splice(0)) {
    item.close();
    rmSync(item.dir, { recursive: true, force: true });
  }
});

function setup(overrides: Record<string, unknown> = {}, clock: () => number = () => NOW) {
  const dir = tempDir('moat-digest-');
  const result = validateConfig(mergeConfig({ hostname: 'relay.example.test', domains: ['example.test'], internal: { host: '127.0.0.1', port: 2525 } }, overrides));
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const config: Config = result.config;
  const { db, queue } = openStore(dir, config, silentLogger, clock);
  opened.push({ dir, close: () => db.close() });
  const digest = new QuarantineDigest({ queue, config, dataDir: dir, hostname: 'relay.example.test', logger: silentLogger, clock });
  let counter = 0;
  const quarantine = (recipients: string[], options: { subject?: string; decision?: Decision; fromName?: string | null; minutesAgo?: number } = {}) => {
    const receivedAt = NOW - (options.minutesAgo ?? 60) * 60_000 + counter++;
    const id = newQueueId(receivedAt);
    queue.store.insertBatch(
      [
        {
          id,
          receivedAt,
          clientIp: '203.0.113.9',
          helo: 'client.test',
          sender: 'juergen@sender.test',
          size: 500,
          spoolBytes: 500,
          headerMessageId: `${id}@sender.test`,
          subject: options.subject ?? 'offer',
          fromName: options.fromName ?? null,
          kind: 'mail',
          status: 'quarantined',
          decision: JSON.stringify(options.decision ?? junk),
          recipients: recipients.map((address) => ({ address, route: queue.routeFor(address) })),
        },
      ],
      [],
    );
    return id;
  };
  const queued = (queueId: string) => readFileSync(queue.spool.path(queueId), 'utf8');
  return { dir, config, queue, digest, quarantine, queued };
}

const page = { quarantine: { userPage: { listen: '10.0.0.5:8080', linkDays: 7 } } };

test('a digest lists each held message with its subject decoded, the sender by name, when it came and why in words', async () => {
  const { digest, quarantine, queued } = setup(page);
  quarantine(['alice@example.test'], { subject: ENCODED_SUBJECT, fromName: '=?ISO-8859-1?Q?J=FCrgen_Wei=DF?=', minutesAgo: 30 });
  quarantine(['alice@example.test'], { subject: 'your invoice', decision: blocked, minutesAgo: 10 });
  const [sent] = await digest.send();
  assert.ok(sent);
  assert.equal(sent.recipient, 'alice@example.test');
  assert.equal(sent.listed, 2);
  const raw = queued(sent.queueId);
  assert.equal(header(raw, 'Subject'), '2 messages held for you by the mail filter');
  assert.equal(header(raw, 'To'), 'alice@example.test');
  assert.equal(header(raw, 'From'), '"Mail filter on relay.example.test" <postmaster@relay.example.test>');
  assert.equal(header(raw, 'Auto-Submitted'), 'auto-generated');
  assert.doesNotMatch(raw, /[^\x00-\x7f]/, 'the digest is 7-bit clean: the internal server need not speak 8BITMIME');
  const text = mailPart(raw, 'text/plain')!;
  assert.match(text, new RegExp(`1\\. From: Jürgen Weiß <juergen@sender\\.test>\\n   Subject: ${SUBJECT}\\n   Arrived: today at 09:00\\n   Why: it looks like junk mail \\(junk score 11\\)`));
  assert.match(text, /2\. From: juergen@sender\.test\n {3}Subject: your invoice\n {3}Arrived: today at 09:20\n {3}Why: it breaks a rule of your mail filter \(blocked file type \.exe \(invoice\.exe\)\)/);
  assert.match(text, /^The mail filter held 2 messages addressed to you /);
  const html = mailPart(raw, 'text/html')!;
  assert.match(html, /<p>The mail filter held 2 messages addressed to you /, 'the HTML part counts the messages it lists, as the text does');
  assert.match(html, /<p>Do not forward this message: /);
  assert.match(text, /\nTimes are the mail relay's \((UTC|GMT[+-]\d+|[A-Z]{3,5})\)\.\n/, 'the times above name their zone');
  assert.ok(html.includes(SUBJECT));
  assert.doesNotMatch(html, /<img|<script|<link|src=|url\(/i, 'the HTML part loads nothing from anywhere');
  assert.match(html, /<meta name="referrer" content="no-referrer">/);
});

test('each link carries a token that verifies for that recipient and that message only, and expires after linkDays', async () => {
  const { dir, digest, quarantine, queued } = setup(page);
  const first = quarantine(['alice@example.test', 'bob@example.test']);
  const second = quarantine(['alice@example.test']);
  const sent = await digest.send();
  assert.deepEqual(sent.map((item) => [item.recipient, item.listed]), [['alice@example.test', 2], ['bob@example.test', 1]]);
  const links = await UserLinks.open(dir);
  const alice = digestLinks(mailPart(queued(sent[0]!.queueId), 'text/plain')!);
  const bob = digestLinks(mailPart(queued(sent[1]!.queueId), 'text/plain')!);
  assert.equal(alice.length, 2);
  assert.equal(bob.length, 1);
  assert.ok(alice.every((link) => link.url === `http://10.0.0.5:8080/q/${link.token}`));
  const claims = (token: string, at = NOW) => links.verify(token, at);
  assert.deepEqual(claims(alice[0]!.token), { ok: true, claims: { recipient: 'alice@example.test', messageId: first, expiresAt: NOW + 7 * DAY_MS } });
  assert.deepEqual(claims(alice[1]!.token), { ok: true, claims: { recipient: 'alice@example.test', messageId: second, expiresAt: NOW + 7 * DAY_MS } });
  assert.deepEqual(claims(bob[0]!.token), { ok: true, claims: { recipient: 'bob@example.test', messageId: first, expiresAt: NOW + 7 * DAY_MS } });
  // just before linkDays the link works; at linkDays it has expired
  assert.equal(claims(alice[0]!.token, NOW + 7 * DAY_MS - 1).ok, true);
  assert.deepEqual(claims(alice[0]!.token, NOW + 7 * DAY_MS), { ok: false, why: 'expired' });
  // another data directory's key does not accept them, and knows them for another key's
  const other = UserLinks.withKey(Buffer.alloc(32, 7));
  assert.deepEqual(other.verify(alice[0]!.token, NOW), { ok: false, why: 'other-key' });
});

test('userPage.url, when set, is where the links start', async () => {
  const { digest, quarantine, queued } = setup({ quarantine: { userPage: { listen: '10.0.0.5:8080', url: 'https://quarantine.example.test/', linkDays: 2 } } });
  quarantine(['alice@example.test']);
  const [sent] = await digest.send();
  const text = mailPart(queued(sent!.queueId), 'text/plain')!;
  assert.match(digestLinks(text)[0]!.url, /^https:\/\/quarantine\.example\.test\/q\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.match(text, /the links work until Wednesday 5 June at 09:30 and only for you/);
});

test('with the user page off, the digest still lists the messages, has no links and says to ask the administrator', async () => {
  const { digest, quarantine, queued, config } = setup();
  assert.equal(userPageBase(config.quarantine.userPage), null);
  quarantine(['alice@example.test'], { subject: 'quarterly report' });
  const [sent] = await digest.send();
  const text = mailPart(queued(sent!.queueId), 'text/plain')!;
  assert.match(text, /Subject: quarterly report/);
  assert.equal(digestLinks(text).length, 0);
  assert.doesNotMatch(text, /\/q\//);
  assert.match(text, /ask your mail administrator to release it/);
  assert.doesNotMatch(mailPart(queued(sent!.queueId), 'text/html')!, /<a /);
});

test(`a digest lists at most ${MAX_DIGEST_MESSAGES} messages: exactly that many are all listed`, async () => {
  const { digest, quarantine, queued } = setup(page);
  for (let index = 0; index < MAX_DIGEST_MESSAGES; index++) quarantine(['alice@example.test'], { subject: `offer ${index}` });
  const [sent] = await digest.send();
  assert.equal(sent!.listed, MAX_DIGEST_MESSAGES);
  const text = mailPart(queued(sent!.queueId), 'text/plain')!;
  assert.equal(digestLinks(text).length, MAX_DIGEST_MESSAGES);
  assert.doesNotMatch(text, /more held message/);
  assert.deepEqual(await digest.send(), []);
});

test(`one message past ${MAX_DIGEST_MESSAGES}: the digest lists ${MAX_DIGEST_MESSAGES}, says one more is held, and the next digest lists it`, async () => {
  const { digest, quarantine, queued } = setup(page);
  const ids = [];
  for (let index = 0; index <= MAX_DIGEST_MESSAGES; index++) ids.push(quarantine(['alice@example.test'], { subject: `offer ${index}` }));
  assert.deepEqual(digest.plan(), [{ recipient: 'alice@example.test', held: MAX_DIGEST_MESSAGES + 1, listed: MAX_DIGEST_MESSAGES }]);
  const [sent] = await digest.send();
  assert.equal(sent!.listed, MAX_DIGEST_MESSAGES);
  const raw = queued(sent!.queueId);
  assert.equal(header(raw, 'Subject'), `${MAX_DIGEST_MESSAGES + 1} messages held for you by the mail filter`, 'the subject counts what is held, as the first line does');
  const text = mailPart(raw, 'text/plain')!;
  assert.equal(digestLinks(text).length, MAX_DIGEST_MESSAGES);
  assert.match(text, /The mail filter held 101 messages addressed to you/);
  assert.match(text, /1 more held message is not listed here; it comes in the next list\./);
  assert.doesNotMatch(text, /Subject: offer 100\n/, 'the newest one waits for the next list');
  const [next] = await digest.send();
  assert.equal(next!.listed, 1);
  assert.match(mailPart(queued(next!.queueId), 'text/plain')!, /1\. From: juergen@sender\.test\n {3}Subject: offer 100\n/);
});

test('a message is listed once: a second run sends nothing; only mail quarantined since is listed next time', async () => {
  const { digest, quarantine, queued } = setup(page);
  quarantine(['alice@example.test'], { subject: 'old one' });
  assert.equal((await digest.send()).length, 1);
  assert.deepEqual(digest.plan(), []);
  assert.deepEqual(await digest.send(), []);
  quarantine(['alice@example.test'], { subject: 'new one', minutesAgo: 1 });
  const [sent] = await digest.send();
  const text = mailPart(queued(sent!.queueId), 'text/plain')!;
  assert.match(text, /Subject: new one/);
  assert.doesNotMatch(text, /old one/);
});

test('--to narrows a run to one recipient; the others keep theirs for the next run', async () => {
  const { digest, quarantine } = setup(page);
  quarantine(['alice@example.test', 'Bob@Example.test']);
  assert.deepEqual((await digest.send('BOB@example.test')).map((item) => item.recipient), ['Bob@Example.test']);
  assert.deepEqual(digest.plan().map((item) => item.recipient), ['alice@example.test']);
});

test('outside recipients of a quarantined message get no digest', async () => {
  const { digest, quarantine, queue } = setup(page);
  quarantine(['someone@elsewhere.test']);
  assert.deepEqual(digest.plan(), []);
  assert.equal(isInternalRecipient(queue, 'someone@elsewhere.test'), false);
  assert.equal(isInternalRecipient(queue, 'alice@example.test'), true);
  assert.equal(isInternalRecipient(queue, 'not an address'), false);
});

test('released or deleted mail is not listed', async () => {
  const { digest, quarantine, queue } = setup(page);
  const released = quarantine(['alice@example.test']);
  const deleted = quarantine(['alice@example.test']);
  queue.store.releaseQuarantined(released, NOW, null);
  queue.store.finishQuarantined(deleted, NOW, { at: NOW, queueId: deleted, action: 'DELETED', detail: 'deleted' });
  assert.deepEqual(digest.plan(), []);
});

test('a digest that could not be queued marks nothing: the next run lists the same messages', async () => {
  const { digest, quarantine, queue } = setup(page);
  quarantine(['alice@example.test']);
  const enqueue = queue.enqueueGenerated.bind(queue);
  queue.enqueueGenerated = async () => Promise.reject(new Error('disk full'));
  await assert.rejects(digest.send(), /disk full/);
  queue.enqueueGenerated = enqueue;
  assert.equal((await digest.send())[0]!.listed, 1);
});

test('a crash after the digest is queued but before it is remembered lists the messages again (twice, never not at all)', async () => {
  const { digest, quarantine, queue, queued } = setup(page);
  quarantine(['alice@example.test'], { subject: 'important' });
  const mark = queue.store.markDigested.bind(queue.store);
  queue.store.markDigested = () => {
    throw new Error('power cut');
  };
  await assert.rejects(digest.send(), /power cut/);
  queue.store.markDigested = mark;
  const again = await digest.send();
  assert.equal(again.length, 1);
  assert.match(mailPart(queued(again[0]!.queueId), 'text/plain')!, /Subject: important/);
  assert.equal(queue.store.summary().size, 2, 'both digests are in the queue');
});

test('the schedule: off by default; due on a listed weekday once its time has come, once a day', async () => {
  let now = new Date(2024, 5, 3, 7, 59).getTime(); // Monday
  const off = setup({}, () => now);
  assert.equal(off.config.quarantine.digest.enabled, false);
  assert.equal(off.digest.isDue(new Date(2024, 5, 3, 12, 0).getTime()), false, 'off by default');

  const { digest, quarantine } = setup({ quarantine: { digest: { enabled: true, time: '08:00', weekdays: [1, 2, 3, 4, 5] } } }, () => now);
  quarantine(['alice@example.test']);
  assert.equal(digest.isDue(), false, 'not before its time');
  assert.equal(await digest.tick(), null);
  now = new Date(2024, 5, 3, 8, 0).getTime();
  assert.equal(digest.isDue(), true);
  assert.equal((await digest.tick())!.length, 1);
  assert.equal(digest.isDue(), false, 'once a day');
  now = new Date(2024, 5, 3, 23, 59).getTime();
  assert.equal(await digest.tick(), null);
  // a relay down at 08:00 on Tuesday sends Tuesday's digest when it runs again that day
  now = new Date(2024, 5, 4, 15, 45).getTime();
  assert.equal(digest.isDue(), true);
  assert.deepEqual(await digest.tick(), [], 'due, but nothing new to list');
  assert.equal(digest.isDue(), false);
  // not on Saturday
  assert.equal(digest.isDue(new Date(2024, 5, 8, 9, 0).getTime()), false);
});

test('reasons in words for each cause, and dates in words', () => {
  assert.equal(heldBecauseText(junk), 'it looks like junk mail (junk score 11)');
  assert.equal(heldBecauseText({ cause: 'virus', score: 0, reason: 'clamav: Win.Test.EICAR_HDB-1' }), 'it may carry a virus (Win.Test.EICAR_HDB-1)');
  assert.equal(heldBecauseText({ cause: 'unavailable', score: 0, reason: 'clamav: unreachable' }), 'the mail filter could not finish checking it');
  assert.equal(heldBecauseText(null), 'the mail filter held it for a closer look');
  assert.equal(dateInWords(new Date(2024, 5, 2, 23, 5).getTime(), NOW), 'yesterday at 23:05');
  assert.equal(dateInWords(new Date(2024, 4, 30, 8, 0).getTime(), NOW), 'Thursday 30 May at 08:00');
  assert.equal(dateInWords(new Date(2023, 11, 30, 8, 0).getTime(), NOW), 'Saturday 30 December 2023 at 08:00');
});

test('a sender name that is the address itself is not said twice, and mail with no sender says so', () => {
  const base = { id: 'X', received_at: NOW, client_ip: '203.0.113.9', helo: null, size: 1, spool_bytes: 1, header_message_id: null, kind: 'mail' as const, status: 'quarantined' as const, held: 0, delay_warned: 0, finished_at: null, decision: null, added_headers: null, lifetime_from: null, sender_check: null };
  assert.equal(digestEntry({ ...base, sender: 'a@b.test', subject: null, from_name: 'a@b.test' }, null).from, 'a@b.test');
  assert.equal(digestEntry({ ...base, sender: '', subject: null, from_name: null }, null).from, '(no sender)');
  assert.equal(digestEntry({ ...base, sender: '', subject: null, from_name: null }, null).subject, null);
  // a name with an address in it follows the address the mail came from, in quotes: it never reads as the sender
  assert.equal(digestEntry({ ...base, sender: 'evil@attacker.test', subject: null, from_name: 'IT Helpdesk \u2039admin@example.test\u203a' }, null).from, 'evil@attacker.test, named "IT Helpdesk \u2039admin@example.test\u203a"');
  assert.equal(digestEntry({ ...base, sender: 'a@b.test', subject: null, from_name: 'Alice' }, null).from, 'Alice <a@b.test>');
  // a From address other than the envelope's leads, as mail programs show it, with the envelope's after it (an
  // admin's review: the digest put the envelope's first and the From address inside the name)
  assert.equal(digestEntry({ ...base, sender: 'bob@sender.invalid', subject: null, from_name: 'paypal@paypal.com <bob@example.test>' }, null).from, 'bob@example.test, named "paypal@paypal.com", sent by bob@sender.invalid');
  assert.equal(digestEntry({ ...base, sender: 'bob@sender.invalid', subject: null, from_name: 'Alice <alice@example.test>' }, null).from, 'Alice <alice@example.test>, sent by bob@sender.invalid');
  // a name encoded twice (a review): stored decoded once, it must not decode into an address of its own
  const twice = `=?utf-8?q?Bank_=3Cceo=40bank.test=3E?=`;
  assert.equal(digestEntry({ ...base, sender: 'bob@sender.invalid', subject: null, from_name: twice }, null).from, 'bob@sender.invalid, named "Bank <ceo@bank.test>"');
});
