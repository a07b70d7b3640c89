import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

test('the database and its -wal and -shm are readable by their owner only, in a 0755 folder under umask 022', () => {
  const before = process.umask(0o022);
  try {
    const dataDir = tempDir();
    chmodSync(dataDir, 0o755);
    const db = openDatabase(dataDir);
    db.prepare("INSERT INTO state (key, value) VALUES ('k', 'v')").run();
    for (const name of ['moat.db', 'moat.db-wal', 'moat.db-shm']) assert.equal(mode(join(dataDir, name)), '600', name);
    db.close();

    // one an earlier Moat left world-readable is closed up as it opens, with the -wal and -shm a kill left beside it
    const older = tempDir();
    const left = openDatabase(older);
    left.prepare("INSERT INTO state (key, value) VALUES ('k', 'v')").run();
    const kept = ['moat.db', 'moat.db-wal', 'moat.db-shm'].map((name) => join(older, name));
    for (const path of kept) writeFileSync(`${path}.copy`, readFileSync(path));
    left.close();
    for (const path of kept) {
      renameSync(`${path}.copy`, path);
      chmodSync(path, 0o644);
    }
    // SQLite reuses a -wal it finds (it keeps its mode): while the relay runs, all three are owner-only
    const reopened = openDatabase(older);
    assert.equal((reopened.prepare("SELECT value FROM state WHERE key = 'k'").get() as { value: string }).value, 'v', 'the kept log was read');
    for (const path of kept) assert.equal(mode(path), '600', path);
    reopened.close();
  } finally {
    process.umask(before);
  }
});
