import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { ADMIN_PASSWORD, AdminClient, readEvents, startHost } from '../helpers/admin.ts';
import { Sink, reservePort } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';
import { fixtureResolver } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { heldPort } from '../helpers/held-port.ts';
import { eventually } from '../helpers/cli.ts';
import { validateConfig } from '../../src-relay/config/load.ts';
import { contract, eventSchemas } from '../../src-relay/admin/contract.ts';
import { LOGIN_FAILURES_PER_IP } from '../../src-relay/admin/admin-auth.ts';
import { MAX_EVENT_CLIENTS_PER_OWNER, MAX_UNREAD_BYTES } from '../../src-relay/admin/event-stream.ts';
import { MAX_BODY_BYTES } from '../../src-relay/admin/api.ts';
import { createLineLogger } from '../../src-relay/log/logger.ts';
import type { Relay } from '../../src-relay/engine.ts';

const TEST_TIMEOUT_MS = 60_000;

function rawGet(url: string, headers: Record<string, string> = {}, path?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: target.hostname, port: target.port, path: path ?? target.pathname, method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function mxPort(address: string | null): number {
  return Number(address!.split(':').pop());
}

test('a fresh relay waits for its setup: only the holder of the setup token can claim it', { timeout: TEST_TIMEOUT_MS }, async () => {
  const logged: string[] = [];
  const world = await startHost({}, { logger: createLineLogger((line) => logged.push(line)) });
  try {
    const { host } = world;
    assert.equal(host.state, 'setup');
    assert.equal(host.relay, null);
    const tokenFile = join(world.dataDir, 'setup-token');
    assert.equal(readFileSync(tokenFile, 'utf8').trim(), host.setupToken);

    const anonymous = world.client();
    assert.deepEqual((await anonymous.call('auth.status', {})).state, 'setup');
    const refused = await anonymous.raw('queue.summary');
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'SETUP_REQUIRED');
    assert.equal((await anonymous.raw('auth.login', { password: ADMIN_PASSWORD })).body.code, 'SETUP_REQUIRED');

    const wrong = await anonymous.raw('auth.setup', { token: 'not-the-token', password: ADMIN_PASSWORD });
    assert.equal(wrong.body.code, 'BAD_SETUP_TOKEN');
    assert.equal(anonymous.cookie, null);
    const weak = await anonymous.raw('auth.setup', { token: host.setupToken, password: 'short' });
    assert.equal(weak.body.code, 'INVALID_INPUT');
    assert.equal(weak.body.issues?.[0]?.path, 'password');

    const claimed = await anonymous.raw('auth.setup', { token: host.setupToken, password: ADMIN_PASSWORD });
    assert.equal(claimed.body.ok, true);
    const cookie = claimed.headers.get('set-cookie')!;
    assert.match(cookie, /^moat_session=[\w-]{40,};/);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.equal(existsSync(tokenFile), false, 'the token file is gone once used');
    assert.equal((await anonymous.call('auth.status', {})).state, 'ready');
    assert.equal((await anonymous.call('relay.status', {})).state, 'setup');
    // the screens' figures asked for before the relay runs are answered, not logged as refusals (an admin's review:
    // the log filled with them while the wizard was open)
    assert.equal((await anonymous.raw('dashboard.get', {})).body.code, 'RELAY_NOT_RUNNING');
    assert.equal(logged.filter((line) => /ADMIN_REFUSED/.test(line) && /RELAY_NOT_RUNNING/.test(line)).length, 0);

    const again = await world.client().raw('auth.setup', { token: 'anything', password: ADMIN_PASSWORD });
    assert.equal(again.body.code, 'ALREADY_SET_UP');
    // the log says who claimed it and from where, once; the refused tries are there too
    assert.deepEqual(logged.filter((line) => / ADMIN_CLAIMED /.test(line)).map((line) => line.replace(/^\S+ /, '').trim()), ['warn ADMIN_CLAIMED clientIp=127.0.0.1']);
    assert.equal(logged.filter((line) => /ADMIN_REFUSED .*code=BAD_SETUP_TOKEN/.test(line)).length, 1);
    await world.client().call('auth.login', { password: ADMIN_PASSWORD });
    assert.equal(logged.filter((line) => / ADMIN_LOGGED_IN clientIp=127\.0\.0\.1/.test(line)).length, 1);
    const stranger = world.client();
    assert.equal((await stranger.call('auth.status', {})).state, 'login');
    assert.equal((await stranger.raw('relay.status')).body.code, 'UNAUTHENTICATED');
  } finally {
    await world.stop();
  }
});

