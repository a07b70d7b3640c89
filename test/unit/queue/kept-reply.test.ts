// A delivering server's reply as Moat keeps it (queue/delivery.ts keptReply): it comes from the network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { garbledReply, keptReply, MAX_REPLY_CHARS } from '../../../src-relay/queue/delivery.ts';

test(`a delivery reply is kept as it came, on one line, at most ${MAX_REPLY_CHARS} characters; none when there is no text`, () => {
  assert.equal(keptReply('250 2.6.0 <abc@exchange.corp> [InternalId=123] Queued mail for delivery'), '250 2.6.0 <abc@exchange.corp> [InternalId=123] Queued mail for delivery');
  assert.equal(keptReply('250 ok\r\nX-Injected: yes\u0000\u001b[31m'), '250 ok X-Injected: yes [31m');
  const exact = `250 ${'x'.repeat(MAX_REPLY_CHARS - 4)}`;
  assert.equal(keptReply(exact), exact);
  assert.equal(keptReply(`${exact}y`), exact, 'one character over: cut at the limit');
  for (const nothing of [undefined, null, 250, '', ' \r\n ']) assert.equal(keptReply(nothing), undefined);
});

test('a reply to the final dot is proper when every line has the one code, hyphens on all but the last', () => {
  for (const good of ['250 2.0.0 Ok: queued', '250', '250-first\n250 last', '250-a\n250-b\n250']) assert.equal(garbledReply(good), null, good);
  assert.match(garbledReply('250-ok\n550 but no') ?? '', /mixed reply codes or lines \(250 first\)/);
  assert.match(garbledReply('250-a\n250-b') ?? '', /mixed/, 'no last line');
  assert.match(garbledReply('250 a\n250 b') ?? '', /mixed/, 'a last line before the last');
  assert.equal(garbledReply('2500 ok'), 'its answer was not an SMTP reply');
  assert.equal(garbledReply('ok'), 'its answer was not an SMTP reply');
});
