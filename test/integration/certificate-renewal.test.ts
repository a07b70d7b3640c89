// A certificate renewed in place (certbot, win-acme, an admin with cp) is served without a restart or a signal: the
// engine looks at the files on a timer (a minute; shortened here) and swaps the pair once a matching, valid one is
// there. The checklist and the expiry figures follow the pair the listeners serve; `moat checklist run` in another
// process says when the files hold a pair the relay does not serve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { runCli } from '../helpers/cli.ts';
import { makePair, servedFingerprint, writePair } from '../helpers/certificates.ts';
import { createLineLogger } from '../../src-relay/log/logger.ts';
import { startHost } from '../helpers/admin.ts';
import { connect as connectTls } from 'node:tls';

/** A logger whose lines the test can wait for. */
function recordingLogger() {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const logger = createLineLogger((line) => {
    lines.push(line);
    for (const waiter of [...waiters]) waiter();
  });
  const waitFor = (pattern: RegExp, count = 1, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (lines.filter((line) => pattern.test(line)).length < count) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${pattern} (x${count}) within ${timeoutMs} ms:\n${lines.join('')}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { logger, lines, waitFor };
}

/** The tls-certificate line of `moat checklist` and its hint line. */
function tlsLine(stdout: string): string {
  const lines = stdout.split('\n');
  const at = lines.findIndex((line) => / tls-certificate /.test(line));
  assert.ok(at >= 0, stdout);
  return lines.slice(at, lines[at + 1]?.includes('hint:') ? at + 2 : at + 1).join('\n');
}

function certificateFiles() {
  const dir = tempDir('moat-cert-');
  return { dir, paths: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } };
}

test('a pair overwritten in place is served without a signal; a half-written one never replaces the pair in use', async () => {
  const { paths } = certificateFiles();
  const [first, renewed] = await Promise.all([makePair('relay.example.test', 10), makePair('relay.example.test', 90)]);
  writePair(paths, first);
  const log = recordingLogger();
  const relay = await startRelay(9, { mx: { listen: '127.0.0.1:0', tls: paths } }, { logger: log.logger, certificateCheckMs: 50 });
  try {
    assert.equal(await servedFingerprint(relay.port), first.fingerprint);
    // the certificate is written, its key not yet: TLS keeps working with the old pair
    writeFileSync(paths.cert, renewed.cert);
    await log.waitFor(/CERTIFICATE_RELOAD_FAILED .*does not belong/);
    assert.equal(await servedFingerprint(relay.port), first.fingerprint);
    assert.equal(relay.relay.certificate().fingerprint, first.fingerprint);
    assert.equal(log.lines.filter((line) => line.includes('CERTIFICATE_RELOAD_FAILED')).length, 1, 'logged once, not at every look');

    writeFileSync(paths.key, renewed.key);
    await log.waitFor(/CERTIFICATE_RELOADED reason="files changed"/);
    assert.equal(await servedFingerprint(relay.port), renewed.fingerprint);
    assert.equal(relay.relay.certificate().fingerprint, renewed.fingerprint);

    // the expiry the monitor reports is the served pair's
    const metrics = await relay.relay.monitor.prometheus();
    assert.match(metrics, new RegExp(`moat_tls_certificate_expiry_timestamp_seconds ${Math.floor(renewed.validTo / 1000)}\\b`));
    const [result] = await relay.relay.monitor.runChecklist(['tls-certificate']);
    assert.equal(result!.status, 'ok', result!.detail);
    assert.ok(result!.detail.includes(`valid until ${new X509Certificate(renewed.cert).validTo}`), result!.detail);
  } finally {
    await relay.stop();
  }
});

test('moat checklist run, while the relay runs, does not call a pair ok that the listeners do not serve', async () => {
  const { paths } = certificateFiles();
  const [first, renewed, stranger] = await Promise.all([makePair('relay.example.test', 60), makePair('relay.example.test', 300), makePair('other.example.test', 300)]);
  writePair(paths, first);
  const dataDir = tempDir('moat-cert-data-');
  // the CLI reads the data directory's moat.json: the same certificate files as the running relay
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ hostname: 'relay.example.test', domains: ['example.test'], internal: { host: '127.0.0.1', port: 9 }, mx: { tls: paths } }));
  // no timer: the files change while the relay still serves the pair it read
  const relay = await startRelay(9, { mx: { listen: '127.0.0.1:0', tls: paths } }, { dataDir, certificateCheckMs: 0 });
  const probe = async () => {
    const result = await runCli(['checklist', 'run', 'tls-certificate', '--data-dir', dataDir]);
    assert.equal(result.code, 0, result.stderr);
    return tlsLine(result.stdout);
  };
  try {
    writePair(paths, renewed);
    const pending = await probe();
    assert.match(pending, /warning/i, pending);
    assert.match(pending, /the listeners serve/, pending);
    assert.match(pending, /the files hold another, not served yet/, pending);

    // a key that is not the certificate's: failing, and the pair still served is named
    writeFileSync(paths.key, stranger.key);
    const broken = await probe();
    assert.match(broken, /failing/i, broken);
    assert.match(broken, /does not belong/, broken);
    assert.match(broken, /the listeners serve/, broken);

    // once the relay serves what the files hold, nothing to add
    writeFileSync(paths.key, renewed.key);
    assert.equal(relay.relay.reloadCertificate('test'), 'reloaded');
    const settled = await probe();
    assert.doesNotMatch(settled, /the listeners serve/, settled);
    assert.doesNotMatch(settled, /warning|failing/i, settled);
  } finally {
    await relay.stop();
  }
  // a stopped relay serves nothing: the probe describes the files alone
  writePair(paths, first);
  const stopped = await runCli(['checklist', 'run', 'tls-certificate', '--data-dir', dataDir]);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.doesNotMatch(tlsLine(stopped.stdout), /the listeners serve/);
});

/** The certificate an HTTPS listener presents. */
function httpsFingerprint(address: string): Promise<string> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      if (peer) resolve(peer.fingerprint256);
      else reject(new Error('no certificate'));
    });
    socket.once('error', reject);
  });
}

test('the admin page over HTTPS with the mx pair follows its renewal (SIGHUP through the host)', async () => {
  const { paths } = certificateFiles();
  const [first, renewed] = await Promise.all([makePair('relay.example.test', 30), makePair('relay.example.test', 90)]);
  writePair(paths, first);
  const world = await startHost(
    { domains: ['example.test'], internal: { host: '127.0.0.1', port: 9 }, filters: { enabled: false }, mx: { listen: '127.0.0.1:0', tls: paths }, admin: { tls: { enabled: true } } },
    { relayOptions: { certificateCheckMs: 0 } },
  );
  try {
    assert.equal(world.host.state, 'running', world.host.error ?? '');
    const mxPort = Number(world.host.relay!.addresses.mx.split(':').pop());
    assert.equal(await httpsFingerprint(world.host.adminAddress!), first.fingerprint);
    writePair(paths, renewed);
    world.host.reload('SIGHUP');
    assert.equal(await servedFingerprint(mxPort), renewed.fingerprint);
    assert.equal(await httpsFingerprint(world.host.adminAddress!), renewed.fingerprint);
  } finally {
    await world.stop();
  }
});