test('applying a configuration turns a fresh relay into one that accepts and delivers mail', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const world = await startHost();
  try {
    const admin = await world.admin();
    const partial = await admin.call('config.validate', { config: { domains: ['example.test'] }, complete: false });
    assert.deepEqual(partial.problems, []);
    const incomplete = await admin.call('config.validate', { config: { domains: ['example.test'] }, complete: true });
    assert.deepEqual(incomplete.problems.map((problem) => problem.path), ['internal.host']);
    const wrong = await admin.call('config.validate', { config: { domains: ['not a domain!'] }, complete: false });
    assert.equal(wrong.problems[0]!.path, 'domains.0');
    // an alert rule that does not exist cannot be switched off from the settings (it switched nothing off)
    const noSuchRule = await admin.call('config.validate', { config: { domains: ['example.test'], alerts: { disabled: ['disk-space'] } }, complete: false });
    assert.deepEqual(noSuchRule.problems.map((problem) => problem.path), ['alerts.disabled.0']);
    // a misspelt key is refused by validate and apply alike, and nothing is written
    const misspelt = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port }, recipents: { file: '/etc/passwd' } };
    assert.deepEqual((await admin.call('config.validate', { config: misspelt, complete: true })).problems.map((problem) => problem.path), ['recipents']);
    await assert.rejects(admin.call('config.apply', { config: misspelt }), /recipents/);
    assert.ok(!existsSync(join(world.dataDir, 'moat.json')), 'nothing written');
    // quarantine from 20 under the default refuse score (15) would keep nothing: said at the score that was set
    const scores = await admin.call('config.validate', { config: { domains: ['example.test'], filters: { quarantineScore: 20 } }, complete: false });
    assert.deepEqual(scores.problems, [{ path: 'filters.quarantineScore', message: 'the refuse score (15, the default) is below the quarantine score (20): the scores must rise from tag to quarantine to refuse (0 turns one off)' }]);

    const config = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, queue: { retryIntervalsSec: [1] }, filters: { enabled: false } };
    const applied = await admin.call('config.apply', { config });
    assert.deepEqual(applied, { state: 'running', error: null, notes: [] });
    assert.deepEqual(JSON.parse(readFileSync(join(world.dataDir, 'moat.json'), 'utf8')), config);
    const status = await admin.call('relay.status', {});
    assert.equal(status.state, 'running');
    assert.equal(status.appliedAt, status.startedAt, 'the Dashboard can say that an Apply restarted it');
    contract['relay.status'].output.parse(status);

    await send(mxPort(status.addresses.mx), 'alice@sender.test', ['bob@example.test'], message('after the wizard'));
    await sink.waitFor(1);
    assert.deepEqual(sink.messages[0]!.to, ['bob@example.test']);
    const saved = await admin.call('config.get', {});
    assert.deepEqual(saved.saved, config);
    assert.equal(saved.configured, true);
    assert.deepEqual(saved.overridden, ['mx.listen', 'shutdownGraceSec'], 'startHost sets these as the command line would');
    assert.ok(saved.keys.some((key) => key.key === 'mx.maxRecipients'));
    // the checklist learns from the host that the admin password is set
    const checklist = await admin.call('checklist.run', { probes: ['admin-password'] });
    assert.equal(checklist.probes.find((probe) => probe.id === 'admin-password')?.status, 'ok');
  } finally {
    await world.stop();
    await sink.stop();
  }
});

test('config.get names the keys the command line sets: the values in force come from it, the file\'s apply only without it', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = tempDir('moat-admin-overrides-');
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ mx: { listen: '192.0.2.1:25', maxRecipients: 50 }, shutdownGraceSec: 20 }));
  // startHost plays `--mx-listen 127.0.0.1:0` and sets shutdownGraceSec; this adds `--submission-listen`
  const world = await startHost({ submission: { listen: '127.0.0.1:0' } }, { dataDir });
  try {
    const admin = await world.admin();
    const view = contract['config.get'].output.parse(await admin.call('config.get', {}));
    assert.deepEqual(view.overridden, ['mx.listen', 'shutdownGraceSec', 'submission.listen']);
    assert.deepEqual(view.saved, { mx: { listen: '192.0.2.1:25', maxRecipients: 50 }, shutdownGraceSec: 20 }, 'the file as saved');
    const effective = view.effective as { mx: { listen: string; maxRecipients: number }; shutdownGraceSec: number };
    assert.deepEqual([effective.mx.listen, effective.shutdownGraceSec, effective.mx.maxRecipients], ['127.0.0.1:0', 1, 50], 'the flags win; the rest of the file applies');
  } finally {
    await world.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('an invalid configuration is refused with its problems at their fields, and nothing changes', { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  try {
    const admin = await world.admin();
    const answer = await admin.raw('config.apply', { config: { domains: ['example.test'], internal: { host: '127.0.0.1', port: 70000 } } });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.code, 'CONFIG_INVALID');
    assert.deepEqual(answer.body.issues?.map((issue) => issue.path), ['internal.port']);
    assert.equal(existsSync(join(world.dataDir, 'moat.json')), false);
    assert.equal(world.host.state, 'setup');
  } finally {
    await world.stop();
  }
});

