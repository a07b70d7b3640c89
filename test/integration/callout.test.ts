// Recipient verification by callout (config mx.callout): the relay asks the internal server (a real SMTP sink that
// counts the RCPTs it is asked) before it accepts a recipient, and remembers the answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema } from '../../src-relay/config/schema.ts';
import { RecipientCallout, probeRecipient } from '../../src-relay/smtp/callout.ts';
import { silentLogger } from '../../src-relay/log/logger.ts';
import { Sink, reservePort } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message, send } from '../helpers/smtp.ts';

const NOT_FOUND = { code: 550, text: '5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup' };

/** The internal server: knows `known`, refuses everyone else with 550, and keeps each RCPT it was asked. */
async function internalServer(known: string[]) {
  const asked: string[] = [];
  const sink = await Sink.start({
    onRecipient: (address) => {
      asked.push(address);
      return known.includes(address) ? undefined : NOT_FOUND;
    },
  });
  return { sink, asked };
}

async function rcpt(relay: TestRelay, address: string): Promise<string> {
  const client = await RawSmtp.connect(relay.port);
  try {
    assert.match(await client.hello(), /^250/);
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    return await client.command(`RCPT TO:<${address}>`);
  } finally {
    client.close();
  }
}

test('the defaults: callout off; when on, "exists" is kept an hour, "unknown" ten minutes, 10000 answers, 450 while unreachable', () => {
  assert.deepEqual(ConfigSchema.parse({}).mx.callout, { enabled: false, positiveTtlSec: 3600, negativeTtlSec: 600, maxEntries: 10_000, timeoutSec: 10, whenUnreachable: 'tempfail' });
});

