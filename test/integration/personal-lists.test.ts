// Each recipient's own allow and block lists, as the mx listener and the filters honour them over real sockets.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message, send } from '../helpers/smtp.ts';
import { messageWithAttachments } from '../helpers/mail-parts.ts';
import { GTUBE } from '../../src-relay/filters/builtin-rules.ts';
import { PersonalLists } from '../../src-relay/filters/personal-lists.ts';
import { SenderLists } from '../../src-relay/filters/sender-lists.ts';
import { parseDecision } from '../../src-relay/filters/policy.ts';
import { queueHandlers } from '../../src-relay/admin/handlers/queue.ts';
import { apiContext } from '../helpers/api-context.ts';
import { callHandler } from '../helpers/api-call.ts';
import { until } from '../helpers/submission.ts';

let sink: Sink;
let relay: TestRelay;
let lists: PersonalLists;

before(async () => {
  sink = await Sink.start();
  relay = await startRelay(sink.port, { filters: { enabled: true, timeoutSec: 5 } });
  lists = new PersonalLists(relay.relay.database);
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

const queueId = (response: string) => /queued as ([0-9A-Z]{22})/.exec(response)![1]!;
const history = (id: string) => {
  relay.relay.queue.flushHistory();
  return relay.relay.queue.store.history(id);
};

async function refusal(from: string, to: string[], raw: string): Promise<string> {
  const error = await send(relay.port, from, to, raw).then(
    () => assert.fail('the message was accepted'),
    (caught: Error & { response?: string }) => caught,
  );
  return error.response ?? error.message;
}

function withFrom(raw: string, from: string): string {
  return raw.replace(/^From: .*\r\n/, `From: ${from}\r\n`);
}

test('a recipient who blocked the envelope sender is refused at RCPT with 550 5.7.1; the other recipient gets the message', async () => {
  lists.set('carol@example.test', 'deny', 'alice@sender.test', 'carol', Date.now());
  const client = await RawSmtp.connect(relay.port);
  try {
    await client.hello();
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<Carol@example.test>'), /^550 5\.7\.1 The recipient has blocked mail from this sender/);
    assert.match(await client.command('DATA'), /^354/);
    client.write(`${message('rcpt block')}.\r\n`);
    const queued = await client.reply();
    assert.match(queued, /^250 /);
    await sink.waitForSubject('rcpt block');
    const delivered = sink.messages.find((sunk) => sunk.raw.includes('Subject: rcpt block'))!;
    assert.deepEqual(delivered.to, ['bob@example.test']);
    assert.deepEqual(relay.relay.queue.store.recipients(queueId(queued)).map((row) => row.address), ['bob@example.test']);
  } finally {
    client.close();
  }
  relay.relay.queue.flushHistory();
  const refusals = relay.relay.queue.store.db.prepare(`SELECT detail FROM history WHERE action = 'REFUSED' AND recipient = 'Carol@example.test'`).all() as { detail: string }[];
  assert.match(refusals[0]!.detail, /^550 5\.7\.1 The recipient has blocked mail from this sender \(Carol@example\.test blocked alice@sender\.test on their own list\)$/);
  // bob never blocked anyone: alice's mail to bob alone goes through
  assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('to bob alone'))).response, /^250 /);
});

test('a From address one recipient blocked drops only that recipient: its row is finished with the reason, the other gets it', async () => {
  lists.set('dave@example.test', 'deny', '@annoying.test', 'dave', Date.now());
  const raw = withFrom(message('from block'), 'Pest <pest@mail.annoying.test>');
  const info = await send(relay.port, 'bounces@mailer.test', ['erin@example.test', 'dave@example.test'], raw);
  const id = queueId(info.response);
  await sink.waitForSubject('from block');
  assert.deepEqual(sink.messages.find((sunk) => sunk.raw.includes('Subject: from block'))!.to, ['erin@example.test']);
  const rows = Object.fromEntries(relay.relay.queue.store.recipients(id).map((row) => [row.address, row.status]));
  assert.equal(rows['dave@example.test'], 'deleted');
  // tracking says so for dave, and Delivered for erin: never "In the queue" for a recipient that was dropped
  await until('erin is delivered', () => relay.relay.queue.store.recipients(id).some((row) => row.address === 'erin@example.test' && row.status === 'delivered'));
  const found = (await callHandler(queueHandlers, 'tracking.search', { subject: 'from block' }, apiContext(relay.relay))) as { rows: { id: string; recipientOutcomes: unknown }[] };
  assert.deepEqual(found.rows.find((row) => row.id === id)?.recipientOutcomes, [
    { address: 'dave@example.test', outcome: 'deleted' },
    { address: 'erin@example.test', outcome: 'delivered' },
  ]);
  const dropped = history(id).find((row) => row.action === 'DELETED' && row.recipient === 'dave@example.test');
  assert.equal(dropped?.detail, 'not delivered to dave@example.test: dave@example.test blocked @annoying.test on their own list');
  const decision = parseDecision(relay.relay.queue.store.message(id)!.decision)!;
  assert.deepEqual(decision.personal, [{ recipient: 'dave@example.test', list: 'deny', entry: '@annoying.test' }]);
  assert.ok(decision.results.some((result) => result.filter === 'own-lists' && result.reasons.some((reason) => reason.startsWith('not delivered to dave@example.test'))));
});

