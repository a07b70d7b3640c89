import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Sink, reservePort } from '../helpers/sink.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { RawSmtp, message, send } from '../helpers/smtp.ts';
import { ServeProcess, eventually, runCli, snapshot } from '../helpers/cli.ts';
import { AdminClient } from '../helpers/admin.ts';
import { openDatabase } from '../../src-relay/store/db.ts';

const QUEUE_ID = /queued as ([0-9A-Z]{22})/;
/** Each test spawns the CLI a few dozen times at most; a hang fails it instead of the whole run. */
const TEST_TIMEOUT_MS = 300_000;
const dirs: string[] = [];
const serves: ServeProcess[] = [];
const sinks: Sink[] = [];

/** A fresh temp folder per test (habit 18); removed at the end with everything in it. */
function world(): string {
  const dir = tempDir('moat-cli-');
  dirs.push(dir);
  return dir;
}

/** The admin listener's default port is fixed; parallel test files give each relay its own. */
async function serve(args: string[]): Promise<ServeProcess> {
  const started = await ServeProcess.start([...args, '--admin-listen', '127.0.0.1:0']);
  serves.push(started);
  return started;
}

async function startSink(port?: number): Promise<Sink> {
  const sink = await Sink.start({ port });
  sinks.push(sink);
  return sink;
}

