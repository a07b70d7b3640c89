import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHost } from '../helpers/admin.ts';
import { eventually } from '../helpers/cli.ts';
import { reservePort, Sink } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';

const TEST_TIMEOUT_MS = 60_000;
/** Far longer than the test: mail is delivered within it only when something makes it due at once. */
const RETRY_HOUR_SEC = 3600;
const WAIT_MS = 20_000;

function mxPort(address: string | null): number {
  return Number(address!.split(':').pop());
}

const baseConfig = (port: number) => ({
  domains: ['example.test'],
  internal: { host: '127.0.0.1', port, tls: 'none' },
  queue: { retryIntervalsSec: [RETRY_HOUR_SEC] },
  filters: { enabled: false },
});

/** A relay whose internal server address is wrong (nothing listens there), with one message deferred for an hour. */
async function deferredWorld() {
  const world = await startHost();
  const admin = await world.admin();
  const config = baseConfig(await reservePort());
  await admin.call('config.apply', { config });
  const status = await admin.call('relay.status', {});
  await send(mxPort(status.addresses.mx), 'alice@sender.test', ['bob@example.test'], message('waiting for the fix'));
  const row = await eventually(
    async () => (await admin.call('queue.list', { status: 'deferred' })).rows[0],
    WAIT_MS,
    'the message to be deferred',
  );
  const before = await admin.call('queue.show', { id: row.id });
  assert.ok(before.recipients[0]!.nextAttemptAt! > Date.now() + (RETRY_HOUR_SEC - 60) * 1000, 'the next attempt is an hour away');
  return { world, admin, config, id: row.id };
}

test('fixing the internal server address in config.apply delivers the deferred mail at once, not after its backoff', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { world, admin, config, id } = await deferredWorld();
  const sink = await Sink.start();
  try {
    await admin.call('config.apply', { config: { ...config, internal: { ...config.internal, port: sink.port } } });
    await sink.waitForSubject('waiting for the fix', WAIT_MS);
    // outcomes are written in batches: the row says delivered a moment after the sink has the message
    await eventually(
      async () => {
        const after = await admin.call('queue.show', { id });
        return after.recipients[0]!.status === 'delivered' ? after.recipients[0]!.status : undefined;
      },
      WAIT_MS,
      'the recipient to be recorded delivered',
    );
  } finally {
    await world.stop();
    await sink.stop();
  }
});

test('an apply that leaves the internal server address alone leaves deferred mail waiting for its backoff', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { world, admin, config, id } = await deferredWorld();
  try {
    const before = (await admin.call('queue.show', { id })).recipients[0]!.nextAttemptAt!;
    await admin.call('config.apply', { config: { ...config, mx: { maxRecipients: 50 } } });
    assert.equal((await admin.call('relay.status', {})).state, 'running');
    const after = await admin.call('queue.show', { id });
    assert.equal(after.recipients[0]!.status, 'pending');
    assert.equal(after.recipients[0]!.attempts, 1);
    assert.equal(after.recipients[0]!.nextAttemptAt, before, 'still due in an hour');
  } finally {
    await world.stop();
  }
});
