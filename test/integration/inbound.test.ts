import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message, send } from '../helpers/smtp.ts';

let sink: Sink;
let relay: TestRelay;

before(async () => {
  sink = await Sink.start();
  relay = await startRelay(sink.port, { recipients: [] });
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

test('accepted mail reaches the internal server byte for byte, with one Received header added', async () => {
  const before = sink.messages.length;
  const raw = message('byte exact', 'Line one\r\n.leading dot\r\n..two dots\r\nÜmlaut 8bit\r\n');
  const info = await send(relay.port, 'alice@sender.test', ['bob@example.test'], raw);
  assert.match(info.response, /^250 .*queued as [0-9A-Z]{22}/);
  await sink.waitFor(before + 1);
  const got = sink.messages[before]!;
  assert.equal(got.from, 'alice@sender.test');
  assert.deepEqual(got.to, ['bob@example.test']);
  const text = got.raw.toString('utf8');
  const headerEnd = text.indexOf('\r\n', text.indexOf('\r\n\t', text.indexOf(';')) + 1);
  assert.match(text, /^Received: from client|^Received: from \S+ \(\[127\.0\.0\.1\]\)\r\n\tby relay\.example\.test \(Moat\) with ESMTP id [0-9A-Z]{22}\r\n\tfor <bob@example\.test>;\r\n\t\w{3}, /);
  assert.equal(got.raw.subarray(Buffer.byteLength(text.slice(0, headerEnd + 2))).toString('utf8'), raw);
});

test('the queue id in the 250 reply is the one the message is tracked under', async () => {
  const info = await send(relay.port, 'carol@sender.test', ['dave@EXAMPLE.test'], message('tracked'));
  const id = /queued as ([0-9A-Z]{22})/.exec(info.response)![1]!;
  await sink.waitFor(sink.messages.length);
  const row = relay.relay.queue.store.message(id);
  assert.ok(row, 'a row exists for the id');
  assert.equal(row.sender, 'carol@sender.test');
  assert.equal(row.subject, 'tracked');
  assert.equal(relay.relay.queue.store.recipients(id)[0]!.address, 'dave@example.test');
});

test('a recipient at a foreign domain is refused at RCPT with 554 5.7.1 and nothing is queued', async () => {
  const count = () => (relay.relay.queue.store.db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;
  const queuedBefore = count();
  const client = await RawSmtp.connect(relay.port);
  await client.hello();
  assert.match(await client.command('MAIL FROM:<spammer@evil.test>'), /^250/);
  assert.match(await client.command('RCPT TO:<victim@elsewhere.test>'), /^554 5\.7\.1 /);
  assert.match(await client.command('DATA'), /^503/);
  client.close();
  assert.equal(count(), queuedBefore);
});

test('mixed recipients: ours are accepted, foreign ones refused, only ours receive the message', async () => {
  const before = sink.messages.length;
  const client = await RawSmtp.connect(relay.port);
  await client.hello();
  await client.command('MAIL FROM:<alice@sender.test>');
  assert.match(await client.command('RCPT TO:<one@example.test>'), /^250/);
  assert.match(await client.command('RCPT TO:<two@other.test>'), /^554/);
  assert.match(await client.command('RCPT TO:<three@EXAMPLE.Test>'), /^250/);
  assert.match(await client.command('DATA'), /^354/);
  client.write(`${message('mixed')}\r\n.\r\n`);
  assert.match(await client.reply(), /^250/);
  client.close();
  await sink.waitFor(before + 1);
  assert.deepEqual(sink.messages[before]!.to.sort(), ['one@example.test', 'three@example.test']);
});

test('the inbound listener offers STARTTLS and SIZE but never AUTH, XCLIENT or XFORWARD', async () => {
  const client = await RawSmtp.connect(relay.port);
  const ehlo = await client.hello();
  assert.match(ehlo, /STARTTLS/);
  assert.match(ehlo, /SIZE 26214400/);
  assert.doesNotMatch(ehlo, /AUTH|XCLIENT|XFORWARD/);
  assert.match(await client.command('AUTH PLAIN AGJvYgBzZWNyZXQ='), /^50[02]/);
  assert.match(await client.command('XCLIENT ADDR=10.0.0.1'), /^5\d\d/);
  assert.match(await client.command('XFORWARD ADDR=10.0.0.1'), /^5\d\d/);
  client.close();
});

test('STARTTLS works with the self-signed certificate made on first start', async () => {
  const nodemailer = (await import('nodemailer')).default;
  const before = sink.messages.length;
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: relay.port, requireTLS: true, tls: { rejectUnauthorized: false } });
  const info = await transport.sendMail({ envelope: { from: 'tls@sender.test', to: ['bob@example.test'] }, raw: message('over tls') });
  transport.close();
  assert.match(info.response, /^250/);
  await sink.waitFor(before + 1);
  assert.match(sink.messages[before]!.raw.toString(), /with ESMTPS id/);
});

test('fields that claim to be our verdict (X-Spam-*, X-Moat-*, our Authentication-Results) are removed before the internal server sees them', async () => {
  const before = sink.messages.length;
  const forged = 'X-Spam-Flag: NO\r\nX-Moat-Status: accept; score=0\r\nAuthentication-Results: relay.example.test; dmarc=pass\r\nAuthentication-Results: elsewhere.test; spf=none\r\n';
  const info = await send(relay.port, 'mallory@sender.test', ['bob@example.test'], message('forged verdict', 'X-Spam-Flag: NO stays in the body\r\n', forged));
  const id = /queued as ([0-9A-Z]{22})/.exec(info.response)![1]!;
  await sink.waitFor(before + 1);
  const text = sink.messages[before]!.raw.toString();
  const headers = text.slice(0, text.indexOf('\r\n\r\n'));
  assert.doesNotMatch(headers, /X-Spam-Flag|X-Moat-Status|Authentication-Results: relay\.example\.test/);
  assert.match(headers, /Authentication-Results: elsewhere\.test; spf=none/);
  assert.match(text, /\r\n\r\nX-Spam-Flag: NO stays in the body/);
  assert.ok(relay.relay.queue.store.history(id).some((row) => /3 X-Spam\/X-Moat\/Authentication-Results field/.test(row.detail ?? '')));
});
