// Configuration → Backups' passphrase file over the real admin API: checked at its field like a certificate path
// (missing, a folder, a pipe, empty, unreadable), refused by Apply, and a file that vanishes after Apply makes Back
// up now fail in plain words, not with a raw ENOENT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHost } from '../helpers/admin.ts';
import { Sink } from '../helpers/sink.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const TEST_TIMEOUT_MS = 60_000;

test('a backup passphrase file is checked at its field, Apply refuses a bad one, and Back up now says plainly when it vanished', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const world = await startHost();
  const dir = tempDir('moat-passphrase-');
  try {
    const admin = await world.admin();
    const good = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } };
    const withFile = (passphraseFile: string) => ({ ...good, backup: { passphraseFile } });
    const fieldProblem = async (passphraseFile: string) =>
      (await admin.call('config.validate', { config: withFile(passphraseFile), complete: true })).problems.filter((problem) => problem.path === 'backup.passphraseFile').map((problem) => problem.message);

    const absent = join(dir, 'absent');
    assert.deepEqual(await fieldProblem(absent), [`${absent} does not exist`]);
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    assert.deepEqual(await fieldProblem(folder), [`${folder} is a folder, not a file`]);
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    assert.deepEqual(await fieldProblem(empty), [`${empty} is empty: write the passphrase in it (one line)`]);
    const fifo = join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo (coreutils) makes the pipe');
    assert.deepEqual(await fieldProblem(fifo), [`${fifo} is not a regular file (a device, pipe or socket): put the passphrase in a plain file`], 'a pipe is refused, not read (which would hang)');
    const locked = join(dir, 'locked');
    writeFileSync(locked, 'secret words\n');
    chmodSync(locked, 0o000);
    // the check is the relay's own read: root reads a file of mode 000 anyway, any other user is told
    const unreadable = process.getuid?.() === 0 ? [] : [`${locked} cannot be read by Moat (permission denied): let the user Moat runs as read it`];
    assert.deepEqual(await fieldProblem(locked), unreadable);

    await assert.rejects(admin.call('config.apply', { config: withFile(absent) }), /backup\.passphraseFile.*does not exist/);

    const passphrase = join(dir, 'pass');
    writeFileSync(passphrase, 'correct horse battery staple\n');
    assert.deepEqual(await fieldProblem(passphrase), []);
    assert.equal((await admin.call('config.apply', { config: withFile(passphrase) })).state, 'running');
    assert.equal((await admin.call('backups.list', {})).encrypted, true);
    const made = await admin.call('backups.create', {});
    assert.ok(made.encrypted);

    // the file is removed after Apply: Back up now names it and says what to do, in words
    rmSync(passphrase);
    const failed = await admin.raw('backups.create', {});
    assert.equal(failed.body.ok, false);
    assert.equal(failed.body.code, 'BACKUP_FAILED');
    assert.equal(
      failed.body.message,
      `the backup could not be written: the passphrase file cannot be used: ${passphrase} does not exist. Backups are encrypted with it: put it back, or choose another file under Configuration → Backups → Scheduled backups (Passphrase file)`,
    );
    assert.doesNotMatch(failed.body.message!, /ENOENT/);
    assert.equal(readdirSync(join(world.dataDir, 'backups')).filter((name) => name.endsWith('.tmp')).length, 0, 'no half-written backup left');
  } finally {
    await world.stop();
    await sink.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
