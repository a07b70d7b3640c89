import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHost } from '../helpers/admin.ts';
import { Sink, reservePort } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const TEST_TIMEOUT_MS = 60_000;

function mxPort(address: string | null): number {
  return Number(address!.split(':').pop());
}

test('moat.json edited by hand is not taken for the settings in force: config.get names each setting with what runs and what the file says, and an Apply of the file puts it in force', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dataDir = tempDir('moat-admin-');
  const file = join(dataDir, 'moat.json');
  const good = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false }, mx: { maxRecipients: 3 } };
  writeFileSync(file, JSON.stringify(good));
  const world = await startHost({}, { dataDir });
  try {
    const admin = await world.admin();
    assert.deepEqual((await admin.call('config.get', {})).notInForce, [], 'file and relay agree');
    const mx = mxPort((await admin.call('relay.status', {})).addresses.mx);
    const to = ['a@example.test', 'b@example.test', 'c@example.test', 'd@example.test'];

    writeFileSync(file, JSON.stringify({ ...good, mx: { maxRecipients: 7 }, admin: { listen: '127.0.0.1:8029' } }, null, 2));
    const view = await admin.call('config.get', {});
    // admin.listen: this host was given its address on the command line (startHost), so the file's does not count
    assert.deepEqual(view.notInForce, [{ key: 'mx.maxRecipients', running: 3, file: 7, atRestart: false }]);
    assert.equal((await send(mx, 'alice@sender.test', to, message('before'))).rejected.length, 1, 'the relay still enforces 3');

    await admin.call('config.apply', { config: view.saved, revision: view.revision });
    assert.deepEqual((await admin.call('config.get', {})).notInForce, []);
    const after = mxPort((await admin.call('relay.status', {})).addresses.mx);
    assert.deepEqual((await send(after, 'alice@sender.test', to, message('after'))).rejected, []);
  } finally {
    await world.stop();
    await sink.stop();
  }
});

test('an admin listener setting in the file is said to wait for the next start, also after an Apply put the rest in force', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dataDir = tempDir('moat-admin-');
  const file = join(dataDir, 'moat.json');
  const good = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false }, admin: { listen: '127.0.0.1:0' } };
  writeFileSync(file, JSON.stringify(good));
  const world = await startHost({}, { dataDir, adminListen: undefined });
  try {
    const admin = await world.admin();
    assert.deepEqual((await admin.call('config.get', {})).notInForce, []);
    writeFileSync(file, JSON.stringify({ ...good, admin: { listen: '127.0.0.1:8029' } }));
    const view = await admin.call('config.get', {});
    assert.deepEqual(view.notInForce, [{ key: 'admin.listen', running: '127.0.0.1:0', file: '127.0.0.1:8029', atRestart: true }]);
    await admin.call('config.apply', { config: view.saved, revision: view.revision });
    assert.deepEqual((await admin.call('config.get', {})).notInForce, [{ key: 'admin.listen', running: '127.0.0.1:0', file: '127.0.0.1:8029', atRestart: true }]);
  } finally {
    await world.stop();
    await sink.stop();
  }
});

test('moat.json broken by hand while the relay runs: relay.status says the next start would refuse it, at a line and column', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dataDir = tempDir('moat-admin-');
  const file = join(dataDir, 'moat.json');
  const good = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } };
  writeFileSync(file, JSON.stringify(good, null, 2));
  const world = await startHost({}, { dataDir });
  try {
    const admin = await world.admin();
    assert.equal((await admin.call('relay.status', {})).configProblem, null);
    // a comma left after the last entry, on line 11 (the closing brace of "filters" on line 12)
    const broken = readFileSync(file, 'utf8').replace('"enabled": false\n  }', '"enabled": false,\n  }');
    writeFileSync(file, broken);
    const status = await admin.call('relay.status', {});
    assert.equal(status.state, 'running');
    assert.equal(status.configProblem, `${file} is not valid JSON: Expected double-quoted property name at line 12, column 3`);
    const got = await admin.raw('config.get', {});
    assert.equal(got.body.code, 'CONFIG_FILE_DAMAGED');
    assert.match(got.body.message!, /cannot be read \(not valid JSON: Expected double-quoted property name at line 12, column 3\)/);

    writeFileSync(file, JSON.stringify({ ...good, mx: { maxRecipients: 0 } }));
    assert.match((await admin.call('relay.status', {})).configProblem!, /^mx\.maxRecipients: /);
    writeFileSync(file, JSON.stringify(good));
    assert.equal((await admin.call('relay.status', {})).configProblem, null);
  } finally {
    await world.stop();
    await sink.stop();
  }
});

test('turning the submission listener off while accounts exist: the Apply says how many accounts can no longer send', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dataDir = tempDir('moat-admin-');
  const [submission, submissions] = [await reservePort(), await reservePort()];
  const good = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false }, submission: { listen: `127.0.0.1:${submission}`, tlsListen: `127.0.0.1:${submissions}` } };
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify(good));
  const world = await startHost({}, { dataDir });
  try {
    const admin = await world.admin();
    for (const name of ['anna@example.test', 'ben@example.test']) await admin.call('accounts.add', { name, password: 'correct horse battery staple', senders: [] });
    const one = await admin.call('config.apply', { config: { ...good, submission: { tlsListen: `127.0.0.1:${submissions}` } } });
    assert.deepEqual(one.notes, [
      `The 2 submission accounts can no longer send from clients set to that port: the submission listener with STARTTLS (127.0.0.1:${submission}) is off now. Clients set to the listener with implicit TLS (127.0.0.1:${submissions}) still send; move the others to it, or turn the listener on again.`,
    ]);
    const none = await admin.call('config.apply', { config: { ...good, submission: {} } });
    assert.deepEqual(none.notes, [`The 2 submission accounts can no longer send mail through Moat: the submission listener with implicit TLS (127.0.0.1:${submissions}) is off now, and no other one is on. Office clients get no connection until a submission listener is on again (Settings, Submission).`]);
    assert.deepEqual((await admin.call('config.apply', { config: { ...good, submission: {} } })).notes, [], 'said once, when it is turned off');
  } finally {
    await world.stop();
    await sink.stop();
  }
});

test('alert mail set only to our own domains: the Apply says it would wait behind the outage it reports, once; an outside address takes the note away', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dataDir = tempDir('moat-admin-');
  const good = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } };
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify(good));
  const world = await startHost({}, { dataDir });
  try {
    const admin = await world.admin();
    const own = { ...good, alerts: { emailTo: ['it-admin@example.test'] } };
    assert.deepEqual((await admin.call('config.apply', { config: own })).notes, [
      'Alert mail goes to it-admin@example.test only, through the internal server: when that server stops taking mail, the alert saying so waits in the queue behind it. Add an address outside your domains (a mobile or provider mailbox) to "Email alerts to", or a webhook.',
    ]);
    assert.deepEqual((await admin.call('config.apply', { config: { ...own, queue: { lifetimeHours: 96 } } })).notes, [], 'said when the addresses change, not at every Apply');
    assert.deepEqual((await admin.call('config.apply', { config: { ...good, alerts: { emailTo: ['it-admin@example.test', 'admin@provider.test'] } } })).notes, []);
  } finally {
    await world.stop();
    await sink.stop();
  }
});
