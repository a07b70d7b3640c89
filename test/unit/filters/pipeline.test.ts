import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FilterPipeline, type MessageInput } from '../../../src-relay/filters/pipeline.ts';
import { decide, applyFailModes, formatDecision, parseDecision, serializeDecision, type FilterOutcome, type PolicySettings } from '../../../src-relay/filters/policy.ts';
import { decisionHeaders, releasedHeaders } from '../../../src-relay/filters/decision-headers.ts';
import { filterRefusalDetail, filterReply } from '../../../src-relay/smtp/filter-replies.ts';
import { REPLIES } from '../../../src-relay/smtp/replies.ts';
import type { Filter, FilterResult } from '../../../src-relay/filters/types.ts';
import type { Logger } from '../../../src-relay/log/logger.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { message } from '../../helpers/smtp.ts';

const POLICY: PolicySettings = { tagScore: 5, quarantineScore: 10, rejectScore: 15, failMode: {} };

function outcome(filter: string, verdict: FilterResult['verdict'], score = 0, extra: Partial<FilterOutcome> = {}): FilterOutcome {
  return { filter, verdict, score, reasons: [`${filter} says ${verdict}`], role: 'junk', ms: 1, ...extra };
}

function recordingLogger() {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const logger: Logger = { info: (fields, message) => lines.push({ fields, message }), warn: (fields, message) => lines.push({ fields, message }), error: (fields, message) => lines.push({ fields, message }) };
  return { lines, logger };
}

