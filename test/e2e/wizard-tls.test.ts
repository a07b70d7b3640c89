import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { generate } from 'selfsigned';
import type { AdminClient } from '../helpers/admin.ts';
import nodemailer from 'nodemailer';
import { message, RawSmtp } from '../helpers/smtp.ts';
import { e2eTest, heading, logIn, openScreen, screenshot, textMatches } from './world.ts';

const CERT_NAME = 'mx.e2e.example.test';

/** The certificate the mx listener presents after STARTTLS. */
async function starttlsCertificate(port: number): Promise<{ fingerprint256: string; subject: string }> {
  const client = await RawSmtp.connect(port);
  try {
    assert.match(await client.hello(), /STARTTLS/);
    assert.match(await client.startTls(), /^250/);
    const peer = (client.socket as TLSSocket).getPeerX509Certificate();
    assert.ok(peer, 'the relay presents a certificate');
    return { fingerprint256: peer.fingerprint256, subject: peer.subject };
  } finally {
    client.close();
  }
}

async function mxPort(admin: AdminClient): Promise<number> {
  const address = (await admin.call('relay.status', {})).addresses.mx!;
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

e2eTest('the wizard keeps a pasted certificate, and after Apply STARTTLS presents it', async (world) => {
  const sink = await world.sink();
  const relay = await world.serveConfigured({ domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } });
  const admin = await world.claim(relay);
  // before: the pair the relay made itself on its first start
  const before = await starttlsCertificate(relay.mxPort);
  assert.match(before.subject, /CN=relay\.example\.test/);

  const pems = await generate([{ name: 'commonName', value: CERT_NAME }, { name: 'organizationName', value: 'Moat E2E' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: CERT_NAME }] }],
  });
  const expected = new X509Certificate(pems.cert);
  assert.notEqual(expected.fingerprint256, before.fingerprint256);

  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await openScreen(page, '#/setup', 'Setup wizard');
  const step = page.locator('#wizard-step-title');
  const next = page.getByRole('button', { name: 'Next', exact: true });
  // the first steps keep the configuration in force
  for (const [number, title] of [[1, 'Accepted domains'], [2, 'Internal server'], [3, 'Recipient verification'], [4, 'Filters']] as const) {
    await textMatches(step, new RegExp(`^Step ${number} of 9: ${title}$`));
    if (title === 'Filters') assert.equal(await page.getByLabel('Check inbound mail with the content filters', { exact: true }).isChecked(), false);
    await next.click();
  }

  await textMatches(step, /^Step 5 of 9: TLS certificate$/);
  await page.getByRole('radio', { name: 'Use my certificate', exact: true }).check();
  const save = page.getByRole('button', { name: 'Save certificate', exact: true });
  assert.equal(await save.isDisabled(), true, 'nothing to save before both are pasted');
  // a key that is not the certificate's is refused with a reason, and nothing is kept
  const stranger = await generate([{ name: 'commonName', value: 'someone.else.test' }], { keyType: 'ec', algorithm: 'sha256' });
  await page.getByLabel('Certificate (PEM)', { exact: true }).fill(pems.cert);
  await page.getByLabel('Private key (PEM)', { exact: true }).fill(stranger.private);
  await save.click();
  await textMatches(page.getByRole('alert'), /key does not belong to the certificate/);
  assert.equal(await page.getByLabel('Certificate file', { exact: true }).inputValue(), '');

  // Next with neither pasted nor named: the step says what is missing, and stays
  const wizardStep = page.locator('.wizard-step');
  await next.click();
  await textMatches(wizardStep, /paste the certificate above and press "Save certificate", or name its file here/);
  await textMatches(wizardStep, /name the private key file that goes with the certificate/);
  await textMatches(step, /^Step 5 of 9: TLS certificate$/);
  // files that hold no certificate and no key are named at their fields here, not met at Apply
  const notPem = join(world.dataDir, 'not-a-certificate.txt');
  writeFileSync(notPem, 'mail\n');
  await page.getByLabel('Certificate file', { exact: true }).fill(notPem);
  await page.getByLabel('Key file', { exact: true }).fill(notPem);
  await next.click();
  await textMatches(wizardStep, /not-a-certificate\.txt holds no certificate: a PEM file starts with "-----BEGIN CERTIFICATE-----"/);
  await textMatches(wizardStep, /not-a-certificate\.txt holds no private key Moat can use/);
  await textMatches(step, /^Step 5 of 9: TLS certificate$/);
  await screenshot(page, '13-wizard-tls-not-pem');
  await page.getByLabel('Certificate file', { exact: true }).fill('');
  await page.getByLabel('Key file', { exact: true }).fill('');

  await page.getByLabel('Private key (PEM)', { exact: true }).fill(pems.private);
  await save.click();
  const saved = page.getByRole('status').filter({ hasText: 'Saved' });
  await textMatches(saved, new RegExp(`Saved CN=${CERT_NAME.replace(/\./g, '\\.')}`));
  await textMatches(saved, new RegExp(`Names\\s*${CERT_NAME.replace(/\./g, '\\.')}`));
  const certFile = join(world.dataDir, 'tls', 'custom-cert.pem');
  const keyFile = join(world.dataDir, 'tls', 'custom-key.pem');
  assert.equal(await page.getByLabel('Certificate file', { exact: true }).inputValue(), certFile);
  assert.equal(await page.getByLabel('Key file', { exact: true }).inputValue(), keyFile);
  assert.equal(await page.getByLabel('Certificate (PEM)', { exact: true }).inputValue(), '', 'the pasted key does not stay on the page');
  assert.equal(await page.getByLabel('Private key (PEM)', { exact: true }).inputValue(), '');
  assert.equal(new X509Certificate(readFileSync(certFile)).fingerprint256, expected.fingerprint256, 'the pasted certificate is kept');
  await screenshot(page, '13-wizard-tls-saved');

  // nothing is in force before Apply: the relay still presents its own pair
  assert.equal((await starttlsCertificate(relay.mxPort)).fingerprint256, before.fingerprint256);

  await next.click();
  for (const [number, title] of [[6, 'Outbound'], [7, 'Submission accounts'], [8, 'Admin password']] as const) {
    await textMatches(step, new RegExp(`^Step ${number} of 9: ${title}$`));
    await next.click();
  }
  await textMatches(step, /^Step 9 of 9: Review and apply$/);
  await page.getByText('The configuration is complete and valid.').waitFor();
  await textMatches(page.locator('main'), new RegExp(`${certFile.replace(/[.]/g, '\\.')} with key ${keyFile.replace(/[.]/g, '\\.')}`));
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await page.getByRole('link', { name: 'Open the dashboard', exact: true }).waitFor();
  await textMatches(page.locator('.apply-tasks'), /Done.*the relay is running/);
  await screenshot(page, '13-wizard-tls-applied');

  const file = JSON.parse(readFileSync(join(world.dataDir, 'moat.json'), 'utf8')) as { mx: { tls: { cert: string; key: string } } };
  assert.deepEqual(file.mx.tls, { cert: certFile, key: keyFile });
  assert.equal((await admin.call('relay.status', {})).state, 'running');

  // after: STARTTLS on the (restarted) mx listener presents the pasted certificate, and a sender that checks it delivers
  const port = await mxPort(admin);
  const after = await starttlsCertificate(port);
  assert.equal(after.fingerprint256, expected.fingerprint256);
  assert.match(after.subject, new RegExp(`CN=${CERT_NAME.replace(/\./g, '\\.')}`));
  assert.match(after.subject, /O=Moat E2E/);
  // a sender that trusts exactly this certificate (and checks the name) delivers over STARTTLS
  const strict = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, requireTLS: true, tls: { ca: pems.cert, servername: CERT_NAME }, logger: false });
  try {
    await strict.sendMail({ envelope: { from: 'alice@sender.test', to: ['bob@example.test'] }, raw: message('over the new certificate') });
  } finally {
    strict.close();
  }
  assert.match(await sink.waitForSubject('over the new certificate'), /^Received: from .*\r\n\tby relay\.example\.test \(Moat\) with ESMTPS id /m);

  await page.getByRole('link', { name: 'Open the dashboard', exact: true }).click();
  await heading(page, 'Dashboard').waitFor();
  await textMatches(page.locator('.relay-state'), /Relay: Running/);
  assert.deepEqual(errors, []);
});
