// The end users' quarantine page over real HTTP: a live relay (its built-in junk rules quarantine undated mail), the
// page on 127.0.0.1:0, links signed with the data directory's own key, a real SMTP sink as the internal server. Each
// test speaks from its own loopback address (127.0.0.N), so the per-address rate limit of one does not touch another.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src-relay/config/load.ts';
import { quarantineHandlers } from '../../src-relay/admin/handlers/quarantine.ts';
import { PersonalLists } from '../../src-relay/filters/personal-lists.ts';
import { MAX_TOKEN_CHARS, UserLinks } from '../../src-relay/quarantine/user-links.ts';
import { MAX_FORM_BYTES, USER_PAGE_REQUESTS_PER_MINUTE } from '../../src-relay/quarantine/user-page.ts';
import { apiContext } from '../helpers/api-context.ts';
import { apiError, callHandler } from '../helpers/api-call.ts';
import { runCli } from '../helpers/cli.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { send } from '../helpers/smtp.ts';
import { messageWithAttachments } from '../helpers/mail-parts.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const TEST_TIMEOUT_MS = 60_000;
const DAY_MS = 86_400_000;
let sink: Sink;
let direct: TestRelay;
let approval: TestRelay;
let directLinks: UserLinks;
let approvalLinks: UserLinks;
/** Each test's own client address. */
let nextClient = 2;
const newClient = () => `127.0.0.${nextClient++}`;

const JUNK = { filters: { enabled: true, rules: { MISSING_DATE: 11 } } };

