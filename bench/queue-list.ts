// `npm run bench -- --queue-list`: how fast the queue viewer and message tracking answer with a big queue. Seeds a
// temp store (insertBatch, as the group commit writes) and times the admin API's handlers as the admin server calls
// them: input through the contract's schema, the handler, the output through its schema.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../src-relay/store/db.ts';
import { QueueStore, type HistoryEntry, type NewMessage } from '../src-relay/store/queue-store.ts';
import { Spool } from '../src-relay/store/spool.ts';
import { Queue } from '../src-relay/queue/queue.ts';
import { newQueueId } from '../src-relay/util/ids.ts';
import { silentLogger } from '../src-relay/log/logger.ts';
import { contract, type MethodName } from '../src-relay/admin/contract.ts';
import { queueHandlers } from '../src-relay/admin/handlers/queue.ts';
import type { ApiContext } from '../src-relay/admin/handlers/types.ts';
import type { Relay } from '../src-relay/engine.ts';

/** Messages per insertBatch: a busy group commit. */
const SEED_BATCH = 1000;
/** Each query runs this many times; the report gives the median and the slowest. */
const RUNS = 15;
const HOUR_MS = 3600_000;

export interface QueueListOptions {
  queued: number;
  finished: number;
  json: boolean;
  keep: boolean;
}

interface Timing {
  name: string;
  rows: number;
  total: number | null;
  medianMs: number;
  maxMs: number;
}