test('callout yes: a recipient the internal server takes is accepted, and the next RCPT for it is answered from the cache', async () => {
  const { sink, asked } = await internalServer(['bob@example.test']);
  const relay = await startRelay(sink.port, { mx: { callout: { enabled: true } } });
  try {
    assert.match(await rcpt(relay, 'bob@example.test'), /^250/);
    assert.deepEqual(asked, ['bob@example.test']);
    assert.match(await rcpt(relay, 'BOB@example.test'), /^250/);
    assert.deepEqual(asked, ['bob@example.test'], 'the second RCPT did not ask the internal server again');
    // and the message itself goes through to the internal server as usual
    assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('verified'))).response, /^250 /);
    await sink.waitFor(1);
    assert.equal(asked.length, 2, 'one probe, one delivery');
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('callout no: a recipient the internal server refuses gets 550 5.1.1 at our RCPT, and the "no" is remembered too', async () => {
  const { sink, asked } = await internalServer(['bob@example.test']);
  const relay = await startRelay(sink.port, { mx: { callout: { enabled: true } } });
  const refused: string[] = [];
  relay.relay.events.on('refused', (event) => refused.push(event.reason));
  try {
    assert.match(await rcpt(relay, 'nobody@example.test'), /^550 5\.1\.1 No such recipient here/);
    assert.match(await rcpt(relay, 'nobody@example.test'), /^550 5\.1\.1 /);
    assert.deepEqual(asked, ['nobody@example.test'], 'asked once');
    assert.deepEqual(refused, ['unknown-recipient', 'unknown-recipient']);
    relay.relay.queue.flushHistory();
    const row = relay.relay.queue.store.db.prepare("SELECT recipient, detail FROM history WHERE action = 'REFUSED' LIMIT 1").get() as { recipient: string; detail: string };
    assert.equal(row.recipient, 'nobody@example.test');
    assert.match(row.detail, /^550 5\.1\.1 No such recipient here \(internal server: 550 .*RecipientNotFound/);
    assert.equal(relay.relay.queue.store.summary().size, 0);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('the cache: "unknown" expires after negativeTtlSec, "exists" lives on until positiveTtlSec', async () => {
  let offset = 0;
  const { sink, asked } = await internalServer(['bob@example.test']);
  const relay = await startRelay(sink.port, { mx: { callout: { enabled: true, positiveTtlSec: 3600, negativeTtlSec: 600 } } }, { clock: () => Date.now() + offset });
  try {
    assert.match(await rcpt(relay, 'bob@example.test'), /^250/);
    assert.match(await rcpt(relay, 'nobody@example.test'), /^550/);
    offset = 601_000;
    assert.match(await rcpt(relay, 'bob@example.test'), /^250/);
    assert.match(await rcpt(relay, 'nobody@example.test'), /^550/);
    assert.deepEqual(asked, ['bob@example.test', 'nobody@example.test', 'nobody@example.test'], 'only the expired "no" was asked again');
    offset = 3_601_000;
    assert.match(await rcpt(relay, 'bob@example.test'), /^250/);
    assert.equal(asked.at(-1), 'bob@example.test', 'the "yes" expired after an hour');
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('callout unreachable: 450 4.4.1 by default (the sender retries); with whenUnreachable "accept" the recipient is taken', async () => {
  const port = await reservePort();
  const relay = await startRelay(port, { mx: { callout: { enabled: true, timeoutSec: 2 } } });
  const refused: string[] = [];
  relay.relay.events.on('refused', (event) => refused.push(event.reason));
  try {
    assert.match(await rcpt(relay, 'bob@example.test'), /^450 4\.4\.1 Recipient cannot be verified now/);
    assert.deepEqual(refused, ['unverified-recipient']);
    assert.match(await rcpt(relay, 'postmaster@example.test'), /^250/, 'postmaster is never asked about');
  } finally {
    await relay.stop();
  }
  const accepting = await startRelay(port, { mx: { callout: { enabled: true, timeoutSec: 2, whenUnreachable: 'accept' } } });
  try {
    assert.match(await rcpt(accepting, 'bob@example.test'), /^250/);
    assert.match((await send(accepting.port, 'alice@sender.test', ['bob@example.test'], message('queued while down'))).response, /^250 /);
    assert.equal(accepting.relay.queue.store.summary().size, 1, 'queued for when the internal server is back');
  } finally {
    await accepting.stop();
  }
});

test('while the internal server is down, a recipient known to exist is still accepted; an unknown one gets 450', async () => {
  let offset = 0;
  const { sink, asked } = await internalServer(['bob@example.test']);
  const relay = await startRelay(sink.port, { mx: { callout: { enabled: true, positiveTtlSec: 60, timeoutSec: 2 } } }, { clock: () => Date.now() + offset });
  try {
    assert.match(await rcpt(relay, 'bob@example.test'), /^250/);
    await sink.stop();
    offset = 120_000; // past the "exists" lifetime
    assert.match(await rcpt(relay, 'bob@example.test'), /^250/, 'remembered "exists" used while the server is down');
    assert.match(await rcpt(relay, 'carol@example.test'), /^450 4\.4\.1 /);
    assert.deepEqual(asked, ['bob@example.test']);
  } finally {
    await relay.stop();
  }
});

test('the cache holds at most maxEntries answers; concurrent questions about one address share one probe', async () => {
  const { sink, asked } = await internalServer(['a@example.test', 'b@example.test', 'c@example.test']);
  try {
    const callout = new RecipientCallout({
      target: { host: '127.0.0.1', port: sink.port, tls: 'none', verifyCertificate: false },
      settings: { positiveTtlSec: 3600, negativeTtlSec: 600, maxEntries: 2, timeoutSec: 5 },
      hostname: 'relay.example.test',
      logger: silentLogger,
    });
    const answers = await Promise.all([callout.verify('a@example.test'), callout.verify('a@example.test'), callout.verify('a@example.test')]);
    assert.deepEqual(answers.map((answer) => answer.answer), ['exists', 'exists', 'exists']);
    assert.equal(callout.probes, 1);
    await callout.verify('b@example.test');
    await callout.verify('c@example.test');
    assert.equal(callout.cacheSize, 2, 'the oldest answer was dropped');
    assert.equal((await callout.verify('a@example.test')).cached, false, 'a was forgotten');
    assert.equal((await callout.verify('c@example.test')).cached, true);
    assert.deepEqual(asked, ['a@example.test', 'b@example.test', 'c@example.test', 'a@example.test']);
  } finally {
    await sink.stop();
  }
});

test('a probe sends no message: EHLO, MAIL FROM:<>, RCPT TO and QUIT only, and gives the reply of the internal server', async () => {
  const { sink } = await internalServer(['bob@example.test']);
  try {
    const yes = await probeRecipient({ host: '127.0.0.1', port: sink.port, tls: 'opportunistic', verifyCertificate: false }, 'bob@example.test', { hostname: 'relay.example.test', timeoutMs: 5000 });
    assert.deepEqual({ answer: yes.answer, unreachable: yes.unreachable }, { answer: 'exists', unreachable: false });
    const no = await probeRecipient({ host: '127.0.0.1', port: sink.port, tls: 'none', verifyCertificate: false }, 'nobody@example.test', { hostname: 'relay.example.test', timeoutMs: 5000 });
    assert.equal(no.answer, 'unknown');
    assert.match(no.detail, /^550 5\.1\.10 RESOLVER/);
    const required = await probeRecipient({ host: '127.0.0.1', port: sink.port, tls: 'required', verifyCertificate: false }, 'bob@example.test', { hostname: 'relay.example.test', timeoutMs: 5000 });
    assert.equal(required.answer, 'unavailable', 'TLS required, and the sink offers no STARTTLS');
    assert.equal(sink.messages.length, 0);
  } finally {
    await sink.stop();
  }
});

test('a probe upgrades with STARTTLS when the internal server offers it, and must when tls is "required"', async () => {
  const { SMTPServer } = await import('smtp-server');
  const secureAsks: boolean[] = [];
  // smtp-server's built-in self-signed pair: the callout does not verify certificates unless told to
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    onRcptTo: (_address, session, callback) => {
      secureAsks.push(Boolean(session.secure));
      callback();
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  try {
    for (const tls of ['opportunistic', 'required'] as const) {
      const outcome = await probeRecipient({ host: '127.0.0.1', port, tls, verifyCertificate: false }, 'bob@example.test', { hostname: 'relay.example.test', timeoutMs: 5000 });
      assert.equal(outcome.answer, 'exists', `${tls}: ${outcome.detail}`);
    }
    const verified = await probeRecipient({ host: '127.0.0.1', port, tls: 'required', verifyCertificate: true }, 'bob@example.test', { hostname: 'relay.example.test', timeoutMs: 5000 });
    assert.equal(verified.answer, 'unavailable', 'a self-signed certificate fails verification');
    assert.match(verified.detail, /^TLS: /);
    assert.deepEqual(secureAsks, [true, true], 'both RCPTs were asked over TLS');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('a probe gives up at its deadline when the internal server accepts the connection but never greets', async () => {
  const { createServer } = await import('node:net');
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  try {
    const started = Date.now();
    const outcome = await probeRecipient({ host: '127.0.0.1', port, tls: 'none', verifyCertificate: false }, 'bob@example.test', { hostname: 'relay.example.test', timeoutMs: 300 });
    assert.deepEqual({ answer: outcome.answer, unreachable: outcome.unreachable }, { answer: 'unavailable', unreachable: true });
    assert.match(outcome.detail, /no answer within 300 ms/);
    assert.ok(Date.now() - started < 2000);
  } finally {
    silent.close();
  }
});
