import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { AdminAuth, SESSION_IDLE_MS, SESSION_MAX_AGE_MS } from '../../../src-relay/admin/admin-auth.ts';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const PASSWORD = 'the admin password 1';

async function withAuth(run: (auth: AdminAuth, clock: { now: number }) => Promise<void>): Promise<void> {
  const dataDir = tempDir();
  const db = openDatabase(dataDir);
  const clock = { now: 1_000_000 };
  try {
    const auth = new AdminAuth({ db, dataDir, clock: () => clock.now });
    await auth.setFirstPassword(PASSWORD);
    await run(auth, clock);
  } finally {
    db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

test('a session idle past SESSION_IDLE_MS is not alive for its live event stream either: the stream does not keep it open', async () => {
  await withAuth(async (auth, clock) => {
    const session = await auth.login(PASSWORD, '192.0.2.10');
    clock.now += SESSION_IDLE_MS;
    assert.equal(auth.alive(session), true, 'at the idle limit');
    clock.now += 1;
    assert.equal(auth.alive(session), false, 'one step past it the stream is closed');
    assert.equal(auth.session(session.id), null, 'and its API calls are refused');
  });
});

test('a request keeps a session alive for its stream; the maximum age ends it all the same', async () => {
  await withAuth(async (auth, clock) => {
    const session = await auth.login(PASSWORD, '192.0.2.11');
    for (let at = SESSION_IDLE_MS; at < SESSION_MAX_AGE_MS; at += SESSION_IDLE_MS) {
      clock.now += SESSION_IDLE_MS;
      assert.equal(auth.alive(session), true);
      assert.ok(auth.session(session.id), 'a request in time touches it');
    }
    clock.now = 1_000_000 + SESSION_MAX_AGE_MS + 1;
    assert.equal(auth.alive(session), false);
  });
});
