import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RESTART_POLICY, EngineSupervisor, restartDecision, type RestartPolicy } from '../../../src-main/supervisor.ts';
import type { RelayStatus } from '../../../src-main/bridge.ts';
import { FakeEngine, ManualClock, recordingLogger } from './fakes.ts';

const policy: RestartPolicy = {
  initialDelayMs: 1_000,
  factor: 2,
  maxDelayMs: 10_000,
  stableAfterMs: 60_000,
  maxFastCrashes: 5,
  readyTimeoutMs: 30_000,
  stopTimeoutMs: 20_000,
  killWaitMs: 5_000,
};

function setup(overrides: Partial<RestartPolicy> = {}) {
  const clock = new ManualClock();
  const engines: FakeEngine[] = [];
  const statuses: RelayStatus[] = [];
  const { lines, logger } = recordingLogger();
  const supervisor = new EngineSupervisor({
    fork: () => {
      const engine = new FakeEngine();
      engines.push(engine);
      return engine;
    },
    clock: clock.clock,
    timers: clock.timers,
    logger,
    policy: { ...policy, ...overrides },
    onStatus: (status) => statuses.push(status),
  });
  const last = () => engines[engines.length - 1]!;
  return { clock, engines, statuses, lines, supervisor, last };
}

test('the restart delay doubles with each fast crash and stops growing at the cap', () => {
  const delays = [1, 2, 3, 4].map((n) => restartDecision(n, { ...policy, maxFastCrashes: 10 }));
  assert.deepEqual(delays, [
    { action: 'restart', delayMs: 1_000 },
    { action: 'restart', delayMs: 2_000 },
    { action: 'restart', delayMs: 4_000 },
    { action: 'restart', delayMs: 8_000 },
  ]);
  assert.deepEqual(restartDecision(9, { ...policy, maxFastCrashes: 10 }), { action: 'restart', delayMs: 10_000 });
  assert.deepEqual(restartDecision(5, policy), { action: 'give-up' });
});

test('the default policy gives a crashing engine a few tries before giving up', () => {
  assert.ok(DEFAULT_RESTART_POLICY.maxFastCrashes >= 3);
  assert.ok(DEFAULT_RESTART_POLICY.stopTimeoutMs > 30_000, 'longer than the engine\'s own default shutdown grace');
});

test('the engine is running once it says ready, with its admin address', () => {
  const { supervisor, last, statuses } = setup();
  supervisor.start();
  assert.deepEqual(supervisor.status, { state: 'starting', mode: 'host' });
  last().ready('127.0.0.1:40123');
  assert.deepEqual(supervisor.status, { state: 'running', mode: 'host', address: '127.0.0.1:40123' });
  assert.deepEqual(statuses.map((status) => status.state), ['starting', 'running']);
});

test('a crashed engine is started again after the backoff delay', () => {
  const { supervisor, engines, last, clock } = setup();
  supervisor.start();
  last().ready();
  last().exit(1);
  assert.equal(supervisor.status.state, 'restarting');
  assert.equal(engines.length, 1);
  clock.advance(999);
  assert.equal(engines.length, 1, 'not before the delay');
  clock.advance(1);
  assert.equal(engines.length, 2);
  assert.equal(supervisor.status.state, 'starting');
});

test('fast crashes in a row wait longer each time', () => {
  const { supervisor, last, clock } = setup();
  supervisor.start();
  const waits: number[] = [];
  for (let crash = 0; crash < 4; crash++) {
    last().exit(1);
    const status = supervisor.status;
    assert.equal(status.state, 'restarting');
    if (status.state === 'restarting') waits.push(status.retryAt - clock.now);
    clock.advance(waits[waits.length - 1]!);
  }
  assert.deepEqual(waits, [1_000, 2_000, 4_000, 8_000]);
});

test('after N fast crashes the supervisor gives up and shows the engine\'s last error', () => {
  const { supervisor, engines, last, clock, lines } = setup();
  supervisor.start();
  for (let crash = 0; crash < 5; crash++) {
    last().send({ type: 'fatal', message: `port 25 is taken (${crash})` });
    last().exit(1);
    clock.advance(60_000);
  }
  assert.equal(engines.length, 5);
  assert.deepEqual(supervisor.status, { state: 'failed', mode: 'host', error: 'port 25 is taken (4)' });
  assert.ok(lines.includes('ENGINE_GAVE_UP'));
  clock.advance(10 * 60_000);
  assert.equal(engines.length, 5, 'no restart after giving up');
});

