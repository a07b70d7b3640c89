// The mx listener starts sender authentication's SPF check when MAIL FROM is accepted (over real SMTP, fixture DNS):
// the look-up is under way before RCPT, the MAIL reply does not change, RSET drops the check, and parallel sessions
// from different client addresses each get the verdict for their own address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { fixtureResolver, startRelay, type TestRelay } from '../helpers/relay.ts';
import { RawSmtp, message } from '../helpers/smtp.ts';
import type { Resolver } from '../../src-relay/util/resolver.ts';

/** How long a test waits for the relay to ask DNS for a name before it fails (ms); the ask comes within milliseconds. */
const ASK_WAIT_MS = 5_000;

const base = fixtureResolver({}, {}, {
  'early.test': ['v=spf1 ip4:127.0.0.1 -all'],
  'second.test': ['v=spf1 ip4:127.0.0.1 -all'],
  'shared.test': ['v=spf1 ip4:127.0.0.1 -all'],
});
const asked = new Map<string, number>();
const waiters = new Map<string, () => void>();
/** first.test never answers: a check that waited for it would hold its message until the filter's deadline. */
const resolver: Resolver = {
  ...base,
  resolveTxt: async (name) => {
    asked.set(name, (asked.get(name) ?? 0) + 1);
    waiters.get(name)?.();
    if (name === 'first.test') return new Promise<string[][]>(() => {});
    return base.resolveTxt!(name);
  },
};

/** Resolves once the relay has asked for NAME's TXT records (at once if it has). */
function askedFor(name: string): Promise<void> {
  if (asked.has(name)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the relay did not ask DNS for ${name} within ${ASK_WAIT_MS} ms`)), ASK_WAIT_MS);
    waiters.set(name, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

let sink: Sink;
let relay: TestRelay;
before(async () => {
  sink = await Sink.start();
  relay = await startRelay(sink.port, { filters: { enabled: true } }, { resolver });
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

/** RCPT, DATA and the message on an open session whose MAIL FROM was accepted; returns the reply to the final dot. */
async function finish(client: RawSmtp, subject: string): Promise<string> {
  assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250 /);
  assert.match(await client.command('DATA'), /^354 /);
  client.write(`${message(subject)}\r\n.\r\n`);
  return client.reply();
}

async function delivered(subject: string): Promise<string> {
  const raw = await sink.waitForSubject(subject);
  return (/^Authentication-Results: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)/m.exec(raw)?.[1] ?? '').replace(/\r\n[ \t]+/g, ' ');
}

test('the SPF look-up of the sender domain is made as soon as MAIL FROM is accepted, before RCPT; the message is judged on it', async () => {
  const client = await RawSmtp.connect(relay.port);
  await client.hello();
  assert.match(await client.command('MAIL FROM:<alice@early.test>'), /^250 /);
  await askedFor('early.test');
  assert.match(await finish(client, 'early spf'), /^250 /);
  await client.command('QUIT');
  assert.equal(asked.get('early.test'), 1, 'one look-up for the whole transaction');
  assert.match(await delivered('early spf'), /\bspf=pass\b.*smtp\.mailfrom=alice@early\.test/);
});

test('RSET drops the SPF check of the transaction it ends: the next MAIL FROM is checked on its own, without waiting for the old one', async () => {
  const client = await RawSmtp.connect(relay.port);
  await client.hello();
  assert.match(await client.command('MAIL FROM:<alice@first.test>'), /^250 /);
  await askedFor('first.test');
  assert.match(await client.command('RSET'), /^250 /);
  assert.match(await client.command('MAIL FROM:<alice@second.test>'), /^250 /);
  assert.match(await finish(client, 'after rset'), /^250 /);
  await client.command('QUIT');
  const results = await delivered('after rset');
  assert.match(results, /\bspf=pass\b.*smtp\.mailfrom=alice@second\.test/);
  assert.doesNotMatch(results, /first\.test/);
});

test('parallel sessions from two client addresses, same sender domain: each is judged for its own address, and MAIL FROM is 250 for both', async () => {
  const session = async (localAddress: string, subject: string) => {
    const client = await RawSmtp.connect(relay.port, false, localAddress);
    await client.hello();
    const mail = await client.command('MAIL FROM:<alice@shared.test>');
    const end = await finish(client, subject);
    await client.command('QUIT');
    return { mail, end };
  };
  const [permitted, other] = await Promise.all([session('127.0.0.1', 'shared from permitted'), session('127.0.0.2', 'shared from other')]);
  for (const { mail, end } of [permitted, other]) {
    assert.match(mail, /^250 /, 'an SPF failure never changes the MAIL reply');
    assert.match(end, /^250 /);
  }
  assert.match(await delivered('shared from permitted'), /\bspf=pass\b/);
  assert.match(await delivered('shared from other'), /\bspf=fail\b/);
});
