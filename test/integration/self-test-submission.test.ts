// The open-relay self-test covers the submission listeners too: a client that does not log in must not get mail to
// another domain through port 587 or 465. Real listeners on 127.0.0.1:0; an open one played by a sink that takes all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sink, reservePort } from '../helpers/sink.ts';
import { RawSmtp } from '../helpers/smtp.ts';
import { startSubmissionRelay, type SubmissionRelay } from '../helpers/submission.ts';
import { selfTestProbe, type ProbeContext } from '../../src-relay/monitor/probes.ts';
import { validateConfig } from '../../src-relay/config/load.ts';

const TEST_TIMEOUT_MS = 60_000;

const refusedRows = (relay: SubmissionRelay): number => {
  relay.relay.queue.flushHistory();
  return (relay.relay.queue.store.db.prepare("SELECT COUNT(*) AS n FROM history WHERE action = 'REFUSED'").get() as { n: number }).n;
};
const rejected = (relay: SubmissionRelay): number => relay.relay.monitor.metrics.windowSum('rejected', 60);

test('the self-test asks both submission listeners without a login: 530 at each is ok, and neither is counted nor tracked', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startSubmissionRelay(sink.port);
  try {
    const before = { rejected: rejected(relay), tracked: refusedRows(relay) };
    const [result] = await relay.relay.monitor.runChecklist(['open-relay']);
    assert.equal(result!.status, 'ok', result!.detail);
    assert.match(result!.detail, /all 8 relay tricks were refused/);
    assert.match(result!.detail, new RegExp(`submission \\(587\\) at 127\\.0\\.0\\.1:${relay.submission} refused relaying without a login \\(530`));
    assert.match(result!.detail, new RegExp(`submission with TLS \\(465\\) at 127\\.0\\.0\\.1:${relay.submissions} refused relaying without a login \\(530`));
    assert.equal(rejected(relay), before.rejected, 'the self-test\'s refusals are not rejected mail');
    assert.equal(refusedRows(relay), before.tracked, 'nor are they written to tracking');

    // the same attempt from a client is counted and tracked: the assertions above can fail
    const client = await RawSmtp.connect(relay.submission);
    try {
      await client.hello('client.sender.test');
      assert.match(await client.command('MAIL FROM:<relay-test@moat-selftest.invalid>'), /^530 /);
    } finally {
      client.close();
    }
    assert.equal(rejected(relay), before.rejected + 1);
    assert.equal(refusedRows(relay), before.tracked + 1);
    assert.equal(sink.messages.length, 0);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('with loopback among the trusted networks the submission listener cannot be tested from the box, and the self-test says so', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startSubmissionRelay(sink.port, { submission: { trustedNetworks: ['127.0.0.1/32'] } });
  try {
    const [result] = await relay.relay.monitor.runChecklist(['open-relay']);
    assert.equal(result!.status, 'unknown', result!.detail);
    assert.match(result!.detail, /all 8 relay tricks were refused/);
    assert.match(result!.detail, /submission \(587\) at 127\.0\.0\.1:\d+ could not be tested from this box: 127\.0\.0\.1 is in the trusted networks/);
    assert.match(result!.detail, /submission with TLS \(465\) at 127\.0\.0\.1:\d+ could not be tested from this box/);
    assert.equal(sink.messages.length, 0, 'no DATA is ever sent');
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('a submission listener that takes mail to another domain without a login fails the self-test; one that does not answer is unknown', { timeout: TEST_TIMEOUT_MS }, async () => {
  const refusing = await Sink.start({ onRecipient: () => ({ code: 550, text: '5.7.1 relay denied' }) });
  const open = await Sink.start();
  const config = validateConfig({ domains: ['example.test'], internal: { host: '127.0.0.1' } });
  if (!config.ok) throw new Error('bad config');
  const context = (submissionAddresses: ProbeContext['submissionAddresses']) =>
    ({ config: config.config, hostname: 'relay.example.test', mxAddress: `127.0.0.1:${refusing.port}`, submissionAddresses }) as ProbeContext;
  try {
    const failing = await selfTestProbe.run(context({ submission: `127.0.0.1:${open.port}` }));
    assert.equal(failing.status, 'failing', failing.detail);
    assert.match(failing.detail, new RegExp(`OPEN RELAY: submission \\(587\\) at 127\\.0\\.0\\.1:${open.port} relays mail to other domains without a login`));
    assert.match(failing.hint ?? '', /firewall the port/);
    assert.equal(open.messages.length, 0, 'no DATA is ever sent');

    const silent = await selfTestProbe.run(context({ submissions: `127.0.0.1:${await reservePort()}` }));
    assert.equal(silent.status, 'unknown', silent.detail);
    assert.match(silent.detail, /could not talk to submission with TLS \(465\) at 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  } finally {
    await refusing.stop();
    await open.stop();
  }
});
