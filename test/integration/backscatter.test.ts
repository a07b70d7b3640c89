// A message accepted for a recipient the internal server then refuses is bounced to its envelope sender. When that
// sender's own SPF record refused the client, the address was forged: a bounce would carry the message's header
// section to someone who never sent it (backscatter, found by an outside review). No notice goes then.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLineLogger } from '../../src-relay/log/logger.ts';
import { Sink } from '../helpers/sink.ts';
import { fixtureResolver, startRelay } from '../helpers/relay.ts';
import { message, send } from '../helpers/smtp.ts';

test('no bounce notice to a sender whose SPF record refused the client (backscatter); one as before when SPF did not fail', async () => {
  // the test client is 127.0.0.1: not a permitted sender of forged.test
  const resolver = fixtureResolver({}, {}, { 'forged.test': ['v=spf1 ip4:192.0.2.10 -all'], 'softly.test': ['v=spf1 ip4:192.0.2.10 ~all'] });
  const sink = await Sink.start({ onRecipient: (address) => (address === 'gone@example.test' ? { code: 550, text: '5.1.1 no such user' } : undefined) });
  const lines: string[] = [];
  const relay = await startRelay(sink.port, { filters: { enabled: true } }, { resolver, logger: createLineLogger((line) => lines.push(line)) });
  const logged = (event: string) => lines.filter((line) => line.split(' ')[2] === event);
  try {
    for (const sender of ['victim@forged.test', 'alice@softly.test', 'alice@sender.test']) {
      const raw = message(`to gone, from ${sender}`).replace('From: Alice <alice@sender.test>', `From: <${sender}>`);
      await send(relay.port, sender, ['bob@example.test', 'gone@example.test'], raw);
    }
    for (const deadline = Date.now() + 15_000; logged('BOUNCED').length < 3; await sleep(50)) {
      if (Date.now() > deadline) assert.fail(`three bounces expected:\n${lines.join('')}`);
    }
    await sleep(500);
    assert.equal(sink.messages.length, 3, 'bob got all three');
    assert.deepEqual(logged('DSN_NOT_SENT').map((line) => / to=(\S+)/.exec(line)?.[1]), ['victim@forged.test']);
    assert.deepEqual(logged('DSN_QUEUED').map((line) => / to=(\S+)/.exec(line)?.[1]).sort(), ['alice@sender.test', 'alice@softly.test'], 'softfail and no SPF record: the notice goes');
    const id = / id=(\S+)/.exec(logged('DSN_NOT_SENT')[0]!)![1]!;
    for (const deadline = Date.now() + 5_000; !relay.relay.queue.store.history(id).some((entry) => entry.action === 'DSN_NOT_SENT'); await sleep(50)) {
      if (Date.now() > deadline) assert.fail('the history says no notice was sent');
    }
    const row = relay.relay.queue.store.history(id).find((entry) => entry.action === 'DSN_NOT_SENT')!;
    assert.equal(row.detail, 'SPF failed for victim@forged.test when the message came in');
  } finally {
    await relay.stop();
    await sink.stop();
  }
});
