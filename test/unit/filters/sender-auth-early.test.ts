// Sender authentication's SPF check started at MAIL FROM (SenderAuthFilter.startSpf): the end-of-DATA check uses it
// instead of asking DNS again, only for the transaction it was started for, with the same deadline and failures.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SenderAuthFilter, type AuthResolver, type SenderAuthOptions } from '../../../src-relay/filters/sender-auth.ts';
import type { MessageContext } from '../../../src-relay/filters/types.ts';
import { fixtureResolver } from '../../helpers/relay.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const dir = tempDir('moat-sender-auth-early-');
after(() => rmSync(dir, { recursive: true, force: true }));

const TXT = { 'sender.test': ['v=spf1 ip4:192.0.2.10 -all'] };

/** Fixture DNS that counts TXT questions by name and holds each answer until `release()` (or answers at once). */
function countingResolver(options: { held?: boolean } = {}) {
  const base = fixtureResolver({}, {}, TXT) as AuthResolver;
  const asked = new Map<string, number>();
  let release!: () => void;
  const gate = options.held ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
  const resolver: AuthResolver = {
    ...base,
    resolveTxt: async (name) => {
      asked.set(name, (asked.get(name) ?? 0) + 1);
      await gate;
      return base.resolveTxt(name);
    },
  };
  return { resolver, asked, release: () => release?.() };
}

function options(resolver: AuthResolver): SenderAuthOptions {
  return { resolver, hostname: 'relay.example.test', dmarcReject: 'reject', dmarcQuarantine: 'quarantine', scores: { spfFail: 2, spfSoftfail: 0.5, dkimFail: 1, dmarcFail: 2 } };
}

let counter = 0;
function spooled(): string {
  const path = join(dir, `msg-${counter++}`);
  writeFileSync(path, `From: Alice <alice@sender.test>\r\nTo: bob@example.test\r\nSubject: early ${counter}\r\n\r\nHello.\r\n`);
  return path;
}

function context(clientIp: string, extra: Partial<MessageContext> = {}): MessageContext {
  return { queueId: 'TEST', clientIp, helo: 'client.test', sender: 'alice@sender.test', recipients: ['bob@example.test'], path: spooled(), size: 0, headers: [], tls: false, authenticatedUser: null, ...extra };
}

const spfOf = (result: { reasons: string[] }) => /spf=(\w+)/.exec(result.reasons[0] ?? '')?.[1];

test('an SPF check started at MAIL FROM is used at the end of DATA: the sender domain is asked once, not twice', async () => {
  const { resolver, asked, release } = countingResolver({ held: true });
  const filter = new SenderAuthFilter(options(resolver));
  const early = filter.startSpf({ clientIp: '192.0.2.10', helo: 'client.test', sender: 'alice@sender.test' });
  const checked = filter.check(context('192.0.2.10', { earlySpf: early }), AbortSignal.timeout(10_000));
  release();
  const result = await checked;
  assert.equal(spfOf(result), 'pass');
  assert.equal(asked.get('sender.test'), 1);
});

test('without an early check the end-of-DATA check asks the sender domain itself (what the test above saves)', async () => {
  const { resolver, asked } = countingResolver();
  const result = await new SenderAuthFilter(options(resolver)).check(context('192.0.2.10'), AbortSignal.timeout(10_000));
  assert.equal(spfOf(result), 'pass');
  assert.equal(asked.get('sender.test'), 1);
});

test('an early check made for another client address, sender or HELO is not used: the verdict is for the message\'s own client', async () => {
  const { resolver, asked } = countingResolver();
  const filter = new SenderAuthFilter(options(resolver));
  const forOther = filter.startSpf({ clientIp: '192.0.2.10', helo: 'client.test', sender: 'alice@sender.test' });
  assert.equal((await forOther.outcome).ok, true);
  const result = await filter.check(context('198.51.100.7', { earlySpf: forOther }), AbortSignal.timeout(10_000));
  assert.equal(spfOf(result), 'fail', 'judged for 198.51.100.7, not the passing 192.0.2.10');
  assert.equal(asked.get('sender.test'), 2);
  const otherSender = filter.startSpf({ clientIp: '198.51.100.7', helo: 'client.test', sender: 'bob@sender.test' });
  const otherHelo = filter.startSpf({ clientIp: '198.51.100.7', helo: 'elsewhere.test', sender: 'alice@sender.test' });
  for (const early of [otherSender, otherHelo]) {
    assert.equal(spfOf(await filter.check(context('198.51.100.7', { earlySpf: early }), AbortSignal.timeout(10_000))), 'fail');
  }
  assert.equal(asked.get('sender.test'), 6, 'each mismatching early check and each check asked on its own');
});

test('an early check dropped with its transaction fails the check that would use it, as a stopped DNS look-up does', async () => {
  const { resolver, release } = countingResolver({ held: true });
  const filter = new SenderAuthFilter(options(resolver));
  const early = filter.startSpf({ clientIp: '192.0.2.10', helo: 'client.test', sender: 'alice@sender.test' });
  early.abort();
  release();
  const settled = await early.outcome;
  assert.equal(settled.ok, false);
  await assert.rejects(filter.check(context('192.0.2.10', { earlySpf: early }), AbortSignal.timeout(10_000)));
});

test('the filter\'s deadline ends the wait for an early check still asking DNS, and stops its look-ups', async () => {
  const { resolver, release } = countingResolver({ held: true });
  const filter = new SenderAuthFilter(options(resolver));
  const early = filter.startSpf({ clientIp: '192.0.2.10', helo: 'client.test', sender: 'alice@sender.test' });
  const deadline = new AbortController();
  const checked = filter.check(context('192.0.2.10', { earlySpf: early }), deadline.signal);
  deadline.abort(new Error('deadline'));
  await assert.rejects(checked);
  release();
  assert.equal((await early.outcome).ok, false, 'its look-ups were stopped with the check');
});
