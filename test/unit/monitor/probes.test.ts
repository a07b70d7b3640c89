import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { validateConfig } from '../../../src-relay/config/load.ts';
import {
  adminListenerProbe,
  userPageProbe,
  adminPasswordProbe,
  alertMailProbe,
  backupProbe,
  clamavProbe,
  compareVersions,
  moatVersionProbe,
  nodeRuntimeProbe,
  osUpdatesProbe,
  parseAptSimulation,
  parseUpdateNotifier,
  rebootProbe,
  spamEnginesProbe,
  tlsProbe,
  type CommandRunner,
  type ProbeContext,
} from '../../../src-relay/monitor/probes.ts';
import { defaultHooks } from '../../../src-relay/monitor/default-hooks.ts';
import { rspamdPing } from '../../../src-relay/filters/rspamd.ts';
import { spamdPing } from '../../../src-relay/filters/spamd.ts';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { closedPort, fakeRspamd, fakeSpamd, type PingServer } from '../../helpers/engine-pings.ts';

const NOW = Date.parse('2026-11-28T10:00:00Z');
const roots: string[] = [];
after(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});
/** A fake "/" for one test. */
function fakeRoot(): string {
  const dir = tempDir('moat-root-');
  roots.push(dir);
  return dir;
}

function context(overrides: Partial<ProbeContext> = {}): ProbeContext {
  const result = validateConfig({ domains: ['example.test'], internal: { host: '127.0.0.1' } });
  if (!result.ok) throw new Error('bad config');
  return {
    now: NOW,
    config: result.config,
    dataDir: '/nonexistent',
    hostname: 'relay.example.test',
    platform: 'linux',
    root: fakeRoot(),
    run: async () => {
      throw Object.assign(new Error('spawn apt-get ENOENT'), { code: 'ENOENT' });
    },
    kernelRelease: '6.1.0-27-amd64',
    nodeVersion: 'v22.11.0',
    // a fixed range, so the end-of-life verdicts below do not move with package.json (its range: node-runtime.test.ts)
    nodeRange: '>=16',
    moatVersion: '0.1.0',
    mxAddress: null,
    adminAddress: '127.0.0.1:8025',
    tls: () => null,
    servedCertificate: () => null,
    lastBackup: () => null,
    lastBackupError: () => null,
    hooks: {},
    ...overrides,
  };
}

