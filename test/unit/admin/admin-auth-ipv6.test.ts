import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { AdminAuth, LOGIN_FAILURES_PER_IP } from '../../../src-relay/admin/admin-auth.ts';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

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

test("the admin's own address is counted by itself: guesses from elsewhere in its /64 do not lock it out; the right password forgives an unfamiliar /64's failures", async () => {
  const dataDir = tempDir();
  const db = openDatabase(dataDir);
  try {
    const auth = new AdminAuth({ db, dataDir, clock: () => 1_000_000 });
    await auth.setFirstPassword('the admin password 1');
    await auth.login('the admin password 1', '2001:db8:5:5::10');
    const outcome = (password: string, from: string) => auth.login(password, from).then(() => 'ok', (error: Error & { code?: string }) => error.code ?? error.message);
    for (let i = 0; i < LOGIN_FAILURES_PER_IP; i++) assert.equal(await outcome('guess', `2001:db8:5:5::${i + 100}`), 'WRONG_PASSWORD');
    assert.equal(await outcome('guess', '2001:db8:5:5::200'), 'LOGIN_RATE_LIMITED', 'the /64 has had its guesses');
    assert.equal(await outcome('the admin password 1', '2001:db8:5:5::10'), 'ok', "the admin's own address is not locked");
    // an unfamiliar /64: four wrong, the right one, then its count starts over
    const results = [];
    for (const password of ['a', 'b', 'c', 'd', 'the admin password 1', 'e', 'f']) results.push(await outcome(password, `2001:db8:6:6::${results.length + 1}`));
    assert.deepEqual(results, ['WRONG_PASSWORD', 'WRONG_PASSWORD', 'WRONG_PASSWORD', 'WRONG_PASSWORD', 'ok', 'WRONG_PASSWORD', 'WRONG_PASSWORD']);
  } finally {
    db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
