// The filter thread starts when the first client is let in, not with its first message: the thread's start and
// mailauth's load then overlap that client's greeting delay and commands. A real relay on real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLineLogger } from '../../src-relay/log/logger.ts';
import { eventually } from '../helpers/cli.ts';
import { Sink } from '../helpers/sink.ts';
import { startRelay } from '../helpers/relay.ts';
import { RawSmtp } from '../helpers/smtp.ts';

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
