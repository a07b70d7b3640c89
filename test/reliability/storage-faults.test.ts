// Storage that fails or loses rows under the relay (an outside review, with a 20 MB tmpfs filled to the last byte): a delivery
// whose outcome cannot be written must not be made again and again, and a bounce notice that cannot be written must
// neither stop the process nor lose the outcome of the recipients delivered beside it. The faults are real: another
// SQLite connection holding the write lock past the relay's busy_timeout, and writes to /dev/full (ENOSPC).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { SpoolWriter } from '../../src-relay/store/spool.ts';
import { Sink, reservePort } from '../helpers/sink.ts';
import { fixtureResolver, startRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { newQueueId } from '../../src-relay/util/ids.ts';
import { message, send } from '../helpers/smtp.ts';
import { createLineLogger, type Logger } from '../../src-relay/log/logger.ts';

/** The relay's log lines in memory; `lines(EVENT)` those of one event. */
function captureLogger(): { logger: Logger; lines: (event: string) => string[] } {
  const all: string[] = [];
  return { logger: createLineLogger((line) => all.push(line)), lines: (event) => all.filter((line) => line.split(' ')[2] === event) };
}

/** A relay whose internal server answers 451 until `accept()`, its log lines in memory. */
async function deferringRelay() {
  let accepting = false;
  const sink = await Sink.start({ onRecipient: () => (accepting ? undefined : { code: 451, text: '4.3.0 not yet' }) });
  const logs = captureLogger();
  const relay = await startRelay(sink.port, {}, { logger: logs.logger });
  return { sink, logs, relay, accept: () => (accepting = true) };
}

/** How many recipients have an attempt on disk (an outcome is written up to OUTCOME_BATCH_MS after its log line). */
function attemptsWritten(dataDir: string): number {
  const reader = new Database(join(dataDir, 'moat.db'), { readonly: true });
  try {
    return (reader.prepare('SELECT COUNT(*) AS n FROM recipients WHERE attempts >= 1').get() as { n: number }).n;
  } finally {
    reader.close();
  }
}

async function until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !done(); await sleep(50)) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
  }
}