/** A fake / with the files a Debian box has. */
function debianRoot(options: { listsAgeDays?: number } = {}): string {
  const root = fakeRoot();
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  writeFileSync(join(root, 'usr/bin/apt-get'), '');
  mkdirSync(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
  const at = (NOW - (options.listsAgeDays ?? 0.1) * 86400_000) / 1000;
  utimesSync(join(root, 'var/lib/apt/lists/partial'), at, at);
  return root;
}

const APT_DEBIAN = `NOTE: This is only a simulation!
Reading package lists...
Calculating upgrade...
The following packages will be upgraded:
  libssl3 openssl tzdata
Inst libssl3 [3.0.11-1~deb12u1] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst openssl [3.0.11-1~deb12u1] (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst tzdata [2024a-0+deb12u1] (2024b-0+deb12u1 Debian:12.8/stable [all])
Conf libssl3 (3.0.15-1~deb12u1 Debian-Security:12/stable-security [amd64])
`;
const APT_UBUNTU = `Inst libc6 [2.35-0ubuntu3.6] (2.35-0ubuntu3.8 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])
Inst snapd [2.61] (2.63 Ubuntu:22.04/jammy-updates [amd64])
`;
const APT_NOTHING = `Reading package lists...\nCalculating upgrade...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n`;

const fixture = (stdout: string, code = 0): CommandRunner => async (command, args) => {
  assert.equal(command, 'apt-get');
  assert.deepEqual(args, ['-s', '-q', 'dist-upgrade'], 'a simulation only, never a real upgrade');
  return { code, stdout, stderr: code ? 'E: Could not open lock file' : '' };
};

test('apt simulation output: security updates are the ones from a -security suite (Debian and Ubuntu)', () => {
  assert.deepEqual(parseAptSimulation(APT_DEBIAN), { total: 3, security: ['libssl3', 'openssl'], other: ['tzdata'] });
  assert.deepEqual(parseAptSimulation(APT_UBUNTU), { total: 2, security: ['libc6'], other: ['snapd'] });
  assert.deepEqual(parseAptSimulation(APT_NOTHING), { total: 0, security: [], other: [] });
});

test("Ubuntu's update-notifier text is read too", () => {
  assert.deepEqual(parseUpdateNotifier('\n12 updates can be applied immediately.\n5 of these updates are standard security updates.\n'), { total: 12, security: 5 });
  assert.deepEqual(parseUpdateNotifier('0 updates can be applied immediately.\n'), { total: 0, security: 0 });
  assert.equal(parseUpdateNotifier('something else entirely'), null);
});

test('pending security updates make the OS probe fail, naming the packages', async () => {
  const outcome = await osUpdatesProbe.run(context({ root: debianRoot(), run: fixture(APT_DEBIAN) }));
  assert.equal(outcome.status, 'failing');
  assert.match(outcome.detail, /2 security update\(s\) pending: libssl3, openssl/);
  assert.ok(outcome.hint);
});

test('no pending security update with fresh package lists is ok; with old lists it is a warning', async () => {
  const fresh = await osUpdatesProbe.run(context({ root: debianRoot(), run: fixture(APT_NOTHING) }));
  assert.equal(fresh.status, 'ok');
  const stale = await osUpdatesProbe.run(context({ root: debianRoot({ listsAgeDays: 30 }), run: fixture(APT_NOTHING) }));
  assert.equal(stale.status, 'warning');
  assert.match(stale.detail, /30 days old/);
});

test('when apt cannot tell, the OS probe says unknown, not ok', async () => {
  const broken = await osUpdatesProbe.run(context({ root: debianRoot(), run: fixture('', 100) }));
  assert.equal(broken.status, 'unknown');
  assert.match(broken.detail, /exited with 100/);
  const missing = await osUpdatesProbe.run(context({ root: debianRoot() }));
  assert.equal(missing.status, 'unknown');
  const root = debianRoot();
  mkdirSync(join(root, 'var/lib/update-notifier'), { recursive: true });
  writeFileSync(join(root, 'var/lib/update-notifier/updates-available'), '3 updates can be applied immediately.\n1 of these updates is a standard security update.\n');
  const notifier = await osUpdatesProbe.run(context({ root }));
  assert.equal(notifier.status, 'failing', 'the update-notifier file is used when apt-get cannot run');
});

test('other systems: no apt is unknown; Windows reads the last installed update', async () => {
  assert.equal((await osUpdatesProbe.run(context())).status, 'unknown', 'Linux without apt');
  assert.equal((await osUpdatesProbe.run(context({ platform: 'darwin' }))).status, 'unknown');
  const windows = (days: number): CommandRunner => async (command) => {
    assert.equal(command, 'powershell.exe');
    return { code: 0, stdout: `KB5044284 ${new Date(NOW - days * 86400_000).toISOString().slice(0, 10)}\r\n`, stderr: '' };
  };
  assert.equal((await osUpdatesProbe.run(context({ platform: 'win32', run: windows(10) }))).status, 'ok');
  assert.equal((await osUpdatesProbe.run(context({ platform: 'win32', run: windows(90) }))).status, 'warning');
  assert.equal((await osUpdatesProbe.run(context({ platform: 'win32', run: async () => ({ code: 1, stdout: '', stderr: 'denied' }) }))).status, 'unknown');
});

test('reboot required: the flag file, a newer installed kernel, or unknown when neither can be seen', async () => {
  const flagged = fakeRoot();
  mkdirSync(join(flagged, 'var/run'), { recursive: true });
  writeFileSync(join(flagged, 'var/run/reboot-required'), '*** System restart required ***\n');
  writeFileSync(join(flagged, 'var/run/reboot-required.pkgs'), 'linux-image-6.1.0-28-amd64\nlibc6\n');
  const flag = await rebootProbe.run(context({ root: flagged }));
  assert.equal(flag.status, 'warning');
  assert.match(flag.detail, /linux-image-6\.1\.0-28-amd64, libc6/);
  const boot = fakeRoot();
  mkdirSync(join(boot, 'boot'));
  writeFileSync(join(boot, 'boot/vmlinuz-6.1.0-27-amd64'), '');
  writeFileSync(join(boot, 'boot/vmlinuz-6.1.0-9-amd64'), '');
  assert.equal((await rebootProbe.run(context({ root: boot }))).status, 'ok', '27 is newer than 9');
  writeFileSync(join(boot, 'boot/vmlinuz-6.1.0-28-amd64'), '');
  const newer = await rebootProbe.run(context({ root: boot }));
  assert.equal(newer.status, 'warning');
  assert.match(newer.detail, /6\.1\.0-28-amd64 is installed but 6\.1\.0-27-amd64 is running/);
  assert.equal((await rebootProbe.run(context())).status, 'unknown', 'a container: no flag, no /boot');
  assert.equal((await rebootProbe.run(context({ platform: 'win32' }))).status, 'unknown');
  assert.ok(compareVersions('6.1.0-10', '6.1.0-9') > 0);
});

test('Node.js runtime: past its end of life fails, near it warns, an unknown line is unknown', async () => {
  assert.equal((await nodeRuntimeProbe.run(context({ nodeVersion: 'v20.19.0' }))).status, 'failing');
  assert.equal((await nodeRuntimeProbe.run(context({ nodeVersion: 'v22.11.0' }))).status, 'ok');
  assert.equal((await nodeRuntimeProbe.run(context({ nodeVersion: 'v22.11.0', now: Date.parse('2027-03-01T00:00:00Z') }))).status, 'warning');
  assert.equal((await nodeRuntimeProbe.run(context({ nodeVersion: 'v99.0.0' }))).status, 'unknown');
  assert.equal((await nodeRuntimeProbe.run(context({ electronVersion: '33.0.0' }))).status, 'unknown', "Electron's age is not judged yet");
  assert.equal((await nodeRuntimeProbe.run(context({ nodeVersion: 'v22.11.0', nodeRange: '>=22.12.0' }))).status, 'warning', 'outside the supported range');
  assert.equal((await nodeRuntimeProbe.run(context({ nodeRange: null }))).status, 'unknown', 'the range could not be read');
});

test("Moat's version, ClamAV, spam engines and the admin password are unknown until something can tell", async () => {
  for (const probe of [moatVersionProbe, clamavProbe, spamEnginesProbe, adminPasswordProbe]) {
    const outcome = await probe.run(context());
    assert.equal(outcome.status, 'unknown', probe.id);
    assert.ok(outcome.detail.length > 10);
  }
  assert.equal((await moatVersionProbe.run(context({ hooks: { latestMoatVersion: async () => '0.2.0' } }))).status, 'warning');
  assert.equal((await moatVersionProbe.run(context({ hooks: { latestMoatVersion: async () => '0.1.0' } }))).status, 'ok');
  assert.equal((await clamavProbe.run(context({ hooks: { clamav: async () => null } }))).status, 'failing');
  assert.equal((await clamavProbe.run(context({ hooks: { clamav: async () => ({ version: 'ClamAV 1.0.7', signatureDate: new Date(NOW - 3600_000) }) } }))).status, 'ok');
  assert.equal((await adminPasswordProbe.run(context({ hooks: { adminPasswordSet: () => false } }))).status, 'failing');
});

test('TLS certificate: ok, expiring soon, expired, or not matching its key', async () => {
  const make = async (days: number) =>
    generate([{ name: 'commonName', value: 'relay.example.test' }], { keySize: 2048, notBeforeDate: new Date(NOW - 86400_000), notAfterDate: new Date(NOW + days * 86400_000) });
  const good = await make(300);
  const soon = await make(5);
  const ok = await tlsProbe.run(context({ tls: () => ({ cert: Buffer.from(good.cert), key: Buffer.from(good.private), selfSigned: true }) }));
  assert.equal(ok.status, 'ok');
  assert.match(ok.detail, /CN=relay\.example\.test \(self-signed\)/);
  assert.equal((await tlsProbe.run(context({ tls: () => ({ cert: Buffer.from(soon.cert), key: Buffer.from(soon.private), selfSigned: true }) }))).status, 'warning');
  const expired = await tlsProbe.run(context({ now: NOW + 10 * 86400_000, tls: () => ({ cert: Buffer.from(soon.cert), key: Buffer.from(soon.private), selfSigned: true }) }));
  assert.equal(expired.status, 'failing');
  const mismatch = await tlsProbe.run(context({ tls: () => ({ cert: Buffer.from(good.cert), key: Buffer.from(soon.private), selfSigned: true }) }));
  assert.equal(mismatch.status, 'failing');
  assert.match(mismatch.detail, /does not belong/);
  assert.equal((await tlsProbe.run(context())).status, 'unknown');
});

test('TLS certificate: a served certificate other than the files is named beside them, never hidden behind their ok', async () => {
  const make = async (name: string, days: number) =>
    generate([{ name: 'commonName', value: name }], { keySize: 2048, notBeforeDate: new Date(NOW - 86400_000), notAfterDate: new Date(NOW + days * 86400_000) });
  const [served, renewed] = await Promise.all([make('old.example.test', 20), make('new.example.test', 300)]);
  const files = { cert: Buffer.from(renewed.cert), key: Buffer.from(renewed.private), selfSigned: false };
  const same = await tlsProbe.run(context({ tls: () => files, servedCertificate: () => ({ cert: Buffer.from(renewed.cert), loadedAt: NOW }) }));
  assert.equal(same.status, 'ok');
  assert.doesNotMatch(same.detail, /listeners serve/);
  const pending = await tlsProbe.run(context({ tls: () => files, servedCertificate: () => ({ cert: Buffer.from(served.cert), loadedAt: NOW }) }));
  assert.equal(pending.status, 'warning');
  assert.match(pending.detail, /the listeners serve CN=old\.example\.test.*the files hold another, not served yet: CN=new\.example\.test/);
  const broken = await tlsProbe.run(context({ tls: () => ({ ...files, key: Buffer.from(served.private) }), servedCertificate: () => ({ cert: Buffer.from(served.cert), loadedAt: NOW }) }));
  assert.equal(broken.status, 'failing');
  assert.match(broken.detail, /does not belong.*the listeners serve CN=old\.example\.test/);
  const gone = await tlsProbe.run(context({ tls: () => null, servedCertificate: () => ({ cert: Buffer.from(served.cert), loadedAt: NOW }) }));
  assert.equal(gone.status, 'failing');
  assert.match(gone.detail, /missing.*the listeners serve/);
});

test("the users' page probe cannot tell from a process where no relay runs (moat checklist run alone): unknown, never ok", async () => {
  const result = validateConfig({ domains: ['example.test'], internal: { host: '127.0.0.1' }, quarantine: { userPage: { listen: '127.0.0.1:8026' } } });
  if (!result.ok) throw new Error('bad config');
  const alone = await userPageProbe.run(context({ config: result.config }));
  assert.equal(alone.status, 'unknown');
  assert.match(alone.detail, /127\.0\.0\.1:8026/);
  assert.equal((await userPageProbe.run(context({ config: result.config, userPage: { address: null, error: 'listen EADDRINUSE' } }))).status, 'failing');
});

test('admin listener and backup age', async () => {
  assert.equal((await adminListenerProbe.run(context())).status, 'ok');
  assert.equal((await adminListenerProbe.run(context({ adminAddress: null, adminError: 'listen EADDRINUSE' }))).status, 'failing');
  assert.equal((await backupProbe.run(context())).status, 'warning');
  const fresh = await backupProbe.run(context({ lastBackup: () => ({ at: NOW - 86400_000, file: '/b/x.moat' }) }));
  assert.equal(fresh.status, 'ok');
  // when, not how long ago: the result is read for hours after the check, and an age would stand still
  assert.equal(fresh.detail, `last backup on ${new Date(NOW - 86400_000).toISOString().slice(0, 10)} at ${new Date(NOW - 86400_000).toISOString().slice(11, 16)} UTC (/b/x.moat)`);
  assert.equal((await backupProbe.run(context({ lastBackup: () => ({ at: NOW - 30 * 86400_000, file: '/b/x.moat' }) }))).status, 'warning');
  const failed = await backupProbe.run(context({ lastBackup: () => ({ at: NOW - 86400_000, file: '/b/x.moat' }), lastBackupError: () => ({ at: NOW - 3600_000, error: 'ENOSPC' }) }));
  assert.equal(failed.status, 'failing');
  assert.match(failed.detail, /ENOSPC/);
});

// ---------------------------------------------------------------------------------------------- spam engines
// The probe is a plain reachability check (rspamd's GET /ping, spamd's PING), so tiny local servers giving exactly
// those answers stand in for the daemons (test/helpers/engine-pings.ts); scoring by the real ones is in test/daemons.

const pingServers: PingServer[] = [];
after(async () => {
  for (const server of pingServers) await server.stop();
});
async function started(server: Promise<PingServer>): Promise<string> {
  const ping = await server;
  pingServers.push(ping);
  return ping.address;
}

/** The probe as the relay and `moat checklist run` wire it: the default hooks over this configuration. */
async function spamProbe(filters: Record<string, unknown>): Promise<import('../../../src-relay/monitor/types.ts').ProbeOutcome> {
  const result = validateConfig({ domains: ['example.test'], internal: { host: '127.0.0.1' }, filters });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const dir = fakeRoot();
  const db = openDatabase(dir);
  try {
    return await spamEnginesProbe.run(context({ config: result.config, hooks: defaultHooks(result.config, db) }));
  } finally {
    db.close();
  }
}

test('the spam-engine probe reports ok when the configured rspamd and spamd answer their pings', async () => {
  const rspamd = await started(fakeRspamd());
  const spamd = await started(fakeSpamd());
  const outcome = await spamProbe({ rspamd: { address: rspamd }, spamd: { address: spamd } });
  assert.equal(outcome.status, 'ok');
  assert.equal(outcome.detail, `answering: rspamd at ${rspamd}, spamd at ${spamd}`);
});

test('with no spam engine configured the probe says only the built-in rules are in use', async () => {
  const outcome = await spamProbe({});
  assert.equal(outcome.status, 'ok');
  assert.match(outcome.detail, /no spam engine is configured/);
});

test('a configured spam engine that does not answer fails the probe, named with the reason, and says what mail meets meanwhile', async () => {
  const down = await closedPort();
  const spamd = await started(fakeSpamd());
  const closed = await spamProbe({ rspamd: { address: down }, spamd: { address: spamd } });
  assert.equal(closed.status, 'failing');
  assert.match(closed.detail, new RegExp(`^not answering: rspamd at ${down.replace(/\./g, '\\.')} \\(.*ECONNREFUSED.*\\)$`));
  assert.doesNotMatch(closed.detail, /, spamd at/, 'the engine that answers is not listed as down');
  assert.match(closed.hint!, /refused with 451/);
  const open = await spamProbe({ spamd: { address: down }, failMode: { spamd: 'open' } });
  assert.equal(open.status, 'failing');
  assert.match(open.hint!, /delivered tagged, unchecked/);
});

test('something else on the engine port is not an answering engine: an HTTP 404 or a wrong greeting fails the probe', async () => {
  const notRspamd = await started(fakeRspamd({ status: 404, body: 'no such page' }));
  const notSpamd = await started(fakeSpamd('220 mail.example.test ESMTP\r\n'));
  const outcome = await spamProbe({ rspamd: { address: notRspamd }, spamd: { address: notSpamd } });
  assert.equal(outcome.status, 'failing');
  assert.match(outcome.detail, /rspamd at .*HTTP 404/);
  assert.match(outcome.detail, /spamd at .*PING answered "220 mail/);
});

test('a ping answered just inside its deadline counts; an engine that hangs past it does not', async () => {
  const slow = await started(fakeRspamd({ delayMs: 50 }));
  await rspamdPing(slow, 2_000);
  const hung = await started(fakeRspamd({ hang: true }));
  await assert.rejects(rspamdPing(hung, 200), /no answer to \/ping within 0\.2 s/);
  const silent = await started(fakeSpamd(null));
  await assert.rejects(spamdPing(silent, 200), /no answer to PING within 0\.2 s/);
});

test('alert mail: addresses in our own domains only is a warning (it waits behind an internal outage), and so is none with no webhook (nobody is told); one outside is fine', async () => {
  const withAlerts = (emailTo: string[], webhookUrl?: string) => {
    const result = validateConfig({ domains: ['example.test'], internal: { host: '127.0.0.1' }, alerts: { emailTo, webhookUrl } });
    if (!result.ok) throw new Error('bad config');
    return context({ config: result.config });
  };
  const own = await alertMailProbe.run(withAlerts(['it-admin@Example.TEST']));
  assert.equal(own.status, 'warning');
  assert.match(own.detail, /^alerts go to it-admin@example\.test only, through the internal server: "the internal server is unreachable" waits in the queue until it is back$/);
  assert.match(own.hint ?? '', /Add an address outside your domains/);
  const both = await alertMailProbe.run(withAlerts(['it-admin@example.test', 'admin.phone@provider.test']));
  assert.deepEqual([both.status, both.detail], ['ok', 'alerts also go to admin.phone@provider.test, outside your domains']);
  const none = await alertMailProbe.run(withAlerts([]));
  assert.deepEqual([none.status, none.detail], ['warning', 'no alert e-mail is set: nobody is told when mail stops, unless the admin page or the desktop app is open at the time']);
  assert.match(none.hint ?? '', /"Email alerts to" \(alerts\.emailTo\) in Settings → Configuration → Alerts/);
  assert.equal((await alertMailProbe.run(withAlerts([], 'https://hooks.example.test/moat'))).status, 'ok');
});
