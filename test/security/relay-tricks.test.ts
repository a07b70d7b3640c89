// Moat must never relay: every address form that could route mail somewhere other than one of our own mailboxes
// is refused at RCPT with a 5xx, over a real socket, and nothing is queued or reaches the internal server.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { domainToASCII } from 'node:url';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message } from '../helpers/smtp.ts';

const OUR_DOMAINS = new Set(['example.test', 'xn--bcher-kva.example']);

let sink: Sink;
let relay: TestRelay;

before(async () => {
  sink = await Sink.start();
  relay = await startRelay(sink.port, {
    domains: ['example.test', 'bücher.example'],
    // one session carries many refusals here; the errors-per-session limit has its own test in limits.test.ts
    mx: { maxErrors: 1000 },
  });
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

const queuedCount = () => (relay.relay.queue.store.db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;

async function session(): Promise<RawSmtp> {
  const client = await RawSmtp.connect(relay.port);
  assert.match(await client.hello(), /^250/);
  return client;
}

/** Offers each address at RCPT in one transaction; each must get `expected` (5xx by default) and nothing may be queued. */
async function assertRefused(addresses: string[], expected: RegExp = /^5\d\d /): Promise<void> {
  const queued = queuedCount();
  const sunk = sink.messages.length;
  const client = await session();
  try {
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    for (const address of addresses) {
      assert.match(await client.command(`RCPT TO:<${address}>`), expected, `RCPT TO:<${JSON.stringify(address).slice(1, -1)}>`);
    }
    assert.match(await client.command('DATA'), /^503 /, 'no recipient was accepted, so there is no DATA');
    assert.match(await client.command('QUIT'), /^221/);
  } finally {
    client.close();
  }
  assert.equal(queuedCount(), queued, 'nothing was queued');
  assert.equal(sink.messages.length, sunk, 'nothing reached the internal server');
}

/** Runs one transaction with the given RCPT lines (each must be accepted); resolves with the queue id and what the sink got. */
async function deliver(rcptLines: string[], client?: RawSmtp) {
  const sunk = sink.messages.length;
  const own = client ?? (await session());
  try {
    assert.match(await own.command('MAIL FROM:<alice@sender.test>'), /^250/);
    for (const line of rcptLines) assert.match(await own.command(line), /^250/, line);
    assert.match(await own.command('DATA'), /^354/);
    own.write(`${message('relay trick')}\r\n.\r\n`);
    const reply = await own.reply();
    const id = /queued as ([0-9A-Z]{22})/.exec(reply)?.[1];
    assert.ok(id, `250 with a queue id, got ${reply}`);
    await sink.waitFor(sunk + 1);
    return { id, got: sink.messages[sunk]! };
  } finally {
    if (!client) own.close();
  }
}

test('the percent hack is refused at RCPT with 554 5.7.1 and nothing is queued', async () => {
  await assertRefused(['user%evil.test@example.test', 'user%evil.test%example.test@example.test', 'USER%EVIL.TEST@EXAMPLE.TEST'], /^554 5\.7\.1 /);
});

test('a bang path is refused at RCPT with 554 5.7.1 and nothing is queued', async () => {
  await assertRefused(['evil.test!user@example.test', 'evil.test!relay.test!user@example.test', 'user!@example.test'], /^554 5\.7\.1 /);
});

test('quoted local parts are refused, whether they hide an "@", a "%" or nothing at all', async () => {
  await assertRefused(['"user@evil.test"@example.test', '"user%evil.test"@example.test', '"user"@example.test', '"evil.test!user"@example.test']);
});

test('address literals are refused, IPv4 and IPv6 alike, and so is a bare IP address', async () => {
  await assertRefused(['user@[127.0.0.1]', 'user@[192.0.2.1]', 'user@[IPv6:::1]', 'user@[IPv6:2001:db8::1]', 'postmaster@[127.0.0.1]']);
  await assertRefused(['user@127.0.0.1', 'user@192.0.2.1']);
});

test('a foreign domain is refused, postmaster and look-alike domains included', async () => {
  await assertRefused(['user@evil.test', 'postmaster@evil.test', 'user@localhost', 'user@exаmple.test' /* Cyrillic а */], /^554 5\.7\.1 /);
});

test('a subdomain of ours, or a foreign name that starts with ours, is refused', async () => {
  await assertRefused(['user@sub.example.test', 'user@relay.example.test', 'user@example.test.evil.test', 'user@xn--bcher-kva.example.evil.test'], /^554 5\.7\.1 /);
});

test('a source route that ends at a foreign mailbox is refused', async () => {
  // smtp-server drops source routes (RFC 5321 4.1.2, appendix C), so what is judged is the mailbox at the end
  await assertRefused(['@example.test:user@evil.test', '@example.test,@relay.example.test:user@evil.test'], /^554 5\.7\.1 /);
});

test('a source route that ends at our mailbox is delivered to that mailbox only', async () => {
  const { id, got } = await deliver(['RCPT TO:<@evil.test:user@example.test>']);
  assert.deepEqual(got.to, ['user@example.test']);
  assert.deepEqual(relay.relay.queue.store.recipients(id).map((row) => row.address), ['user@example.test']);
});

test('IMCEA-encapsulated addresses, which Exchange would decode into a foreign address, are refused', async () => {
  await assertRefused(['IMCEASMTP-user+40evil+2Etest@example.test', 'imceaex-_o=org_cn=user+40evil+2Etest@example.test'], /^554 5\.7\.1 /);
});

test('a bare postmaster (RFC 5321 4.1.1.3) goes to postmaster at our first domain', async () => {
  const { id, got } = await deliver(['RCPT TO:<Postmaster>']);
  assert.deepEqual(got.to, ['postmaster@example.test']);
  assert.deepEqual(relay.relay.queue.store.recipients(id).map((row) => row.address), ['postmaster@example.test']);
});

test('the punycode and the unicode form of our IDN domain are accepted as one and the same mailbox', async () => {
  const { id, got } = await deliver(['RCPT TO:<user@xn--bcher-kva.example>', 'RCPT TO:<user@BÜCHER.example>']);
  assert.deepEqual(relay.relay.queue.store.recipients(id).map((row) => row.address), ['user@xn--bcher-kva.example']);
  // the sink is an smtp-server too, and it hands the domain over in unicode whatever was on the wire
  assert.deepEqual(got.to.map((address) => `user@${domainToASCII(address.split('@')[1]!)}`), ['user@xn--bcher-kva.example']);
});

test('an empty address, or one holding NUL, CR, TAB or an invisible character, is refused', async () => {
  await assertRefused(['', 'us\x00er@example.test', 'us\rer@example.test', 'us\ter@example.test', 'user@example.test\u200b', 'us\u200ber@example.test']);
});

test('an overlong address is refused at RCPT and the session goes on', async () => {
  const queued = queuedCount();
  const client = await session();
  assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
  const longDomain = `${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.${'g'.repeat(60)}.example.test`;
  for (const address of [`${'a'.repeat(65)}@example.test`, `${'a'.repeat(64)}@${longDomain}`, `${'x'.repeat(1000)}@example.test`]) {
    assert.match(await client.command(`RCPT TO:<${address}>`), /^5\d\d /, `${address.length} characters`);
  }
  assert.match(await client.command('RCPT TO:<user@example.test>'), /^250/);
  assert.match(await client.command('RSET'), /^250/);
  client.close();
  assert.equal(queuedCount(), queued);
});

test('XCLIENT and XFORWARD are refused and do not change the client address that is recorded', async () => {
  const client = await session();
  assert.match(await client.command('XCLIENT ADDR=192.0.2.7 NAME=trusted.example.test'), /^5\d\d /);
  assert.match(await client.command('XFORWARD ADDR=192.0.2.7 NAME=trusted.example.test'), /^5\d\d /);
  await refuseProbe(client, 'xclient-probe@evil.test');
  const { id, got } = await deliver(['RCPT TO:<user@example.test>'], client);
  client.close();
  assertRecordedFrom(id, '127.0.0.1', '192.0.2.7', 'xclient-probe@evil.test');
  assert.doesNotMatch(got.raw.toString('latin1'), /192\.0\.2\.7|trusted\.example\.test/);
  assert.match(got.raw.toString('latin1'), /^Received: from client\.sender\.test \(\[127\.0\.0\.1\]\)/);
});

test('a PROXY protocol header sent before the greeting gets 421 and the connection is closed', async () => {
  const queued = queuedCount();
  const client = await RawSmtp.connect(relay.port);
  client.write('PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\n');
  assert.match(await client.reply(), /^421 /);
  await client.waitClosed();
  assert.equal(queuedCount(), queued);
});

test('a PROXY line after the greeting is an unknown command, and the client IP recorded stays the real one', async () => {
  const client = await RawSmtp.connect(relay.port);
  await client.reply();
  assert.match(await client.command('PROXY TCP4 192.0.2.7 127.0.0.1 40000 25'), /^5\d\d /);
  assert.match(await client.command('EHLO client.sender.test'), /^250/);
  await refuseProbe(client, 'proxy-probe@evil.test');
  const { id, got } = await deliver(['RCPT TO:<user@example.test>'], client);
  client.close();
  assertRecordedFrom(id, '127.0.0.1', '192.0.2.7', 'proxy-probe@evil.test');
  assert.doesNotMatch(got.raw.toString('latin1'), /192\.0\.2\.7/);
});

test('AUTH is neither offered nor accepted, and a failed AUTH opens nothing', async () => {
  const client = await session();
  client.write('EHLO client.sender.test\r\n');
  assert.doesNotMatch(await client.reply(), /AUTH/);
  assert.match(await client.command('AUTH PLAIN AGJvYgBzZWNyZXQ='), /^5\d\d /);
  assert.match(await client.command('AUTH LOGIN'), /^5\d\d /);
  assert.match(await client.command('AUTH CRAM-MD5'), /^5\d\d /);
  assert.match(await client.command('MAIL FROM:<bob@example.test>'), /^250/);
  assert.match(await client.command('RCPT TO:<victim@evil.test>'), /^554 5\.7\.1 /);
  client.close();
});

test('open-relay sweep: no RCPT that is not a plain mailbox of ours gets a 2xx', async () => {
  const queued = queuedCount();
  const sunk = sink.messages.length;
  const tricks = [
    'RCPT TO:<user@evil.test>',
    'rcpt to:<user@evil.test>',
    'RCPT TO: <user@evil.test>',
    'RCPT TO:user@evil.test',
    'RCPT TO:<user@evil.test> NOTIFY=NEVER',
    'RCPT TO:<user@evil.test.>',
    'RCPT TO:<user@EVIL.test>',
    'RCPT TO:<user%evil.test@example.test>',
    'RCPT TO:<user%evil.test@[127.0.0.1]>',
    'RCPT TO:<evil.test!user@example.test>',
    'RCPT TO:<"user@evil.test"@example.test>',
    'RCPT TO:<"user%evil.test"@example.test>',
    'RCPT TO:<user@evil.test@example.test>',
    'RCPT TO:<user@example.test@evil.test>',
    'RCPT TO:<user\\@evil.test@example.test>',
    'RCPT TO:<user＠evil.test@example.test>',
    'RCPT TO:<@example.test:user@evil.test>',
    'RCPT TO:<@example.test,@example.test:user@evil.test>',
    'RCPT TO:<user@[127.0.0.1]>',
    'RCPT TO:<user@[IPv6:::1]>',
    'RCPT TO:<user@sub.example.test>',
    'RCPT TO:<user@example.test.evil.test>',
    'RCPT TO:<user@example.test%evil.test>',
    'RCPT TO:<user@example.test:25>',
    'RCPT TO:<user@example.test/evil.test>',
    'RCPT TO:<user@ｅｖｉｌ.test>',
    'RCPT TO:<IMCEASMTP-user+40evil+2Etest@example.test>',
    'RCPT TO:<postmaster@evil.test>',
    'RCPT TO:<postmaster@[127.0.0.1]>',
  ];
  const client = await session();
  assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
  const opened: string[] = [];
  for (const line of tricks) {
    const reply = await client.command(line);
    if (/^2/.test(reply)) opened.push(`${line} -> ${reply.trim()}`);
    else assert.match(reply, /^5\d\d /, line);
  }
  assert.match(await client.command('DATA'), /^503 /);
  client.close();
  assert.deepEqual(opened, [], 'these RCPT forms were accepted although they are not a plain mailbox of ours');
  assert.equal(queuedCount(), queued);
  assert.equal(sink.messages.length, sunk);
});

test('across all of the above, nothing outside our own domains was queued or reached the internal server', () => {
  const rows = relay.relay.queue.store.db.prepare('SELECT address, route FROM recipients').all() as { address: string; route: string }[];
  assert.ok(rows.length > 0);
  for (const row of rows) {
    assert.equal(row.route, 'internal', row.address);
    assert.ok(OUR_DOMAINS.has(row.address.split('@')[1]!), row.address);
  }
  for (const got of sink.messages) {
    for (const address of got.to) assert.ok(OUR_DOMAINS.has(domainToASCII(address.split('@')[1]!)), address);
  }
});

/** A refused RCPT in the session, so that the history table gets a row (REFUSED) with the session's client IP. */
async function refuseProbe(client: RawSmtp, address: string): Promise<void> {
  assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
  assert.match(await client.command(`RCPT TO:<${address}>`), /^554 /);
  assert.match(await client.command('RSET'), /^250/);
}

/**
 * The message's row and the history row of the refused probe carry the address the TCP connection really came from,
 * and no row anywhere carries the `claimed` one.
 */
function assertRecordedFrom(id: string, ip: string, claimed: string, probe: string): void {
  const { db } = relay.relay.queue.store;
  relay.relay.queue.flushHistory();
  assert.equal(relay.relay.queue.store.message(id)?.client_ip, ip);
  const refused = db.prepare("SELECT client_ip FROM history WHERE action = 'REFUSED' AND recipient = ?").all(probe) as { client_ip: string }[];
  assert.deepEqual(refused, [{ client_ip: ip }], 'the refusal is in the history table with the real client IP');
  for (const row of relay.relay.queue.store.history(id)) {
    if (row.client_ip !== null) assert.equal(row.client_ip, ip, `history row ${row.action}`);
  }
  const claimedRows = db.prepare('SELECT (SELECT COUNT(*) FROM messages WHERE client_ip = ?) + (SELECT COUNT(*) FROM history WHERE client_ip = ?) AS n').get(claimed, claimed) as { n: number };
  assert.equal(claimedRows.n, 0, `no row records the claimed address ${claimed}`);
}

test('a recipients list entry written with a unicode domain accepts that mailbox in both spellings, and still refuses the rest of the domain', async () => {
  const listed = await startRelay(sink.port, { domains: ['example.test', 'bücher.example'], recipients: ['Anna@BÜCHER.example', 'dave@example.test'] });
  const client = await RawSmtp.connect(listed.port);
  try {
    assert.deepEqual(listed.relay.config.recipients, ['anna@xn--bcher-kva.example', 'dave@example.test'], 'kept as RCPT TO is compared');
    assert.match(await client.hello(), /^250/);
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<anna@bücher.example>'), /^250/);
    assert.match(await client.command('RCPT TO:<ANNA@xn--bcher-kva.example>'), /^250/);
    assert.match(await client.command('RCPT TO:<bert@bücher.example>'), /^550 5\.1\.1 /);
  } finally {
    client.close();
    await listed.stop();
  }
});