test('a configuration that cannot start is rolled back: the old file and the old engine come back, also over a file damaged meanwhile', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const blocker = await heldPort();
  const taken = blocker.port;
  const dataDir = tempDir('moat-admin-');
  const good = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } };
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify(good));
  const world = await startHost({}, { dataDir });
  try {
    assert.equal(world.host.state, 'running');
    const admin = await world.admin();
    assert.equal((await admin.call('relay.status', {})).appliedAt, null, 'running since it started: no Apply to speak of');
    const answer = await admin.raw('config.apply', { config: { ...good, submission: { listen: `127.0.0.1:${taken}` } } });
    assert.equal(answer.body.code, 'APPLY_FAILED');
    // the setting named, as Settings shows it: the admin need not work out which of three addresses it was
    assert.equal(answer.body.message, `the new configuration could not be started (another program already listens on 127.0.0.1:${taken} (EADDRINUSE): change "STARTTLS listener address" (submission.listen) in Settings → Configuration → Accounts, or free that address); the previous one is back in force`);
    // and as an issue at that setting, for the page to mark its field
    assert.deepEqual(answer.body.issues, [{ path: 'submission.listen', message: `another program already listens on 127.0.0.1:${taken} (EADDRINUSE): the last Apply could not use it` }]);
    assert.deepEqual(JSON.parse(readFileSync(join(dataDir, 'moat.json'), 'utf8')), good);
    const status = await admin.call('relay.status', {});
    assert.equal(status.state, 'running');
    assert.equal(status.appliedAt, status.startedAt, 'the old settings are back, restarted by the Apply');
    await send(mxPort(status.addresses.mx), 'alice@sender.test', ['bob@example.test'], message('still running'));
    await sink.waitFor(1);

    // the file damaged under the running relay: config.get says so (an empty file would be edited and applied as
    // one), and a failed Apply puts its bytes back and the running settings too
    const damaged = '{"domains": ["exa';
    writeFileSync(join(dataDir, 'moat.json'), damaged);
    const got = await admin.raw('config.get', {});
    assert.equal(got.body.code, 'CONFIG_FILE_DAMAGED');
    assert.match(got.body.message!, /moat\.json cannot be read \(.*JSON.*\)\. The relay goes on with the settings it started with\./);
    const again = await admin.raw('config.apply', { config: { ...good, submission: { listen: `127.0.0.1:${taken}` } } });
    assert.equal(again.body.code, 'APPLY_FAILED');
    assert.match(again.body.message!, /the previous one is back in force$/);
    assert.equal(readFileSync(join(dataDir, 'moat.json'), 'utf8'), damaged, 'the file as it was, byte for byte');
    const after = await admin.call('relay.status', {});
    assert.equal(after.state, 'running');
    await send(mxPort(after.addresses.mx), 'alice@sender.test', ['bob@example.test'], message('after the failed apply'));
    await sink.waitFor(2);
  } finally {
    await world.stop();
    await blocker.release();
    await sink.stop();
  }
});

test('a relay that could not start (its mx port held by another program) says it tries again, and starts by itself once the port is free', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const blocker = await heldPort();
  const taken = blocker.port;
  const dataDir = tempDir('moat-admin-');
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } }));
  const world = await startHost({ mx: { listen: `127.0.0.1:${taken}` } }, { dataDir, startRetryMs: 1000 });
  try {
    const admin = await world.admin();
    const failed = await admin.call('relay.status', {});
    assert.equal(failed.state, 'failed');
    assert.match(failed.error ?? '', /^another program already listens on 127\.0\.0\.1:\d+ \(EADDRINUSE\): change "Inbound listener address" \(mx\.listen\) in Settings → Configuration → Domains and recipients, or free that address \(Moat tries to start it again every 1 s\)$/);
    // still held after two tries: still failed, the process still up
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal((await admin.call('relay.status', {})).state, 'failed');
    // an Apply that cannot start either (the port is still held) leaves it failed and tried again, not "set up first"
    const { saved } = await admin.call('config.get', {});
    const applied = await admin.raw('config.apply', { config: { ...saved, queue: { retryIntervalsSec: [60] } } });
    assert.equal(applied.body.code, 'APPLY_FAILED');
    assert.match(applied.body.message ?? '', /that configuration could not start either, and Moat tries it again/);
    assert.equal((await admin.call('relay.status', {})).state, 'failed');
    await blocker.release();
    await eventually(async () => (await admin.call('relay.status', {})).state === 'running', 10_000, 'the relay to start by itself');
    assert.match((await send(taken, 'alice@sender.test', ['bob@example.test'], message('after the port came free'))).response, /^250 /);
    await sink.waitFor(1);
  } finally {
    await world.stop();
    await blocker.release();
    await sink.stop();
  }
});

