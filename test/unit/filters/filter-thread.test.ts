import { test, after } from 'node:test';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { dkimSigned } from '../../helpers/dkim-sign.ts';
import { FilterThread, type FilterThreadOptions } from '../../../src-relay/filters/filter-thread.ts';
import { FilterPipeline } from '../../../src-relay/filters/pipeline.ts';
import { SenderLists } from '../../../src-relay/filters/sender-lists.ts';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { silentLogger } from '../../../src-relay/log/logger.ts';
import { parseMessageFile } from '../../../src-relay/filters/mime.ts';
import { SenderAuthWorker } from '../../../src-relay/filters/sender-auth-worker.ts';
import { lookupByType, type AuthResolver } from '../../../src-relay/filters/sender-auth.ts';
import type { MessageContext } from '../../../src-relay/filters/types.ts';
import { fixtureResolver } from '../../helpers/relay.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { CRASH_MARKER } from '../../helpers/crash-marker.ts';

const dir = tempDir('moat-filter-thread-');
after(() => rmSync(dir, { recursive: true, force: true }));

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KEY = { domain: 'signed.test', selector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
const fixtures = fixtureResolver({}, {}, {
  'signed.test': ['v=spf1 ip4:192.0.2.10 -all'],
  'late.test': ['v=spf1 ip4:192.0.2.10 -all'],
  '_dmarc.signed.test': ['v=DMARC1; p=reject'],
  'sel._domainkey.signed.test': [`v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`],
}) as AuthResolver;

/**
 * The names the thread asked this thread's resolver for; a name in `silent` is never answered, one in `silentOnce` not
 * the first time, one in `gates` once its gate opens.
 */
const asked: string[] = [];
const silent = new Set(['silent.test']);
const silentOnce = new Set(['late.test']);
const gates = new Map<string, Promise<void>>();
const resolver: AuthResolver = {
  ...fixtures,
  resolveTxt: (name) => {
    asked.push(name);
    if (silent.has(name)) return new Promise(() => {});
    if (silentOnce.delete(name)) return new Promise(() => {});
    const gate = gates.get(name);
    return gate ? gate.then(() => fixtures.resolveTxt(name)) : fixtures.resolveTxt(name);
  },
};

const threads: FilterThread[] = [];
after(() => Promise.all(threads.map((thread) => thread.stop())));
function newThread(options: { stuckAfterMs?: number; lookupTimeoutMs?: number } = {}): FilterThread {
  const thread = new FilterThread(threadOptions(options));
  threads.push(thread);
  return thread;
}
function threadOptions(options: { stuckAfterMs?: number; lookupTimeoutMs?: number } = {}): FilterThreadOptions {
  return {
    lookup: lookupByType(resolver),
    senderAuth: {
      hostname: 'relay.example.test',
      dmarcReject: 'reject',
      dmarcQuarantine: 'quarantine',
      scores: { spfFail: 2, spfSoftfail: 0.5, dkimFail: 1, dmarcFail: 2 },
      lookupTimeoutMs: options.lookupTimeoutMs,
    },
    stuckAfterMs: options.stuckAfterMs,
  };
}
/** The Worker a thread handle runs now (to stop it as a crash would). */
const workerOf = (thread: FilterThread) => (thread as unknown as { main: { worker: Worker } | null }).main?.worker ?? null;
/** The Worker that asks again, one message at a time, what a stopped thread held; null when there is none. */
const isolationOf = (thread: FilterThread) => (thread as unknown as { isolation: { worker: Worker } | null }).isolation?.worker ?? null;
/** The thread's module with a fault put in: it crashes on a message holding CRASH_MARKER. */
const CRASHING = new URL('../../helpers/crashing-thread.ts', import.meta.url);
/** Counts the postings to this thread handle's current Worker that carry a request, from now on (DNS answers aside). */
function countPosts(thread: FilterThread): { count: number } {
  const counter = { count: 0 };
  const worker = workerOf(thread)!;
  const post = worker.postMessage.bind(worker);
  worker.postMessage = (value: { t: string; messages?: { t: string }[] }) => {
    if ((value.messages ?? [value]).some((message) => message.t !== 'dns')) counter.count++;
    post(value);
  };
  return counter;
}

/** Every request posted to any thread from now on (DNS answers aside), by thread, until `stop`. */
function recordPosts(): { posts: { worker: Worker; t: string; withCheck: boolean; posting: number }[]; stop(): void } {
  const posts: { worker: Worker; t: string; withCheck: boolean; posting: number }[] = [];
  const original = Worker.prototype.postMessage;
  let posting = 0;
  Worker.prototype.postMessage = function (this: Worker, value: { t: string; messages?: { t: string; check?: unknown }[]; check?: unknown }) {
    posting++;
    // the requests only: not DNS answers, nor what the module loader's thread is sent (import.meta.resolve)
    for (const message of value.messages ?? [value]) if (typeof message.t === 'string' && message.t !== 'dns') posts.push({ worker: this, t: message.t, withCheck: Boolean(message.check), posting });
    original.call(this, value);
  };
  return { posts, stop: () => void (Worker.prototype.postMessage = original) };
}

let counter = 0;
async function signed(sender = 'alice@signed.test', body = 'Hello.'): Promise<MessageContext> {
  const raw = `From: <alice@signed.test>\r\nTo: <bob@example.test>\r\nSubject: thread ${counter++}\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\n\r\n${body}\r\n`;
  const content = Buffer.from(await dkimSigned(raw, KEY));
  return { queueId: `Q${counter}`, clientIp: '192.0.2.10', helo: 'mail.signed.test', sender, recipients: ['bob@example.test'], path: '/nonexistent', size: content.length, content, tls: false, authenticatedUser: null, headers: [] };
}
/** A deadline no request here should reach: a loaded machine (CI beside other work) must not fail a test on time alone. */
const longEnough = () => AbortSignal.timeout(60_000);
/** A new thread, and a signed message whose transaction's SPF check started there and has asked for its record. */
async function earlySpfStarted() {
  const thread = newThread();
  const worker = new SenderAuthWorker(thread);
  const message = await signed();
  asked.length = 0;
  const early = worker.startSpf({ clientIp: message.clientIp, helo: message.helo, sender: message.sender });
  for (let i = 0; i < 100 && !asked.includes('signed.test'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return { thread, worker, message, early };
}

test('a signed message is checked in the thread: SPF, DKIM and DMARC pass, its DNS asked of this thread', async () => {
  const thread = newThread();
  const worker = new SenderAuthWorker(thread);
  asked.length = 0;
  const result = await worker.check(await signed(), longEnough());
  assert.match(result.reasons[0] ?? '', /^spf=pass dkim=pass \(signed\.test\) arc=none dmarc=pass$/);
  assert.equal(result.verdict, 'accept');
  assert.match(result.headers?.[0]?.value ?? '', /dkim=pass header\.i=@signed\.test/);
  assert.deepEqual([...new Set(asked)].sort(), ['_dmarc.signed.test', 'sel._domainkey.signed.test', 'signed.test']);
});

test('the thread keeps the parsed key: the next messages signed with it are verified without parsing it again', async () => {
  const thread = newThread();
  const worker = new SenderAuthWorker(thread);
  await worker.check(await signed(), longEnough());
  const before = await thread.stats();
  assert.equal(before.wired, true, "the thread's verifiers use its key cache");
  for (let i = 0; i < 3; i++) assert.match((await worker.check(await signed(), longEnough())).reasons[0] ?? '', /dkim=pass/);
  const now = await thread.stats();
  assert.equal(now.hits - before.hits, 3);
  assert.equal(now.misses, before.misses);
});

test("SPF started at MAIL FROM runs in the thread, and the check uses its outcome instead of asking again", async () => {
  const { worker, message, early } = await earlySpfStarted();
  assert.deepEqual(asked, ['signed.test'], 'the SPF record is asked before DATA');
  const result = await worker.check({ ...message, earlySpf: early }, longEnough());
  assert.match(result.reasons[0] ?? '', /^spf=pass /);
  assert.equal(asked.filter((name) => name === 'signed.test').length, 1, 'not asked again at the end of DATA');
  early.abort();
});

test('30 messages checked at once all pass, each with its own result; asked in one turn, they reach the thread together', async () => {
  const thread = newThread();
  const worker = new SenderAuthWorker(thread);
  const messages = await Promise.all(Array.from({ length: 30 }, () => signed()));
  await thread.stats(); // the thread is up
  const posts = countPosts(thread);
  const results = await Promise.all(messages.map((message) => worker.check(message, longEnough())));
  assert.deepEqual(results.map((result) => /dmarc=pass/.test(result.reasons[0] ?? '')), Array(30).fill(true));
  assert.equal(posts.count, 1, 'one posting carried the 30 requests');
});

/** Waits until the thread has asked for `name` `times` times in all. */
async function askedFor(name: string, times = 1): Promise<void> {
  for (let i = 0; i < 200 && asked.filter((one) => one === name).length < times; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(asked.filter((one) => one === name).length, times, `${name} asked ${times} time(s)`);
}

test('a thread that dies: what it held is asked again together, of a thread of its own, which answers each; the relay is told', async () => {
  const stops: string[] = [];
  const thread = new FilterThread({ ...threadOptions(), onStopped: (why) => stops.push(why) });
  threads.push(thread);
  const worker = new SenderAuthWorker(thread);
  silent.add('later.test');
  asked.length = 0;
  const messages = await Promise.all(['alice@later.test', 'bob@later.test', 'carol@later.test'].map((sender) => signed(sender)));
  const waiting = messages.map((message) => worker.check(message, longEnough()));
  await askedFor('later.test');
  silent.delete('later.test'); // the new thread's look-up is answered
  const first = workerOf(thread)!;
  const recorded = recordPosts();
  try {
    await first.terminate();
    const results = await Promise.all(waiting);
    assert.deepEqual(results.map((result) => /^spf=none dkim=pass \(signed\.test\) arc=none dmarc=pass$/.test(result.reasons[0] ?? '')), [true, true, true], results.map((result) => result.reasons[0]).join(' | '));
  } finally {
    recorded.stop();
  }
  // asked again of one new thread, in one posting
  const again = recorded.posts.filter(({ worker: to }) => to !== first);
  assert.deepEqual(again.map(({ t }) => t), ['check', 'check', 'check']);
  assert.equal(new Set(again.map(({ worker: to }) => to)).size, 1);
  assert.equal(new Set(again.map(({ posting }) => posting)).size, 1);
  assert.equal(isolationOf(thread), null, 'with nothing left to ask again, that thread is gone');
  assert.equal(workerOf(thread), null, 'a new main thread starts with the next request');
  assert.deepEqual(stops, ['exit code 1']);
});

/** The test fixtures' DNS, each answer `delayMs` late; a TXT name in `records` is answered from there instead. */
function slowLookup(delayMs: (name: string) => number, records: Record<string, string[][]> = {}): FilterThreadOptions['lookup'] {
  const lookup = lookupByType(resolver);
  return async (name, type) => {
    await new Promise((resolve) => setTimeout(resolve, delayMs(name)));
    return type === 'TXT' && records[name] ? records[name]! : lookup(name, type);
  };
}

test('a thread that dies of its own, while look-ups are slow: what it held is asked again together, and no deadline is missed', async () => {
  const thread = new FilterThread({ ...threadOptions(), lookup: slowLookup(() => 600) });
  threads.push(thread);
  const worker = new SenderAuthWorker(thread);
  await worker.check(await signed(), longEnough()); // mailauth loaded
  // senders of their own: each look-up is asked, and waited for
  const messages = await Promise.all(Array.from({ length: 8 }, (_, i) => signed(`alice@slow${i}.test`)));
  // asked again one at a time, the eighth would wait for seven times its own look-ups: past its deadline
  const outcomes = messages.map((message) => worker.check(message, AbortSignal.timeout(6000)).then((result) => result.reasons[0] ?? '', (error: Error) => `failed: ${error.message}`));
  await new Promise((resolve) => setTimeout(resolve, 300)); // each waits for its first look-up
  await workerOf(thread)!.terminate();
  const settled = await Promise.all(outcomes);
  assert.deepEqual(settled.filter((outcome) => !/dmarc=pass$/.test(outcome)), []);
});

test('a message that crashes the thread fails alone: what was held with it is asked again together, then in halves, and answered', async () => {
  const stops: string[] = [];
  const thread = new FilterThread({ ...threadOptions(), entry: CRASHING, onStopped: (why) => stops.push(why) });
  threads.push(thread);
  const worker = new SenderAuthWorker(thread);
  await thread.stats(); // the thread is up: the five reach it together
  const messages = await Promise.all([signed(), signed(), signed('alice@signed.test', CRASH_MARKER), signed(), signed()]);
  const results = await Promise.allSettled(messages.map((message) => worker.check(message, longEnough())));
  assert.deepEqual(results.map((result) => result.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  assert.match(String((results[2] as PromiseRejectedResult).reason), /every filter thread this message was in stopped, the last with it alone: the filter thread crashed/);
  for (const result of results) if (result.status === 'fulfilled') assert.match(result.value.reasons[0] ?? '', /dmarc=pass$/);
  // the main thread; the round of five; the half of three it was in; then it alone
  assert.deepEqual(stops, Array(4).fill('the filter thread crashed'));
  assert.match((await worker.check(await signed(), longEnough())).reasons[0] ?? '', /dmarc=pass$/, 'a new main thread takes the next message');
});

test('two crashing messages among 12 sent at once: exactly those two fail, and new messages go on meanwhile', async () => {
  const thread = new FilterThread({ ...threadOptions(), entry: CRASHING });
  threads.push(thread);
  const worker = new SenderAuthWorker(thread);
  await thread.stats();
  const crashing = new Set([3, 9]);
  // message 6's sender is looked up only once the gate opens: the search for the crashing two cannot end before
  let open!: () => void;
  gates.set('gate.test', new Promise<void>((resolve) => (open = resolve)));
  const messages = await Promise.all(Array.from({ length: 12 }, (_, i) => signed(i === 6 ? 'bob@gate.test' : 'alice@signed.test', crashing.has(i) ? CRASH_MARKER : 'Hello.')));
  const outcomes = messages.map((message) => worker.check(message, AbortSignal.timeout(60_000)).then(() => 'answered', (error: Error) => error.message));
  // while those held are asked again, a new message goes to a new main thread
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.match((await worker.check(await signed(), longEnough())).reasons[0] ?? '', /dmarc=pass$/);
  assert.ok(isolationOf(thread), 'and the isolation thread is still at work');
  open();
  const settled = await Promise.all(outcomes);
  assert.deepEqual(settled.flatMap((outcome, i) => (outcome === 'answered' ? [] : [i])), [3, 9], settled.join(' | '));
  assert.equal(isolationOf(thread), null);
});

test('a round of one whose thread stops too fails; what was held with it in a larger round is asked again in halves', async () => {
  const stops: string[] = [];
  const thread = new FilterThread({ ...threadOptions(), onStopped: (why) => stops.push(why) });
  threads.push(thread);
  const worker = new SenderAuthWorker(thread);
  asked.length = 0;
  // its SPF record is never answered: it stays in each thread until one stops
  const held = worker.check(await signed('alice@silent.test'), longEnough());
  held.catch(() => {});
  silent.add('later.test');
  const next = worker.check(await signed('bob@later.test'), longEnough());
  await askedFor('later.test');
  await workerOf(thread)!.terminate();
  await askedFor('later.test', 2); // the two asked again together
  await isolationOf(thread)!.terminate();
  await askedFor('silent.test', 3); // the first half: it alone
  silent.delete('later.test');
  await isolationOf(thread)!.terminate();
  await assert.rejects(held, /every filter thread this message was in stopped, the last with it alone: exit code 1/);
  assert.match((await next).reasons[0] ?? '', /dmarc=pass$/, 'the other, in a round of its own');
  assert.deepEqual(stops, ['exit code 1', 'exit code 1', 'exit code 1']);
});

test("a sender's TXT record that crashes the thread, answered after its message's deadline, fails no other message", async () => {
  const thread = new FilterThread({
    ...threadOptions(),
    entry: CRASHING,
    lookup: slowLookup((name) => (name === 'evil.test' ? 800 : 1000), { 'evil.test': [[`v=spf1 -all ${CRASH_MARKER}`]] }),
  });
  threads.push(thread);
  const worker = new SenderAuthWorker(thread);
  await thread.stats();
  const evil = worker.check(await signed('alice@evil.test'), AbortSignal.timeout(2000)).then(() => 'answered', (error: Error) => error.message);
  const innocent = worker.check(await signed('bob@innocent.test'), AbortSignal.timeout(20_000)).then((result) => result.reasons[0] ?? '', (error: Error) => error.message);
  assert.match(await innocent, /^spf=none dkim=pass \(signed\.test\) arc=none dmarc=pass$/);
  assert.notEqual(await evil, 'answered');
});

test('clients whose early SPF check was under way when the thread crashed get none for a while: their SPF goes with the message', async () => {
  const stops: string[] = [];
  const thread = new FilterThread({ ...threadOptions(), entry: CRASHING, lookup: slowLookup((name) => (name === 'evil.test' ? 50 : 300), { 'evil.test': [[`v=spf1 -all ${CRASH_MARKER}`]] }), onStopped: (why) => stops.push(why) });
  threads.push(thread);
  const worker = new SenderAuthWorker(thread);
  await worker.check(await signed(), longEnough());
  // senders whose SPF records the thread has not cached: each waits 300 ms for its look-up
  const waiting = (await Promise.all(Array.from({ length: 4 }, (_, i) => signed(`alice@held${i}.test`)))).map((message) => worker.check(message, longEnough()));
  // its record crashes the thread while the four are held
  worker.startSpf({ clientIp: '192.0.2.66', helo: 'x', sender: 'a@evil.test' });
  assert.deepEqual((await Promise.all(waiting)).filter((result) => !/dmarc=pass$/.test(result.reasons[0] ?? '')), []);
  assert.deepEqual(stops, ['the filter thread crashed']);
  const recorded = recordPosts();
  try {
    worker.startSpf({ clientIp: '192.0.2.66', helo: 'x', sender: 'a@evil.test' }).abort();
    worker.startSpf({ clientIp: '192.0.2.67', helo: 'x', sender: 'a@other.test' }).abort();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    recorded.stop();
  }
  // the same client: nothing sent; another: its early check as before
  assert.deepEqual(recorded.posts.map(({ t }) => t), ['spf', 'spf-abort']);
  assert.deepEqual(stops, ['the filter thread crashed']);
});

test('an early SPF check dropped before its crashing answer came still counts: that client gets no early check', async () => {
  const stops: string[] = [];
  const thread = new FilterThread({ ...threadOptions(), entry: CRASHING, lookup: slowLookup(() => 300, { 'evil.test': [[`v=spf1 -all ${CRASH_MARKER}`]] }), onStopped: (why) => stops.push(why) });
  threads.push(thread);
  const worker = new SenderAuthWorker(thread);
  await worker.check(await signed(), longEnough()); // mailauth loaded: the check asks for the record at once
  asked.length = 0;
  const early = worker.startSpf({ clientIp: '192.0.2.70', helo: 'x', sender: 'a@evil.test' });
  await new Promise((resolve) => setTimeout(resolve, 100));
  early.abort(); // RSET: the transaction ends, the record's answer is still on its way
  for (let i = 0; i < 100 && stops.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(stops, ['the filter thread crashed']);
  const recorded = recordPosts();
  try {
    worker.startSpf({ clientIp: '192.0.2.70', helo: 'x', sender: 'a@evil.test' }).abort();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    recorded.stop();
  }
  assert.deepEqual(recorded.posts, [], 'no early check for that client');
});

test('past the stops a minute allows, what a stopped thread held fails at once instead of being asked again', async () => {
  const stops: string[] = [];
  const thread = new FilterThread({ ...threadOptions(), entry: CRASHING, maxStopsPerMinute: 2, onStopped: (why) => stops.push(why) });
  threads.push(thread);
  const worker = new SenderAuthWorker(thread);
  // one crashing message alone: the main thread, then its round of one (two stops, within the limit)
  await assert.rejects(worker.check(await signed('alice@signed.test', CRASH_MARKER), longEnough()), /the last with it alone/);
  assert.equal(stops.length, 2);
  await thread.stats();
  const messages = await Promise.all([signed(), signed('alice@signed.test', CRASH_MARKER), signed()]);
  const outcomes = await Promise.all(messages.map((message) => worker.check(message, longEnough()).then(() => 'answered', (error: Error) => error.message)));
  assert.deepEqual(outcomes, Array(3).fill('the filter thread stopped 3 times in a minute, so what it held is not asked again: the filter thread crashed'));
  assert.equal(isolationOf(thread), null, 'no round started');
  assert.match((await worker.check(await signed(), longEnough())).reasons[0] ?? '', /dmarc=pass$/, 'the next message is checked as ever');
});

test('the early-SPF lists are bounded: 10,001 checks under way keep the newest 10,000, and a later crash drops the oldest client', async () => {
  // without sender authentication the thread ignores early checks: only this side's lists are at work
  const thread = new FilterThread({ lookup: async () => [], senderAuth: null });
  threads.push(thread);
  const lists = thread as unknown as { earlySpf: Map<number, unknown>; noEarlySpf: Map<string, number> };
  const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  for (let i = 0; i <= 10_000; i++) thread.startSpf({ clientIp: ip(i), helo: null, sender: 'a@signed.test' });
  assert.equal(lists.earlySpf.size, 10_000);
  await workerOf(thread)!.terminate();
  assert.equal(lists.noEarlySpf.size, 10_000);
  assert.ok(!lists.noEarlySpf.has(ip(0)) && lists.noEarlySpf.has(ip(1)) && lists.noEarlySpf.has(ip(10_000)), 'the oldest check was not kept');
  // one more client under way at the next crash: the oldest client without early checks makes room
  thread.startSpf({ clientIp: '192.0.2.99', helo: null, sender: 'a@signed.test' });
  await workerOf(thread)!.terminate();
  assert.equal(lists.noEarlySpf.size, 10_000);
  assert.ok(!lists.noEarlySpf.has(ip(1)) && lists.noEarlySpf.has(ip(2)) && lists.noEarlySpf.has('192.0.2.99'));
});

test('a walk and its sender check, on a thread that dies before it answers: a new thread does both', async () => {
  const thread = newThread();
  const worker = new SenderAuthWorker(thread);
  const message = await signed();
  const parsed = thread.parse(message.path, longEnough(), { content: message.content, size: message.size }, worker.threadMessage(message));
  const first = workerOf(thread)!;
  const recorded = recordPosts();
  try {
    await first.terminate(); // before it has started: both are held
    const second = isolationOf(thread)!;
    assert.ok(second && second !== first, 'a new thread was started at once');
    const walk = await parsed;
    assert.equal(walk.headers.find((header) => header.name === 'Subject')?.value, message.content!.toString().match(/^Subject: (thread \d+)\r$/m)![1]);
    assert.match((await worker.check({ ...message, senderCheck: walk.senderCheck }, longEnough())).reasons[0] ?? '', /^spf=pass dkim=pass \(signed\.test\) arc=none dmarc=pass$/);
    // the new thread was sent the walk with its check, once, and nothing else
    assert.deepEqual(recorded.posts.filter(({ worker: to }) => to === second).map(({ t, withCheck }) => ({ t, withCheck })), [{ t: 'parse', withCheck: true }]);
  } finally {
    recorded.stop();
  }
});

test('a thread that says nothing after a deadline is stuck: what it held fails, it is replaced and the relay is told', async () => {
  const stops: string[] = [];
  const silent = new FilterThread({ lookup: async () => [], senderAuth: null, stuckAfterMs: 300, entry: new URL('../../helpers/silent-thread.mjs', import.meta.url), onStopped: (why) => stops.push(why) });
  threads.push(silent);
  const started = Date.now();
  const waiting = silent.parse('/nonexistent', AbortSignal.timeout(100), { content: Buffer.from('Subject: x\r\n\r\n'), size: 14 });
  await assert.rejects(waiting, /the filter thread stopped: no answer \d+ ms after a deadline/);
  assert.ok(Date.now() - started >= 380, 'not before the deadline and the grace after it');
  assert.equal(stops.length, 1);
  assert.match(stops[0]!, /^no answer/);
  assert.equal(workerOf(silent), null, 'the next request starts a new one');
});

test('a stuck thread fails the request past its deadline; one within its deadline is asked again of a new thread', async () => {
  const silent = new FilterThread({ lookup: async () => [], senderAuth: null, stuckAfterMs: 300, entry: new URL('../../helpers/silent-thread.mjs', import.meta.url) });
  threads.push(silent);
  const read = { content: Buffer.from('Subject: x\r\n\r\n'), size: 14 };
  const within = silent.parse('/nonexistent', longEnough(), read);
  const withinEnd = within.then(() => 'answered', (error: Error) => error.message);
  const stuck = silent.parse('/nonexistent', AbortSignal.timeout(100), read);
  const first = workerOf(silent);
  const recorded = recordPosts();
  try {
    await assert.rejects(stuck, /the filter thread stopped: no answer/);
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    recorded.stop();
  }
  const second = isolationOf(silent);
  assert.ok(second && second !== first, 'a new thread');
  // the first was told to stop the one past its deadline; the new one was sent the other alone
  assert.deepEqual(recorded.posts.filter(({ worker }) => worker === second).map(({ t }) => t), ['parse']);
  assert.deepEqual(recorded.posts.filter(({ worker }) => worker === first).map(({ t }) => t).slice(-1), ['abort']);
  const outcome = await Promise.race([withinEnd, new Promise((resolve) => setTimeout(resolve, 200, 'waiting'))]);
  assert.equal(outcome, 'waiting');
  await silent.stop();
  assert.match(await withinEnd, /stopped with the relay/);
});

test('a stuck walk past its deadline fails with the sender check sent along: nothing is asked again, no thread started', async () => {
  const silent = new FilterThread({ lookup: async () => [], senderAuth: null, stuckAfterMs: 300, entry: new URL('../../helpers/silent-thread.mjs', import.meta.url) });
  threads.push(silent);
  const message = await signed();
  const check = new SenderAuthWorker(silent).threadMessage(message);
  await assert.rejects(silent.parse(message.path, AbortSignal.timeout(100), { content: message.content, size: message.size }, check), /the filter thread stopped: no answer/);
  assert.equal((silent as unknown as { pending: Map<number, unknown> }).pending.size, 0, 'the check went with its walk');
  assert.equal(workerOf(silent), null);
});

test('a DNS look-up under way ends at the deadline: the thread answers at once, and is not taken for stuck', async () => {
  const stops: string[] = [];
  const thread = new FilterThread({
    lookup: lookupByType(resolver),
    senderAuth: { hostname: 'relay.example.test', dmarcReject: 'reject', dmarcQuarantine: 'quarantine', scores: { spfFail: 2, spfSoftfail: 0.5, dkimFail: 1, dmarcFail: 2 }, lookupTimeoutMs: 60_000 },
    stuckAfterMs: 300,
    onStopped: (why) => stops.push(why),
  });
  threads.push(thread);
  const worker = new SenderAuthWorker(thread);
  await worker.check(await signed(), longEnough()); // mailauth loaded: the deadline falls in the look-up
  const before = workerOf(thread);
  const started = Date.now();
  await assert.rejects(worker.check(await signed('alice@silent.test'), AbortSignal.timeout(200)));
  assert.ok(Date.now() - started < 2000, 'answered soon after the deadline');
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.deepEqual(stops, []);
  assert.equal(workerOf(thread), before, 'the same thread goes on');
  assert.match((await worker.check(await signed(), longEnough())).reasons[0] ?? '', /dmarc=pass/);
});

test('a DNS question this thread never answered is given up in the filter thread: the next message from that domain asks again, and passes', async () => {
  // a relay stalled for minutes left one unanswered; the thread's cache went on handing out that pending question, so
  // every later message from the domain waited out its deadline and got spf=temperror until a restart
  const thread = newThread({ lookupTimeoutMs: 200 });
  const worker = new SenderAuthWorker(thread);
  await worker.check(await signed(), longEnough()); // mailauth loaded
  asked.length = 0;
  const first = await worker.check(await signed('alice@late.test'), longEnough());
  assert.match(first.reasons.join(' '), /spf=temperror/);
  // the question is given up at twice the look-up timeout
  await new Promise((resolve) => setTimeout(resolve, 600));
  const second = await worker.check(await signed('alice@late.test'), longEnough());
  assert.match(second.reasons.join(' '), /spf=pass/);
  assert.equal(asked.filter((name) => name === 'late.test').length, 2, 'asked again');
});

test('warm() starts the thread before any request, and the thread loads mailauth without waiting for a check', async () => {
  const thread = newThread();
  assert.equal(workerOf(thread), null, 'no thread until asked');
  asked.length = 0;
  thread.warm();
  const worker = workerOf(thread);
  assert.ok(worker, 'warm() started it');
  thread.warm();
  assert.equal(workerOf(thread), worker, 'warming again starts no second thread');
  // the verifiers take the key cache when mailauth loads (publicKeyCacheStats' wired): true here with no check made
  let stats = await thread.stats();
  for (let i = 0; i < 200 && !stats.wired; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    stats = await thread.stats();
  }
  assert.equal(stats.wired, true, 'mailauth loaded in the thread');
  assert.deepEqual({ hits: stats.hits, misses: stats.misses }, { hits: 0, misses: 0 }, 'no key was looked up');
  assert.deepEqual(asked, [], 'and no DNS asked');
  const result = await thread.checkSender(new SenderAuthWorker(thread).threadMessage(await signed()), longEnough());
  assert.equal(result.verdict, 'accept', 'the first check then runs on what was loaded');
});

test('after stop a request fails at once and no thread is started', async () => {
  const thread = newThread();
  await thread.parse('/nonexistent', longEnough(), { content: Buffer.from('Subject: x\r\n\r\n'), size: 14 });
  await thread.stop();
  await assert.rejects(thread.parse('/nonexistent', longEnough(), { content: Buffer.from('Subject: x\r\n\r\n'), size: 14 }), /stopped with the relay/);
  new SenderAuthWorker(thread).startSpf({ clientIp: '192.0.2.10', helo: null, sender: 'a@signed.test' }).abort();
  thread.warm();
  assert.equal(workerOf(thread), null, 'nor by warm()');
});

test('the MIME walk in the thread finds what the walk in this thread finds; an abort there is an AbortError here', async () => {
  const thread = newThread();
  const message = await signed();
  const here = await parseMessageFile(message.path, undefined, { content: message.content, size: message.size });
  const there = await thread.parse(message.path, longEnough(), { content: message.content, size: message.size });
  assert.deepEqual(there, here);
  assert.equal(there.headers.find((header) => header.name === 'Subject')?.value, here.headers.find((header) => header.name === 'Subject')?.value);
  // a walk past its deadline: 20 MB of text takes the thread far longer than 5 ms
  const big = join(dir, 'big.eml');
  writeFileSync(big, `Subject: big\r\n\r\n${'z'.repeat(998).concat('\r\n').repeat(20_000)}`);
  await assert.rejects(thread.parse(big, AbortSignal.timeout(5), { content: null, size: 20_000_000 }), { name: 'AbortError' });
  await assert.rejects(thread.parse('/nonexistent/file', longEnough(), { content: null, size: 10 }), { code: 'ENOENT' });
});

test('a check ends the early SPF check it was handed: dropping that one afterwards sends the thread nothing', async () => {
  const thread = newThread();
  let drops = 0;
  const original = thread.startSpf.bind(thread);
  thread.startSpf = (transaction) => {
    const started = original(transaction);
    return { key: started.key, drop: () => (drops++, started.drop()) };
  };
  const worker = new SenderAuthWorker(thread);
  const message = await signed();
  const transaction = { clientIp: message.clientIp, helo: message.helo, sender: message.sender };
  const used = worker.startSpf(transaction);
  assert.match((await worker.check({ ...message, earlySpf: used }, longEnough())).reasons[0] ?? '', /^spf=pass /);
  used.abort();
  worker.startSpf(transaction).abort();
  assert.equal(drops, 1, 'only the check nobody took is dropped');
});

test('the sender check sent with the MIME walk: one message to the thread, the early SPF used, the same answers as asked apart', async () => {
  const apart = await new SenderAuthWorker(newThread()).check(await signed(), longEnough());
  const { thread, worker, message, early } = await earlySpfStarted();
  const posts = countPosts(thread);
  const parsed = await thread.parse(message.path, longEnough(), { content: message.content, size: message.size }, worker.threadMessage({ ...message, earlySpf: early }));
  assert.equal(posts.count, 1, 'the walk and the check went in one message');
  assert.deepEqual(parsed.headers, (await parseMessageFile(message.path, undefined, { content: message.content, size: message.size })).headers);
  assert.ok(parsed.senderCheck, 'the check came back with the walk');
  const result = await worker.check({ ...message, earlySpf: early, senderCheck: parsed.senderCheck }, longEnough());
  assert.equal(posts.count, 1, 'the filter waited for that check instead of asking again');
  assert.ok(typeof result.ms === 'number' && result.ms > 0, 'the check says how long it took in the thread (the trace shows it)');
  assert.equal(result.reasons[0], apart.reasons[0]);
  assert.match(result.reasons[0] ?? '', /^spf=pass dkim=pass \(signed\.test\) arc=none dmarc=pass$/);
  assert.equal(asked.filter((name) => name === 'signed.test').length, 1, 'SPF asked once, at MAIL FROM');
  early.abort();
  assert.equal(posts.count, 1, 'the check ended the early SPF: no drop is sent');
});

test('a sender check nobody waits for is stopped in the thread: a sender the lists refuse, and a walk that failed', async () => {
  const thread = newThread({ lookupTimeoutMs: 60_000 });
  const worker = new SenderAuthWorker(thread);
  const pending = () => (thread as unknown as { pending: Map<number, unknown> }).pending.size;
  const settle = async (done: () => Promise<boolean>) => {
    for (let i = 0; i < 100 && !(await done()); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  };
  // refused by the sender lists (a real pipeline over a real store): its check, stuck on DNS that never answers, is stopped
  const db = openDatabase(dir);
  after(() => db.close());
  new SenderLists(db).set('deny', '@silent.test', 'admin', null, Date.now());
  const pipeline = new FilterPipeline({
    filters: [worker],
    timeoutMs: 60_000,
    policy: { tagScore: 5, quarantineScore: 10, rejectScore: 15, failMode: {} },
    senderLists: new SenderLists(db),
    logger: silentLogger,
    parse: (path, signal, read, input) => thread.parse(path, signal, read, worker.threadMessage(input)),
  });
  const refused = await signed('alice@silent.test');
  asked.length = 0;
  const decision = await pipeline.run(refused);
  assert.equal(decision.action, 'reject');
  await settle(async () => (await thread.stats()).running === 0);
  assert.equal((await thread.stats()).running, 0, 'the thread stopped the check nobody waits for');
  assert.equal(pending(), 0);
  // a walk that fails (no such file): the thread does not go on to the check, and nothing waits for it here
  asked.length = 0;
  const missing = { ...(await signed('alice@silent.test')), content: null };
  await assert.rejects(thread.parse('/nonexistent/file', longEnough(), { content: null, size: 10 }, worker.threadMessage(missing)), { code: 'ENOENT' });
  await settle(async () => (await thread.stats()).running === 0);
  assert.equal((await thread.stats()).running, 0);
  assert.equal(pending(), 0);
  assert.deepEqual(asked, [], 'no look-up for the check of a walk that failed');
});

test('a sender check sent with the walk and waited for keeps its deadline, on the same thread', async () => {
  const thread = newThread();
  const worker = new SenderAuthWorker(thread);
  const slow = await signed('alice@silent.test');
  const parsed = await thread.parse(slow.path, longEnough(), { content: slow.content, size: slow.size }, worker.threadMessage(slow));
  const before = workerOf(thread);
  const started = Date.now();
  await assert.rejects(worker.check({ ...slow, senderCheck: parsed.senderCheck }, AbortSignal.timeout(200)));
  assert.ok(Date.now() - started < 2000, 'answered soon after the deadline');
  assert.equal(workerOf(thread), before);
  assert.match((await worker.check(await signed(), longEnough())).reasons[0] ?? '', /dmarc=pass/);
});

test("mailauth's debug print (a signature whose l= is not the body's length) does not reach the relay's log", async () => {
  const thread = newThread();
  const worker = new SenderAuthWorker(thread);
  const written: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    written.push(String(chunk));
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    const signatures = [1, 2, 3].map((n) => `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=signed.test; s=sel; h=from; bh=AAAA; b=AAAA; l=${1000 + n}\r\n`).join('');
    const content = Buffer.from(`${signatures}From: <alice@signed.test>\r\nSubject: lengths\r\n\r\nShort.\r\n`);
    const message = { ...(await signed()), content, size: content.length };
    assert.match((await worker.check(message, longEnough())).reasons[0] ?? '', /dkim=neutral/);
    await thread.stats(); // the thread's output, if any, came before its answer to this
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    process.stdout.write = write;
  }
  assert.deepEqual(written.filter((line) => /TOTAL|EXPECTING/.test(line)), []);
});