before(async () => {
  sink = await Sink.start();
  direct = await startRelay(sink.port, {
    filters: { ...JUNK.filters, attachments: { action: 'quarantine' } },
    quarantine: { userPage: { listen: '127.0.0.1:0' } },
  });
  approval = await startRelay(sink.port, { ...JUNK, quarantine: { userPage: { listen: '127.0.0.1:0', releaseMode: 'approval' } } });
  directLinks = await UserLinks.open(direct.dataDir);
  approvalLinks = await UserLinks.open(approval.dataDir);
});
after(async () => {
  await direct.stop();
  await approval.stop();
  await sink.stop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request to `relay`'s user page from client address `from`. */
function http(relay: TestRelay, from: string, method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const [host, port] = splitAddress(relay.relay.userPage!.address!);
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, localAddress: from, headers: { host: `${host}:${port}`, ...options.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}

/** A button press as a browser on the page sends it. */
function press(relay: TestRelay, from: string, token: string, action: string, headers: Record<string, string> = {}, body = ''): Promise<Answer> {
  const address = relay.relay.userPage!.address!;
  return http(relay, from, 'POST', `/q/${token}/${action}`, {
    headers: { origin: `http://${address}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
}

function undated(subject: string, text: string): string {
  return `From: Alice <alice@sender.test>\r\nTo: a@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${Date.now()}.${Math.random()}@sender.test>\r\n\r\n${text}\r\n`;
}

async function quarantined(relay: TestRelay, to: string[], subject: string, text = 'Cheap offer now'): Promise<string> {
  const info = await send(relay.port, 'alice@sender.test', to, undated(subject, text));
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  assert.equal(relay.relay.queue.store.message(id)!.status, 'quarantined');
  return id;
}

function token(links: UserLinks, recipient: string, messageId: string, expiresAt = Date.now() + 7 * DAY_MS): string {
  return links.sign({ recipient, messageId, expiresAt });
}

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sunk = (subject: string) => sink.messages.filter((message) => message.raw.toString('utf8').includes(subject));
const pendingOf = (relay: TestRelay, id: string) =>
  relay.relay.queue.store
    .recipients(id)
    .filter((row) => row.status === 'pending')
    .map((row) => row.address);
const historyOf = (relay: TestRelay, id: string) => relay.relay.queue.store.history(id).map((row) => `${row.action} ${row.detail ?? ''}`);

function assertStrictHeaders(answer: Answer): void {
  const csp = String(answer.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /form-action 'self'/);
  assert.doesNotMatch(csp, /script-src|unsafe-inline|https?:/);
  assert.equal(answer.headers['x-frame-options'], 'DENY');
  assert.equal(answer.headers['x-content-type-options'], 'nosniff');
  assert.equal(answer.headers['referrer-policy'], 'no-referrer');
  assert.equal(answer.headers['cache-control'], 'no-store');
  assert.match(String(answer.headers['content-type']), /^text\/html; charset=utf-8$/);
}

test('a link shows the held message in plain words: sender, decoded subject, why, its text escaped, and the three buttons, with the strict headers', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = '=?UTF-8?B?' + Buffer.from('Grüße vom Angebot').toString('base64') + '?=';
  const id = await quarantined(direct, ['a@example.test'], subject, 'Click <script>alert(1)</script> & <img src=https://tracker.test/x.png> now');
  const page = await http(direct, newClient(), 'GET', `/q/${token(directLinks, 'a@example.test', id)}`);
  assert.equal(page.status, 200);
  assertStrictHeaders(page);
  assert.match(page.body, /Alice &lt;alice@sender\.test&gt;/);
  assert.match(page.body, /Grüße vom Angebot/);
  assert.match(page.body, /Why it was held:<\/strong> The filter thinks it is probably junk mail/);
  assert.match(page.body, /Click &lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &lt;img src=https:\/\/tracker\.test\/x\.png&gt; now/);
  assert.doesNotMatch(page.body, /<(script|img|link|iframe|object)\b|@import|url\(/i);
  for (const label of ['Release to me', 'Always allow this sender', 'Block this sender']) assert.match(page.body, new RegExp(`<button[^>]*>${label}</button>`));
  assert.doesNotMatch(page.body, /Sent by/, 'From names the envelope sender: nothing to add');
  const errorPage = await http(direct, newClient(), 'GET', '/nothing-here');
  assert.equal(errorPage.status, 404);
  assertStrictHeaders(errorPage);
});

test('"Sent by" names the envelope sender whenever From names someone else, even with that address in its display name', { timeout: TEST_TIMEOUT_MS }, async () => {
  const pageFor = async (from: string) => {
    const raw = undated('sent by', 'Cheap offer now').replace('From: Alice <alice@sender.test>', `From: ${from}`);
    const id = /queued as (\S+)/.exec((await send(direct.port, 'spam@sender.test', ['a@example.test'], raw)).response)![1]!;
    const page = await http(direct, newClient(), 'GET', `/q/${token(directLinks, 'a@example.test', id)}`);
    assert.equal(page.status, 200);
    return page.body;
  };
  const someoneElse = [
    '"x <spam@sender.test>" <ceo@other.test>',
    'spam@sender.test <ceo@other.test>',
    'CEO <ceo@other.test>',
    '<spam@sender.test>, <ceo@other.test>',
    // decoded, these read as the sender's address; a mail program shows ceo@other.test
    'ceo@other.test =?utf-8?q?=3Cspam=40sender.test=3E?=',
    '=?utf-8?q?=22?= <ceo@other.test> =?utf-8?q?=22?= <spam@sender.test>',
  ];
  for (const from of someoneElse) assert.match(await pageFor(from), /<dt>Sent by<\/dt><dd>spam@sender\.test<\/dd>/, from);
  // the sender under a name of its own (encoded, with a quote or a bracket in it), or in other letters
  for (const from of ['=?UTF-8?Q?O=22Brien?= <spam@sender.test>', '=?UTF-8?Q?Hans_=28Sales?= <spam@sender.test>', '"Spam Sender" <SPAM@Sender.Test>']) {
    assert.doesNotMatch(await pageFor(from), /Sent by/, from);
  }
});

test('the From line shows its address whole and first when the name poses as an address; a long name is cut, never the address', { timeout: TEST_TIMEOUT_MS }, async () => {
  const fromLineOf = async (envelope: string, from: string) => {
    const raw = undated('from line', 'Cheap offer now').replace('From: Alice <alice@sender.test>', `From: ${from}`);
    const id = /queued as (\S+)/.exec((await send(direct.port, envelope, ['a@example.test'], raw)).response)![1]!;
    const page = await http(direct, newClient(), 'GET', `/q/${token(directLinks, 'a@example.test', id)}`);
    assert.equal(page.status, 200);
    return /<dt>From<\/dt><dd>([^<]*)<\/dd>/.exec(page.body)![1]!;
  };
  const encoded = (text: string) => `=?utf-8?b?${Buffer.from(text).toString('base64')}?=`;
  // the attacker's From: a helpdesk address as the name, padded with 980 braille blanks (not white space, so not
  // squeezed) until the real address fell past the 998 characters shown; From is the envelope sender: no "Sent by"
  const posing = await fromLineOf('attacker@evil.test', `${encoded(`IT Helpdesk <it-helpdesk@example.test>${'\u2800'.repeat(980)}`)} <attacker@evil.test>`);
  assert.match(posing, /^attacker@evil\.test, named &quot;IT Helpdesk \u2039it-helpdesk@example\.test\u203a\u2800+…&quot;$/);
  assert.ok(posing.length < 150, `the name is cut short (${posing.length} characters)`);
  const long = await fromLineOf('spam@sender.test', `${encoded('Accounts '.repeat(200))} <spam@sender.test>`);
  assert.match(long, /^(Accounts ){6}Accou… &lt;spam@sender\.test&gt;$/);
  assert.equal(await fromLineOf('spam@sender.test', '"Spam Sender" <spam@sender.test>'), 'Spam Sender &lt;spam@sender.test&gt;');
  assert.equal(await fromLineOf('spam@sender.test', 'spam@sender.test'), 'spam@sender.test');
});

test("recipient A's link releases the message to A only: B's copy stays in quarantine until B releases it, then the message leaves quarantine", { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `for two ${Date.now()}`;
  const id = await quarantined(direct, ['a@example.test', 'b@example.test'], subject);
  const client = newClient();
  const tokenA = token(directLinks, 'a@example.test', id);
  const released = await press(direct, client, tokenA, 'release');
  assert.equal(released.status, 200, released.body);
  assert.match(released.body, /on its way to your mailbox \(a@example\.test\)/);
  await until('A has it', () => sunk(subject).length === 1);
  assert.deepEqual(sunk(subject)[0]!.to, ['a@example.test']);
  assert.match(sunk(subject)[0]!.raw.toString('utf8'), /^X-Moat-Released: released from quarantine by a@example\.test/m);
  assert.equal(direct.relay.queue.store.message(id)!.status, 'quarantined');
  assert.deepEqual(pendingOf(direct, id), ['b@example.test']);
  assert.ok(historyOf(direct, id).some((line) => /^RELEASED released to a@example\.test by a@example\.test \(user page\)/.test(line)));
  // the quarantine lists who still waits for it, not A, who has their copy
  assert.deepEqual(direct.relay.quarantine.list({ search: subject }).map((item) => item.recipients), [['b@example.test']]);
  assert.deepEqual(direct.relay.quarantine.get(id)!.message.recipients, ['b@example.test']);
  // and the admin's preview says A has had theirs (it read as if A had never been a recipient)
  assert.deepEqual((await direct.relay.quarantine.preview(id))!.releasedTo, ['a@example.test']);

  // A's link again: nothing more to release for A; B's message is untouched
  const again = await press(direct, client, tokenA, 'release');
  assert.equal(again.status, 410);
  assert.match(again.body, /no longer waiting in quarantine for you/);
  const releasedPage = await http(direct, client, 'GET', `/q/${tokenA}`);
  assert.equal(releasedPage.status, 410);
  // the good news is said as such: not a red "no longer in quarantine" for the one who released it
  assert.match(releasedPage.body, /<p class="done" role="status">This message was released from quarantine and delivered to your mailbox/);
  assert.deepEqual(pendingOf(direct, id), ['b@example.test']);

  const tokenB = token(directLinks, 'b@example.test', id);
  assert.equal((await http(direct, client, 'GET', `/q/${tokenB}`)).status, 200);
  assert.equal((await press(direct, client, tokenB, 'release')).status, 200);
  await until('B has it', () => sunk(subject).length === 2);
  assert.deepEqual(sunk(subject)[1]!.to, ['b@example.test']);
  assert.notEqual(direct.relay.queue.store.message(id)!.status, 'quarantined');
  assert.equal(direct.relay.quarantine.list({ search: subject }).length, 0);
});

test('two presses of "Release to me" at once release one copy: one answer says done, the other that nothing waits any more', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `twice at once ${Date.now()}`;
  const id = await quarantined(direct, ['a@example.test', 'b@example.test'], subject);
  const link = token(directLinks, 'a@example.test', id);
  const client = newClient();
  const answers = await Promise.all(Array.from({ length: 4 }, () => press(direct, client, link, 'release')));
  assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 410, 410, 410]);
  await until('A has it', () => sunk(subject).length === 1);
  assert.deepEqual(pendingOf(direct, id), ['b@example.test']);
  assert.equal(historyOf(direct, id).filter((line) => line.startsWith('RELEASED ')).length, 1);
  // no second copy went out meanwhile
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(sunk(subject).length, 1);
});

test('two recipients pressing "Release to me" at the same moment each get their copy, and the message leaves quarantine (no empty message left behind)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `both at once ${Date.now()}`;
  const id = await quarantined(direct, ['a@example.test', 'b@example.test'], subject);
  const client = newClient();
  const answers = await Promise.all(['a@example.test', 'b@example.test'].map((rcpt) => press(direct, client, token(directLinks, rcpt, id), 'release')));
  assert.deepEqual(answers.map((answer) => answer.status), [200, 200]);
  await until('both have it', () => sunk(subject).length === 2);
  assert.deepEqual(sunk(subject).flatMap((message) => message.to).sort(), ['a@example.test', 'b@example.test']);
  assert.deepEqual(pendingOf(direct, id), []);
  assert.notEqual(direct.relay.queue.store.message(id)!.status, 'quarantined');
  assert.equal(direct.relay.quarantine.list({ search: subject }).length, 0);
});

test('a message held for a blocked attachment can only be asked for: "Release to me" is not offered, and a forged press only asks', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `blocked attachment ${Date.now()}`;
  const raw = messageWithAttachments(subject, [{ name: 'invoice.exe', data: 'MZ not really a program' }]).replace('To: bob@example.test', 'To: a@example.test');
  const info = await send(direct.port, 'alice@sender.test', ['a@example.test'], raw);
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  assert.equal(direct.relay.queue.store.message(id)!.status, 'quarantined');
  const link = token(directLinks, 'a@example.test', id);
  const client = newClient();
  const page = await http(direct, client, 'GET', `/q/${link}`);
  assert.match(page.body, /It breaks a mail rule set by your administrator/);
  assert.match(page.body, /only your mail administrator can release it/);
  assert.match(page.body, /<button[^>]*>Ask for release<\/button>/);
  assert.doesNotMatch(page.body, /Release to me/);
  const forged = await press(direct, client, link, 'release');
  assert.match(forged.body, /your request was sent to your mail administrator/);
  assert.equal(direct.relay.queue.store.message(id)!.status, 'quarantined');
  assert.deepEqual(direct.relay.quarantine.get(id)!.message.releaseRequests, ['a@example.test']);
  assert.equal(sunk(subject).length, 0);
});

test("a link for recipient A cannot show or act on a message that only B received", { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `only for b ${Date.now()}`;
  const id = await quarantined(direct, ['b@example.test'], subject, 'private text for b');
  const client = newClient();
  const forA = token(directLinks, 'a@example.test', id);
  const page = await http(direct, client, 'GET', `/q/${forA}`);
  assert.equal(page.status, 410);
  assert.doesNotMatch(page.body, /private text for b|only for b/);
  for (const action of ['release', 'request', 'allow', 'block']) assert.equal((await press(direct, client, forA, action)).status, 410, action);
  assert.equal(direct.relay.queue.store.message(id)!.status, 'quarantined');
  assert.deepEqual(pendingOf(direct, id), ['b@example.test']);
  assert.deepEqual(new PersonalLists(direct.relay.database).of('a@example.test').filter((entry) => entry.added_by?.includes('user page')), []);
  assert.ok(!historyOf(direct, id).some((line) => /user page/.test(line)));
});

test('an expired link and an altered link are refused with a clear page, and nothing is done', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `expired ${Date.now()}`;
  const id = await quarantined(direct, ['a@example.test'], subject);
  const client = newClient();
  const expired = token(directLinks, 'a@example.test', id, Date.now() - 1);
  const page = await http(direct, client, 'GET', `/q/${expired}`);
  assert.equal(page.status, 410);
  assert.match(page.body, /This link has expired: links work for 7 days/);
  assert.equal((await press(direct, client, expired, 'release')).status, 410);

  const good = token(directLinks, 'a@example.test', id);
  const [payload, mac] = good.split('.') as [string, string];
  // a payload without the key's name, as links made before Moat named it: changed or from another key, it cannot tell
  const otherPayload = Buffer.from(JSON.stringify({ r: 'a@example.test', m: id, e: Date.now() + 365 * DAY_MS })).toString('base64url');
  const longerPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')), e: Date.now() + 365 * DAY_MS })).toString('base64url');
  for (const altered of [`${otherPayload}.${mac}`, `${longerPayload}.${mac}`, `${payload}.${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BB' : 'AA'}`]) {
    const refused = await http(direct, client, 'GET', `/q/${altered}`);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /This link does not work\. It may have been changed or cut short: copy the whole link from your quarantine e-mail\. Or it is from an older quarantine e-mail, sent before the mail system was moved or renewed: then use the links in your newest quarantine e-mail\./);
    for (const action of ['release', 'allow', 'block']) assert.equal((await press(direct, client, altered, action)).status, 403);
  }
  // signed by another box's key (a digest queued before a restore onto this one): said so, not "changed"
  const otherBox = UserLinks.withKey(Buffer.alloc(32, 1)).sign({ recipient: 'a@example.test', messageId: id, expiresAt: Date.now() + DAY_MS });
  const old = await http(direct, client, 'GET', `/q/${otherBox}`);
  assert.equal(old.status, 403);
  assert.match(old.body, /This link is from an older quarantine e-mail and no longer works: the mail system was moved or renewed after that e-mail was sent\. Use the links in your newest quarantine e-mail\./);
  assert.doesNotMatch(old.body, /changed|cut short/);
  for (const action of ['release', 'allow', 'block']) assert.equal((await press(direct, client, otherBox, action)).status, 403);
  const malformed = await http(direct, client, 'GET', '/q/not-a-token');
  assert.equal(malformed.status, 400);
  const tooLong = await http(direct, client, 'GET', `/q/${'A'.repeat(MAX_TOKEN_CHARS + 1)}.${mac}`);
  assert.ok(tooLong.status === 414 || tooLong.status === 400, String(tooLong.status));
  assert.equal(direct.relay.queue.store.message(id)!.status, 'quarantined');
  assert.deepEqual(pendingOf(direct, id), ['a@example.test']);
  assert.ok(!historyOf(direct, id).some((line) => /user page/.test(line)));
  assert.equal(sunk(subject).length, 0);
});

test('a client address gets USER_PAGE_REQUESTS_PER_MINUTE answers a minute; one more is refused with 429, sequentially and in a parallel burst', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sequential = newClient();
  for (let i = 0; i < USER_PAGE_REQUESTS_PER_MINUTE; i++) assert.notEqual((await http(direct, sequential, 'GET', '/q/x')).status, 429, `request ${i + 1}`);
  const beyond = await http(direct, sequential, 'GET', '/q/x');
  assert.equal(beyond.status, 429);
  assert.match(beyond.body, /Too many requests/);
  assertStrictHeaders(beyond);
  // a refused request counts too: a guesser gains nothing by going on
  assert.equal((await http(direct, sequential, 'POST', '/q/x/release')).status, 429);

  const burst = newClient();
  const answers = await Promise.all(Array.from({ length: USER_PAGE_REQUESTS_PER_MINUTE + 1 }, () => http(direct, burst, 'GET', '/q/x')));
  assert.equal(answers.filter((answer) => answer.status === 429).length, 1);
  // another address is not affected
  assert.equal((await http(direct, newClient(), 'GET', '/q/x')).status, 400);
});

test('a button press from a foreign page (Origin of another site, or Sec-Fetch-Site cross-site) is refused and does nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `foreign ${Date.now()}`;
  const id = await quarantined(direct, ['a@example.test'], subject);
  const client = newClient();
  const link = token(directLinks, 'a@example.test', id);
  const foreign: Record<string, string>[] = [
    { origin: 'https://evil.test', 'sec-fetch-site': 'cross-site' },
    { origin: 'https://evil.test' },
    { origin: 'null', 'sec-fetch-site': 'cross-site' },
    { origin: 'null', 'sec-fetch-site': '' },
    { 'sec-fetch-site': 'same-site' },
  ];
  for (const headers of foreign) {
    const refused = await http(direct, client, 'POST', `/q/${link}/block`, { headers, body: '' });
    assert.equal(refused.status, 403, JSON.stringify(headers));
    assert.match(refused.body, /did not come from this page, so nothing was done/);
  }
  assert.equal(new PersonalLists(direct.relay.database).lookup('a@example.test', 'alice@sender.test', []), null);
  // the page's own form (Origin null under no-referrer, Sec-Fetch-Site same-origin) goes through
  const own = await press(direct, client, link, 'block', { origin: 'null', 'sec-fetch-site': 'same-origin' });
  assert.equal(own.status, 200);
  assert.deepEqual(new PersonalLists(direct.relay.database).lookup('a@example.test', 'alice@sender.test', []), { list: 'deny', entry: 'alice@sender.test' });
  // the block works at once: alice's next message to a@ is refused at RCPT; taken off again for the other tests
  await assert.rejects(send(direct.port, 'alice@sender.test', ['a@example.test'], undated('after the block', 'x')), /550 5\.7\.1 The recipient has blocked mail from this sender/);
  assert.ok(new PersonalLists(direct.relay.database).remove('a@example.test', 'alice@sender.test'));
});

test('other methods, other paths and bodies over MAX_FORM_BYTES are refused; a button address opened as a page acts on nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `methods ${Date.now()}`;
  const id = await quarantined(direct, ['a@example.test'], subject);
  const client = newClient();
  const link = token(directLinks, 'a@example.test', id);
  for (const method of ['PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
    const answer = await http(direct, client, method, `/q/${link}/release`);
    assert.equal(answer.status, 405, method);
    assert.equal(answer.headers.allow, 'GET, HEAD, POST');
  }
  for (const path of ['/', '/q', '/api/quarantine.list', '/metrics', `/q/${link}/release/now`]) assert.equal((await http(direct, client, 'GET', path)).status, 404, path);
  const opened = await http(direct, client, 'GET', `/q/${link}/release`);
  assert.equal(opened.status, 303);
  assert.equal(opened.headers.location, `../${link}`);
  const justUnder = await press(direct, client, link, 'allow', { 'content-length': String(MAX_FORM_BYTES) });
  // (the body sent is empty; a declared length at the cap is not refused for its size)
  assert.notEqual(justUnder.status, 413);
  const big = await http(direct, client, 'POST', `/q/${link}/release`, {
    headers: { origin: `http://${direct.relay.userPage!.address}`, 'sec-fetch-site': 'same-origin' },
    body: 'x'.repeat(MAX_FORM_BYTES + 1),
  });
  assert.equal(big.status, 413);
  assert.equal(direct.relay.queue.store.message(id)!.status, 'quarantined');
  assert.equal(sunk(subject).length, 0);
});

test('a sender in our own domains cannot be always allowed from the page: no button, a note, and a press adds nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `own domain ${Date.now()}`;
  // an envelope sender of ours (a From of ours would add the forged-own-domain rule's score: refused, not held)
  const info = await send(direct.port, 'boss@example.test', ['d@example.test'], undated(subject, 'offer'));
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  const client = newClient();
  const link = token(directLinks, 'd@example.test', id);
  const shown = await http(direct, client, 'GET', `/q/${link}`);
  assert.equal(shown.status, 200);
  assert.doesNotMatch(shown.body, />Always allow this sender</);
  // nor words about a button that is not there
  assert.doesNotMatch(shown.body, /"Always allow" stops/);
  assert.match(shown.body, /"Release to me" delivers it to your mailbox only\. "Block" keeps mail from this sender away from you\./);
  assert.match(shown.body, /<button[^>]*>Block this sender<\/button>/);
  assert.match(shown.body, /says it is from your own organisation \(<strong>boss@example\.test<\/strong>\)\. Such mail is checked every time, because forgers pose as it/);
  const pressed = await press(direct, client, link, 'allow');
  assert.equal(pressed.status, 409);
  assert.match(pressed.body, /Nothing was added: mail that says it is from your own organisation is checked every time/);
  assert.deepEqual(new PersonalLists(direct.relay.database).of('d@example.test'), []);
});

test("always allow and block put the message's envelope sender on the recipient's own lists, with the message's history saying so", { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `lists ${Date.now()}`;
  const info = await send(direct.port, 'news@shop.test', ['c@example.test'], undated(subject, 'offer'));
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  const client = newClient();
  const link = token(directLinks, 'c@example.test', id);
  const allowed = await press(direct, client, link, 'allow');
  assert.equal(allowed.status, 200);
  assert.match(allowed.body, /mail from news@shop\.test will no longer be held as junk for you/);
  const lists = new PersonalLists(direct.relay.database);
  assert.deepEqual(lists.of('c@example.test').map(({ list, entry, added_by }) => ({ list, entry, added_by })), [{ list: 'allow', entry: 'news@shop.test', added_by: 'c@example.test (user page)' }]);
  const blocked = await press(direct, client, link, 'block');
  assert.equal(blocked.status, 200);
  assert.deepEqual(lists.of('c@example.test').map(({ list, entry }) => ({ list, entry })), [{ list: 'deny', entry: 'news@shop.test' }]);
  const history = historyOf(direct, id);
  assert.ok(history.includes('SENDER_ALLOWED c@example.test allowed news@shop.test (user page)'), history.join('\n'));
  assert.ok(history.includes('SENDER_BLOCKED c@example.test blocked news@shop.test (user page)'), history.join('\n'));
  // the message itself stays held for the recipient to decide
  assert.equal(direct.relay.queue.store.message(id)!.status, 'quarantined');

  // the page shows the recipient's lists, and an entry can be taken off them
  const shown = await http(direct, client, 'GET', `/q/${link}`);
  assert.doesNotMatch(shown.body, />Block this sender</, 'blocked already: no button to block again');
  assert.match(shown.body, /<button[^>]*>Always allow this sender<\/button>/);
  assert.match(shown.body, /You have blocked this sender \(your lists are below\)\./);
  assert.match(shown.body, /<h2>Your sender lists<\/h2>.*<h3>Blocked<\/h3><ul class="entries"><li>news@shop\.test /s);
  const removed = await press(direct, client, link, 'remove', { 'content-type': 'application/x-www-form-urlencoded' }, 'entry=news%40shop.test');
  assert.equal(removed.status, 200);
  assert.match(removed.body, /news@shop\.test is no longer on your lists/);
  assert.deepEqual(lists.of('c@example.test'), []);
  assert.ok(historyOf(direct, id).includes('SENDER_UNLISTED c@example.test took news@shop.test off their sender lists (user page)'));
  // another recipient's entries are out of reach: the same press changes nothing for them
  lists.set('d@example.test', 'deny', 'news@shop.test', 'admin', Date.now());
  const notMine = await press(direct, client, link, 'remove', {}, 'entry=news%40shop.test');
  assert.match(notMine.body, /was not on your lists; nothing changed/);
  assert.deepEqual(lists.of('d@example.test').map(({ entry }) => entry), ['news@shop.test']);
});

test('approval mode: the page asks for release, the admin sees the request, approving delivers to that recipient only and tells them by mail', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `approve me ${Date.now()}`;
  const id = await quarantined(approval, ['a@example.test', 'b@example.test'], subject);
  const client = newClient();
  const link = token(approvalLinks, 'a@example.test', id);
  const page = await http(approval, client, 'GET', `/q/${link}`);
  assert.match(page.body, /<button[^>]*>Ask for release<\/button>/);
  assert.doesNotMatch(page.body, /Release to me/);
  const asked = await press(approval, client, link, 'request');
  assert.equal(asked.status, 200);
  assert.match(asked.body, /your request was sent to your mail administrator/);
  // pressing "release" in approval mode is a request too, never a release
  assert.match((await press(approval, client, link, 'release')).body, /You have asked for this message already/);
  assert.equal(approval.relay.queue.store.message(id)!.status, 'quarantined');
  assert.deepEqual(pendingOf(approval, id), ['a@example.test', 'b@example.test']);
  assert.ok(historyOf(approval, id).includes('RELEASE_REQUESTED a@example.test asked for release (user page)'));

  const call = <K extends keyof typeof quarantineHandlers>(name: K, input: unknown) => callHandler(quarantineHandlers, name, input, apiContext(approval.relay));
  const listed = (await call('quarantine.list', { search: subject })) as { rows: { id: string; releaseRequests: string[] }[] };
  assert.deepEqual(listed.rows.map((row) => [row.id, row.releaseRequests]), [[id, ['a@example.test']]]);
  const askedPage = (await http(approval, client, 'GET', `/q/${link}`)).body;
  assert.match(askedPage, /You have asked for this message to be released/);
  assert.doesNotMatch(askedPage, /decides on each request|ask for release and they will decide/, 'no advice to do what was done');

  assert.deepEqual(await call('quarantine.decideRequest', { id, recipient: 'a@example.test', decision: 'approve' }), { outcome: 'approved' });
  await until('the message and the result mail reached A', () => sunk(subject).length === 2);
  const [mail, result] = [sunk(subject).find((m) => !/Released to you/.test(m.raw.toString())), sunk(subject).find((m) => /Released to you/.test(m.raw.toString()))];
  assert.deepEqual(mail?.to, ['a@example.test']);
  assert.deepEqual(result?.to, ['a@example.test']);
  assert.match(result!.raw.toString(), /Your request was approved/);
  assert.deepEqual(pendingOf(approval, id), ['b@example.test']);
  assert.equal(approval.relay.queue.store.message(id)!.status, 'quarantined');
  // answered once: a second decision finds nothing to decide
  assert.deepEqual(await call('quarantine.decideRequest', { id, recipient: 'a@example.test', decision: 'deny' }), { outcome: 'gone' });
});