test('an admin action on a full disk says so in words (DISK_FULL), not "internal error", and the relay goes on', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  let engine: Relay | null = null;
  const world = await startHost({ domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } }, { onEngineStarted: (relay) => (engine = relay) });
  try {
    const admin = await world.admin();
    // SQLite's own page cap stands in for the disk: a write needing one more page fails with SQLITE_FULL
    const db = (engine as Relay | null)!.queue.store.db;
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    let refused: { code?: string; message?: string } | null = null;
    for (let i = 0; i < 500 && !refused; i++) {
      const answer = await admin.raw('senders.set', { list: 'deny', entry: `spammer${i}.test`, note: 'x'.repeat(200) });
      if (!answer.body.ok) refused = answer.body;
    }
    assert.equal(refused?.code, 'DISK_FULL');
    assert.match(refused?.message ?? '', /^a disk the relay writes to is full \(its data folder's, or the one moat\.json is on\): nothing was changed\. Free some space/);
    assert.equal((await admin.call('relay.status', {})).state, 'running');
  } finally {
    await world.stop();
    await sink.stop();
  }
});

test('a relay that could not start, its file damaged since: config.get says the file cannot be read and that the relay is not running', { timeout: TEST_TIMEOUT_MS }, async () => {
  const blocker = await heldPort();
  const taken = blocker.port;
  const dataDir = tempDir('moat-admin-');
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: 2525 }, filters: { enabled: false } }));
  const world = await startHost({ mx: { listen: `127.0.0.1:${taken}` } }, { dataDir });
  try {
    const admin = await world.admin();
    assert.equal((await admin.call('relay.status', {})).state, 'failed');
    writeFileSync(join(dataDir, 'moat.json'), '{"domains": ["exa');
    const got = await admin.raw('config.get', {});
    assert.equal(got.body.code, 'CONFIG_FILE_DAMAGED');
    assert.match(got.body.message!, /moat\.json cannot be read \(.*\)\. The relay is not running\. Put the file right/);
  } finally {
    await world.stop();
    await blocker.release();
  }
});

test('two windows that loaded the same settings: the second Apply is refused (CONFIG_CHANGED) instead of undoing the first; of five at once exactly one lands', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dataDir = tempDir('moat-admin-');
  const good = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } };
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify(good));
  const world = await startHost({}, { dataDir });
  try {
    const [tabA, tabB] = [await world.admin(), await world.admin()];
    const loaded = await tabA.call('config.get', {});
    assert.equal((await tabB.call('config.get', {})).revision, loaded.revision);
    await tabB.call('config.apply', { config: { ...good, domains: ['example.test', 'new-branch.test'] }, revision: loaded.revision });
    const late = await tabA.raw('config.apply', { config: { ...good, mx: { maxRecipients: 60 } }, revision: loaded.revision });
    assert.equal(late.status, 409);
    assert.equal(late.body.code, 'CONFIG_CHANGED');
    assert.match(late.body.message!, /changed elsewhere after this page loaded them .*reload/);
    const now = await tabA.call('config.get', {});
    assert.deepEqual(now.saved.domains, ['example.test', 'new-branch.test'], "B's domain is still there");
    assert.notEqual(now.revision, loaded.revision);

    const answers = await Promise.all([60, 61, 62, 63, 64].map((maxRecipients) => tabA.raw('config.apply', { config: { ...good, mx: { maxRecipients } }, revision: now.revision })));
    assert.deepEqual(answers.map((answer) => answer.body.ok ? 'ok' : answer.body.code).sort(), ['CONFIG_CHANGED', 'CONFIG_CHANGED', 'CONFIG_CHANGED', 'CONFIG_CHANGED', 'ok']);
    const winner = [60, 61, 62, 63, 64][answers.findIndex((answer) => answer.body.ok)];
    assert.deepEqual(JSON.parse(readFileSync(join(dataDir, 'moat.json'), 'utf8')).mx, { maxRecipients: winner });
  } finally {
    await world.stop();
    await sink.stop();
  }
});