// Also what a failed or timed-out test left behind: a listening sink or a live relay would keep this process from ending.
after(async () => {
  for (const serve of serves) if (serve.running) await serve.stop('SIGKILL');
  await Promise.all(sinks.map((sink) => sink.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Resolves with the first reply of a new connection, or the connect error's code when nothing listens. */
function greetingOrRefusal(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('data', (chunk) => {
      resolve(chunk.toString('latin1'));
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.once('close', () => resolve('closed'));
  });
}

test('the README form starts, says ready with its mx address, relays a message and stops with 0 on SIGTERM', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await startSink();
  try {
    const dataDir = join(world(), 'moat');
    const relay = await serve(['--data-dir', dataDir, '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${sink.port}`]);
    const ready = relay.stdout.split('\n')[0]!;
    assert.match(ready, /\bready\b/);
    assert.match(ready, new RegExp(`mx=127\\.0\\.0\\.1:${relay.port}\\b`));
    assert.notEqual(relay.port, 0);
    assert.ok(existsSync(join(dataDir, 'moat.db')), 'the data dir is created on first start');

    const info = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('readme form'));
    assert.match(info.response, QUEUE_ID);
    await sink.waitFor(1);
    assert.match(sink.messages[0]!.raw.toString('utf8'), /\r\nSubject: readme form\r\n/);

    assert.deepEqual(await relay.stop('SIGTERM'), { code: 0, signal: null });
    assert.match(relay.stderr, /STOPPING signal=SIGTERM/);
  } finally {
    await sink.stop();
  }
});

test('bad flags or config exit 2, list every problem with its key path, and leave the data dir alone', { timeout: TEST_TIMEOUT_MS }, async () => {
  const root = world();
  // An existing data dir with a database and spool in it, and one that does not exist yet.
  const existing = join(root, 'existing');
  const broken = join(root, 'broken');
  for (const dir of [existing, broken]) {
    mkdirSync(dir, { recursive: true });
    openDatabase(dir).close();
    assert.equal((await runCli(['queue', 'list', '--data-dir', dir])).code, 0);
  }
  writeFileSync(join(broken, 'moat.json'), '{"domains": ["example.test",]}');
  const missing = join(root, 'missing');
  const twoProblems = join(root, 'two-problems.json');
  writeFileSync(twoProblems, JSON.stringify({ mx: { maxRecipients: 'many' }, queue: { lifetimeHours: -1 } }));
  const good = ['--domain', 'example.test', '--internal', '127.0.0.1:2599', '--mx-listen', '127.0.0.1:0'];

  // Every case runs against a data dir that does not exist; some against one with a database in it too.
  const cases: { name: string; args: string[]; problems: RegExp[]; dataDirs?: string[] }[] = [
    { name: 'unknown flag', args: [...good, '--bogus'], problems: [/unknown option --bogus$/m], dataDirs: [missing, existing] },
    {
      name: 'malformed --internal',
      args: ['--domain', 'example.test', '--internal', 'nonsense'],
      problems: [/^ {2}internal \(--internal\): expected HOST:PORT, got "nonsense"$/m],
    },
    {
      name: 'a config file with two wrong values',
      args: [...good, '--config', twoProblems],
      dataDirs: [missing, existing],
      problems: [/^ {2}mx\.maxRecipients: expected a number$/m, /^ {2}queue\.lifetimeHours: must be at least 0\.01$/m],
    },
    {
      name: 'invalid JSON in the default config file',
      args: good,
      dataDirs: [broken],
      problems: [/^ {2}\(file\): .*moat\.json is not valid JSON/m],
    },
    {
      name: 'a domain that is not one',
      args: ['--domain', 'not a domain!', '--internal', '127.0.0.1:2599'],
      problems: [/^ {2}domains\.0: "not a domain!" is not a valid domain name: it has a space in it$/m],
    },
    {
      name: 'a malformed flag and a wrong value in the file, together',
      args: ['--internal', 'nonsense', '--config', twoProblems],
      problems: [/^ {2}internal \(--internal\): expected HOST:PORT/m, /^ {2}mx\.maxRecipients: /m],
    },
    {
      name: 'a malformed flag and a wrong value, together',
      args: ['--domain', 'example.test', '--internal', 'nonsense', '--mx-listen', '127.0.0.1:99999'],
      problems: [/^ {2}internal \(--internal\): expected HOST:PORT/m, /^ {2}mx\.listen: port must be 0\.\.65535$/m],
    },
  ];
  for (const { name, args, problems, dataDirs = [missing] } of cases) {
    for (const dir of dataDirs) {
      const before = snapshot(dir);
      const result = await runCli(['serve', '--data-dir', dir, ...args]);
      assert.equal(result.code, 2, `${name}: exit code (stderr: ${result.stderr})`);
      assert.equal(result.stdout.includes('ready'), false, `${name}: nothing started`);
      for (const problem of problems) assert.match(result.stderr, problem, `${name}: lists ${problem}`);
      assert.deepEqual(snapshot(dir), before, `${name}: ${dir} unchanged`);
    }
  }
  // Each wrong value is its own line: nothing folded or dropped.
  const both = await runCli(['serve', '--data-dir', missing, ...good, '--config', twoProblems]);
  assert.equal(both.stderr.split('\n').filter((line) => /^ {2}\S+: /.test(line)).length, 2);
});

test('queue and quarantine commands on a folder without moat.db (a typo, or no --data-dir) say so and exit 1, creating nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const typo = join(world(), 'dta-typo');
  for (const command of [['queue', 'list'], ['quarantine', 'list'], ['queue', 'retry', '--all']]) {
    const result = await runCli([...command, '--data-dir', typo]);
    assert.equal(result.code, 1, `${command.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, /^moat: no Moat data in .*dta-typo \(it holds no moat\.db\): give --data-dir the folder `moat serve` uses$/m);
    assert.equal(result.stdout, '', 'no "0 messages queued"');
  }
  assert.equal(existsSync(typo), false, 'the folder is not created');
});

test('a damaged database: the queue commands say so in one line, without a stack trace', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = join(world(), 'damaged');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, 'moat.db'), Buffer.alloc(8192, 0x5a));
  const result = await runCli(['queue', 'list', '--data-dir', dataDir]);
  assert.equal(result.code, 1);
  assert.equal(result.stderr, 'moat: the data directory\'s database: file is not a database (the file is damaged: restore the last backup with "moat backup restore")\n');
});

test('check validates a config file: 0 when good, 2 with the problems when bad, and touches no data dir', { timeout: TEST_TIMEOUT_MS }, async () => {
  const root = world();
  const dataDir = join(root, 'never-created');
  const goodFile = join(root, 'good.json');
  writeFileSync(goodFile, JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: 2599 } }));
  const badFile = join(root, 'bad.json');
  writeFileSync(badFile, JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: 2599, tls: 'sometimes' } }));

  const ok = await runCli(['check', '--data-dir', dataDir, '--config', goodFile]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /configuration OK .*example\.test/);

  const bad = await runCli(['check', '--data-dir', dataDir, '--config', badFile]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^ {2}internal\.tls: /m);

  const absent = await runCli(['check', '--data-dir', dataDir, '--config', join(root, 'absent.json')]);
  assert.equal(absent.code, 2);
  assert.match(absent.stderr, /\(file\): .*absent\.json does not exist/);
  assert.equal(existsSync(dataDir), false);
});

test('--help is the usage (exit 0); a mistyped command, action or option says what it may have meant; a bad queue id says what one looks like', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = world();
  for (const args of [['--help'], ['-h'], ['help'], ['queue', '--help']]) {
    const result = await runCli(args);
    assert.deepEqual([result.code, result.stderr], [0, ''], args.join(' '));
    assert.match(result.stdout, /^usage:\n {2}moat serve /, args.join(' '));
  }
  const refused: [string[], RegExp][] = [
    [['serv'], /^moat: unknown command "serv" \(did you mean serve\?\)\nusage:/],
    [['--data-dir', dataDir, 'serve'], /^moat: the command comes first \(moat COMMAND \[options\]\): serve, check, queue, .*; got --data-dir\n/],
    [['queue', '--data-dir', dataDir], /^moat: queue needs an action: list, show, retry, hold, resume, release, delete, bounce\n/],
    [['queue', 'lsit', '--data-dir', dataDir], /^moat: unknown queue action "lsit" \(did you mean list\?\)\n/],
    [['queue', 'frobnicate', '--data-dir', dataDir], /^moat: unknown queue action "frobnicate"\nusage:/],
    [['queue', 'retry', '--data-dir', dataDir], /^moat: queue retry needs a queue id \(or --all\)\n/],
    [['queue', 'list', '--data-dr', dataDir], /^moat: unknown option --data-dr \(did you mean --data-dir\?\)\n/],
    [['queue', 'show', 'ABC', '--data-dir', dataDir], /^moat: not a queue id: "ABC" \(a queue id is 22 letters and digits, as "moat queue list" shows them\)\n$/],
    [['quarantine', 'show', 'ABC', '--data-dir', dataDir], /^moat: not a queue id: "ABC" \(a queue id is 22 letters and digits, as "moat quarantine list" shows them\)\n$/],
  ];
  for (const [args, words] of refused) {
    const result = await runCli(args);
    assert.equal(result.code, 2, args.join(' '));
    assert.match(result.stderr, words, args.join(' '));
  }
  assert.ok(!existsSync(join(dataDir, 'moat.db')), 'no refused command made a store');
});

test('queue commands work on the data dir while serve runs, down to a bounce whose DSN reaches the sender', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = world();
  const internalPort = await reservePort(); // nothing listens there yet: the internal server is down
  const relay = await serve(['--data-dir', dataDir, '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${internalPort}`]);
  const queue = async (...args: string[]) => runCli(['queue', ...args, '--data-dir', dataDir]);
  const idOf = (info: { response: string }) => QUEUE_ID.exec(info.response)![1]!;

  // Senders in example.test, so a DSN for them routes to the internal server too.
  const deleted = idOf(await send(relay.port, 'alice@example.test', ['ann@example.test'], message('to be deleted')));
  const bounced = idOf(await send(relay.port, 'alice@example.test', ['ben@example.test', 'bea@example.test'], message('to be bounced')));
  const kept = idOf(await send(relay.port, 'alice@example.test', ['cid@example.test'], message('to be delivered')));

  const list = await eventually(async () => {
    const result = await queue('list');
    const lines = result.stdout.split('\n');
    const deferred = [deleted, bounced, kept].every((id) => lines.some((line) => line.startsWith(id) && /\bretrying\b.*\[.+\]$/.test(line)));
    return deferred && result.stdout;
  }, 30_000, 'three deferred messages in "queue list"');
  assert.match(list, /^3 message\(s\) queued/);
  assert.match(list.split('\n').find((line) => line.startsWith(kept))!, /<alice@example\.test> -> cid@example\.test {2}"to be delivered" {2}\[.*(ECONNREFUSED|connect|refused).*\]$/i);

  const shown = await queue('show', bounced);
  assert.equal(shown.code, 0);
  assert.match(shown.stdout, new RegExp(`^id: +${bounced}$`, 'm'));
  assert.match(shown.stdout, /^ {2}<bea@example\.test> pending via internal, [1-9]\d* attempt\(s\), next attempt /m);
  assert.match(shown.stdout, /^ {2}<ben@example\.test> pending via internal/m);
  assert.match(shown.stdout, /^ {2}\S+ \S+ {2}RECEIVED +.*127\.0\.0\.1/m);
  assert.match(shown.stdout, /^ {2}.* DEFERRED +<bea@example\.test> /m);

  assert.deepEqual([(await queue('hold', kept)).code, (await queue('show', kept)).stdout.match(/^status: +(.*)$/m)?.[1]], [0, 'queued (held)']);
  assert.match((await queue('list')).stdout, new RegExp(`^${kept} .* held `, 'm'));
  assert.equal((await queue('release', kept)).code, 0);
  // an id typed in lower case, with spaces around, is the same message
  const released = (await queue('show', ` ${kept.toLowerCase()} `)).stdout;
  assert.match(released, /^status: +queued$/m);
  // the command line puts its actions down to the OS account that ran it
  const by = `cli:${userInfo().username.replace(/[^\w.@+-]/g, '_')}`.replace(/[.+]/g, '\\$&');
  assert.match(released, new RegExp(`HELD +held by ${by}[\\s\\S]*RELEASED +released by ${by}`));

  // resume lifts the pause only: the message held on its own stays held; release --all releases it too
  assert.equal((await queue('hold', kept)).code, 0);
  const paused = await queue('hold', '--all');
  assert.equal(paused.code, 0);
  assert.match(paused.stdout, /until "moat queue resume"/);
  assert.match((await queue('list')).stdout, /WHOLE QUEUE HELD/);
  const resumed = await queue('resume');
  assert.deepEqual([resumed.code, resumed.stdout], [0, 'delivery resumed; 1 message(s) held on their own stay held\n']);
  assert.doesNotMatch((await queue('list')).stdout, /WHOLE QUEUE HELD/);
  assert.match((await queue('show', kept)).stdout, /^status: +queued \(held\)$/m);
  assert.equal((await queue('hold', '--all')).code, 0);
  const releasedAll = await queue('release', '--all');
  assert.equal(releasedAll.code, 0);
  assert.match(releasedAll.stdout, /queue released \(1 held message\(s\) released too\)/);
  assert.doesNotMatch((await queue('list')).stdout, /WHOLE QUEUE HELD/);
  const retried = await queue('retry', '--all');
  assert.equal(retried.code, 0);
  assert.match(retried.stdout, /^\d+ recipient\(s\) due now$/m);
  assert.equal((await queue('retry', kept)).code, 0);

  assert.equal((await queue('delete', deleted)).code, 0);
  assert.doesNotMatch((await queue('list')).stdout, new RegExp(deleted));
  assert.match((await queue('show', deleted)).stdout, /^status: +deleted$/m);

  const bounce = await queue('bounce', bounced);
  assert.equal(bounce.code, 0, bounce.stderr);
  const afterBounce = (await queue('list')).stdout;
  assert.doesNotMatch(afterBounce, new RegExp(bounced));
  assert.match(afterBounce, /"Moat" <> -> alice@example\.test {2}"Undelivered Mail Returned to Sender"/, 'the DSN waits in the queue for the internal server');

  // Errors: a malformed id is bad usage (2), an unknown one a failed operation (1). None changes anything, so all at once.
  const malformed = [['show', 'not-an-id'], ['hold', '../../etc/passwd'], ['delete'], ['frobnicate', kept]];
  const unknown = ['show', 'hold', 'release', 'retry', 'delete', 'bounce'];
  const errors = await Promise.all([...malformed.map((args) => queue(...args)), ...unknown.map((action) => queue(action, '000000000000AAAAAAAAAA'))]);
  malformed.forEach((args, i) => assert.equal(errors[i]!.code, 2, `queue ${args.join(' ')}`));
  unknown.forEach((action, i) => {
    const result = errors[malformed.length + i]!;
    assert.equal(result.code, 1, `queue ${action} of an unknown id`);
    assert.match(result.stdout, /no queued message 000000000000AAAAAAAAAA/);
  });

  // The internal server comes up: the DSN and the kept message arrive, the deleted one never does.
  const sink = await startSink(internalPort);
  try {
    assert.equal((await queue('retry', '--all')).code, 0);
    await sink.waitFor(2);
    const dsn = sink.messages.find((sunk) => sunk.from === '');
    assert.ok(dsn, 'a DSN with a null sender reached the internal server');
    assert.deepEqual(dsn.to, ['alice@example.test']);
    const text = dsn.raw.toString('utf8');
    assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status/i);
    assert.match(text, /Final-Recipient: rfc822; ?ben@example\.test/i);
    assert.match(text, /Final-Recipient: rfc822; ?bea@example\.test/i);
    assert.match(text, /Subject: to be bounced/, 'the original headers are returned');
    const delivered = sink.messages.find((sunk) => sunk.from === 'alice@example.test');
    assert.deepEqual(delivered?.to, ['cid@example.test']);
    await eventually(async () => /^0 message\(s\) queued/.test((await queue('list')).stdout), 10_000, 'an empty queue');
    assert.equal(sink.messages.length, 2, 'the deleted message was never delivered');
    assert.match((await queue('show', kept)).stdout, /DELIVERED +<cid@example\.test> /);
  } finally {
    assert.deepEqual(await relay.stop('SIGTERM'), { code: 0, signal: null });
    await sink.stop();
  }
});

test('on SIGTERM an idle session gets 421 at once, and new connections are refused', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await startSink();
  try {
    const relay = await serve(['--data-dir', world(), '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${sink.port}`]);
    const idle = await RawSmtp.connect(relay.port);
    assert.match(await idle.hello(), /^250/);
    const signalled = Date.now();
    relay.child.kill('SIGTERM');
    assert.match(await idle.reply(5_000), /^421 4\.3\.2 /);
    await idle.waitClosed(5_000);
    assert.ok(Date.now() - signalled < 5_000, 'the 421 came well before the 30 s grace period');
    // Refused at TCP level (listener closed, or the relay already gone) or with a 421 greeting: never served.
    assert.match(await greetingOrRefusal(relay.port), /^(ECONNREFUSED|421 )/);
    assert.deepEqual(await relay.exited, { code: 0, signal: null });
  } finally {
    await sink.stop();
  }
});

test('on SIGTERM a session in the middle of DATA may finish: it gets 250, then the relay exits 0', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await startSink();
  const dataDir = world();
  const config = join(dataDir, 'moat.json');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(config, JSON.stringify({ shutdownGraceSec: 20 }));
  try {
    const relay = await serve(['--data-dir', dataDir, '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${sink.port}`]);
    const client = await RawSmtp.connect(relay.port);
    await client.hello();
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('DATA'), /^354/);
    const raw = message('finished during shutdown', 'First half of the body.\r\n'.repeat(50) + 'Second half.\r\n'.repeat(50));
    const half = Math.floor(raw.length / 2);
    client.write(raw.slice(0, half));

    relay.child.kill('SIGTERM');
    await relay.waitForLog(/STOPPING signal=SIGTERM/);
    // The listener is closed once stop() has run; a newcomer is refused, at TCP level or with a 421 greeting.
    const newcomer = await eventually(async () => {
      const answer = await greetingOrRefusal(relay.port);
      return answer === 'ECONNREFUSED' || answer.startsWith('421') ? answer : null;
    }, 5_000, 'a refused new connection');
    assert.ok(newcomer);
    assert.equal(relay.running, true, 'the relay waits for the open transaction');

    client.write(`${raw.slice(half)}\r\n.\r\n`);
    const reply = await client.reply();
    assert.match(reply, /^250 .*queued as [0-9A-Z]{22}/);
    const id = QUEUE_ID.exec(reply)![1]!;
    assert.match(await client.reply(), /^421 4\.3\.2 /, 'then the session is closed with 421');
    assert.deepEqual(await relay.exited, { code: 0, signal: null });

    // The 250 meant durable: the message is in the data dir the relay left behind.
    const shown = await runCli(['queue', 'show', id, '--data-dir', dataDir]);
    assert.equal(shown.code, 0);
    assert.match(shown.stdout, /^subject: +finished during shutdown$/m);
  } finally {
    await sink.stop();
  }
});

test('serve without domains or an internal server waits for its setup and prints the one-time token', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = join(world(), 'data');
  const serve = await ServeProcess.startForSetup(['--data-dir', dataDir, '--admin-listen', '127.0.0.1:0', '--mx-listen', '127.0.0.1:0']);
  try {
    assert.equal(readFileSync(join(dataDir, 'setup-token'), 'utf8').trim(), serve.setupToken);
    const answer = await fetch(`http://${serve.admin}/api/auth.status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.deepEqual(await answer.json(), { ok: true, result: { state: 'setup', csrf: null } });
  } finally {
    assert.equal((await serve.stop()).code, 0);
  }
});

test('with its admin address taken (another Moat on 8025) serve says so and what to do, and prints no address that is not up', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = join(world(), 'data');
  const holder = createServer(() => {});
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const taken = `127.0.0.1:${(holder.address() as AddressInfo).port}`;
  const serve = await ServeProcess.startForSetup(['--data-dir', dataDir, '--admin-listen', taken, '--mx-listen', '127.0.0.1:0']);
  try {
    assert.equal(serve.admin, 'unavailable');
    // stderr is its own pipe: the line may come after the token on stdout
    await serve.waitForLog(new RegExp(`^moat: the admin page is not up: ${taken} cannot be bound \\(.*EADDRINUSE.*\\); another program, perhaps another Moat, holds it\\. It is tried again every 30 s: stop the other one, or start this one with --admin-listen 127\\.0\\.0\\.1:PORT\\.$`, 'm'));
    assert.match(serve.stdout, new RegExp(`Open the admin page \\(http://${taken}/, once it is up\\) and enter this token`));
    assert.doesNotMatch(serve.stdout, /http:\/\/unavailable/);
  } finally {
    assert.equal((await serve.stop()).code, 0);
    holder.close();
  }
});

test('after the setup is applied, serve prints its ready line with the listening addresses (the console does not keep showing the spent token)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = join(world(), 'data');
  const serve = await ServeProcess.startForSetup(['--data-dir', dataDir, '--admin-listen', '127.0.0.1:0', '--mx-listen', '127.0.0.1:0']);
  try {
    assert.doesNotMatch(serve.stdout, /^moat ready/m);
    const admin = new AdminClient(`http://${serve.admin}`);
    await admin.call('auth.setup', { token: serve.setupToken, password: 'a long admin password 1' });
    await admin.call('config.apply', { config: { domains: ['example.test'], internal: { host: '127.0.0.1', port: 2599 } } });
    await eventually(async () => /^moat ready mx=127\.0\.0\.1:\d+ admin=/m.test(serve.stdout), 30_000, 'the ready line after Apply');
  } finally {
    assert.equal((await serve.stop()).code, 0);
  }
});
