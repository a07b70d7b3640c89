// Issue 16, the digest: mail quarantined through the real mx listener, digests written by `moat quarantine digest`
// (the CLI's function, in process, on the data directory while the relay runs) and by the engine's own schedule (a
// relay started after the digest's time sends the day's digest), delivered by the relay to a real SMTP sink; each
// link's token verifies for its recipient and message; nothing is listed twice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Sink, reservePort, type SunkMessage } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { send } from '../helpers/smtp.ts';
import { runCli } from '../helpers/cli.ts';
import { until } from '../helpers/submission.ts';
import { digestLinks, header, mailPart } from '../helpers/digest-mail.ts';
import { quarantineCommand, type QuarantineCliContext } from '../../src-relay/cli/quarantine.ts';
import { UserLinks } from '../../src-relay/quarantine/user-links.ts';
import type { CommandIo } from '../../src-relay/cli/io.ts';

const TEST_TIMEOUT_MS = 90_000;
const DAY_MS = 24 * 3600 * 1000;
const BODY_MARKER = 'BODY-TEXT-NEVER-IN-A-DIGEST';

let sink: Sink;
let relay: TestRelay;
let dataDir: string;
let pagePort: number;
/** The relay's clock runs at real speed from a chosen local time: `at(...)` moves it there. */
let offset = 0;
const clock = () => Date.now() + offset;
const at = (time: Date) => {
  offset = time.getTime() - Date.now();
};

const overrides = (scheduled: boolean) => ({
  // a message without a Date scores 11 here: quarantined (10), not refused (15)
  filters: { enabled: true, rules: { MISSING_DATE: 11 } },
  quarantine: { digest: { enabled: scheduled, time: '08:00', weekdays: [1, 2, 3, 4, 5] }, userPage: { listen: `127.0.0.1:${pagePort}`, linkDays: 7 } },
});

