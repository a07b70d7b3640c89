// `moat senders personal ...`: each user's own allow and block lists from the command line, on the data directory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/temp-dir.ts';
import { runCli } from '../helpers/cli.ts';

const dataDir = tempDir('moat-personal-cli-');
writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: 2525, tls: 'none' } }));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const moat = (...args: string[]) => runCli(['senders', 'personal', ...args, '--data-dir', dataDir]);

test('moat senders personal allow, block, list (by recipient and --search) and remove; bad usage exits 2, a missing entry 1', async () => {
  const allowed = await moat('allow', 'Bob@Example.test', 'Friend@Partner.TEST');
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /^friend@partner\.test is on bob@example\.test's own allow list \(junk checks are skipped only when every recipient of a message allows the sender; virus and attachment checks always apply\)/);
  assert.equal((await moat('block', 'carol@example.test', 'annoying.test')).code, 0);

  const all = await moat('list');
  assert.match(all.stdout, /^2 entries on users' own lists\n/);
  assert.match(all.stdout, /\nbob@example\.test  allow  friend@partner\.test  added .* by cli/);
  assert.match(all.stdout, /\ncarol@example\.test  block  @annoying\.test  added /);
  assert.match((await moat('list', 'carol@example.test')).stdout, /^1 entry on users' own lists\ncarol@example\.test  block  @annoying\.test/);
  assert.match((await moat('list', '--search', 'partner')).stdout, /^1 entry on users' own lists\nbob@example\.test/);

  const removed = await moat('remove', 'carol@example.test', '@ANNOYING.test');
  assert.equal(removed.code, 0);
  assert.match(removed.stdout, /@annoying\.test removed from carol@example\.test's own lists/);
  const again = await moat('remove', 'carol@example.test', '@annoying.test');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /@annoying\.test is on neither of carol@example\.test's own lists/);

  assert.equal((await moat('block', 'carol@example.test')).code, 2);
  assert.equal((await moat('block', '@example.test', 'x@y.test')).code, 2);
  assert.equal((await moat('frobnicate')).code, 2);
  const foreign = await moat('block', 'someone@elsewhere.test', 'x@y.test');
  assert.equal(foreign.code, 1);
  assert.match(foreign.stderr, /someone@elsewhere\.test is not an address of this relay's domains \(example\.test\)/);
});