test('approval mode: denying a request leaves the message in quarantine and tells the recipient by mail', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `deny me ${Date.now()}`;
  const id = await quarantined(approval, ['a@example.test'], subject);
  const link = token(approvalLinks, 'a@example.test', id);
  assert.equal((await press(approval, newClient(), link, 'request')).status, 200);
  const outcome = await callHandler(quarantineHandlers, 'quarantine.decideRequest', { id, recipient: 'A@example.test', decision: 'deny' }, apiContext(approval.relay));
  assert.deepEqual(outcome, { outcome: 'denied' });
  await until('the result mail reached A', () => sunk(subject).length === 1);
  assert.match(sunk(subject)[0]!.raw.toString(), /Your request was not approved/);
  assert.deepEqual(sunk(subject)[0]!.to, ['a@example.test']);
  assert.equal(approval.relay.queue.store.message(id)!.status, 'quarantined');
  assert.ok(historyOf(approval, id).some((line) => /^RELEASE_DENIED release to a@example\.test denied by /.test(line)));
  assert.deepEqual(approval.relay.quarantine.get(id)!.message.releaseRequests, []);
});

test('approval mode: deleting a message a user asked for tells them it was not released and is gone; the others who did not ask hear nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const subject = `delete me ${Date.now()}`;
  const id = await quarantined(approval, ['a@example.test', 'b@example.test'], subject);
  assert.equal((await press(approval, newClient(), token(approvalLinks, 'a@example.test', id), 'request')).status, 200);
  const outcome = await callHandler(quarantineHandlers, 'quarantine.act', { action: 'delete', ids: [id] }, apiContext(approval.relay));
  assert.deepEqual(outcome, { done: [id], gone: [], allowed: [], notAllowed: [] });
  await until('the result mail reached A', () => sunk(subject).length === 1);
  const mail = sunk(subject)[0]!;
  assert.deepEqual(mail.to, ['a@example.test']);
  assert.match(mail.raw.toString(), /Subject: Not released: /);
  assert.match(mail.raw.toString(), /Your request was not approved/);
  // quoted-printable: its soft line breaks joined
  assert.match(mail.raw.toString().replace(/=\r?\n/g, ''), /was deleted from the quarantine\./);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(sunk(subject).length, 1, 'b, who did not ask, is not mailed');
  // b's link says what became of it
  const gone = await http(approval, newClient(), 'GET', `/q/${token(approvalLinks, 'b@example.test', id)}`);
  assert.equal(gone.status, 410);
  assert.match(gone.body, /no longer waiting in quarantine for you: your mail administrator deleted it\./);
});