test('a first configuration that cannot start leaves nothing saved, and says so rather than that a previous one is back', { timeout: TEST_TIMEOUT_MS }, async () => {
  const blocker = await heldPort();
  const taken = blocker.port;
  const world = await startHost();
  try {
    assert.equal(world.host.state, 'setup');
    const admin = await world.admin();
    const config = { domains: ['example.test'], internal: { host: '127.0.0.1', port: 2525, tls: 'none' }, filters: { enabled: false }, submission: { listen: `127.0.0.1:${taken}` } };
    const answer = await admin.raw('config.apply', { config });
    assert.equal(answer.body.code, 'APPLY_FAILED');
    assert.match(answer.body.message!, /EADDRINUSE.*; nothing was saved: Moat is still not set up$/);
    assert.equal(existsSync(join(world.dataDir, 'moat.json')), false);
    assert.equal(world.host.state, 'setup');
  } finally {
    await world.stop();
    await blocker.release();
  }
});

test('an apply that works says what it left undone: a users\' page that could not start, an admin address that moves only at the next start', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const blocker = await heldPort();
  const taken = `127.0.0.1:${blocker.port}`;
  const dataDir = tempDir('moat-admin-');
  const good = { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false }, admin: { listen: '127.0.0.1:0' } };
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify(good));
  // the admin address from the file, as a service started without --admin-listen has it
  const world = await startHost({}, { dataDir, adminListen: undefined });
  try {
    const admin = await world.admin();
    assert.deepEqual(await admin.call('config.apply', { config: good }), { state: 'running', error: null, notes: [] });
    const answer = await admin.call('config.apply', { config: { ...good, admin: { listen: '127.0.0.1:8027' }, quarantine: { userPage: { listen: taken } } } });
    assert.equal(answer.state, 'running');
    assert.equal(answer.notes.length, 2, answer.notes.join('\n'));
    assert.equal(answer.notes[0], `The users' quarantine page could not start: another program already listens on ${taken} (EADDRINUSE). Its links lead nowhere until that address is free or changed; the checklist's "user-page" item says when it listens.`);
    assert.equal(answer.notes[1], `The admin page stays at ${world.host.adminAddress} until moat serve is started again; then it moves to 127.0.0.1:8027.`);
  } finally {
    await world.stop();
    await blocker.release();
    await sink.stop();
  }
});

test('an apply that removes a domain with mail still queued for it says how much waits and where it goes; one that turns the admin page to HTTPS says it does so at the next start', { timeout: TEST_TIMEOUT_MS }, async () => {
  const port = await reservePort();
  const dataDir = tempDir('moat-admin-');
  const good = { domains: ['example.test', 'old-branch.test'], internal: { host: '127.0.0.1', port, tls: 'none' }, filters: { enabled: false }, queue: { retryIntervalsSec: [3600] } };
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify(good));
  const world = await startHost({}, { dataDir });
  try {
    const admin = await world.admin();
    const mx = mxPort((await admin.call('relay.status', {})).addresses.mx);
    // the internal server is down: the mail waits
    await send(mx, 'alice@sender.test', ['bob@old-branch.test', 'carol@old-branch.test'], message('to the old branch'));
    await send(mx, 'alice@sender.test', ['dave@example.test'], message('to the office'));
    const store = world.host.relay!.queue.store;
    await eventually(async () => store.pendingAtDomain('old-branch.test') === 2 && (store.db.prepare('SELECT COUNT(*) AS n FROM recipients WHERE attempts > 0').get() as { n: number }).n === 3, 15_000, 'the three tried once');
    const removed = await admin.call('config.apply', { config: { ...good, domains: ['example.test'] } });
    assert.deepEqual(removed.notes, ['2 recipients at old-branch.test, no longer an accepted domain, still wait in the queue: accepted while the domain was yours, they go to the internal server as before. Delete them in the Queue if they should not.']);
    const tls = await admin.call('config.apply', { config: { ...good, domains: ['example.test'], admin: { tls: { enabled: true } } } });
    assert.deepEqual(tls.notes, [`The admin page stays on http:// until moat serve is started again; then it is served on https:// only (https://${world.host.adminAddress}/): bookmarks and tunnels to http:// stop working.`]);
  } finally {
    await world.stop();
  }
});

test('log-in: a wrong password is refused, and an address is rate limited after repeated failures', { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  try {
    await world.admin();
    const client = world.client();
    for (let i = 0; i < LOGIN_FAILURES_PER_IP; i++) {
      const wrong = await client.raw('auth.login', { password: `wrong password ${i}` });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.code, 'WRONG_PASSWORD');
      assert.equal(wrong.headers.get('set-cookie'), null);
    }
    const limited = await client.raw('auth.login', { password: ADMIN_PASSWORD });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.code, 'LOGIN_RATE_LIMITED');
    // how long, as the counting window (admin-auth.ts LOGIN_WINDOW_MS) is long
    assert.match(String(limited.body.message), /wait 15 minutes, then try again/);
    assert.equal(client.cookie, null);
  } finally {
    await world.stop();
  }
});

