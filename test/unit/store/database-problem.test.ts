import { test } from 'node:test';
import assert from 'node:assert/strict';
import { databaseProblem } from '../../../src-relay/store/db.ts';

const sqlite = (code: string, message: string) => Object.assign(new Error(message), { code });

test("the store's errors in the admin's words: a full or failing disk names the disk, a damaged file the backup", () => {
  assert.equal(
    databaseProblem(sqlite('SQLITE_IOERR_WRITE', 'disk I/O error')),
    'the data directory\'s database: disk I/O error (is its disk full? "df -h" on the data directory shows the free space; else the disk may be failing)',
  );
  assert.match(databaseProblem(sqlite('SQLITE_FULL', 'database or disk is full'))!, /database or disk is full \(is its disk full\?/);
  assert.match(databaseProblem(sqlite('SQLITE_NOTADB', 'file is not a database'))!, /restore the last backup with "moat backup restore"\)$/);
  assert.equal(databaseProblem(sqlite('SQLITE_BUSY', 'database is locked')), "the data directory's database: database is locked");
  // not the store's: the caller prints it as it is
  assert.equal(databaseProblem(new Error('boom')), null);
  assert.equal(databaseProblem(Object.assign(new Error('no such file'), { code: 'ENOENT' })), null);
});
