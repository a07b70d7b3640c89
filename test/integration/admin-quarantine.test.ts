// The quarantine browser of the admin API, called as the admin server calls it (input and output through the
// contract's schemas), over a live relay whose built-in junk rules quarantine undated mail, and a real SMTP sink.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { quarantineHandlers } from '../../src-relay/admin/handlers/quarantine.ts';
import { queueHandlers } from '../../src-relay/admin/handlers/queue.ts';
import { contract } from '../../src-relay/admin/contract.ts';
import { SenderLists } from '../../src-relay/filters/sender-lists.ts';
import { GTUBE } from '../../src-relay/filters/builtin-rules.ts';
import { apiContext } from '../helpers/api-context.ts';
import { apiError, callHandler } from '../helpers/api-call.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { message, send } from '../helpers/smtp.ts';
import { messageWithAttachments } from '../helpers/mail-parts.ts';
import { PREVIEWS_AT_ONCE } from '../../src-relay/quarantine/previews.ts';

const TEST_TIMEOUT_MS = 60_000;
const NEVER = 'ZZZZZZZZZZZZ0000000000';
let sink: Sink;
let relay: TestRelay;

before(async () => {
  sink = await Sink.start();
  // a message without a Date scores 11 here: quarantined (10), not refused (15)
  relay = await startRelay(sink.port, { filters: { enabled: true, rules: { MISSING_DATE: 11 } } });
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

function call<K extends keyof typeof quarantineHandlers>(name: K, input: unknown = {}) {
  return callHandler(quarantineHandlers, name, input, apiContext(relay.relay));
}
function callQueue<K extends keyof typeof queueHandlers>(name: K, input: unknown = {}) {
  return callHandler(queueHandlers, name, input, apiContext(relay.relay));
}

/** A message the junk rules keep in quarantine (no Date), with a text part and a CSV attachment. */
const undated = (subject: string, text = 'Cheap offer now') =>
  messageWithAttachments(subject, [{ name: 'list.csv', contentType: 'text/csv', data: 'a,b\r\n' }], { text }).replace(/^Date: .*\r\n/m, '');

async function quarantined(subject: string, from = 'alice@sender.test', raw = undated(subject)): Promise<string> {
  const info = await send(relay.port, from, ['bob@example.test'], raw);
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  assert.equal(relay.relay.queue.store.message(id)!.status, 'quarantined');
  return id;
}

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}


test('the quarantine list counts and pages what the filters kept, newest first, with reason and score', { timeout: TEST_TIMEOUT_MS }, async () => {
  const one = await quarantined('list offer one');
  const two = await quarantined('list offer two');
  const other = await quarantined('list other thing');

  const result = await quarantineHandlers['quarantine.list'](contract['quarantine.list'].input.parse({ search: 'list ' }), apiContext(relay.relay));
  const all = contract['quarantine.list'].output.parse(result);
  assert.equal(all.total, 3);
  assert.deepEqual(all.rows.map((row) => row.id), [other, two, one]);
  assert.deepEqual(
    { ...all.rows[0]!, receivedAt: typeof all.rows[0]!.receivedAt },
    {
      id: other,
      receivedAt: 'number',
      clientIp: '127.0.0.1',
      sender: 'alice@sender.test',
      recipients: ['bob@example.test'],
      subject: 'list other thing',
      senderName: 'Alice',
      size: all.rows[0]!.size,
      action: 'quarantine',
      score: 11,
      reason: 'junk score 11 (quarantine at 10)',
      releaseRequests: [],
    },
  );
  // the search finds what the list shows: the reason, and the From line's display name
  const named = await quarantined('list named one', 'ceo-office@sender.test', undated('list named one').replace(/^From: .*$/m, 'From: "Bossy Person" <ceo-office@sender.test>'));
  assert.deepEqual((await call('quarantine.list', { search: 'bossy person' })).rows.map((row) => row.id), [named]);
  assert.equal((await call('quarantine.list', { search: 'JUNK SCORE 11 (quarantine' })).total, 4);
  await call('quarantine.act', { action: 'delete', ids: [named] });
  const offers = await call('quarantine.list', { search: 'LIST OFFER', limit: 1, offset: 1 });
  assert.deepEqual([offers.total, offers.rows.map((row) => row.id)], [2, [one]], 'the total is the whole match, the rows one page of it');
  assert.deepEqual((await callQueue('queue.list', { search: 'list offer' })).rows, [], 'quarantined mail is not in the queue viewer');
  // a delete tells the open pages, as a release does: the sidebar's count stayed at the old number
  let changes = 0;
  const counted = () => changes++;
  relay.relay.queue.on('changed', counted);
  await call('quarantine.act', { action: 'delete', ids: [one, two, other] });
  relay.relay.queue.off('changed', counted);
  assert.equal(changes, 1, 'one change for the whole selection');
});

test('the preview is safe: header fields and text as text, controls neutralised, attachments listed, with the decision trace', { timeout: TEST_TIMEOUT_MS }, async () => {
  const raw = messageWithAttachments(
    'preview me',
    [
      { name: 'list.csv', contentType: 'text/csv', data: 'a,b\r\n' },
      // U+202E (right-to-left override) would show "report\u202Evsc.txt" as "reporttxt.csv"
      { disposition: "filename*=utf-8''report%E2%80%AEvsc.txt", contentType: 'text/plain', data: 'x' },
    ],
    { text: 'Cheap \x1b[31mred\x1b[0m offer <b>now</b> <img src="http://tracker.test/p.gif">' },
  ).replace(/^Date: .*\r\n/m, '');
  const id = await quarantined('preview me', 'alice@sender.test', raw);

  const preview = await call('quarantine.preview', { id });
  assert.equal(preview.message.id, id);
  assert.equal(preview.message.subject, 'preview me');
  assert.ok(preview.headers.some((header) => header.name.toLowerCase() === 'subject' && header.value === 'preview me'));
  assert.match(preview.text, /Cheap \ufffd\[31mred\ufffd\[0m offer <b>now<\/b> <img src="http:\/\/tracker\.test\/p\.gif">/, 'markup is text; escape sequences are neutralised');
  assert.doesNotMatch(preview.text, /[\x00-\x08\x0b-\x1f\x7f]/);
  assert.deepEqual(
    preview.attachments.map((attachment) => [attachment.filename, attachment.contentType, attachment.size]),
    [
      ['list.csv', 'text/csv', 5],
      ['report\ufffdvsc.txt', 'text/plain', 1],
    ],
  );
  assert.equal(preview.decision!.action, 'quarantine');
  assert.equal(preview.decision!.cause, 'junk');
  assert.ok(preview.decision!.filters.some((filter) => filter.reasons.some((reason) => /MISSING_DATE/.test(reason))), JSON.stringify(preview.decision));

  await call('quarantine.act', { action: 'delete', ids: [id] });
  await assert.rejects(call('quarantine.preview', { id }), apiError('QUARANTINE_ITEM_GONE'));
  await assert.rejects(call('quarantine.preview', { id: NEVER }), apiError('QUARANTINE_ITEM_GONE'));
});

test('release and allow: the message arrives saying who released it, the sender is allow-listed, a second release finds it gone', { timeout: TEST_TIMEOUT_MS }, async () => {
  const id = await quarantined('release me', 'rita@sender.test');
  const plain = await quarantined('release me too', 'rob@sender.test');
  assert.deepEqual(await call('quarantine.act', { action: 'release-allow', ids: [id, NEVER] }), { done: [id], gone: [NEVER], allowed: ['rita@sender.test'], notAllowed: [] });
  assert.deepEqual(await call('quarantine.act', { action: 'release', ids: [plain] }), { done: [plain], gone: [], allowed: [], notAllowed: [] });
  // a sender of our own domains is released, and left off the allow list: the answer names it
  const ours = await quarantined('ours, released', 'boss@example.test');
  assert.deepEqual(await call('quarantine.act', { action: 'release-allow', ids: [ours] }), { done: [ours], gone: [], allowed: [], notAllowed: ['boss@example.test'] });
  await sink.waitForSubject('ours, released');
  const got = await sink.waitForSubject('release me');
  assert.match(got, /^X-Moat-Released: released from quarantine by admin@127\.0\.0\.1 at\s/);
  await sink.waitForSubject('release me too');

  const lists = new SenderLists(relay.relay.queue.store.db);
  assert.equal(lists.get('rita@sender.test')?.list, 'allow');
  assert.equal(lists.get('rob@sender.test'), undefined, 'a plain release allow-lists nobody');
  // allowed now: the same kind of message from that sender is no longer scored
  const again = await send(relay.port, 'rita@sender.test', ['bob@example.test'], undated('release me again'));
  assert.equal(relay.relay.queue.store.message(/queued as (\S+)/.exec(again.response)![1]!)!.status, 'queued');

  assert.deepEqual(await call('quarantine.act', { action: 'release', ids: [id] }), { done: [], gone: [id], allowed: [], notAllowed: [] });
  lists.remove('rita@sender.test');
});

test('delete removes a selection, files and all, and says which ids were no longer there', { timeout: TEST_TIMEOUT_MS }, async () => {
  const a = await quarantined('delete a');
  const b = await quarantined('delete b');
  const before = (await call('quarantine.list')).total;
  assert.deepEqual(await call('quarantine.act', { action: 'delete', ids: [a, b, a, NEVER] }), { done: [a, b], gone: [NEVER], allowed: [], notAllowed: [] });
  for (const id of [a, b]) {
    assert.equal(relay.relay.queue.store.message(id)!.status, 'deleted');
    assert.equal(existsSync(relay.relay.queue.spool.path(id)), false);
  }
  assert.equal((await call('quarantine.list')).total, before - 2);
  assert.deepEqual(await call('quarantine.act', { action: 'delete', ids: [a] }), { done: [], gone: [a], allowed: [], notAllowed: [] });
});

test('tracking tells what the filters did: kept, released, deleted, or refused at the end of DATA', { timeout: TEST_TIMEOUT_MS }, async () => {
  const start = Date.now();
  const kept = await quarantined('tracked kept', 'tess@sender.test');
  const released = await quarantined('tracked released', 'tess@sender.test');
  const deleted = await quarantined('tracked deleted', 'tess@sender.test');
  await call('quarantine.act', { action: 'release', ids: [released] });
  await call('quarantine.act', { action: 'delete', ids: [deleted] });
  await sink.waitForSubject('tracked released');
  const refusal = await send(relay.port, 'tess@sender.test', ['bob@example.test'], message('tracked junk', `Hello\r\n${GTUBE}\r\n`)).then(
    () => assert.fail('GTUBE was accepted'),
    (error: Error & { responseCode?: number }) => error,
  );
  assert.equal(refusal.responseCode, 550);

  const found = await callQueue('tracking.search', { sender: 'tess@', from: start });
  const outcomes = Object.fromEntries(found.rows.map((row) => [row.id ?? 'refused', row.outcome]));
  assert.equal(outcomes[kept], 'quarantined');
  assert.equal(outcomes[deleted], 'deleted');
  assert.ok(['queued', 'delivered'].includes(outcomes[released]!), outcomes[released]);
  assert.equal(outcomes.refused, 'refused');
  const refused = found.rows.find((row) => row.id === null)!;
  assert.equal(refused.detail, 'Refused after the content check: 550 5.7.1 Message refused as junk: score 1000 (junk score 1000, reject at 15) — client 127.0.0.1');
  assert.deepEqual(refused.recipients, ['bob@example.test']);

  const keptTrace = await callQueue('tracking.trace', { id: kept });
  assert.equal(keptTrace.status, 'quarantined');
  assert.deepEqual(keptTrace.history.map((event) => event.text).slice(1), [
    'Filters: kept in quarantine (junk), score 11 — junk score 11 (quarantine at 10)',
    'Kept in quarantine: score 11 (junk)',
  ]);
  assert.match(keptTrace.history[1]!.detail!, /MISSING_DATE/);

  const deletedTrace = await callQueue('tracking.trace', { id: deleted });
  assert.equal(deletedTrace.history.at(-1)!.text, 'Deleted from quarantine by admin@127.0.0.1');
  assert.deepEqual(deletedTrace.recipients.map((recipient) => recipient.status), ['deleted']);

  await until('the released message is delivered and written', () => relay.relay.queue.store.message(released)!.status === 'done');
  const releasedTrace = await callQueue('tracking.trace', { id: released });
  assert.deepEqual(
    releasedTrace.history.map((event) => event.action),
    ['RECEIVED', 'FILTERED', 'QUARANTINED', 'RELEASED', 'DELIVERED'],
  );
  assert.deepEqual(releasedTrace.history.slice(3).map((event) => event.text), ['Released from quarantine by admin@127.0.0.1', 'Delivered to the internal server (127.0.0.1)']);
  const quarantinedAt = releasedTrace.history[2]!.at;
  assert.equal(releasedTrace.receivedAt, quarantinedAt, 'it arrived when it was quarantined, not when it was released');
  assert.ok(quarantinedAt <= releasedTrace.history[3]!.at);
  await call('quarantine.act', { action: 'delete', ids: [kept] });
});

test('a relay that is not running answers RELAY_NOT_RUNNING', async () => {
  await assert.rejects(callHandler(quarantineHandlers, 'quarantine.list', {}, apiContext(null)), apiError('RELAY_NOT_RUNNING'));
});

test(`previews asked for at once: one walk serves every look at the same message; of different messages ${PREVIEWS_AT_ONCE} are read and one more is refused before any work, to be asked again`, { timeout: TEST_TIMEOUT_MS }, async () => {
  const ids: string[] = [];
  for (const subject of ['preview one', 'preview two', 'preview three', 'preview four']) ids.push(await quarantined(subject));
  // every look starts in this turn of the event loop, before any walk could end
  const same = await Promise.allSettled(Array.from({ length: 5 }, () => call('quarantine.preview', { id: ids[0] })));
  assert.deepEqual(same.map((result) => result.status), Array(5).fill('fulfilled'), 'five looks at one message share its walk');

  const apart = await Promise.allSettled(ids.slice(1).map((id) => call('quarantine.preview', { id })));
  assert.deepEqual(apart.map((result) => result.status), ['fulfilled', 'fulfilled', 'rejected']);
  assert.ok(apiError('PREVIEW_UNREADABLE', /the relay is reading 2 other previews: try again, or download it/)((apart[2] as PromiseRejectedResult).reason));
  const again = await call('quarantine.preview', { id: ids[3] });
  assert.match(again.text, /Cheap offer now/, 'asked again, it is read');
  // the queue view's text counts with them
  for (const subject of ['preview five', 'preview six', 'preview seven']) ids.push(await quarantined(subject));
  const mixed = await Promise.allSettled([call('quarantine.preview', { id: ids[4] }), call('quarantine.preview', { id: ids[5] }), callQueue('queue.body', { id: ids[6] })]);
  assert.deepEqual(mixed.map((result) => result.status), ['fulfilled', 'fulfilled', 'rejected']);
  assert.ok(apiError('PREVIEW_UNREADABLE')((mixed[2] as PromiseRejectedResult).reason));
});