test('a session ends at log-out, and a password change ends the other sessions', { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  try {
    const first = await world.admin();
    const second = await world.admin();
    await first.call('auth.changePassword', { current: ADMIN_PASSWORD, password: 'a brand new passphrase' });
    assert.equal((await first.call('auth.status', {})).state, 'ready');
    assert.equal((await second.call('auth.status', {})).state, 'login');
    const wrongCurrent = await first.raw('auth.changePassword', { current: 'not it at all', password: 'another new passphrase' });
    assert.equal(wrongCurrent.body.code, 'WRONG_PASSWORD');
    const cookie = first.cookie;
    await first.call('auth.logout', {});
    assert.equal(first.cookie, null);
    const replay = new AdminClient(world.base);
    replay.cookie = cookie;
    assert.equal((await replay.call('auth.status', {})).state, 'login');
    await world.admin('a brand new passphrase');
  } finally {
    await world.stop();
  }
});

test('a cookie session needs the CSRF header; the desktop bearer token needs none and a wrong one is nobody', { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost({}, { adminToken: 'desktop-token-0123456789' });
  try {
    const admin = await world.admin();
    const csrf = admin.csrf;
    admin.csrf = null;
    const missing = await admin.raw('relay.status');
    assert.equal(missing.status, 403);
    assert.equal(missing.body.code, 'CSRF');
    admin.csrf = 'forged';
    assert.equal((await admin.raw('relay.status')).body.code, 'CSRF');
    admin.csrf = csrf;
    assert.equal((await admin.raw('relay.status')).body.ok, true);

    const desktop = world.client();
    assert.equal((await desktop.raw('relay.status', {}, { authorization: 'Bearer desktop-token-0123456789' })).body.ok, true);
    assert.equal((await desktop.raw('relay.status', {}, { authorization: 'Bearer desktop-token-wrong' })).body.code, 'UNAUTHENTICATED');
  } finally {
    await world.stop();
  }
});

test('requests must be JSON, small, for a known method, with valid input', { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  try {
    const admin = await world.admin();
    const form = await admin.raw('relay.status', 'a=1', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 415);
    assert.equal(form.body.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.equal((await admin.raw('relay.status', '{not json')).body.code, 'INVALID_JSON');
    const big = await admin.raw('config.validate', JSON.stringify({ config: { note: 'x'.repeat(MAX_BODY_BYTES) } }));
    assert.equal(big.status, 413);
    assert.equal((await admin.raw('no.such.method')).body.code, 'UNKNOWN_METHOD');
    assert.equal((await admin.raw('__proto__')).body.code, 'UNKNOWN_METHOD');
    const extra = await admin.raw('relay.status', { surprise: true });
    assert.equal(extra.body.code, 'INVALID_INPUT');
    const get = await rawGet(`${world.base}/api/relay.status`);
    assert.equal(get.status, 405);
  } finally {
    await world.stop();
  }
});

test('the Host and Origin checks refuse DNS rebinding and cross-site requests', { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  try {
    const rebinding = await rawGet(`${world.base}/healthz`, { host: 'attacker.example' });
    assert.equal(rebinding.status, 421);
    assert.match(rebinding.body, /BAD_HOST/);
    const admin = await world.admin();
    const crossSite = await admin.raw('relay.status', {}, { origin: 'http://attacker.example' });
    assert.equal(crossSite.body.code, 'BAD_ORIGIN');
    for (const site of ['cross-site', 'same-site']) {
      const fetchSite = await admin.raw('relay.status', {}, { 'sec-fetch-site': site });
      assert.equal(fetchSite.body.code, 'BAD_ORIGIN', `Sec-Fetch-Site: ${site} (another port of this host is another site to the admin page)`);
    }
    // a target the URL parser reads with a host of its own ("//x/api/…") kept its API path but skipped this check
    const session = { cookie: admin.cookie!, 'sec-fetch-site': 'same-site' };
    assert.match((await rawGet(`${world.base}/`, session, '/api/relay.status')).body, /BAD_ORIGIN/);
    for (const target of ['//x/api/relay.status', '/\\x/api/relay.status', `${world.base}/api/relay.status`, '*']) {
      const answer = await rawGet(`${world.base}/`, session, target);
      assert.equal(answer.status, 400, target);
      assert.match(answer.body, /"code":"BAD_TARGET"/, target);
    }
    const otherScheme = await admin.raw('relay.status', {}, { origin: world.base.replace('http:', 'https:') });
    assert.equal(otherScheme.body.code, 'BAD_ORIGIN', 'an https page is not the origin of this http listener');
    assert.equal((await admin.raw('relay.status', {}, { 'sec-fetch-site': 'same-origin' })).body.ok, true);
    const linkedFromNextDoor = await rawGet(`${world.base}/`, { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'navigate' });
    assert.doesNotMatch(linkedFromNextDoor.body, /BAD_ORIGIN/, 'a link from another port of the host opens the admin page (its API stays closed to that site)');
    const sameOrigin = await admin.raw('relay.status', {}, { origin: world.base });
    assert.equal(sameOrigin.body.ok, true);
    assert.equal((await rawGet(`${world.base}/healthz`, { host: 'localhost' })).status !== 421, true);
  } finally {
    await world.stop();
  }
});

test('live events: new mail shows as received and queue events without a reload', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = tempDir('moat-admin-');
  // nothing listens on port 9 of 127.0.0.1, so the message stays queued
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: 9, tls: 'none' }, filters: { enabled: false } }));
  const world = await startHost({}, { dataDir });
  try {
    const admin = await world.admin();
    assert.equal((await rawGet(`${world.base}/api/events`)).status, 401);
    const mx = mxPort(world.host.status().addresses.mx);
    // the stream opens with the relay's state; the mail is sent once the stream is open
    let sending: Promise<unknown> | null = null;
    const seen = await readEvents(world.base, admin.cookie, (name, data) => {
      if (name === 'relay') sending ??= send(mx, 'alice@sender.test', ['bob@example.test'], message('live'));
      return name === 'queue' && (data as { size: number }).size === 1;
    });
    await sending;
    assert.equal(seen[0]!.name, 'relay');
    assert.ok(seen.some((event) => event.name === 'received' && (event.data as { sender: string }).sender === 'alice@sender.test'));
    for (const event of seen) eventSchemas[event.name as keyof typeof eventSchemas].parse(event.data);
  } finally {
    await world.stop();
  }
});

