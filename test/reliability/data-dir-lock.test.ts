import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sink } from '../helpers/sink.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { message, send } from '../helpers/smtp.ts';
import { ServeProcess, runCli } from '../helpers/cli.ts';
import { newQueueId } from '../../src-relay/util/ids.ts';

const TEST_TIMEOUT_MS = 120_000;
const dirs: string[] = [];
const serves: ServeProcess[] = [];
const sinks: Sink[] = [];
after(async () => {
  for (const serve of serves) if (serve.running) await serve.stop('SIGKILL');
  await Promise.all(sinks.map((sink) => sink.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const serveArgs = (dataDir: string, internalPort: number) => ['--data-dir', dataDir, '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${internalPort}`, '--admin-listen', '127.0.0.1:0'];

test('a second moat serve on a data dir in use refuses before it touches the spool; the lock goes with a killed relay', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  sinks.push(sink);
  const dataDir = tempDir('moat-lock-');
  dirs.push(dataDir);
  const first = await ServeProcess.start(serveArgs(dataDir, sink.port));
  serves.push(first);
  // what the first relay has in flight: a message being received, one renamed into place but not yet committed
  const receiving = join(dataDir, 'spool', 'tmp', 'in-flight.tmp');
  const uncommitted = join(dataDir, 'spool', 'msg', newQueueId());
  writeFileSync(receiving, 'partial');
  writeFileSync(uncommitted, 'renamed, commit to follow');

  const second = await runCli(['serve', ...serveArgs(dataDir, sink.port)]);
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, /^moat: another Moat is running on .*moat\.lock\): stop it first, or give this one another --data-dir\n$/, 'one line, no stack trace');
  assert.doesNotMatch(second.stdout, /moat ready/);
  assert.ok(existsSync(receiving), 'the second start left the first relay\'s file in reception alone');
  assert.ok(existsSync(uncommitted), 'and its message before the commit');
  // the first one goes on
  await send(first.port, 'alice@sender.test', ['bob@example.test'], message('after the refused start'));
  await sink.waitForSubject('after the refused start');

  // kill -9: the system drops the lock with the process, so the next start needs no clean-up by hand
  await first.stop('SIGKILL');
  const next = await ServeProcess.start(serveArgs(dataDir, sink.port));
  serves.push(next);
  await send(next.port, 'alice@sender.test', ['bob@example.test'], message('after the kill'));
  await sink.waitForSubject('after the kill');
  assert.equal(existsSync(receiving), false, 'a start after the crash cleans what the crash left');
  assert.equal((await next.stop()).code, 0);
});

test('moat serve whose mx and admin addresses are both taken keeps running for its retries, and stops on SIGTERM with 0', { timeout: TEST_TIMEOUT_MS }, async () => {
  const taken: Server[] = [];
  const take = async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    taken.push(server);
    return (server.address() as AddressInfo).port;
  };
  const dataDir = tempDir('moat-lock-');
  dirs.push(dataDir);
  try {
    const [mx, admin] = [await take(), await take()];
    const serve = ServeProcess.launch(['--data-dir', dataDir, '--domain', 'example.test', '--mx-listen', `127.0.0.1:${mx}`, '--internal', '127.0.0.1:25', '--admin-listen', `127.0.0.1:${admin}`]);
    serves.push(serve);
    await serve.waitForLog(/the admin page is not up: .* It is tried again every 30 s/, 60_000);
    assert.match(serve.stderr, /the relay is not running: .*EADDRINUSE|address already in use/i);
    // it used to end here with 0 (nothing kept it alive), which a service manager takes for a clean stop
    await sleep(2000);
    assert.equal(serve.running, true, 'it is still there, waiting for its retries');
    assert.deepEqual(await serve.stop(), { code: 0, signal: null });
  } finally {
    for (const server of taken) server.close();
  }
});