export async function queueListBench(opts: QueueListOptions): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'moat-bench-queue-'));
  const db = openDatabase(dataDir);
  try {
    const store = new QueueStore(db);
    const queue = new Queue({ store, spool: new Spool(join(dataDir, 'spool')), hostname: 'relay.example.test', domains: new Set(['example.test']), logger: silentLogger });
    const seedStart = performance.now();
    const seeded = seed(store, opts);
    const seedSeconds = (performance.now() - seedStart) / 1000;

    const context = {
      relay: () => ({ queue, routeStates: () => [] }) as unknown as Relay,
      config: () => ({ outbound: { smarthost: null } }),
      logger: silentLogger,
      actor: 'bench',
      clock: Date.now,
    } as unknown as ApiContext;
    const timings: Timing[] = [];
    const time = async (name: string, method: MethodName & keyof typeof queueHandlers, input: Record<string, unknown>) => {
      const samples: number[] = [];
      let result: { rows?: unknown[]; total?: number } = {};
      for (let run = 0; run < RUNS; run++) {
        const start = performance.now();
        const parsed = contract[method].input.parse(input);
        result = contract[method].output.parse(await (queueHandlers[method] as (input: unknown, context: ApiContext) => unknown)(parsed, context)) as typeof result;
        samples.push(performance.now() - start);
      }
      samples.sort((a, b) => a - b);
      timings.push({ name, rows: result.rows?.length ?? 0, total: result.total ?? null, medianMs: samples[Math.floor(samples.length / 2)]!, maxMs: samples.at(-1)! });
    };

    await time('queue.list first page (arrival)', 'queue.list', {});
    await time('queue.list sorted by sender desc', 'queue.list', { sort: 'sender', direction: 'desc' });
    await time('queue.list sorted by recipient', 'queue.list', { sort: 'recipient' });
    await time('queue.list sorted by next attempt', 'queue.list', { sort: 'nextAttemptAt' });
    await time('queue.list deferred, most attempts', 'queue.list', { status: 'deferred', sort: 'attempts', direction: 'desc' });
    await time('queue.list route outbound', 'queue.list', { route: 'outbound' });
    await time('queue.list search (a sender)', 'queue.list', { search: 'user42@' });
    await time('queue.list search (no match)', 'queue.list', { search: 'no such thing' });
    await time('queue.list deep offset (last page)', 'queue.list', { offset: Math.max(0, opts.queued - 50) });
    await time('queue.list 500 rows', 'queue.list', { limit: 500, sort: 'size', direction: 'desc' });
    await time('queue.summary', 'queue.summary', {});
    await time('tracking.search by recipient', 'tracking.search', { recipient: 'rcpt7@example.test' });
    await time('tracking.search by Message-ID', 'tracking.search', { messageId: `<${seeded.sampleMessageId}>` });
    await time('tracking.search by sender, last hour', 'tracking.search', { sender: 'user42@', from: Date.now() - HOUR_MS });
    await time('tracking.search (no match)', 'tracking.search', { sender: 'no such sender' });
    await time('tracking.search by subject', 'tracking.search', { subject: 'order 42 ' });
    await time('tracking.search delivered, by client', 'tracking.search', { outcome: 'delivered', clientIp: '198.51.100.7' });
    await time('tracking.search deferred', 'tracking.search', { outcome: 'deferred' });
    await time('tracking.search refused, last hour', 'tracking.search', { outcome: 'refused', from: Date.now() - HOUR_MS });
    await time('queue.destinations', 'queue.destinations', {});
    const direct = (name: string, work: () => number) => {
      const samples: number[] = [];
      let rows = 0;
      for (let run = 0; run < RUNS; run++) {
        const start = performance.now();
        rows = work();
        samples.push(performance.now() - start);
      }
      samples.sort((a, b) => a - b);
      timings.push({ name, rows, total: null, medianMs: samples[Math.floor(samples.length / 2)]!, maxMs: samples.at(-1)! });
    };
    const now = Date.now();
    direct('statistics top lists, 24 h', () => store.topTalkers(now - 24 * HOUR_MS, now, 10).senders.length);
    direct('statistics top lists, 30 days', () => store.topTalkers(now - 30 * 24 * HOUR_MS, now, 10).senders.length);
    // a whole destination at once: one transaction over every message waiting for it (then back, for the next run)
    direct('hold + release a destination (remote7)', () =>
      queue.actOnDestination('hold', { route: 'outbound', domain: 'remote7.test' }, 'bench').length + queue.actOnDestination('release', { route: 'outbound', domain: 'remote7.test' }, 'bench').length,
    );
    direct('retry the internal server (all of it)', () => queue.actOnDestination('retry', { route: 'internal', domain: null }, 'bench').length);

    console.log(`moat bench --queue-list: ${opts.queued} queued + ${opts.finished} finished messages (${seeded.deferred} deferred, ${seeded.held} held), seeded in ${seedSeconds.toFixed(1)} s`);
    console.log(`${'call'.padEnd(40)} ${'median'.padStart(9)} ${'max'.padStart(9)}  rows / total   (${RUNS} runs each, schema parse included)`);
    for (const timing of timings) {
      console.log(`${timing.name.padEnd(40)} ${`${timing.medianMs.toFixed(1)} ms`.padStart(9)} ${`${timing.maxMs.toFixed(1)} ms`.padStart(9)}  ${timing.rows}${timing.total === null ? '' : ` / ${timing.total}`}`);
    }
    if (opts.keep) console.log(`data dir kept: ${dataDir}`);
    if (opts.json) console.log(JSON.stringify({ queued: opts.queued, finished: opts.finished, seedSeconds, timings }));
    return 0;
  } finally {
    db.close();
    if (!opts.keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The queue of a relay whose internal server has been down for a while: most mail for the internal server, some
 * to the internet (a tenth with recipients on both), a third deferred, 2% held; behind it delivered mail with its
 * history, and refusals, for tracking to walk.
 */
function seed(store: QueueStore, opts: QueueListOptions): { deferred: number; held: number; sampleMessageId: string } {
  const now = Date.now();
  const total = opts.finished + opts.queued;
  // one message a second up to now: the finished ones first, the queue after
  const first = now - total * 1000;
  let deferred = 0;
  let held = 0;
  let sampleMessageId = '';
  for (let start = 0; start < total; start += SEED_BATCH) {
    const messages: NewMessage[] = [];
    const history: HistoryEntry[] = [];
    for (let i = start; i < Math.min(total, start + SEED_BATCH); i++) {
      const at = first + i * 1000;
      const id = newQueueId(at);
      const recipients: NewMessage['recipients'] = [{ address: `rcpt${i % 5000}@example.test`, route: 'internal' }];
      if (i % 10 === 0) recipients.push({ address: `someone${i % 700}@remote${i % 40}.test`, route: 'outbound' });
      const messageId = `${id.toLowerCase()}.${i}@sender${i % 97}.test`;
      if (i === Math.floor(total / 2)) sampleMessageId = messageId;
      messages.push({
        id,
        receivedAt: at,
        clientIp: `198.51.100.${i % 250}`,
        helo: `mail${i % 97}.sender.test`,
        sender: `user${i % 1000}@sender${i % 97}.test`,
        size: 2000 + ((i * 7919) % 200_000),
        spoolBytes: 2000 + ((i * 7919) % 200_000),
        headerMessageId: messageId,
        subject: `Invoice ${i} for order ${i % 313}`,
        kind: 'mail',
        recipients,
      });
      if (i % 50 === 0) history.push({ at, action: 'REFUSED', clientIp: '203.0.113.9', sender: `spam${i % 30}@bad.test`, recipient: `nobody${i % 100}@example.test`, detail: '550 5.1.1 no such user here' });
    }
    store.insertBatch(messages, history);
    const finished = messages.filter((_message, index) => start + index < opts.finished);
    if (finished.length) store.recordResults(finished.map((message) => attempt(message, 'delivered', message.receivedAt)), now);
    const waiting = messages.filter((_message, index) => start + index >= opts.finished);
    const failing = waiting.filter((_message, index) => (start + index) % 3 === 0);
    deferred += failing.length;
    if (failing.length) store.recordResults(failing.map((message) => attempt(message, 'pending', message.receivedAt + 20 * 60_000)), now);
    const holding = waiting.filter((_message, index) => (start + index) % 50 === 1);
    held += holding.length;
    store.db.transaction(() => {
      for (const message of holding) store.setHeld(message.id, true, { at: now, queueId: message.id, action: 'HELD', detail: 'held by the administrator' });
    })();
  }
  return { deferred, held, sampleMessageId };
}

function attempt(message: NewMessage, status: 'delivered' | 'pending', nextAttemptAt: number) {
  const reply = status === 'delivered' ? '250 accepted' : 'connect ECONNREFUSED 10.0.0.25:25';
  return {
    messageId: message.id,
    updates: message.recipients.map((recipient) => ({ address: recipient.address, status, attempted: true, nextAttemptAt, lastReply: reply, lastStatus: status === 'delivered' ? '2.0.0' : '4.4.1' })),
    history: message.recipients.map((recipient): HistoryEntry => ({
      at: message.receivedAt + 1000,
      queueId: message.id,
      action: status === 'delivered' ? 'DELIVERED' : 'DEFERRED',
      recipient: recipient.address,
      detail: status === 'delivered' ? 'to 10.0.0.25' : `${reply} (retry in 1200 s)`,
    })),
  };
}
