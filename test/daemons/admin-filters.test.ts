// setup.detectFilters and setup.testFilter against the real engines from the Debian packages, each started by the
// test on a temp dir and free loopback addresses: clamd must find the EICAR file (over TCP and its unix socket),
// rspamd and spamd must score a message, and an engine is never mistaken for another. Not installed: the test fails
// and says what to install.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src-relay/config/load.ts';
import { createSetupHandlers, setupHandlers } from '../../src-relay/admin/handlers/setup.ts';
import { apiContext } from '../helpers/api-context.ts';
import { callHandler } from '../helpers/api-call.ts';
import { startRspamd, startSpamd, type Daemon } from '../helpers/spam-daemons.ts';
import { startClamd, type Clamd } from './clamd.ts';

/** A first scan after a start may be slow on a loaded machine; the wizard's own deadline is shorter. */
const SCAN_TIMEOUT_MS = 60_000;

let clamd: Clamd;
let rspamd: Daemon;
let spamd: Daemon;

before(async () => {
  clamd = await startClamd();
  rspamd = await startRspamd();
  spamd = await startSpamd();
});
after(async () => {
  await clamd?.stop();
  await rspamd?.stop();
  await spamd?.stop();
});

function context() {
  const result = validateConfig({ hostname: 'relay.example.test' });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return apiContext(null, { config: () => result.config });
}

test('detectFilters finds clamd over TCP and its socket, rspamd and spamd, and each passes its test', { timeout: 4 * SCAN_TIMEOUT_MS }, async () => {
  const candidates = [
    { engine: 'clamav' as const, address: clamd.tcp },
    { engine: 'clamav' as const, address: clamd.socket },
    { engine: 'rspamd' as const, address: rspamd.address },
    { engine: 'spamd' as const, address: spamd.address },
  ];
  const handlers = createSetupHandlers({ filterCandidates: candidates, detectTimeoutMs: SCAN_TIMEOUT_MS });
  const { engines } = await callHandler(handlers, 'setup.detectFilters', {}, context());
  for (const engine of engines) assert.ok(engine.found && engine.ok, `${engine.engine} at ${engine.address}: ${engine.detail}\n${engine.engine === 'rspamd' ? rspamd.log() : ''}`);
  assert.match(engines[0]!.detail, /^clamd at .* \(ClamAV \d+\.\d+[^)]*\) found the EICAR test file \(Eicar-Test-Signature(\.UNOFFICIAL)?\)$/);
  assert.match(engines[1]!.detail, /found the EICAR test file/);
  assert.match(engines[2]!.detail, /^rspamd at .* scored a test message: [a-z ]+, score -?\d/);
  assert.match(engines[3]!.detail, /^spamd at .* scored a test message: not spam, score -?\d/);
});

test('testFilter passes each engine at its address, and an engine asked at another one\'s address fails', { timeout: 6 * SCAN_TIMEOUT_MS }, async () => {
  const handlers = createSetupHandlers({ testTimeoutMs: SCAN_TIMEOUT_MS });
  for (const [engine, address] of [['clamav', clamd.socket], ['rspamd', rspamd.address], ['spamd', spamd.address]] as const) {
    const result = await callHandler(handlers, 'setup.testFilter', { engine, address }, context());
    assert.equal(result.ok, true, `${engine}: ${result.detail}`);
  }
  // (spamd's protocol at rspamd's address does work: rspamd answers SPAMC requests too)
  for (const [engine, address] of [['rspamd', spamd.address], ['clamav', spamd.address], ['clamav', rspamd.address]] as const) {
    const result = await callHandler(setupHandlers, 'setup.testFilter', { engine, address }, context());
    assert.equal(result.ok, false, `${engine} at ${address}: ${result.detail}`);
  }
});