test('live events: mail Moat writes itself (an alert, a digest, a bounce notice) updates the queue count as received mail does', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dataDir = tempDir('moat-admin-');
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: 9, tls: 'none' }, filters: { enabled: false } }));
  let engine: Relay | null = null;
  const world = await startHost({}, { dataDir, onEngineStarted: (relay) => (engine = relay) });
  try {
    const admin = await world.admin();
    let writing: Promise<unknown> | null = null;
    const seen = await readEvents(world.base, admin.cookie, (name, data) => {
      writing ??= (engine as Relay | null)!.queue.enqueueGenerated('From: Moat <postmaster@example.test>\r\nTo: it@example.test\r\nSubject: an alert\r\n\r\nbody\r\n', '', ['it@example.test'], 'mail');
      return name === 'queue' && (data as { size: number }).size === 1;
    });
    await writing;
    assert.ok(!seen.some((event) => event.name === 'received'), 'nothing was received: the count follows the mail Moat wrote');
  } finally {
    await world.stop();
  }
});

/** An event stream on a socket of its own that is never read from: its status code, and the socket. */
function unreadStream(base: string, cookie: string): Promise<{ status: number; socket: Socket }> {
  const target = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.hostname, port: Number(target.port) });
    socket.once('error', reject);
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))?.[1] ?? 0), socket });
    });
    socket.write(`GET /api/events HTTP/1.1\r\nHost: ${target.host}\r\nCookie: ${cookie}\r\n\r\n`);
  });
}

