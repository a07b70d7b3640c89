import { CLI_ENV } from '../helpers/cli.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sink } from '../helpers/sink.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { PASSWORD, moat, officeMessage, submit, withAccounts } from '../helpers/submission.ts';
import { usersCommand } from '../../src-relay/cli/users.ts';
import { dkimCommand } from '../../src-relay/cli/dkim.ts';

/** Runs a users or dkim command in-process (the same code the CLI runs), with `input` as standard input. */
async function run(command: 'users' | 'dkim', dir: string, args: string[], flags: { sender?: string[]; selector?: string } = {}, input = '') {
  let stdout = '';
  let stderr = '';
  const io = { stdin: Readable.from([Buffer.from(input)]), out: (text: string) => void (stdout += text), err: (text: string) => void (stderr += text) };
  const code = command === 'users' ? await usersCommand(dir, args, flags, io) : await dkimCommand(dir, args, flags, io);
  return { code, stdout, stderr };
}

test('moat users add reads the password from standard input, never from an argument', async () => {
  const dir = tempDir();
  try {
    const added = await moat(['users', 'add', 'Alice', '--sender', 'alice@example.test', '--sender', '@Sales.Example.Test', '--data-dir', dir], `${PASSWORD}\n`);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /user alice added; may send as alice@example\.test, @sales\.example\.test/);
    const stored = withAccounts(dir, (accounts) => accounts.get('alice'))!;
    assert.match(stored.passwordHash, /^scrypt\$32768\$8\$1\$/);
    assert.ok(!readFileSync(join(dir, 'moat.db')).includes(Buffer.from(PASSWORD)), 'the password is nowhere in the database');
    const argv = await moat(['users', 'add', 'carol@example.test', '--password', PASSWORD, '--data-dir', dir]);
    assert.equal(argv.code, 2, 'there is no way to give a password as an argument');
    assert.equal(withAccounts(dir, (accounts) => accounts.get('carol@example.test')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("moat users notes a sender domain that is not the relay's (moat.json's domains), naming the one likely meant; the account is added all the same", async () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir, 'moat.json'), JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1' } }));
    const added = await moat(['users', 'add', 'dora', '--sender', 'dora@exmaple.test', '--sender', 'dora@example.test', '--data-dir', dir], `${PASSWORD}\n`);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, "user dora added; may send as dora@exmaple.test, dora@example.test\nnote: exmaple.test is not one of the relay's domains (did you mean example.test?): allowed, but check the spelling\n");
    assert.deepEqual(withAccounts(dir, (accounts) => accounts.get('dora'))!.senders, ['dora@exmaple.test', 'dora@example.test']);
    const fixed = await moat(['users', 'senders', 'dora', '--sender', 'dora@example.test', '--data-dir', dir]);
    assert.equal(fixed.stdout, 'dora may now send as dora@example.test\n', 'nothing to note');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('moat users: senders are checked, a name that is an address sends as itself, list, passwd, remove', async () => {
  const dir = tempDir();
  try {
    assert.equal((await run('users', dir, ['add', 'alice'], { sender: ['alice@example.test', '@Sales.Example.Test'] }, `${PASSWORD}\n`)).code, 0);
    const byAddress = await run('users', dir, ['add', 'bob@example.test'], {}, 'another long password\n');
    assert.equal(byAddress.code, 0, byAddress.stderr);
    assert.match(byAddress.stdout, /may send as bob@example\.test/);

    const noSender = await run('users', dir, ['add', 'carol'], {}, `${PASSWORD}\n`);
    assert.equal(noSender.code, 2);
    assert.match(noSender.stderr, /--sender/);
    const short = await run('users', dir, ['add', 'carol@example.test'], {}, 'short\n');
    assert.equal(short.code, 1);
    assert.match(short.stderr, /at least 10 characters/);
    const empty = await run('users', dir, ['add', 'carol@example.test'], {}, '');
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /no password on standard input/);
    const badName = await run('users', dir, ['add', '10.0.0.1'], { sender: ['a@example.test'] }, `${PASSWORD}\n`);
    assert.equal(badName.code, 2, 'a name may not look like a client address');
    const twice = await run('users', dir, ['add', 'alice'], { sender: ['alice@example.test'] }, `${PASSWORD}\n`);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /already exists/);

    const listed = await run('users', dir, ['list']);
    assert.match(listed.stdout, /^alice\n  status: ok\n  may send as: alice@example\.test, @sales\.example\.test\n  last login: never\n/m);
    assert.match(listed.stdout, /^bob@example\.test\n/m);

    assert.equal((await run('users', dir, ['senders', 'alice'], { sender: ['a.lice@example.test'] })).code, 0);
    assert.deepEqual(withAccounts(dir, (accounts) => accounts.get('alice'))!.senders, ['a.lice@example.test']);
    assert.match((await run('users', dir, ['senders', 'alice'])).stdout, /alice may send as a\.lice@example\.test/);
    assert.equal((await run('users', dir, ['senders', 'alice'], { sender: ['not an address'] })).code, 2);

    const before = withAccounts(dir, (accounts) => accounts.get('alice'))!.passwordHash;
    const passwd = await run('users', dir, ['passwd', 'alice'], {}, 'a brand new password\r\n');
    assert.equal(passwd.code, 0, passwd.stderr);
    assert.notEqual(withAccounts(dir, (accounts) => accounts.get('alice'))!.passwordHash, before);

    assert.equal((await run('users', dir, ['remove', 'bob@example.test'])).code, 0);
    const gone = await run('users', dir, ['remove', 'bob@example.test']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no user bob@example\.test/);
    assert.equal((await run('users', dir, ['frobnicate', 'alice'])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('moat dkim: generate, list, show and remove; the key file is readable by its owner only', async () => {
  const dir = tempDir();
  try {
    assert.match((await run('dkim', dir, ['list'])).stdout, /no DKIM keys/);
    const made = await run('dkim', dir, ['generate', 'example.test']);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /selector moat-\d{6}/);
    assert.equal(statSync(join(dir, 'dkim', 'example.test.json')).mode & 0o077, 0);
    assert.match((await run('dkim', dir, ['list'])).stdout, /^example\.test {2}selector moat-\d{6} {2}made .* record moat-\d{6}\._domainkey\.example\.test$/m);
    assert.match((await run('dkim', dir, ['show', 'example.test'])).stdout, /name: {2}moat-\d{6}\._domainkey\.example\.test\n {2}value: v=DKIM1; k=rsa; p=/);
    assert.equal((await run('dkim', dir, ['generate', 'not a domain'])).code, 2);
    assert.equal((await run('dkim', dir, ['generate', 'other.test'], { selector: 'bad selector!' })).code, 1);
    assert.equal((await run('dkim', dir, ['remove', 'example.test'])).code, 0);
    assert.equal((await run('dkim', dir, ['show', 'example.test'])).code, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve with --submission-listen and --submissions-listen prints both addresses in its ready line and takes mail on them', async () => {
  const dir = tempDir();
  const internal = await Sink.start();
  const added = await moat(['users', 'add', 'alice@example.test', '--data-dir', dir], `${PASSWORD}\n`);
  assert.equal(added.code, 0, added.stderr);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src-relay/moat.ts', 'serve', '--data-dir', dir, '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${internal.port}`,
      '--submission-listen', '127.0.0.1:0', '--submissions-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
    { cwd: new URL('../../', import.meta.url), env: CLI_ENV, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 60_000;
    while (!/moat ready/.test(stdout)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ready line\n${stdout}\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const ready = /^moat ready mx=127\.0\.0\.1:(\d+) submission=127\.0\.0\.1:(\d+) submissions=127\.0\.0\.1:(\d+) /m.exec(stdout);
    assert.ok(ready, stdout);
    await submit(Number(ready[2]), { user: 'alice@example.test' }, 'alice@example.test', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test', 'on 587'));
    await submit(Number(ready[3]), { user: 'alice@example.test', secure: true }, 'alice@example.test', ['bob@example.test'], officeMessage('alice@example.test', 'bob@example.test', 'on 465'));
    await internal.waitFor(2);
    assert.match(stderr, /AUTH_OK user=alice@example\.test ip=127\.0\.0\.1 listener=submission/);
    assert.doesNotMatch(stderr, new RegExp(PASSWORD), 'the password is never logged');
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    await internal.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
