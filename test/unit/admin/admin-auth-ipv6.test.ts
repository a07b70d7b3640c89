import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { AdminAuth, LOGIN_FAILURES_PER_IP } from '../../../src-relay/admin/admin-auth.ts';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { tempDir } from '../../helpers/relay.ts';

test(`admin log-in guesses from new addresses of one IPv6 /64 share its ${LOGIN_FAILURES_PER_IP} guesses, in parallel too; another /64 has its own`, async () => {
  const dataDir = tempDir();
  const db = openDatabase(dataDir);
  try {
    let checks = 0;
    const auth = new AdminAuth({ db, dataDir, clock: () => 1_000_000, verify: async () => (checks++, false) });
    const guesses = await Promise.all(
      Array.from({ length: LOGIN_FAILURES_PER_IP + 1 }, (_, i) => auth.login(`guess ${i}`, `2001:db8:9:9::${i + 1}`).then(() => 'ok', (error: Error & { code?: string }) => error.code ?? error.message)),
    );
    assert.equal(checks, LOGIN_FAILURES_PER_IP, 'one password check per guess the /64 may make');
    assert.deepEqual(guesses.filter((code) => code === 'LOGIN_RATE_LIMITED').length, 1);
    const other = await auth.login('guess', '2001:db8:9:a::1').then(() => 'ok', (error: Error & { code?: string }) => error.code ?? error.message);
    assert.notEqual(other, 'LOGIN_RATE_LIMITED', 'the next /64 is another client');
  } finally {
    db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