test('a public user page address (0.0.0.0) is refused by the config loader and by moat serve unless allowPublicAddress is set', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dir = tempDir('moat-userpage-');
  try {
    const base = { domains: ['example.test'], internal: { host: '127.0.0.1', port: 2599 }, mx: { listen: '127.0.0.1:0' } };
    const publicFile = join(dir, 'public.json');
    writeFileSync(publicFile, JSON.stringify({ ...base, quarantine: { userPage: { listen: '0.0.0.0:8099' } } }));
    const refused = loadConfig(publicFile);
    assert.equal(refused.ok, false);
    assert.ok(!refused.ok && refused.problems.some((problem) => problem.path === 'quarantine.userPage.listen' && /not a private address/.test(problem.message)));
    const served = await runCli(['serve', '--data-dir', join(dir, 'data'), '--config', publicFile]);
    assert.equal(served.code, 2, served.stderr);
    assert.match(served.stderr, /quarantine\.userPage\.listen: 0\.0\.0\.0:8099 is not a private address/);
    assert.equal(served.stdout.includes('ready'), false);

    const allowedFile = join(dir, 'allowed.json');
    writeFileSync(allowedFile, JSON.stringify({ ...base, quarantine: { userPage: { listen: '0.0.0.0:8099', allowPublicAddress: true } } }));
    assert.equal(loadConfig(allowedFile).ok, true);
    const privateFile = join(dir, 'private.json');
    writeFileSync(privateFile, JSON.stringify({ ...base, quarantine: { userPage: { listen: '192.168.1.10:8099' } } }));
    assert.equal(loadConfig(privateFile).ok, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("approval mode: a user's request raises an alert (mail, webhook and desktop hear of it), which clears once no request waits", { timeout: TEST_TIMEOUT_MS }, async () => {
  const own = await startRelay(sink.port, { ...JUNK, quarantine: { userPage: { listen: '127.0.0.1:0', releaseMode: 'approval' } } });
  const links = await UserLinks.open(own.dataDir);
  const raised = () => own.relay.monitor.alerts.open().find((alert) => alert.rule === 'release-requests');
  try {
    const first = await quarantined(own, ['a@example.test'], `asked ${Date.now()}`);
    const second = await quarantined(own, ['b@example.test'], `asked too ${Date.now()}`);
    await own.relay.monitor.checkAlerts();
    assert.equal(raised(), undefined, 'quarantined alone, nobody asked: no alert');
    assert.equal((await press(own, newClient(), token(links, 'a@example.test', first), 'request')).status, 200);
    assert.equal((await press(own, newClient(), token(links, 'b@example.test', second), 'request')).status, 200);
    await own.relay.monitor.checkAlerts();
    assert.equal(raised()?.severity, 'warning');
    assert.equal(raised()?.message, '2 quarantined messages users asked to have released wait for your answer.');
    const raisedId = raised()!.id;
    const call = (input: unknown) => callHandler(quarantineHandlers, 'quarantine.decideRequest', input, apiContext(own.relay));
    await call({ id: first, recipient: 'a@example.test', decision: 'deny' });
    await own.relay.monitor.checkAlerts();
    assert.equal(raised()?.id, raisedId, 'one request still waits: the same alert');
    assert.equal(raised()?.message, '1 quarantined message a user asked to have released waits for your answer.', 'its words count the requests waiting now');
    await call({ id: second, recipient: 'b@example.test', decision: 'approve' });
    await own.relay.monitor.checkAlerts();
    assert.equal(raised(), undefined);
    assert.equal(own.relay.monitor.alerts.history().find((alert) => alert.rule === 'release-requests')?.clearMessage, 'No release request waits for an answer.');
  } finally {
    await own.stop();
  }
});

test('a preview that cannot be read in time: the admin is told so (503, try again or download), the user still gets the page and its buttons', { timeout: TEST_TIMEOUT_MS }, async () => {
  // 1 ms: no walk of a 2 MB message ends in time
  const own = await startRelay(sink.port, { ...JUNK, quarantine: { userPage: { listen: '127.0.0.1:0' } } }, { previewDeadlineMs: 1 });
  const links = await UserLinks.open(own.dataDir);
  try {
    const id = await quarantined(own, ['a@example.test'], `slow ${Date.now()}`, `${'Long text. '.repeat(7)}\r\n`.repeat(30_000));
    const call = (name: 'quarantine.preview', input: unknown) => callHandler(quarantineHandlers, name, input, apiContext(own.relay));
    await assert.rejects(call('quarantine.preview', { id }), apiError('PREVIEW_UNREADABLE', /could not be read within 0\.001 s: try again, or download it/));
    const page = await http(own, newClient(), 'GET', `/q/${token(links, 'a@example.test', id)}`);
    assert.equal(page.status, 200);
    assert.match(page.body, /The text and the list of attachments could not be read just now<\/strong> \(the mail system is very busy, or the message is built to be slow to read\): reload this page in a minute/);
    for (const label of ['Release to me', 'Always allow this sender', 'Block this sender']) assert.match(page.body, new RegExp(`<button[^>]*>${label}</button>`));
    assert.match(page.body, /Alice|alice@sender\.test/, 'the sender is still named');
    assert.equal(own.relay.queue.store.message(id)!.status, 'quarantined', 'nothing was done to the message');
  } finally {
    await own.stop();
  }
});
