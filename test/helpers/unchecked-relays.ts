import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Sink } from './sink.ts';
import { startRelay, type TestRelay } from './relay.ts';
import { send } from './smtp.ts';

/** Two relays with the content filters on in front of one sink: unchecked mail kept in quarantine, or refused. */
export interface UncheckedRelays {
  sink: Sink;
  quarantining: TestRelay;
  rejecting: TestRelay;
  stop(): Promise<void>;
}

/** The relays of the fail-closed content tests; bursts open one connection per message, so the connection limits are out of the way. */
export async function startUncheckedRelays(): Promise<UncheckedRelays> {
  const sink = await Sink.start();
  const mx = { maxConnectionsPerIp: 100, rateLimit: { connectionsPerMinute: 0, messagesPerMinute: 0 } };
  const quarantining = await startRelay(sink.port, { mx, filters: { enabled: true } });
  const rejecting = await startRelay(sink.port, { mx, filters: { enabled: true, unchecked: 'reject' } });
  return {
    sink,
    quarantining,
    rejecting,
    async stop() {
      await quarantining.stop();
      await rejecting.stop();
      await sink.stop();
    },
  };
}

/** The relays for the tests of one file: started before them, stopped after them (read them inside a test). */
export function uncheckedRelaysForFile(): Omit<UncheckedRelays, 'stop'> {
  let relays: UncheckedRelays | undefined;
  before(async () => {
    relays = await startUncheckedRelays();
  });
  after(() => relays?.stop());
  const started = () => relays ?? assert.fail('the relays start before the tests of the file');
  return {
    get sink() {
      return started().sink;
    },
    get quarantining() {
      return started().quarantining;
    },
    get rejecting() {
      return started().rejecting;
    },
  };
}

/** Sends `raw` and expects it refused: the reply text. */
export async function refusal(relay: TestRelay, raw: string): Promise<string> {
  const error = await send(relay.port, 'alice@sender.test', ['bob@example.test'], raw).then(
    (info) => assert.fail(`accepted: ${info.response}`),
    (caught: Error & { response?: string }) => caught,
  );
  return error.response ?? error.message;
}

/** Sends `raw` to the quarantining relay and expects it queued and kept in quarantine (never delivered): the reason. */
export async function keptInQuarantine(quarantining: TestRelay, raw: string): Promise<string> {
  const sent = await send(quarantining.port, 'alice@sender.test', ['bob@example.test'], raw);
  const id = /queued as ([0-9A-Z]{22})/.exec(sent.response)![1]!;
  const [row] = quarantining.relay.quarantine.list({ search: id });
  assert.ok(row, `${id} is in quarantine`);
  assert.equal(quarantining.relay.queue.store.message(id)!.status, 'quarantined');
  return row.reason ?? '';
}
