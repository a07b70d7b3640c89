import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { Sink } from '../helpers/sink.ts';
import { fixtureResolver } from '../helpers/relay.ts';
import { addUser, moat, officeMessage, startSubmissionRelay, submit } from '../helpers/submission.ts';

/** mailauth's DNS, fed with the TXT records `moat dkim generate` told us to publish: no real DNS is asked. */
function txtResolver(records: Record<string, string>) {
  return async (name: string, type: string): Promise<string[][]> => {
    const value = records[name.toLowerCase()];
    if (type === 'TXT' && value) return [[value]];
    throw Object.assign(new Error(`no ${type} record for ${name}`), { code: 'ENOTFOUND' });
  };
}

test('mail from a domain with a DKIM key is signed (relaxed/relaxed) and the signature verifies with mailauth on the copy the remote MX received', async () => {
  const internal = await Sink.start();
  const remote = await Sink.start();
  const resolver = fixtureResolver({ 'partner.test': [{ exchange: 'mx.partner.test', priority: 10 }] }, { 'mx.partner.test': ['127.0.0.1'] });
  const relay = await startSubmissionRelay(internal.port, { outbound: { mxPort: remote.port } }, { resolver });
  try {
    await addUser(relay.dataDir, 'alice', ['alice@example.test', '@unsigned.test']);
    // made while the relay runs: it picks the key up on the next message
    const made = await moat(['dkim', 'generate', 'Example.TEST', '--selector', 'office2026', '--data-dir', relay.dataDir]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /office2026\._domainkey\.example\.test\. IN TXT \( "v=DKIM1; k=rsa; p=[^"]+" "[^"]+" \)/, 'zone-file form, split into strings of at most 255 octets');
    const value = /value: (v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+)\n/.exec(made.stdout)![1]!;
    const again = await moat(['dkim', 'generate', 'example.test', '--data-dir', relay.dataDir]);
    assert.equal(again.code, 1, 'a second key for the same domain is refused');
    assert.match(again.stderr, /already has a DKIM key/);

    await submit(relay.submission, { user: 'alice' }, 'alice@example.test', ['carol@partner.test'], officeMessage('Alice <alice@example.test>', 'carol@partner.test', 'signed'));
    await submit(relay.submission, { user: 'alice' }, 'news@unsigned.test', ['carol@partner.test'], officeMessage('news@unsigned.test', 'carol@partner.test', 'not signed'));
    await remote.waitFor(2);
    const signed = remote.messages.find((message) => /Subject: signed/.test(message.raw.toString()))!;
    const unsigned = remote.messages.find((message) => /Subject: not signed/.test(message.raw.toString()))!;
    assert.match(signed.raw.toString(), /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;/);
    assert.doesNotMatch(unsigned.raw.toString(), /DKIM-Signature/);

    const result = await dkimVerify(signed.raw, { resolver: txtResolver({ 'office2026._domainkey.example.test': value }) });
    assert.equal(result.results.length, 1);
    assert.equal(result.results[0]!.status.result, 'pass', result.results[0]!.info);
    assert.equal(result.results[0]!.signingDomain, 'example.test');

    // the signature covers the content: a changed body no longer verifies
    const tampered = Buffer.from(signed.raw.toString().replace('this is a message from the office', 'this is a message from someone else'));
    const broken = await dkimVerify(tampered, { resolver: txtResolver({ 'office2026._domainkey.example.test': value }) });
    assert.notEqual(broken.results[0]!.status.result, 'pass');
    assert.match(broken.results[0]!.info, /body hash did not verify/);
  } finally {
    await relay.stop();
    await internal.stop();
    await remote.stop();
  }
});