test('a From address every recipient blocked is refused at the end of DATA with 550 5.7.1; nothing is queued', async () => {
  lists.set('frank@example.test', 'deny', 'pest@annoying.test', 'frank', Date.now());
  // dave blocks @annoying.test (the test before), frank the address itself
  const raw = withFrom(message('all block'), 'pest@annoying.test');
  assert.match(await refusal('bounces@mailer.test', ['dave@example.test', 'frank@example.test'], raw), /^550 5\.7\.1 Every recipient has blocked mail from this sender/);
  // (not the queue's size: the earlier tests' messages may still be leaving it)
  assert.deepEqual(relay.relay.queue.track({ subject: 'all block', limit: 10 }).messages, []);
});

test('when every recipient allows the envelope sender, GTUBE skips the junk filters and is delivered; an .exe to them is still refused', async () => {
  lists.set('gina@example.test', 'allow', 'friend@partner.test', 'gina', Date.now());
  lists.set('hank@example.test', 'allow', '@partner.test', 'hank', Date.now());
  const info = await send(relay.port, 'friend@partner.test', ['gina@example.test', 'hank@example.test'], message('allowed gtube', `${GTUBE}\r\n`));
  const delivered = await sink.waitForSubject('allowed gtube');
  assert.match(delivered, /X-Spam-Flag: NO/);
  const decision = parseDecision(relay.relay.queue.store.message(queueId(info.response))!.decision)!;
  assert.equal(decision.action, 'accept');
  assert.ok(!decision.results.some((result) => result.filter === 'builtin-rules'), 'the junk rules did not run');
  const trace = decision.results.find((result) => result.filter === 'own-lists')!;
  assert.ok(trace.reasons.includes("allowed by gina@example.test's own list (friend@partner.test)"));
  assert.ok(trace.reasons.some((reason) => reason.startsWith('junk checks skipped: every recipient allows this sender')));

  const exe = messageWithAttachments('allowed exe', [{ name: 'tool.exe', data: 'MZ' }]);
  assert.match(await refusal('friend@partner.test', ['gina@example.test', 'hank@example.test'], exe), /^550 5\.7\.1 Message refused by policy/);
});

test('a From address on an allow list allows nothing: GTUBE with an allowed From but another envelope sender is junk', async () => {
  lists.set('ivan@example.test', 'allow', 'boss@partner.test', 'ivan', Date.now());
  const raw = withFrom(message('forged from', `${GTUBE}\r\n`), 'boss@partner.test');
  assert.match(await refusal('spammer@elsewhere.test', ['ivan@example.test'], raw), /^550 5\.7\.1 Message refused as junk/);
});

test('one recipient allows the sender and another does not: GTUBE is handled as junk for the whole message', async () => {
  // gina allows friend@partner.test (the test before); jack has no lists
  const response = await refusal('friend@partner.test', ['gina@example.test', 'jack@example.test'], message('mixed gtube', `${GTUBE}\r\n`));
  assert.match(response, /^550 5\.7\.1 Message refused as junk/);
  relay.relay.queue.flushHistory();
  const rejected = relay.relay.queue.store.db.prepare(`SELECT detail FROM history WHERE action = 'REJECTED' AND recipient LIKE '%jack@example.test%'`).all() as { detail: string }[];
  assert.equal(rejected.length, 1);
});

