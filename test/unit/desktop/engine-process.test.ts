import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN_ENV, dataDirFromArgs, runEngineProcess, type AdminHostHandle, type ParentPortLike, type StartAdminHost } from '../../../src-main/engine-runner.ts';
import { recordingLogger } from './fakes.ts';

function port() {
  const posted: unknown[] = [];
  let listener: (event: { data: unknown }) => void = () => {};
  const value: ParentPortLike = {
    postMessage: (message) => void posted.push(message),
    on: (_event, handler) => {
      listener = handler;
    },
  };
  return { value, posted, send: (data: unknown) => listener({ data }) };
}

function host(address: string | null = '127.0.0.1:40555') {
  const calls: string[] = [];
  const handle: AdminHostHandle = {
    adminAddress: address,
    stop: async () => void calls.push('stop'),
  };
  return { handle, calls };
}

test('the engine starts the admin host on loopback with the token from main, and says ready', async () => {
  const parent = port();
  const { handle } = host();
  const started: Parameters<StartAdminHost>[0][] = [];
  const env: Record<string, string | undefined> = { [ADMIN_TOKEN_ENV]: 'tok-123', HOME: '/home/a' };
  const { logger } = recordingLogger();
  await runEngineProcess({ port: parent.value, argv: ['electron', 'engine-process.js', '--data-dir', '/srv/moat'], env, logger, exit: () => assert.fail('no exit'), startHost: async (options) => (started.push(options), handle) });
  assert.equal(started[0]?.dataDir, '/srv/moat');
  assert.equal(started[0]?.adminListen, '127.0.0.1:0');
  assert.equal(started[0]?.adminToken, 'tok-123');
  assert.equal(env[ADMIN_TOKEN_ENV], undefined, 'the token is not left for the processes the engine runs');
  assert.deepEqual(parent.posted, [{ type: 'ready', adminAddress: '127.0.0.1:40555' }]);
});

test('a stop message stops the host and exits 0', async () => {
  const parent = port();
  const { handle, calls } = host();
  const exits: number[] = [];
  const { logger } = recordingLogger();
  await runEngineProcess({ port: parent.value, argv: ['--data-dir', '/srv/moat'], env: {}, logger, exit: (code) => void exits.push(code), startHost: async () => handle });
  parent.send({ type: 'stop' });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(calls, ['stop']);
  assert.deepEqual(exits, [0]);
});

test('a stop that arrives while the engine starts is honoured once it has started', async () => {
  const parent = port();
  const { handle, calls } = host();
  const exits: number[] = [];
  let finishStart: () => void = () => {};
  const { logger } = recordingLogger();
  const running = runEngineProcess({
    port: parent.value,
    argv: ['--data-dir', '/srv/moat'],
    env: {},
    logger,
    exit: (code) => void exits.push(code),
    startHost: () => new Promise((resolve) => (finishStart = () => resolve(handle))),
  });
  parent.send({ type: 'stop' });
  finishStart();
  await running;
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(calls, ['stop']);
  assert.deepEqual(exits, [0]);
  assert.deepEqual(parent.posted, [], 'never said ready');
});

test('a start that fails posts the reason and exits 1', async () => {
  const parent = port();
  const exits: number[] = [];
  const { logger } = recordingLogger();
  await runEngineProcess({
    port: parent.value,
    argv: ['--data-dir', '/srv/moat'],
    env: {},
    logger,
    exit: (code) => void exits.push(code),
    startHost: async () => {
      throw new Error('mx.listen: address 0.0.0.0:25 in use');
    },
  });
  assert.deepEqual(parent.posted, [{ type: 'fatal', message: 'mx.listen: address 0.0.0.0:25 in use' }]);
  assert.deepEqual(exits, [1]);
});

test('an admin listener that could not bind is fatal, since main could not reach the engine', async () => {
  const parent = port();
  const { handle, calls } = host(null);
  const exits: number[] = [];
  const { logger } = recordingLogger();
  await runEngineProcess({ port: parent.value, argv: ['--data-dir', '/srv/moat'], env: {}, logger, exit: (code) => void exits.push(code), startHost: async () => handle });
  assert.deepEqual(calls, ['stop']);
  assert.equal((parent.posted[0] as { type: string }).type, 'fatal');
  assert.deepEqual(exits, [1]);
});

test('the data directory must be given and absolute', async () => {
  assert.equal(dataDirFromArgs(['--data-dir', '/srv/moat']), '/srv/moat');
  assert.equal(dataDirFromArgs(['--data-dir', 'relative']), null);
  assert.equal(dataDirFromArgs(['--data-dir']), null);
  assert.equal(dataDirFromArgs([]), null);
  const parent = port();
  const exits: number[] = [];
  const { logger } = recordingLogger();
  await runEngineProcess({ port: parent.value, argv: [], env: {}, logger, exit: (code) => void exits.push(code), startHost: () => assert.fail('not started') });
  assert.deepEqual(exits, [2]);
});