test('a run that was stable resets the crash count', () => {
  const { supervisor, last, clock } = setup();
  supervisor.start();
  for (let crash = 0; crash < 4; crash++) {
    last().exit(1);
    clock.advance(60_000);
  }
  last().ready();
  clock.advance(60_000);
  last().exit(1);
  const status = supervisor.status;
  assert.equal(status.state, 'restarting');
  if (status.state === 'restarting') {
    assert.equal(status.attempt, 1);
    assert.equal(status.retryAt - clock.now, 1_000);
  }
});

test('an engine that never becomes ready is killed and counted as a crash', () => {
  const { supervisor, engines, last, clock } = setup();
  supervisor.start();
  clock.advance(30_000);
  assert.equal(last().killed, 1);
  last().exit(143);
  assert.equal(supervisor.status.state, 'restarting');
  const status = supervisor.status;
  if (status.state === 'restarting') assert.match(status.lastError ?? '', /did not become ready/);
  assert.equal(engines.length, 1);
});

test('starting after a give-up tries again from a fresh count', () => {
  const { supervisor, engines, last, clock } = setup({ maxFastCrashes: 2 });
  supervisor.start();
  last().exit(1);
  clock.advance(1_000);
  last().exit(1);
  assert.equal(supervisor.status.state, 'failed');
  supervisor.start();
  assert.equal(engines.length, 3);
  last().exit(1);
  assert.equal(supervisor.status.state, 'restarting', 'the first crash after a manual start is not a give-up');
});

test('stop asks the engine to stop and resolves when it has exited, without a restart', async () => {
  const { supervisor, engines, last, clock } = setup();
  supervisor.start();
  last().ready();
  const stopped = supervisor.stop();
  assert.deepEqual(last().commands, [{ type: 'stop' }]);
  assert.equal(supervisor.status.state, 'stopping');
  last().exit(0);
  await stopped;
  assert.deepEqual(supervisor.status, { state: 'stopped', mode: 'host' });
  assert.equal(last().killed, 0);
  clock.advance(120_000);
  assert.equal(engines.length, 1);
});

test('an engine that does not stop in time is killed', async () => {
  const { supervisor, last, clock, lines } = setup();
  supervisor.start();
  last().ready();
  const stopped = supervisor.stop();
  clock.advance(19_999);
  assert.equal(last().killed, 0, 'it gets its grace period');
  clock.advance(1);
  assert.equal(last().killed, 1);
  assert.ok(lines.includes('ENGINE_KILLED'));
  last().exit(137);
  await stopped;
  assert.equal(supervisor.status.state, 'stopped');
});

test('stop resolves even when a killed engine never reports its exit', async () => {
  const { supervisor, last, clock } = setup();
  supervisor.start();
  last().ready();
  const stopped = supervisor.stop();
  clock.advance(20_000 + 5_000);
  await stopped;
  assert.equal(supervisor.status.state, 'stopped');
});

test('stop while waiting to restart cancels the restart', async () => {
  const { supervisor, engines, last, clock } = setup();
  supervisor.start();
  last().exit(1);
  await supervisor.stop();
  clock.advance(60_000);
  assert.equal(engines.length, 1);
  assert.equal(supervisor.status.state, 'stopped');
});

test('messages that are not the engine protocol are ignored', () => {
  const { supervisor, last, lines } = setup();
  supervisor.start();
  last().send({ type: 'ready' });
  last().send('ready');
  assert.equal(supervisor.status.state, 'starting');
  assert.equal(lines.filter((line) => line === 'ENGINE_MESSAGE_REFUSED').length, 2);
});

test('a fork that throws counts as a crash with its reason', () => {
  const clock = new ManualClock();
  const { logger } = recordingLogger();
  const supervisor = new EngineSupervisor({
    fork: () => {
      throw new Error('no such file dist-main/engine/engine-process.js');
    },
    clock: clock.clock,
    timers: clock.timers,
    logger,
    policy: { ...policy, maxFastCrashes: 1 },
  });
  supervisor.start();
  const status = supervisor.status;
  assert.equal(status.state, 'failed');
  if (status.state === 'failed') assert.match(status.error, /could not be started: no such file/);
});
