// The filter thread starts when the first client is let in, not with its first message: the thread's start and
// mailauth's load then overlap that client's greeting delay and commands. A real relay on real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLineLogger } from '../../src-relay/log/logger.ts';
import { eventually } from '../helpers/cli.ts';
import { Sink } from '../helpers/sink.ts';
import { noDnsResolver, startRelay } from '../helpers/relay.ts';
import { message, RawSmtp, send } from '../helpers/smtp.ts';
import { WARM_UP_MESSAGES } from '../../src-relay/filters/warm-up.ts';

const TEST_TIMEOUT_MS = 60_000;

/** A relay logging into `logged`, with the filters as `filters` says. */
async function relayWith(filters: Record<string, unknown>) {
  const logged: string[] = [];
  const internal = await Sink.start();
  const relay = await startRelay(internal.port, { filters, mx: { greetingDelayMs: 1000 } }, { logger: createLineLogger((line) => logged.push(line)) });
  const starts = () => logged.filter((line) => line.includes('FILTER_THREAD_STARTED')).length;
  return { relay, internal, starts, stop: async () => (await relay.stop(), await internal.stop()) };
}

test('the filter thread starts when the first client is let in, during its greeting delay; later clients start none', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { relay, starts, stop } = await relayWith({ enabled: true });
  const clients: RawSmtp[] = [];
  try {
    await sleep(500);
    assert.equal(starts(), 0, 'no thread before any client');
    clients.push(await RawSmtp.connect(relay.port));
    // the greeting is held for 1 s: the thread starts before the client can say anything
    await eventually(async () => starts() === 1, 900, 'the thread to start within the greeting delay');
    assert.match(await clients[0]!.reply(), /^220 /);
    clients.push(await RawSmtp.connect(relay.port));
    assert.match(await clients[1]!.reply(), /^220 /);
    assert.equal(starts(), 1, 'one thread for all clients');
  } finally {
    for (const client of clients) client.close();
    await stop();
  }
});

test('with the content filters off, a client starts no filter thread', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { relay, starts, stop } = await relayWith({ enabled: false });
  const client = await RawSmtp.connect(relay.port);
  try {
    assert.match(await client.reply(), /^220 /);
    await sleep(300);
    assert.equal(starts(), 0);
  } finally {
    client.close();
    await stop();
  }
});

test("warmed at start (as moat serve and the desktop app's engine start): the thread runs its samples before the MX port opens, and asks the relay's DNS nothing", { timeout: TEST_TIMEOUT_MS }, async () => {
  const logged: string[] = [];
  const askedNames: string[] = [];
  const internal = await Sink.start();
  const resolver = { ...noDnsResolver, resolveTxt: async (name: string) => (askedNames.push(name), noDnsResolver.resolveTxt!(name)) };
  const relay = await startRelay(internal.port, { filters: { enabled: true } }, { logger: createLineLogger((line) => logged.push(line)), resolver, warmUp: true });
  try {
    const events = logged.map((line) => / info (\w+)/.exec(line)?.[1]).filter((event) => event === 'FILTER_THREAD_STARTED' || event === 'FILTERS_WARMED_UP' || event === 'STARTED');
    assert.deepEqual(events, ['FILTER_THREAD_STARTED', 'FILTERS_WARMED_UP', 'STARTED']);
    assert.match(logged.find((line) => line.includes('FILTERS_WARMED_UP'))!, new RegExp(`messages=${WARM_UP_MESSAGES} `));
    assert.equal(askedNames.length, 0, askedNames.join(' '));
    // the first client is checked by that thread: no second start
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message());
    await eventually(async () => internal.messages.length === 1, 20_000, 'the message to be delivered');
    assert.ok(askedNames.includes('sender.test'), "the client's SPF is asked of the relay's DNS");
    assert.equal(logged.filter((line) => line.includes('FILTER_THREAD_STARTED')).length, 1);
  } finally {
    await relay.stop();
    await internal.stop();
  }
});

test('with the content filters off, a relay that warms at start starts no filter thread', { timeout: TEST_TIMEOUT_MS }, async () => {
  const logged: string[] = [];
  const internal = await Sink.start();
  const relay = await startRelay(internal.port, { filters: { enabled: false } }, { logger: createLineLogger((line) => logged.push(line)), warmUp: true });
  try {
    assert.deepEqual(logged.filter((line) => /FILTER_THREAD_STARTED|FILTERS_WARM/.test(line)), []);
  } finally {
    await relay.stop();
    await internal.stop();
  }
});