async function withMessage<T>(run: (input: MessageInput) => Promise<T>): Promise<T> {
  const dir = tempDir('moat-pipeline-');
  const path = join(dir, 'm');
  writeFileSync(path, message('pipeline test'));
  try {
    return await run({ queueId: 'Q1', clientIp: '192.0.2.1', helo: 'x', sender: 'a@sender.test', recipients: ['b@example.test'], path, size: 100, tls: false, authenticatedUser: null });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const filter = (name: string, check: Filter['check'], extra: Partial<Filter> = {}): Filter => ({ name, check, ...extra });

test('scores add up and the thresholds pick tag, quarantine and reject', () => {
  assert.equal(decide([outcome('a', 'accept', 2)], POLICY).action, 'accept');
  assert.equal(decide([outcome('a', 'accept', 3), outcome('b', 'accept', 2)], POLICY).action, 'tag');
  assert.equal(decide([outcome('a', 'accept', 12)], POLICY).action, 'quarantine');
  const rejected = decide([outcome('a', 'accept', 15)], POLICY);
  assert.deepEqual([rejected.action, rejected.cause], ['reject', 'junk']);
});

test('a threshold of 0 is off: past the quarantine score with quarantine off, the message is only tagged', () => {
  assert.equal(decide([outcome('a', 'accept', 12)], { ...POLICY, quarantineScore: 0 }).action, 'tag');
});

test('the strongest verdict wins: reject over tempfail over quarantine over tag', () => {
  assert.equal(decide([outcome('a', 'tag'), outcome('b', 'quarantine'), outcome('c', 'tempfail')], POLICY).action, 'tempfail');
  const virus = decide([outcome('c', 'tempfail'), outcome('clamav', 'reject', 0, { role: 'virus' })], POLICY);
  assert.deepEqual([virus.action, virus.cause], ['reject', 'virus']);
});

test("a policy filter's own deferral tells the sender why; any other tempfail (a failed filter, an engine that could not answer or scan) says nothing", () => {
  const dmarc = decide([outcome('sender-auth', 'tempfail', 0, { role: 'policy', reasons: ['dmarc=temperror: the DMARC policy of lame.test could not be looked up'] })], POLICY);
  assert.deepEqual([dmarc.action, dmarc.cause], ['tempfail', 'policy']);
  assert.deepEqual(filterReply(dmarc), { reply: REPLIES.deferredPolicy, detail: 'dmarc=temperror: the DMARC policy of lame.test could not be looked up' });
  for (const other of [
    outcome('clamav', 'tempfail', 0, { role: 'virus', reasons: ['not scanned: message too large to scan (2097152 bytes, limit 1048576)'] }),
    outcome('rspamd', 'tempfail', 0, { role: 'junk', reasons: ['soft reject, score 9.3 / 15'] }),
    outcome('clamav', 'tempfail', 0, { role: 'virus', unavailable: true }),
    outcome('sender-auth', 'tempfail', 0, { role: 'policy', failed: 'timed out' }),
  ]) {
    const decision = decide([other], POLICY);
    assert.deepEqual([decision.action, decision.cause], ['tempfail', 'unavailable'], other.filter);
    assert.deepEqual(filterReply(decision), { reply: REPLIES.filterTempfail, detail: '' }, other.filter);
  }
});

test('history keeps a filter refusal as the reply the sender was given, then the reason, and the score only where it says something', () => {
  const junk = decide([outcome('a', 'accept', 20)], POLICY);
  assert.equal(filterRefusalDetail(filterReply(junk)!, junk), `550 5.7.1 Message refused as junk: score 20 (${junk.reason.replace(/ \((.*)\)$/, ', $1')})`);
  assert.match(filterRefusalDetail(filterReply(junk)!, junk), /^550 5\.7\.1 Message refused as junk: score 20 \(junk score 20, reject at 15\)$/);
  const virus = decide([outcome('clamav', 'reject', 0, { role: 'virus', reasons: ['virus found: Eicar-Signature'] })], POLICY);
  assert.equal(filterRefusalDetail(filterReply(virus)!, virus), `554 5.7.1 Message refused: virus found: ${filterReply(virus)!.detail} (${virus.reason})`);
  const dmarc = decide([outcome('sender-auth', 'tempfail', 0, { role: 'policy', reasons: ['dmarc=temperror: no answer'] })], POLICY);
  assert.equal(filterRefusalDetail(filterReply(dmarc)!, dmarc), `451 4.7.1 Message deferred by policy, try again later: dmarc=temperror: no answer (${dmarc.reason})`);
  const scored = decide([outcome('attachments', 'reject', 0, { reasons: ['blocked'] }), outcome('b', 'accept', 3)], POLICY);
  assert.match(filterRefusalDetail(filterReply(scored)!, scored), /; score 3\)$/);
});

test('a denied sender is refused whatever the filters say; an allowed one is not scored', () => {
  assert.equal(decide([], POLICY, { list: 'deny', entry: '@spam.test' }).cause, 'sender');
  assert.equal(decide([outcome('a', 'accept', 100)], POLICY, { list: 'allow', entry: 'a@b.test' }).action, 'accept');
  assert.equal(decide([outcome('clamav', 'reject', 0, { role: 'virus' })], POLICY, { list: 'allow', entry: 'a@b.test' }).action, 'reject');
});

test('fail modes: closed turns a failed filter into tempfail, open into tag with a reason', () => {
  const closed = applyFailModes([outcome('clamav', 'tempfail', 0, { unavailable: true })], {});
  assert.equal(closed[0]!.verdict, 'tempfail');
  const open = applyFailModes([outcome('clamav', 'tempfail', 0, { failed: 'threw: boom' })], { clamav: 'open' });
  assert.equal(open[0]!.verdict, 'tag');
  assert.match(open[0]!.reasons.at(-1)!, /fail open/);
});

test('a filter that hangs past its deadline becomes one tempfail, logged once, and its late answer is ignored', async () => {
  const { lines, logger } = recordingLogger();
  let finish: (() => void) | undefined;
  const hanging = filter('slow', (_m, signal) => new Promise((resolve) => {
    finish = () => resolve({ filter: 'slow', verdict: 'accept', score: 0, reasons: [] });
    signal.addEventListener('abort', () => setTimeout(() => finish!(), 10));
  }));
  const pipeline = new FilterPipeline({ filters: [hanging], timeoutMs: 2000, policy: POLICY, logger });
  const decision = await withMessage((input) => pipeline.run(input));
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(decision.action, 'tempfail');
  assert.match(decision.results[0]!.failed ?? '', /no answer within 2000 ms/);
  assert.equal(lines.filter((line) => line.message === 'FILTER_FAILED').length, 1);
});

test('a filter that throws (sync or async) or answers nonsense becomes tempfail, never a crash', async () => {
  const { logger } = recordingLogger();
  const filters = [
    filter('sync-throw', () => { throw new Error('sync boom'); }),
    filter('async-throw', async () => { throw new Error('async boom'); }),
    filter('nonsense', async () => ({ verdict: 'maybe' }) as unknown as FilterResult),
    filter('nan', async () => ({ filter: 'nan', verdict: 'accept', score: Number.NaN, reasons: [] })),
  ];
  const pipeline = new FilterPipeline({ filters, timeoutMs: 5000, policy: POLICY, logger });
  const decision = await withMessage((input) => pipeline.run(input));
  assert.equal(decision.action, 'tempfail');
  assert.deepEqual(decision.results.map((result) => result.verdict), ['tempfail', 'tempfail', 'tempfail', 'tempfail']);
  assert.match(decision.results[0]!.failed!, /sync boom/);
  assert.match(decision.results[2]!.failed!, /unknown verdict/);
});

test('later stages see earlier results; junk filters are skipped for an allowed sender', async () => {
  const { logger } = recordingLogger();
  const seen: number[] = [];
  const first = filter('auth', async () => ({ filter: 'auth', verdict: 'accept', score: 0, reasons: [], headers: [{ name: 'Authentication-Results', value: 'spf=pass smtp.mailfrom=sender.test' }] }));
  const second = filter('rules', async (m) => (seen.push(m.results?.length ?? -1), { filter: 'rules', verdict: 'accept', score: 1, reasons: [] }), { stage: 1, role: 'junk' });
  const lists = { lookup: () => ({ list: 'allow' as const, entry: 'a@sender.test' }) };
  const plain = new FilterPipeline({ filters: [second, first], timeoutMs: 5000, policy: POLICY, logger });
  const decision = await withMessage((input) => plain.run(input));
  assert.deepEqual(seen, [1]);
  assert.deepEqual(decision.results.map((result) => result.filter), ['auth', 'rules']);
  const allowed = new FilterPipeline({ filters: [second, first], timeoutMs: 5000, policy: POLICY, logger, senderLists: lists as never });
  const skipped = await withMessage((input) => allowed.run(input));
  assert.deepEqual(skipped.results.map((result) => result.filter), ['auth']);
});

test('the added headers: Authentication-Results from the parts, the X-Spam set and X-Moat-Status, folded, no injection', () => {
  const decision = decide(
    [
      outcome('auth', 'accept', 0, { headers: [{ name: 'Authentication-Results', value: 'spf=pass smtp.mailfrom=a.test' }, { name: 'X-Spam-Flag', value: 'NO' }] }),
      outcome('builtin-rules', 'accept', 6.5, { reasons: ['MISSING_DATE (1.5): no Date header', 'HTML_LITTLE_TEXT (5): x\r\nInjected: yes'] }),
    ],
    POLICY,
  );
  const block = decisionHeaders(decision, { hostname: 'relay.example.test', queueId: 'Q1', tagScore: 5 });
  assert.match(block, /^Authentication-Results: relay\.example\.test; spf=pass smtp\.mailfrom=a\.test\r\n/);
  assert.match(block, /\r\nX-Spam-Flag: YES\r\nX-Spam-Score: 6\.5\r\nX-Spam-Status: Yes, score=6\.5 required=5\.0(\r\n\t| )tests=MISSING_DATE,HTML_LITTLE_TEXT\r\n/);
  assert.equal((block.match(/X-Spam-Flag/g) ?? []).length, 1, 'a filter cannot add the reserved fields');
  assert.doesNotMatch(block, /^Injected/m);
  for (const line of block.split('\r\n')) assert.ok(line.length <= 998);
  const released = releasedHeaders(block, 'cli:admin', new Date(0));
  assert.match(released, /^X-Moat-Released: released from quarantine by cli:admin at(\r\n\t| )1970-01-01T00:00:00\.000Z\r\n/);
  assert.match(released, /X-Spam-Flag: NO\r\n/);
});

test('a message the MIME walk could not look at whole is quarantined by default, refused when set, even for an allowed sender', async () => {
  const { logger } = recordingLogger();
  const parse = async () => ({ headers: [], summary: { parts: [], text: '', plainChars: 0, htmlChars: 0, anomalies: [], unchecked: ['more than 500 MIME parts'], sealed: [] } });
  const accepting = filter('rules', async () => ({ filter: 'rules', verdict: 'accept', score: 0, reasons: [] }));
  const lists = { lookup: () => ({ list: 'allow' as const, entry: 'a@sender.test' }) };
  const byDefault = await withMessage((input) => new FilterPipeline({ filters: [accepting], timeoutMs: 5000, policy: POLICY, logger, parse, senderLists: lists as never }).run(input));
  assert.equal(byDefault.action, 'quarantine');
  assert.equal(byDefault.cause, 'policy');
  assert.equal(byDefault.reason, 'mime-parser: not checked whole: more than 500 MIME parts');
  const refusing = await withMessage((input) => new FilterPipeline({ filters: [accepting], timeoutMs: 5000, policy: POLICY, logger, parse, unchecked: 'reject' }).run(input));
  assert.equal(refusing.action, 'reject');
  const clean = await withMessage((input) => new FilterPipeline({ filters: [accepting], timeoutMs: 5000, policy: POLICY, logger }).run(input));
  assert.equal(clean.action, 'accept', 'a message walked whole is not affected');
});

test('mail sealed by its sender (S/MIME, PGP/MIME) is not checked like any other, unless the pipeline lets it pass (the office own mail)', async () => {
  const { logger } = recordingLogger();
  const why = 'part 1 is an S/MIME message (smime.p7m, signed or encrypted as a whole): its contents cannot be checked';
  const parse = async () => ({ headers: [], summary: { parts: [], text: '', plainChars: 0, htmlChars: 0, anomalies: [], unchecked: [], sealed: [why] } });
  const accepting = filter('rules', async () => ({ filter: 'rules', verdict: 'accept', score: 0, reasons: [] }));
  const inbound = await withMessage((input) => new FilterPipeline({ filters: [accepting], timeoutMs: 5000, policy: POLICY, logger, parse }).run(input));
  assert.equal(inbound.action, 'quarantine');
  assert.equal(inbound.reason, `mime-parser: not checked whole: ${why}`);
  const office = await withMessage((input) => new FilterPipeline({ filters: [accepting], timeoutMs: 5000, policy: POLICY, logger, parse, sealedPass: () => true }).run(input));
  assert.equal(office.action, 'accept');
  // what else the walk could not read still counts
  const both = async () => ({ headers: [], summary: { parts: [], text: '', plainChars: 0, htmlChars: 0, anomalies: [], unchecked: ['more than 500 MIME parts'], sealed: [why] } });
  const limited = await withMessage((input) => new FilterPipeline({ filters: [accepting], timeoutMs: 5000, policy: POLICY, logger, parse: both, sealedPass: () => true }).run(input));
  assert.equal(limited.reason, 'mime-parser: not checked whole: more than 500 MIME parts');
});

test('the stored decision leaves out the header fields (the added header block has them) and keeps times to 0.01 ms', () => {
  const auth = outcome('sender-auth', 'accept', 0, { ms: 2.345678, headers: [{ name: 'Authentication-Results', value: 'dkim=pass header.d=sender.test' }] });
  const decision = decide([auth, outcome('builtin-rules', 'accept', 0, { ms: 0.004 })], POLICY);
  const stored = parseDecision(serializeDecision(decision))!;
  assert.deepEqual(stored.results.map((result) => [result.filter, result.ms, result.headers]), [['sender-auth', 2.35, undefined], ['builtin-rules', 0, undefined]]);
  assert.deepEqual({ ...stored, results: [] }, { ...decision, results: [] }, 'the rest as decided');
  assert.deepEqual(formatDecision(stored), formatDecision(decision), 'the trace reads the same');
  assert.ok(decisionHeaders(decision, { hostname: 'relay.example.test', queueId: 'Q1', tagScore: 5 }).includes('dkim=pass header.d=sender.test'), 'the headers are taken from the decision before it is stored');
});

test("a filter's own account of its time counts when it is longer than the wait (work begun before it was asked); nonsense does not", async () => {
  const { logger } = recordingLogger();
  const said = (name: string, ms: unknown) => filter(name, async () => ({ filter: name, verdict: 'accept', score: 0, reasons: [], ms }) as FilterResult);
  const filters = [said('earlier', 250), said('nan', Number.NaN), said('negative', -5), said('text', '250'), said('huge', 1e12)];
  const decision = await withMessage((input) => new FilterPipeline({ filters, timeoutMs: 5000, policy: POLICY, logger }).run(input));
  const ms = Object.fromEntries(decision.results.map((result) => [result.filter, result.ms]));
  assert.equal(ms.earlier, 250);
  for (const name of ['nan', 'negative', 'text', 'huge']) assert.ok(ms[name]! >= 0 && ms[name]! < 250, `${name}: ${ms[name]} ms, the wait`);
});

test("a filter's passes reach later stages bounded: strings of a DNS name's length at most, 10 at most, anything else dropped", async () => {
  const { logger } = recordingLogger();
  const many = Array.from({ length: 11 }, (_, i) => `d${i}.test`);
  const passes = filter('sender-auth', async () => ({ filter: 'sender-auth', verdict: 'accept', score: 0, reasons: [], passed: { dmarc: many, dkim: ['a'.repeat(253), 'b'.repeat(254), 7, null], spf: ['example.test', 8] } }) as unknown as FilterResult);
  let seen: FilterResult['passed'];
  const reader = filter('rules', async (m) => ((seen = m.results?.[0]?.passed), { filter: 'rules', verdict: 'accept', score: 0, reasons: [] }), { stage: 1 });
  const decision = await withMessage((input) => new FilterPipeline({ filters: [passes, reader], timeoutMs: 5000, policy: POLICY, logger }).run(input));
  assert.deepEqual(seen, { dmarc: many.slice(0, 10), dkim: ['a'.repeat(253)], spf: ['example.test'] });
  assert.ok(!serializeDecision(decision).includes('"passed"'), 'not stored with the trace');
});