before(async () => {
  dataDir = tempDir('moat-digest-it-');
  sink = await Sink.start();
  // a free port for the user page's address; nothing in this test listens there
  pagePort = await reservePort();
  // first with the schedule off and the real time, as the CLI (another process, the real clock) sees it
  relay = await startRelay(sink.port, overrides(false), { dataDir, clock });
});
after(async () => {
  await relay.stop();
  await sink.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const undated = (subject: string, to: string) =>
  `From: Jürgen <juergen@sender.test>\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@sender.test>\r\n\r\n${BODY_MARKER} cheap offer\r\n`;

async function quarantined(subject: string, to: string[]): Promise<string> {
  const info = await send(relay.port, 'juergen@sender.test', to, undated(subject, to.join(', ')));
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  assert.equal(relay.relay.queue.store.message(id)!.status, 'quarantined');
  return id;
}

function cli(args: string[], flags: QuarantineCliContext['flags'] = {}) {
  let out = '';
  let err = '';
  const io: CommandIo = { stdin: process.stdin, out: (text) => void (out += text), err: (text) => void (err += text) };
  const context: QuarantineCliContext = {
    resolve: () => ({ dataDir, configFile: join(dataDir, 'moat.json'), result: { ok: true, config: relay.relay.config } }),
    refuseConfig: () => 2,
    flags,
    actor: 'cli:test',
  };
  return quarantineCommand(args, context, io).then((code) => ({ code, out, err }));
}

const digestsFor = (address: string) => sink.messages.filter((message) => message.to.includes(address) && /held for you by the mail filter/.test(header(message.raw.toString('utf8'), 'Subject') ?? ''));

async function digestArrives(address: string, count: number): Promise<SunkMessage> {
  const deadline = Date.now() + 20_000;
  while (digestsFor(address).length < count) {
    if (Date.now() > deadline) throw new Error(`${address} got ${digestsFor(address).length} digests, not ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return digestsFor(address)[count - 1]!;
}

/** Checks a delivered digest: its subjects in order, one link each on the user page, each token bound to this recipient and message. */
async function checkDigest(message: SunkMessage, recipient: string, expected: { subject: string; id: string }[]) {
  const raw = message.raw.toString('utf8');
  assert.equal(message.from, '', 'sent with a null envelope sender, like the alert mails');
  assert.equal(header(raw, 'Subject'), `${expected.length} message${expected.length === 1 ? '' : 's'} held for you by the mail filter`);
  assert.ok(!raw.includes(BODY_MARKER), 'never a message body');
  const text = mailPart(raw, 'text/plain')!;
  assert.ok(!text.includes(BODY_MARKER));
  assert.deepEqual([...text.matchAll(/Subject: (.*)/g)].map((match) => match[1]), expected.map((item) => item.subject));
  assert.match(text, /Why: it looks like junk mail \(junk score 11\)/);
  const links = digestLinks(text);
  assert.equal(links.length, expected.length);
  const userLinks = await UserLinks.open(dataDir);
  links.forEach((link, index) => {
    // the page's route shape: http://LISTEN/q/<token>
    assert.equal(link.url, `http://127.0.0.1:${pagePort}/q/${link.token}`);
    const check = userLinks.verify(link.token, clock());
    assert.ok(check.ok, `link ${index + 1} verifies`);
    assert.equal(check.claims.recipient, recipient);
    assert.equal(check.claims.messageId, expected[index]!.id);
    assert.ok(Math.abs(check.claims.expiresAt - (clock() + 7 * DAY_MS)) < 60_000, 'expires after linkDays');
  });
}

test('digests arrive at the internal server: --to one recipient by the CLI, the rest by the schedule after a missed 08:00; nothing is listed twice', { timeout: TEST_TIMEOUT_MS }, async () => {
  const first = await quarantined('first offer', ['alice@example.test']);
  const second = await quarantined('second offer', ['alice@example.test', 'bob@example.test']);

  // without --now: what would be sent, nothing changes
  const dry = await cli(['digest']);
  assert.equal(dry.code, 0, dry.err);
  assert.match(dry.out, new RegExp(`would send 2 digest\\(s\\) with links to http://127\\.0\\.0\\.1:${pagePort}; run with --now to send:\\n  alice@example\\.test  2 message\\(s\\)\\n  bob@example\\.test  1 message\\(s\\)\\n`));
  assert.equal(digestsFor('alice@example.test').length + digestsFor('bob@example.test').length, 0);

  // --now --to bob: bob's digest, queued in the data directory and delivered by the running relay
  const bobRun = await cli(['digest'], { now: true, to: 'BOB@example.test' });
  assert.equal(bobRun.code, 0, bobRun.err);
  assert.match(bobRun.out, /queued 1 digest\(s\) with links to .*:\n {2}bob@example\.test {2}1 message\(s\) {2}\(queue id \w+\)/);
  await checkDigest(await digestArrives('bob@example.test', 1), 'bob@example.test', [{ subject: 'second offer', id: second }]);
  assert.equal(digestsFor('alice@example.test').length, 0, '--to sends only that recipient\'s');

  // the schedule is turned on (08:00 on weekdays); the relay is down at 08:00 on Monday 3 June 2024 and comes
  // back at 09:30: the day's digest goes out at start
  await relay.stop();
  at(new Date(2024, 5, 3, 9, 30));
  relay = await startRelay(sink.port, overrides(true), { dataDir, clock });
  await checkDigest(await digestArrives('alice@example.test', 1), 'alice@example.test', [
    { subject: 'first offer', id: first },
    { subject: 'second offer', id: second },
  ]);

  // a second run, by the CLI and by the timer, sends nothing new
  const again = await cli(['digest'], { now: true });
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /nothing new to list: no digest sent/);
  assert.equal(await relay.relay.digest.tick(), null, 'the day\'s digest has run');
  assert.deepEqual(relay.relay.digest.plan(), []);

  // the next weekday morning the timer lists only what was quarantined since
  const third = await quarantined('third offer', ['alice@example.test']);
  at(new Date(2024, 5, 4, 8, 0, 30));
  const sent = await relay.relay.digest.tick();
  assert.deepEqual(sent?.map((item) => [item.recipient, item.listed]), [['alice@example.test', 1]]);
  await checkDigest(await digestArrives('alice@example.test', 2), 'alice@example.test', [{ subject: 'third offer', id: third }]);
  assert.equal(digestsFor('bob@example.test').length, 1);
  // the digests went through the queue: delivered and in the history like any message (the relay records the
  // internal server's 250 a moment after the sink has the message)
  await until('the digest is recorded as delivered', () => relay.relay.queue.store.message(sent![0]!.queueId)?.status === 'done');
});

test('moat quarantine digest refuses bad input with exit 2 and a clear message', { timeout: TEST_TIMEOUT_MS }, async () => {
  const outside = await cli(['digest'], { to: 'someone@elsewhere.test' });
  assert.equal(outside.code, 2);
  assert.match(outside.err, /someone@elsewhere\.test is not an internal recipient: digests go only to addresses in example\.test/);
  const malformed = await cli(['digest'], { to: 'not-an-address' });
  assert.equal(malformed.code, 2);
  assert.match(malformed.err, /--to needs an address like alice@example\.com/);
  const stray = await cli(['digest', 'extra']);
  assert.equal(stray.code, 2);
  assert.match(stray.err, /quarantine digest takes no arguments/);
  const misplaced = await cli(['list'], { now: true });
  assert.equal(misplaced.code, 2);
  assert.match(misplaced.err, /--now and --to go with "quarantine digest"/);
  // an unknown option, through the real command line
  const unknown = await runCli(['quarantine', 'digest', '--later', '--data-dir', dataDir]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^moat: unknown option --later\n/);
});