test('live views: a session holds at most 8 streams, and one that stops reading is cut off, not buffered', { timeout: TEST_TIMEOUT_MS }, async () => {
  const world = await startHost();
  try {
    const greedy = await world.admin();
    const other = await world.admin();
    const opened = await Promise.all(Array.from({ length: MAX_EVENT_CLIENTS_PER_OWNER + 1 }, () => unreadStream(world.base, greedy.cookie!)));
    assert.deepEqual(opened.map((stream) => stream.status).sort(), [...Array(MAX_EVENT_CLIENTS_PER_OWNER).fill(200), 503]);
    const stalled = opened.filter((stream) => stream.status === 200).map((stream) => new Promise<void>((resolve) => stream.socket.once('close', () => resolve())));
    for (const stream of opened) stream.socket.on('error', () => {});

    // another session still gets its view, and keeps it while it reads, however much goes through
    const padding = 'x'.repeat(64 * 1024);
    let published = 0;
    const reading = readEvents(world.base, other.cookie, (name, data) => name === 'relay' && (data as { n?: number }).n === 199);
    await eventually(async () => world.host.events.size === MAX_EVENT_CLIENTS_PER_OWNER + 1, 10_000, 'the reader listening');
    for (; published < 200; published++) {
      world.host.events.publish('relay' as never, { n: published, padding } as never);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await reading;
    assert.equal(world.host.events.size, 1, 'only the stream that reads is left');
    // what a stalled client finds once it reads again: the end of its stream
    for (const stream of opened) stream.socket.resume();
    await Promise.all(stalled);
    assert.ok(200 * padding.length > 4 * MAX_UNREAD_BYTES * MAX_EVENT_CLIENTS_PER_OWNER, 'far more was published than the streams may hold');
  } finally {
    await world.stop();
  }
});

test('the UI files are served with a strict content security policy, and no path leaves the build folder', { timeout: TEST_TIMEOUT_MS }, async () => {
  const uiDir = tempDir('moat-ui-');
  mkdirSync(join(uiDir, 'assets'));
  writeFileSync(join(uiDir, 'index.html'), '<!doctype html><title>Moat</title><script type="module" src="./assets/app.js"></script>');
  writeFileSync(join(uiDir, 'assets', 'app.js'), 'console.log("moat")');
  writeFileSync(join(uiDir, '.hidden'), 'secret');
  writeFileSync(join(uiDir, '..', 'outside.txt'), 'secret');
  // what is not part of a build is never handed out: a backup written there, a database, a key, a file without a type
  for (const name of ['moat-backup-20261205-1200.moat', 'moat.db', 'key.pem', 'README', 'moat.json', 'notes.txt']) writeFileSync(join(uiDir, name), 'secret');
  const world = await startHost({}, { uiDir });
  try {
    const page = await rawGet(`${world.base}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'; script-src 'self'/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    const script = await rawGet(`${world.base}/assets/app.js`);
    assert.equal(script.status, 200);
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
    assert.match(String(script.headers['cache-control']), /immutable/);
    for (const path of ['/../outside.txt', '/%2e%2e/outside.txt', '/assets/..%2f..%2foutside.txt', '/.hidden', '/%00', '/nothing-here', '/moat-backup-20261205-1200.moat', '/moat.db', '/key.pem', '/README', '/moat.json', '/notes.txt']) {
      const answer = await rawGet(`${world.base}/`, {}, path);
      assert.equal(answer.status, 404, path);
      assert.doesNotMatch(answer.body, /secret/, path);
    }
  } finally {
    await world.stop();
  }
});

test('the admin listener leaves loopback only with TLS, and then speaks HTTPS', { timeout: TEST_TIMEOUT_MS }, async () => {
  const plain = validateConfig({ admin: { listen: '0.0.0.0:8025' } });
  assert.equal(plain.ok, false);
  assert.equal(validateConfig({ admin: { listen: '0.0.0.0:8025', tls: { enabled: true } } }).ok, true);
  const world = await startHost({ admin: { tls: { enabled: true } } });
  try {
    const post = (headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(`https://${world.host.adminAddress}/api/auth.status`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        });
        req.on('error', reject);
        req.end('{}');
      });
    const { status, body } = await post();
    assert.equal(status, 200);
    assert.equal(JSON.parse(body).result.state, 'setup');
    assert.equal((await post({ origin: `https://${world.host.adminAddress}` })).status, 200, 'the page it serves over TLS is its own origin');
    assert.match((await post({ origin: `http://${world.host.adminAddress}` })).body, /BAD_ORIGIN/, 'a plain-http page on that host and port is not');
    await assert.rejects(rawGet(`http://${world.host.adminAddress}/healthz`));
  } finally {
    await world.stop();
  }
});

test('relay.status lists the hops (the internal server), not each remote domain: one dead domain out there is not the relay\'s health', { timeout: TEST_TIMEOUT_MS }, async () => {
  // the internal server refuses the recipient, so Moat bounces to the sender's domain, whose MX answers nothing
  const sink = await Sink.start({ onRecipient: () => ({ code: 550, text: '5.1.1 no such user' }) });
  const closed = await reservePort();
  // partner.test's SPF record lets the test client send for it: only a sender vouched for gets the bounce (queue/dsn-policy.ts)
  const world = await startHost(
    { domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, outbound: { mxPort: closed, allowPrivateMxAddresses: true }, filters: { enabled: true } },
    { relayOptions: { resolver: fixtureResolver({ 'partner.test': [{ exchange: 'mx.partner.test', priority: 10 }] }, { 'mx.partner.test': ['127.0.0.1'] }, { 'partner.test': ['v=spf1 ip4:127.0.0.1 -all'] }) } },
  );
  try {
    const admin = await world.admin();
    const status = await admin.call('relay.status', {});
    await send(mxPort(status.addresses.mx), 'alice@partner.test', ['nobody@example.test'], message('to nobody'));
    await eventually(async () => world.host.relay?.routeStates().some((state) => state.route === 'mx:partner.test' && state.state === 'down') ?? false, 20_000, 'the DSN route down');
    const routes = (await admin.call('relay.status', {})).routes;
    assert.deepEqual(routes.map((route) => [route.route, route.state]), [['internal', 'up']]);
  } finally {
    await world.stop();
    await sink.stop();
  }
});
