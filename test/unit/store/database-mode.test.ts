import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
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

    // one an earlier Moat left world-readable is closed up as it opens
    const older = tempDir();
    writeFileSync(join(older, 'moat.db'), '');
    chmodSync(join(older, 'moat.db'), 0o644);
    openDatabase(older).close();
    assert.equal(mode(join(older, 'moat.db')), '600');
  } finally {
    process.umask(before);
  }
});
