// A delivering server's reply as Moat keeps it (queue/delivery.ts keptReply): it comes from the network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keptReply, MAX_REPLY_CHARS } from '../../../src-relay/queue/delivery.ts';

test(`a delivery reply is kept as it came, on one line, at most ${MAX_REPLY_CHARS} characters; none when there is no text`, () => {
  assert.equal(keptReply('250 2.6.0 <abc@exchange.corp> [InternalId=123] Queued mail for delivery'), '250 2.6.0 <abc@exchange.corp> [InternalId=123] Queued mail for delivery');
  assert.equal(keptReply('250 ok\r\nX-Injected: yes\u0000\u001b[31m'), '250 ok X-Injected: yes [31m');
  const exact = `250 ${'x'.repeat(MAX_REPLY_CHARS - 4)}`;
  assert.equal(keptReply(exact), exact);
  assert.equal(keptReply(`${exact}y`), exact, 'one character over: cut at the limit');
  for (const nothing of [undefined, null, 250, '', ' \r\n ']) assert.equal(keptReply(nothing), undefined);
});
