// What an admin finds in the log when a filter fails: one FILTER_FAILED line per failure with the filter, the
// message id and the error, whether the filter threw, hung past its deadline, or its engine (rspamd) was unreachable.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Sink } from '../helpers/sink.ts';
import { startRelay, type TestRelay } from '../helpers/relay.ts';
import { message, send } from '../helpers/smtp.ts';
import { closedPort } from '../helpers/engine-pings.ts';
import { createLineLogger } from '../../src-relay/log/logger.ts';
import type { Filter } from '../../src-relay/filters/types.ts';

/** A filter steered by the Subject: HANG (past the deadline), THROW; else it accepts. */
const hook: Filter = {
  name: 'test-hook',
  async check(message, signal) {
    const subject = message.headers.find((header) => header.name.toLowerCase() === 'subject')?.value ?? '';
    if (subject.includes('HANG')) return new Promise((resolve) => signal.addEventListener('abort', () => resolve({ filter: 'test-hook', verdict: 'accept', score: 0, reasons: ['too late'] })));
    if (subject.includes('THROW')) throw new Error('the test hook broke');
    return { filter: 'test-hook', verdict: 'accept', score: 0, reasons: [] };
  },
};

let sink: Sink;
let relay: TestRelay;
let rspamd: string;
const lines: string[] = [];

before(async () => {
  sink = await Sink.start();
  rspamd = await closedPort();
  relay = await startRelay(
    sink.port,
    // rspamd fails open so the hook's own failures decide the reply; its failure is logged all the same
    { filters: { enabled: true, timeoutSec: 1, rspamd: { address: rspamd }, failMode: { rspamd: 'open' } } },
    { filters: [hook], logger: createLineLogger((line) => lines.push(line)) },
  );
});
after(async () => {
  await relay.stop();
  await sink.stop();
});

/** The log lines with this action word, as `key=value` maps. */
function logged(action: string): Record<string, string>[] {
  return lines
    .filter((line) => line.split(' ')[2] === action)
    .map((line) => Object.fromEntries([...line.matchAll(/ (\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)].map(([, key, value]) => [key!, value!.startsWith('"') ? (JSON.parse(value!) as string) : value!])));
}

async function tempfailed(subject: string): Promise<string> {
  const before = logged('TEMPFAILED').length;
  const error = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message(subject)).then(
    () => assert.fail('the message was accepted'),
    (caught: Error & { response?: string }) => caught,
  );
  assert.match(error.response ?? '', /^451 4\.7\.1 /);
  const refusal = logged('TEMPFAILED')[before];
  assert.ok(refusal, 'the refusal is logged');
  return refusal.id!;
}

test('a filter that throws is logged once as FILTER_FAILED with the filter, the message id and the error', async () => {
  const id = await tempfailed('now THROW');
  const failures = logged('FILTER_FAILED').filter((fields) => fields.id === id && fields.filter === 'test-hook');
  assert.equal(failures.length, 1);
  assert.equal(failures[0]!.error, 'threw: the test hook broke');
});

test('a filter that hangs past its deadline is logged once as FILTER_FAILED, its late answer adds nothing', async () => {
  const id = await tempfailed('please HANG');
  // the late answer arrives after the abort; one more message through the relay gives it time to show up if it would
  await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('afterwards'));
  const failures = logged('FILTER_FAILED').filter((fields) => fields.id === id && fields.filter === 'test-hook');
  assert.equal(failures.length, 1);
  assert.equal(failures[0]!.error, 'gave no answer within 1000 ms');
});

test('an unreachable engine is logged as FILTER_FAILED once per message, naming its address; failing open, the message is delivered', async () => {
  const info = await send(relay.port, 'alice@sender.test', ['bob@example.test'], message('an ordinary message'));
  const id = /queued as ([0-9A-Z]{22})/.exec(info.response)![1]!;
  const failures = logged('FILTER_FAILED').filter((fields) => fields.id === id);
  assert.equal(failures.length, 1, JSON.stringify(failures));
  assert.equal(failures[0]!.filter, 'rspamd');
  assert.match(failures[0]!.error!, new RegExp(`rspamd at ${rspamd.replace(/\./g, '\\.')} did not answer: .*ECONNREFUSED`));
});
