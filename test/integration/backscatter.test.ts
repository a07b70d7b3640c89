// A message accepted from the internet that later fails (the internal server refuses it, as Exchange does past its
// size limit, or is down past the delay warning) would send a notice to its envelope sender, which anyone can write:
// with the message's Subject and header lines, to someone who never sent it (backscatter, found by an outside review
// with `recipients` set and the callout on). Only a sender that SPF, DKIM or DMARC vouched for when the message came
// in is told; submitted mail is told as before; the notice quotes a few fields, not the sender's header block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLineLogger } from '../../src-relay/log/logger.ts';
import { historyText } from '../../src-relay/queue/history-text.ts';
import { Sink } from '../helpers/sink.ts';
import { fixtureResolver, startRelay } from '../helpers/relay.ts';
import { send } from '../helpers/smtp.ts';
import { officeMessage, submit } from '../helpers/submission.ts';

/** The stand-in internal server takes messages up to this size, as Exchange's MaxReceiveSize (Moat's limit is larger). */
const INTERNAL_LIMIT = 50_000;

/** What the reviewer sent: 300 advertising header lines and 80 KB of body, under a forged or an honest sender. */
function spam(sender: string, subject: string): string {
  const ads = Array.from({ length: 300 }, (_, n) => `X-Ad-${n}: Visit http://spam.example/offer/${n} for the best prices\r\n`).join('');
  return `From: Cheap Pills <${sender}>\r\nTo: alice@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@outside.test>\r\n${ads}\r\n${`${'x'.repeat(76)}\r\n`.repeat(800)}`;
}

