// SIGHUP on a real `moat serve`: the relay reloads its certificate and goes on (systemctl reload, certbot and logrotate
// hooks send it); it never stops on it. A session already in TLS keeps its pair; a bad new pair is refused and the
// old one stays in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServeProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { RawSmtp } from '../helpers/smtp.ts';
import { makePair, peerFingerprint, servedFingerprint, writePair } from '../helpers/certificates.ts';

test('SIGHUP reloads the certificate for new connections, keeps open sessions and a bad pair out, and never stops the relay', async () => {
  const dir = tempDir('moat-hup-');
  const paths = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  const [first, renewed, other] = await Promise.all([makePair('relay.example.test', 30), makePair('relay.example.test', 90), makePair('other.example.test', 90)]);
  writePair(paths, first);
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'moat.json');
  writeFileSync(configFile, JSON.stringify({ hostname: 'relay.example.test', mx: { tls: paths } }));
  // nothing is delivered in this test: the internal server's port is never dialled
  const serve = await ServeProcess.start(['--config', configFile, '--data-dir', dataDir, '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--submissions-listen', '127.0.0.1:0', '--internal', '127.0.0.1:9', '--admin-listen', '127.0.0.1:0']);
  try {
    const submissionsPort = Number(/ submissions=\S+:(\d+) /.exec(serve.stdout)![1]);
    assert.equal(await servedFingerprint(serve.port), first.fingerprint);
    const open = await RawSmtp.connect(serve.port);
    await open.hello();
    assert.match(await open.startTls(), /^250/);

    writePair(paths, renewed);
    serve.child.kill('SIGHUP');
    await serve.waitForLog(/CERTIFICATE_RELOADED reason=SIGHUP .*fingerprint=\S+/);
    assert.match(serve.stderr, /RELOADING signal=SIGHUP/);
    assert.ok(serve.stderr.includes(`fingerprint=${renewed.fingerprint}`), 'the log names the new pair');
    assert.ok(serve.stderr.includes(`validTo=${new Date(renewed.validTo).toISOString()}`), 'and its expiry');
    assert.equal(await servedFingerprint(serve.port), renewed.fingerprint, 'STARTTLS on the mx listener');
    assert.equal(await servedFingerprint(submissionsPort, true), renewed.fingerprint, 'implicit TLS on 465');
    // the session that was in TLS before goes on with its own pair
    assert.match(await open.command('NOOP'), /^250/);
    assert.equal(peerFingerprint(open), first.fingerprint);
    open.close();

    // half a renewal: a certificate whose key is not there yet; the pair in use stays, the relay runs on
    writeFileSync(paths.cert, other.cert);
    serve.child.kill('SIGHUP');
    await serve.waitForLog(/CERTIFICATE_RELOAD_FAILED .*reason=SIGHUP .*does not belong/);
    assert.equal(await servedFingerprint(serve.port), renewed.fingerprint);
    assert.ok(serve.running, 'a bad pair stops nothing');

    serve.child.kill('SIGHUP');
    await serve.waitForLog(/CERTIFICATE_RELOAD_FAILED[^\n]*\n[\s\S]*CERTIFICATE_RELOAD_FAILED/);
    assert.ok(serve.running);
    assert.doesNotMatch(serve.stderr, /STOPPING/);
  } finally {
    const ended = await serve.stop('SIGTERM');
    assert.deepEqual(ended, { code: 0, signal: null });
  }
  assert.match(serve.stderr, /STOPPING signal=SIGTERM/);
  assert.match(serve.stderr, /STOPPED/);
});
