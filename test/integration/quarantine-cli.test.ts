import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { send } from '../helpers/smtp.ts';
import { runCli } from '../helpers/cli.ts';
import { messageWithAttachments } from '../helpers/mail-parts.ts';
import { STATE_KEYS } from '../../src-relay/store/state-store.ts';

let sink: Sink;
let relay: TestRelay;
let dataDir: string;

before(async () => {
  dataDir = tempDir('moat-quarantine-cli-');
  sink = await Sink.start();
  // a message without a Date scores 11 here: quarantined (10), not refused (15)
  relay = await startRelay(sink.port, { filters: { enabled: true, rules: { MISSING_DATE: 11 } } }, { dataDir });
});
after(async () => {
  await relay.stop();
  await sink.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const undated = (subject: string) =>
  messageWithAttachments(subject, [{ name: 'list.csv', contentType: 'text/csv', data: 'a,b\r\n' }], { text: 'Cheap \x1b[31mred\x1b[0m offer <b>now</b>' }).replace(/^Date: .*\r\n/m, '');

async function quarantined(subject: string, from = 'alice@sender.test'): Promise<string> {
  const info = await send(relay.port, from, ['bob@example.test'], undated(subject));
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  assert.equal(relay.relay.queue.store.message(id)!.status, 'quarantined');
  return id;
}

const moat = (...args: string[]) => runCli([...args, '--data-dir', dataDir]);

test('moat quarantine list, show (safe preview), release --allow-sender: the message is delivered with the release header', async () => {
  const id = await quarantined('cli offer');
  const list = await moat('quarantine', 'list', '--search', 'CLI OFFER');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`1 message\\(s\\) in quarantine.*\\n${id} .*<alice@sender\\.test> -> bob@example\\.test  "cli offer"`));
  assert.match(list.stdout, /junk score 11 \(quarantine at 10\)/);

  const show = await moat('quarantine', 'show', id);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /MISSING_DATE \(11\)/);
  assert.match(show.stdout, /attachments:\n {2}2 {2}list\.csv {2}text\/csv, 5 bytes/);
  assert.match(show.stdout, /Cheap \?\[31mred\?\[0m offer <b>now<\/b>/, 'terminal escapes are neutralised');
  assert.doesNotMatch(show.stdout, /\x1b/);

  const queueShow = await moat('queue', 'show', id);
  assert.match(queueShow.stdout, /status: +quarantined/);
  assert.match(queueShow.stdout, /filters: +quarantine, score 11/);

  const release = await moat('quarantine', 'release', id, '--allow-sender');
  assert.equal(release.code, 0, release.stderr);
  assert.match(release.stdout, /released: it is delivered to its recipients now; alice@sender\.test is on the allow list/);
  const deadline = Date.now() + 20_000;
  let got: string | undefined;
  while (!got && Date.now() < deadline) {
    got = sink.messages.find((sunk) => sunk.raw.includes('Subject: cli offer'))?.raw.toString('utf8');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(got, 'delivered after the release');
  assert.match(got, /^X-Moat-Released: released from quarantine by cli:\S+ at\s/);
  const senders = await moat('senders', 'list');
  assert.match(senders.stdout, /allow +alice@sender\.test +added .* \(allowed when releasing /);
  // allowed now: the same kind of message is no longer scored
  const again = await send(relay.port, 'alice@sender.test', ['bob@example.test'], undated('cli offer again'));
  assert.equal(relay.relay.queue.store.message(/queued as (\S+)/.exec(again.response)![1]!)!.status, 'queued');
});

test('moat quarantine list says how many there are past the 100 it prints; digest --to takes the domains serve was given on its command line', async () => {
  // `serve --domain example.test` with no domains in moat.json: serve records them, the commands go by them
  relay.relay.queue.store.setState(STATE_KEYS.servedDomains, JSON.stringify(relay.relay.config.domains));
  const ids: string[] = [];
  for (let batch = 0; batch < 11; batch++) ids.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => quarantined(`many ${batch * 10 + i}`, 'mallory@sender.test')))));
  const list = await moat('quarantine', 'list', '--search', 'many');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^110 message\(s\) in quarantine matching "many"; the newest 100 below/);
  assert.equal(list.stdout.match(/^[0-9A-Z]{22} {2}/gm)?.length, 100);
  const digest = await moat('quarantine', 'digest', '--to', 'bob@example.test');
  assert.equal(digest.code, 0, digest.stderr);
  assert.match(digest.stdout, /bob@example\.test/);
  const outside = await moat('quarantine', 'digest', '--to', 'bob@elsewhere.test');
  assert.equal(outside.code, 2);
  assert.match(outside.stderr, /bob@elsewhere\.test is not an internal recipient: digests go only to addresses in example\.test\n/);
  await Promise.all(ids.map((id) => relay.relay.quarantine.delete(id, 'test')));
});

test('moat quarantine delete; unknown ids exit 1, bad usage exits 2', async () => {
  assert.equal((await moat('senders', 'remove', 'alice@sender.test')).code, 0);
  const id = await quarantined('cli delete');
  const id2 = await quarantined('cli delete two');
  const deleted = await moat('quarantine', 'delete', id2);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(relay.relay.queue.store.message(id2)!.status, 'deleted');
  assert.equal((await moat('quarantine', 'delete', id2)).code, 1);
  assert.equal((await moat('quarantine', 'show', 'not-an-id')).code, 2);
  assert.equal((await moat('quarantine', 'list', '--allow-sender')).code, 2);
  assert.equal(relay.relay.queue.store.message(id)!.status, 'quarantined');
});

test('moat senders deny applies to the next message of the running relay; remove lifts it', async () => {
  const deny = await moat('senders', 'deny', '@Spam.Test', '--note', 'sent us junk');
  assert.equal(deny.code, 0, deny.stderr);
  assert.match(deny.stdout, /@spam\.test is on the deny list/);
  await assert.rejects(send(relay.port, 'x@mail.spam.test', ['bob@example.test'], undated('denied')), /550 5\.7\.1 Sender refused by policy/);
  assert.equal((await moat('senders', 'remove', '@spam.test')).code, 0);
  assert.equal((await moat('senders', 'remove', '@spam.test')).code, 1);
  assert.equal((await moat('senders', 'allow', 'not an address')).code, 2);
  // an allowance never covers our own domains: refused in words, nothing added
  for (const args of [['senders', 'allow', 'boss@example.test'], ['senders', 'personal', 'allow', 'bob@example.test', '@example.test']]) {
    const own = await moat(...args, '--domain', 'example.test');
    assert.equal(own.code, 1, args.join(' '));
    assert.match(own.stderr, /covers our own domain example\.test: mail that claims to be from it is checked every time/);
  }
  assert.doesNotMatch((await moat('senders', 'list')).stdout, /example\.test/);
  // "release and allow" of a sender of ours releases it and adds nothing (it would not count), saying so
  const ours = await quarantined('ours allowed', 'boss@example.test');
  const released = await moat('quarantine', 'release', ours, '--allow-sender', '--domain', 'example.test');
  assert.equal(released.code, 0, released.stderr);
  assert.match(released.stdout, /released: it is delivered to its recipients now; boss@example\.test is in one of our own domains, which no allow list covers: not added/);
  assert.doesNotMatch((await moat('senders', 'list')).stdout, /boss@example\.test/);
});