test('a failure or a delay of mail from the internet is told only to a sender SPF vouched for, and submitted mail is told as before; the notice quotes a few fields', { timeout: 60_000 }, async () => {
  // the test client is 127.0.0.1: SPF passes for vouched.test; outside.test publishes nothing (the reviewer's victim)
  const resolver = fixtureResolver({}, {}, { 'vouched.test': ['v=spf1 ip4:127.0.0.1 -all'] });
  const internal = await Sink.start({
    onMessage: (message) => {
      if (message.raw.includes('\r\nSubject: delay')) return { code: 451, text: '4.3.2 try again later' };
      return message.raw.length > INTERNAL_LIMIT ? { code: 552, text: '5.3.4 Message size exceeds fixed maximum message size' } : undefined;
    },
  });
  const smarthost = await Sink.start();
  const lines: string[] = [];
  const relay = await startRelay(
    internal.port,
    {
      recipients: ['alice@example.test', 'bob@example.test'],
      mx: { callout: { enabled: true } },
      filters: { enabled: true },
      submission: { listen: '127.0.0.1:0', trustedNetworks: ['127.0.0.1'] },
      outbound: { smarthost: { host: '127.0.0.1', port: smarthost.port, tls: 'none' } },
      // a "still trying" notice after 0.36 s: the second attempt (1 s) sends it
      queue: { retryIntervalsSec: [1], delayWarningHours: 0.0001 },
    },
    { resolver, logger: createLineLogger((line) => lines.push(line)) },
  );
  const logged = (event: string) => lines.filter((line) => line.split(' ')[2] === event);
  const field = (line: string, name: string) => new RegExp(` ${name}=(\\S+)`).exec(line)?.[1];
  try {
    await send(relay.port, 'victim@outside.test', ['alice@example.test'], spam('spam@outside.test', 'BUY CHEAP PILLS at http://spam.example/'));
    await send(relay.port, 'carol@vouched.test', ['alice@example.test'], spam('carol@vouched.test', 'Our large catalogue'));
    await submit(Number(relay.relay.addresses.submission!.split(':').pop()), { plain: true }, 'bob@example.test', ['alice@example.test'], officeMessage('bob@example.test', 'alice@example.test', 'the big scan', '') + 'y'.repeat(60_000) + '\r\n');
    await send(relay.port, 'victim2@outside.test', ['alice@example.test'], spam('spam@outside.test', 'delay, forged'));
    await send(relay.port, 'carol@vouched.test', ['alice@example.test'], spam('carol@vouched.test', 'delay, vouched'));

    for (const deadline = Date.now() + 30_000; logged('DSN_NOT_SENT').length < 2 || logged('DSN_QUEUED').length < 3; await sleep(50)) {
      if (Date.now() > deadline) assert.fail(`two notices not sent and three sent expected:\n${lines.join('')}`);
    }
    await sleep(300);
    const notSent = logged('DSN_NOT_SENT').map((line) => `${field(line, 'to')} ${field(line, 'action')}`);
    assert.deepEqual(notSent.sort(), ['victim2@outside.test delayed', 'victim@outside.test failed']);
    const sent = logged('DSN_QUEUED').map((line) => `${field(line, 'to')} ${field(line, 'action')}`);
    assert.deepEqual(sent.sort(), ['bob@example.test failed', 'carol@vouched.test delayed', 'carol@vouched.test failed']);
    assert.equal(logged('BOUNCED').length, 3, 'the forged message is bounced all the same, without a notice');

    // nothing reached the forged senders; the store holds no notice for them
    const dsnRows = relay.relay.queue.store.db.prepare(`SELECT r.address FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.kind = 'dsn'`).pluck().all() as string[];
    assert.deepEqual(dsnRows.sort(), ['bob@example.test', 'carol@vouched.test', 'carol@vouched.test']);
    for (const deadline = Date.now() + 10_000; smarthost.messages.length < 2; await sleep(50)) {
      if (Date.now() > deadline) assert.fail('the two notices to carol reach the smarthost');
    }
    assert.ok(smarthost.messages.every((message) => message.from === '' && message.to.join() === 'carol@vouched.test'));

    // the history says, in plain words, why the sender was not told
    const forgedId = field(logged('DSN_NOT_SENT').find((line) => field(line, 'to') === 'victim@outside.test')!, 'id')!;
    for (const deadline = Date.now() + 5_000; !relay.relay.queue.store.history(forgedId).some((entry) => entry.action === 'DSN_NOT_SENT'); await sleep(50)) {
      if (Date.now() > deadline) assert.fail('the history says no notice was sent');
    }
    const row = relay.relay.queue.store.history(forgedId).find((entry) => entry.action === 'DSN_NOT_SENT')!;
    assert.equal(row.detail, 'no bounce notice to victim@outside.test: neither SPF nor a DKIM signature vouched for outside.test, so victim@outside.test may not have sent it');
    assert.match(historyText(row), /^The sender was not told \(no bounce notice to victim@outside\.test\)/);
    const delayedId = field(logged('DSN_NOT_SENT').find((line) => field(line, 'to') === 'victim2@outside.test')!, 'id')!;
    const delayedHistory = relay.relay.queue.store.history(delayedId);
    assert.ok(delayedHistory.some((entry) => entry.action === 'DSN_NOT_SENT' && entry.detail!.startsWith('no delay notice to victim2@outside.test: ')));
    assert.ok(!delayedHistory.some((entry) => entry.action === 'DELAY_WARNED'), 'no "sender told" row for a notice not sent');
    assert.equal(logged('DSN_NOT_SENT').filter((line) => field(line, 'id') === delayedId).length, 1, 'once, not at every attempt');

    // the notice to the vouched sender names the message by a few fields and carries none of its header lines
    const bounce = smarthost.messages.map((message) => message.raw.toString('latin1')).find((raw) => raw.includes('Undelivered Mail Returned to Sender'))!;
    const quoted = bounce.slice(bounce.indexOf('Content-Type: text/rfc822-headers'));
    assert.match(quoted, /\r\nSubject: Our large catalogue\r\n/);
    assert.match(quoted, /\r\nFrom: Cheap Pills <carol@vouched\.test>\r\n/);
    assert.match(quoted, /\r\nReceived: from /);
    assert.doesNotMatch(bounce, /X-Ad-|spam\.example/);
    assert.ok(Buffer.byteLength(bounce) < 12_000, `a notice of ${Buffer.byteLength(bounce)} bytes`);

    // the submitted message's notice reached bob through the internal server
    for (const deadline = Date.now() + 10_000; !internal.messages.some((message) => message.from === '' && message.to.join() === 'bob@example.test'); await sleep(50)) {
      if (Date.now() > deadline) assert.fail('the notice to bob reaches the internal server');
    }
  } finally {
    await relay.stop();
    await internal.stop();
    await smarthost.stop();
  }
});