test('outcomes the database refuses (its write lock held past busy_timeout) are written later: each message reaches the internal server once, and no delivery starts meanwhile', async () => {
  const { sink, logs, relay, accept } = await deferringRelay();
  try {
    for (let i = 0; i < 3; i++) await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`held outcome ${i}`));
    await until('three deferrals', () => logs.lines('DEFERRED').length >= 3 && attemptsWritten(relay.dataDir) >= 3, 10_000);

    const other = new Database(join(relay.dataDir, 'moat.db'));
    other.exec('BEGIN IMMEDIATE');
    accept();
    try {
      await until('the first refused write', () => logs.lines('OUTCOME_WRITE_FAILED').length >= 1, 20_000);
      // while the lock is held every write fails: what was delivered is not delivered again, nothing new starts (a
      // delivery already under way when the first write failed may still end: counted after a moment for it)
      await sleep(1_000);
      const delivered = sink.messages.length;
      assert.ok(delivered >= 1 && delivered <= 3, `${delivered} delivered by a second after the first write failed`);
      await sleep(3_000);
      assert.equal(sink.messages.length, delivered, 'no delivery while outcomes cannot be written');
      const spoolFiles = () => readdirSync(join(relay.dataDir, 'spool', 'msg')).sort();
      const before = spoolFiles();
      await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('arrived meanwhile')).then(
        () => assert.fail('a message cannot be committed while the database is locked'),
        (error: Error) => assert.match(error.message, /\b451 4\.3\.0\b/),
      );
      // never acknowledged: its file goes at once (left for the next start, it read as a row the database lost)
      await until('the refused message\'s spool file is removed', () => spoolFiles().length === before.length, 5_000);
      assert.deepEqual(spoolFiles(), before);
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    await until('the outcomes written', () => logs.lines('OUTCOME_WRITE_RECOVERED').length === 1, 40_000);
    await until('all three delivered', () => sink.messages.length >= 3, 10_000);
    await sleep(1_500);
    const subjects = sink.messages.map((sunk) => /\r\nSubject: ([^\r]*)/.exec(sunk.raw.toString('latin1'))?.[1]).sort();
    assert.deepEqual(subjects, ['held outcome 0', 'held outcome 1', 'held outcome 2'], 'one copy of each');
    for (const line of logs.lines('OUTCOME_WRITE_FAILED')) assert.match(line, / retryInMs=\d+/);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('a bounce notice that cannot be written (ENOSPC) stops nothing: the recipient delivered beside it is delivered once, the refused one is tried again and bounced once the notice can be written', async () => {
  const sink = await Sink.start({ onRecipient: (address) => (address === 'gone@example.test' ? { code: 550, text: '5.1.1 no such user' } : undefined) });
  const logs = captureLogger();
  // sender.test's SPF record lets the test client send for it: only a sender vouched for is told (queue/dsn-policy.ts)
  const resolver = fixtureResolver({}, {}, { 'sender.test': ['v=spf1 ip4:127.0.0.1 -all'] });
  const relay = await startRelay(sink.port, { filters: { enabled: true } }, { logger: logs.logger, resolver });
  const spool = relay.relay.queue.spool;
  const create = spool.create.bind(spool);
  let full = 0;
  // the first file after the inbound message (its bounce notice) goes to a disk that is full
  let calls = 0;
  spool.create = async (id: string) => {
    if (++calls !== 2) return create(id);
    full++;
    return new SpoolWriter(openSync('/dev/full', 'w'), join(relay.dataDir, 'spool-full.tmp'), spool.path(id));
  };
  try {
    await send(relay.port, 'alice@sender.test', ['bob@example.test', 'gone@example.test'], message('bounce on a full disk'));
    await until('the notice refused', () => logs.lines('DSN_WRITE_FAILED').length === 1, 10_000);
    assert.equal(full, 1);
    await until('the bounce after the retry', () => logs.lines('DSN_QUEUED').length === 1, 15_000);
    await sleep(1_500);
    const copies = sink.messages.filter((sunk) => sunk.to.includes('bob@example.test'));
    assert.equal(copies.length, 1, 'bob got one copy');
    assert.match(logs.lines('DSN_WRITE_FAILED')[0]!, /ENOSPC/);
    const id = / id=(\S+)/.exec(logs.lines('DSN_QUEUED')[0]!)![1]!;
    const history = relay.relay.queue.store.history(id).map((entry) => `${entry.action} ${entry.detail ?? ''}`);
    assert.ok(history.some((line) => /^DEFERRED .*bounce notice could not be written \(ENOSPC/.test(line)), history.join('\n'));
    assert.ok(history.some((line) => /^BOUNCED /.test(line)), history.join('\n'));
    assert.equal(history.filter((line) => /^DELIVERED /.test(line)).length, 1, history.join('\n'));
  } finally {
    spool.create = create;
    await relay.stop();
    await sink.stop();
  }
});

test('spool files without a row are set aside in spool/orphans, never deleted at start: a lost moat.db takes no acknowledged message with it; past 64 files the log line is an error; 30 days later they go', async () => {
  const sink = await Sink.start({ onRecipient: () => ({ code: 451, text: '4.3.0 not yet' }) });
  const dataDir = tempDir();
  try {
    const first = await startRelay(sink.port, {}, { dataDir });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(/queued as (\S+)/.exec((await send(first.port, 'alice@sender.test', ['bob@example.test'], message(`kept ${i}`))).response)![1]!);
    await first.stop();
    for (const name of ['moat.db', 'moat.db-wal', 'moat.db-shm']) rmSync(join(dataDir, name), { force: true });

    const logs = captureLogger();
    const second = await startRelay(sink.port, {}, { dataDir, logger: logs.logger });
    await second.stop();
    const orphans = join(dataDir, 'spool', 'orphans');
    assert.deepEqual(readdirSync(orphans).sort(), [...ids].sort(), 'the three acknowledged messages are kept');
    assert.match(logs.lines('SPOOL_ORPHANS_SET_ASIDE')[0] ?? '', /^\S+ warn SPOOL_ORPHANS_SET_ASIDE files=3 /);

    // one step past what a crash alone explains: 65 files (with the 3 already set aside, which stay where they are)
    const msg = join(dataDir, 'spool', 'msg');
    for (let i = 0; i < 64; i++) writeFileSync(join(msg, newQueueId()), 'Subject: no row\r\n\r\nbody\r\n');
    const atLimit = captureLogger();
    await (await startRelay(sink.port, {}, { dataDir, logger: atLimit.logger })).stop();
    assert.match(atLimit.lines('SPOOL_ORPHANS_SET_ASIDE')[0] ?? '', / warn SPOOL_ORPHANS_SET_ASIDE files=64 /);
    for (let i = 0; i < 65; i++) writeFileSync(join(msg, newQueueId()), 'Subject: no row\r\n\r\nbody\r\n');
    const past = captureLogger();
    await (await startRelay(sink.port, {}, { dataDir, logger: past.logger })).stop();
    assert.match(past.lines('SPOOL_ORPHANS_SET_ASIDE')[0] ?? '', / error SPOOL_ORPHANS_SET_ASIDE files=65 /);
    assert.equal(readdirSync(orphans).length, 3 + 64 + 65);

    // something that cannot be removed there (a folder an admin made) stays, and does not stop the start
    mkdirSync(join(orphans, 'kept-by-hand'));
    const later = captureLogger();
    await (await startRelay(sink.port, {}, { dataDir, logger: later.logger, clock: () => Date.now() + 30 * 24 * 3600_000 + 60_000 })).stop();
    assert.deepEqual(readdirSync(orphans), ['kept-by-hand'], 'set aside more than 30 days ago: removed');
    assert.match(later.lines('SPOOL_CLEANED')[0] ?? '', / files=132\b/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await sink.stop();
  }
});

test('a spool file removed or cut while the relay runs: its message is set aside as damaged at its next try, never delivered torn nor retried in a loop', async () => {
  const { sink, logs, relay, accept } = await deferringRelay();
  try {
    const ids: string[] = [];
    for (const subject of ['removed', 'cut', 'whole']) {
      ids.push(/queued as (\S+)/.exec((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(subject))).response)![1]!);
    }
    await until('three deferrals', () => logs.lines('DEFERRED').length >= 3, 10_000);
    const [removed, cut, whole] = ids as [string, string, string];
    const spool = relay.relay.queue.spool;
    rmSync(spool.path(removed));
    const kept = readFileSync(spool.path(cut));
    writeFileSync(spool.path(cut), kept.subarray(0, 100));
    accept();
    await until('the whole one delivered', () => sink.messages.length === 1, 15_000);
    await until('both raised', () => logs.lines('SPOOL_DAMAGED').length === 2, 5_000);
    await sleep(1_500);
    assert.equal(sink.messages.length, 1);
    assert.match(sink.messages[0]!.raw.toString('latin1'), /\r\nSubject: whole\r\n/);
    assert.equal(logs.lines('DELIVERY_CRASHED').length, 0, 'no delivery attempt crashed on the missing file');
    assert.equal(logs.lines('SPOOL_DAMAGED').length, 2, 'each raised once');
    const store = relay.relay.queue.store;
    assert.deepEqual([removed, cut, whole].map((id) => store.message(id)?.status), ['damaged', 'damaged', 'done']);
    assert.match(store.history(removed).at(-1)?.detail ?? '', /^spool file is missing$/);
    assert.match(store.history(cut).at(-1)?.detail ?? '', new RegExp(`^spool file is 100 bytes, expected ${kept.length}$`));
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('a start that fails after delivery has started (a write refused as on a full disk) stops all it started: nothing runs on a closed database', async () => {
  const sink = await Sink.start();
  const dataDir = tempDir();
  try {
    await (await startRelay(sink.port, {}, { dataDir })).stop();
    // the monitor's first write at start, after the listeners and the delivery pump are up, is refused
    const db = new Database(join(dataDir, 'moat.db'));
    db.exec(`CREATE TRIGGER refuse_mx_address BEFORE INSERT ON state WHEN NEW.key = 'served_mx_address' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    db.close();
    const uncaught: Error[] = [];
    const onUncaught = (error: Error) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      await assert.rejects(startRelay(sink.port, {}, { dataDir }), /database or disk is full/);
      await sleep(1_500);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    assert.deepEqual(uncaught.map((error) => error.message), [], 'nothing runs on after the database closed');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await sink.stop();
  }
});

test('the internal server back while the database refuses writes: the message that goes first is delivered once, and its backlog retried only after its outcome is written', async () => {
  const port = await reservePort();
  const logs = captureLogger();
  const relay = await startRelay(port, {}, { logger: logs.logger });
  let sink: Sink | null = null;
  try {
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('once please'));
    await until('the route down', () => logs.lines('ROUTE_DOWN').length > 0 && attemptsWritten(relay.dataDir) >= 1, 10_000);
    const other = new Database(join(relay.dataDir, 'moat.db'));
    other.exec('BEGIN IMMEDIATE');
    sink = await Sink.start({ port });
    try {
      await until('the outcome refused', () => logs.lines('OUTCOME_WRITE_FAILED').length > 0, 30_000);
      await sleep(1_000);
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    await until('the outcome written', () => logs.lines('OUTCOME_WRITE_RECOVERED').length > 0, 40_000);
    await sleep(1_500);
    assert.equal(sink.messages.length, 1, 'one copy');
    assert.equal(logs.lines('DELIVERY_CRASHED').length, 0);
    // the route's news (and the backlog's retry it writes) waits for the outcome, so the refusal never reaches it
    assert.equal(logs.lines('ROUTE_STATE_FAILED').length, 0);
    assert.equal(logs.lines('ROUTE_UP').length, 1);
  } finally {
    await relay.stop();
    await sink?.stop();
  }
});

test('a scheduled checklist run whose results the database refuses is logged, and the relay goes on taking and delivering mail', async () => {
  const sink = await Sink.start();
  const logs = captureLogger();
  const relay = await startRelay(sink.port, { checklist: { intervalHours: 1 } }, { logger: logs.logger, monitor: { checklistFirstRunDelayMs: 500 } });
  const other = new Database(join(relay.dataDir, 'moat.db'));
  try {
    // the write lock held past busy_timeout: the run's results cannot be written (as on a full disk)
    other.exec('BEGIN IMMEDIATE');
    try {
      await until('the run refused', () => logs.lines('CHECKLIST_RUN_FAILED').length > 0, 60_000);
    } finally {
      other.exec('COMMIT');
    }
    assert.match((await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('after the failed run'))).response, /^250 /);
    await sink.waitFor(1);
  } finally {
    other.close();
    await relay.stop();
    await sink.stop();
  }
});