test("the admin's deny list wins over a recipient's own allowance", async () => {
  new SenderLists(relay.relay.database).set('deny', '@partner.test', 'admin', null, Date.now());
  try {
    assert.match(await refusal('friend@partner.test', ['gina@example.test'], message('globally denied')), /^550 5\.7\.1 Sender refused by policy/);
  } finally {
    new SenderLists(relay.relay.database).remove('@partner.test');
  }
});

test("an allowance, a recipient's or the admin's, never covers a sender in our own domains: a forged boss is checked as junk", async () => {
  // the user pressed "Always allow" on a forged message from the boss; the next forgery must not skip the junk checks
  lists.set('kim@example.test', 'allow', 'boss@example.test', 'kim', Date.now());
  const forged = withFrom(message('forged boss', `${GTUBE}\r\n`), 'The Boss <boss@example.test>');
  assert.match(await refusal('boss@example.test', ['kim@example.test'], forged), /^550 5\.7\.1 Message refused as junk/);
  const plain = await send(relay.port, 'boss@example.test', ['kim@example.test'], withFrom(message('forged boss plain'), 'The Boss <boss@example.test>'));
  await sink.waitForSubject('forged boss plain');
  const decision = parseDecision(relay.relay.queue.store.message(queueId(plain.response))!.decision)!;
  const rules = decision.results.find((result) => result.filter === 'builtin-rules')!;
  assert.ok(rules.reasons.some((reason) => reason.startsWith('FROM_OWN_DOMAIN_UNAUTHENTICATED')), rules.reasons.join('; '));
  assert.ok(decision.results.find((result) => result.filter === 'own-lists')!.reasons.includes('junk checks ran as usual: an allowance does not cover mail that claims to be from our own domains, the addresses forgers pose as'));

  const admin = new SenderLists(relay.relay.database);
  admin.set('allow', '@example.test', 'admin', null, Date.now());
  try {
    assert.match(await refusal('boss@example.test', ['kim@example.test', 'lee@example.test'], withFrom(message('forged boss 2', `${GTUBE}\r\n`), 'boss@example.test')), /^550 5\.7\.1 Message refused as junk/);
    const again = await send(relay.port, 'boss@example.test', ['lee@example.test'], withFrom(message('forged boss plain 2'), 'boss@example.test'));
    await sink.waitForSubject('forged boss plain 2');
    const trace = parseDecision(relay.relay.queue.store.message(queueId(again.response))!.decision)!;
    assert.equal(trace.senderList, null, 'the allow list entry is not the decision');
    assert.ok(trace.results.some((result) => result.reasons.includes("the allow list's @example.test was not used, junk checks ran as usual: an allowance does not cover mail that claims to be from our own domains, the addresses forgers pose as")));
    // an outsider on the same list is still allowed: the rule is about our own domains only
    admin.set('allow', 'friend@partner.test', 'admin', null, Date.now());
    await send(relay.port, 'friend@partner.test', ['lee@example.test'], message('allowed outsider', `${GTUBE}\r\n`));
    await sink.waitForSubject('allowed outsider');
  } finally {
    admin.remove('@example.test');
    admin.remove('friend@partner.test');
  }

  // the forger picks the envelope: an allowed outside envelope with our boss in From is checked as well (diff review)
  lists.set('kim@example.test', 'allow', 'bounce@evil.test', 'kim', Date.now());
  admin.set('allow', '@evil.test', 'admin', null, Date.now());
  try {
    assert.match(await refusal('bounce@evil.test', ['kim@example.test'], withFrom(message('forged boss 3', `${GTUBE}\r\n`), 'The Boss <boss@example.test>')), /^550 5\.7\.1 Message refused as junk/);
    const fromOurs = await send(relay.port, 'bounce@evil.test', ['kim@example.test'], withFrom(message('forged boss plain 3'), 'The Boss <boss@example.test>'));
    await sink.waitForSubject('forged boss plain 3');
    const checked = parseDecision(relay.relay.queue.store.message(queueId(fromOurs.response))!.decision)!;
    assert.ok(checked.results.find((result) => result.filter === 'builtin-rules')!.reasons.some((reason) => reason.startsWith('FROM_OWN_DOMAIN_UNAUTHENTICATED')));
    assert.equal(checked.senderList, null);
    // the same envelope with a From of its own is still allowed
    await send(relay.port, 'bounce@evil.test', ['kim@example.test'], withFrom(message('evil but allowed', `${GTUBE}\r\n`), 'News <news@evil.test>'));
    await sink.waitForSubject('evil but allowed');
  } finally {
    admin.remove('@evil.test');
  }
});
