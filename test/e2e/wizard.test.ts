import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reservePort } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';
import type { Page } from 'playwright-core';
import { ADMIN_PASSWORD, e2eTest, heading, horizontalOverflow, screenshot, textMatches, type World } from './world.ts';

e2eTest('the wizard turns a fresh relay into one that accepts mail', async (world) => {
  const sink = await world.sink();
  const mxPort = await reservePort();
  const { base, token } = await world.serveFresh();
  const { page, errors } = await world.page();

  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Set up Moat', exact: true }).waitFor();
  await screenshot(page, '01-setup-claim');
  await page.getByLabel('Setup token', { exact: true }).fill(token);
  await page.getByLabel('New admin password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByLabel('Repeat the password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Claim this relay', exact: true }).click();

  const step = page.locator('#wizard-step-title');
  const next = page.getByRole('button', { name: 'Next', exact: true });
  const nextStep = async (number: number, title: string, shot: string) => {
    await textMatches(step, new RegExp(`^Step ${number} of 9: ${title}$`));
    assert.ok((await horizontalOverflow(page)) <= 0, `step ${number} fits 1280 px`);
    await screenshot(page, shot);
  };

  await nextStep(1, 'Accepted domains', '02-wizard-1-domains');
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test');
  await page.getByLabel('Inbound listener address', { exact: true }).fill(`127.0.0.1:${mxPort}`);
  await next.click();

  await textMatches(step, /^Step 2 of 9: Internal server$/);
  await page.getByLabel('Internal server', { exact: true }).fill('127.0.0.1');
  await page.getByLabel('Port', { exact: true }).fill(String(sink.port));
  await page.getByRole('button', { name: 'Test connection', exact: true }).click();
  const report = page.locator('.test-report');
  await textMatches(report, /The internal server answers/);
  assert.match((await report.textContent()) ?? '', /Recipient accepted\s*yes/);
  await nextStep(2, 'Internal server', '02-wizard-2-internal');
  await next.click();

  await nextStep(3, 'Recipient verification', '02-wizard-3-recipients');
  await next.click();
  // the filters step looks for local engines by itself; whatever it finds, the defaults go on
  await nextStep(4, 'Filters', '02-wizard-4-filters');
  await page.getByRole('button', { name: 'Look for filters', exact: true }).waitFor();
  await page.locator('.engines, .state.empty').first().waitFor();
  await next.click();
  await nextStep(5, 'TLS certificate', '02-wizard-5-tls');
  await next.click();
  await nextStep(6, 'Outbound', '02-wizard-6-outbound');
  await next.click();
  await nextStep(7, 'Submission accounts', '02-wizard-7-submission');
  await next.click();
  await nextStep(8, 'Admin password', '02-wizard-8-password');
  await next.click();

  await textMatches(step, /^Step 9 of 9: Review and apply$/);
  await page.getByText('The configuration is complete and valid.').waitFor();
  await screenshot(page, '02-wizard-9-review');
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  const dashboardLink = page.getByRole('link', { name: 'Open the dashboard', exact: true });
  await dashboardLink.waitFor();
  await textMatches(page.locator('.apply-tasks'), /Done.*the relay is running/);
  await screenshot(page, '02-wizard-applied');

  const saved = JSON.parse(readFileSync(join(world.dataDir, 'moat.json'), 'utf8')) as { domains: string[]; internal: { host: string; port: number } };
  assert.deepEqual(saved.domains, ['example.test']);
  assert.deepEqual([saved.internal.host, saved.internal.port], ['127.0.0.1', sink.port]);
  assert.equal(existsSync(join(world.dataDir, 'setup-token')), false, 'the token is used up');

  await send(mxPort, 'alice@sender.test', ['bob@example.test'], message('after the wizard'));
  await sink.waitFor(1);
  assert.deepEqual(sink.messages[0]!.to, ['bob@example.test']);
  assert.match(sink.messages[0]!.raw.toString('utf8'), /\r\nSubject: after the wizard\r\n/);

  await dashboardLink.click();
  await heading(page, 'Dashboard').waitFor();
  await textMatches(page.locator('.relay-state'), /Relay: Running/);
  assert.deepEqual(errors, []);
});

/** A fresh relay (`args` play its command line), claimed in the browser: the wizard's first step is open. */
async function openWizard(world: World, args: string[] = []) {
  const { base, token } = await world.serveFresh(args);
  const { page, errors } = await world.page();
  await page.goto(`${base}/`);
  await page.getByLabel('Setup token', { exact: true }).fill(token);
  await page.getByLabel('New admin password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByLabel('Repeat the password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Claim this relay', exact: true }).click();
  const step = page.locator('#wizard-step-title');
  await textMatches(step, /^Step 1 of 9: Accepted domains$/);
  return { page, errors, step, base, next: page.getByRole('button', { name: 'Next', exact: true }) };
}

/** The field (label, input, hint, problems) whose label is `label`. */
const field = (page: Page, label: string) => page.locator('.field').filter({ has: page.getByLabel(label, { exact: true }) });

e2eTest('the wizard refuses impossible domains with the reason at the field: "exa mple" and "localhost" go no further', async (world) => {
  const { page, errors, step, next } = await openWizard(world);
  const domains = page.getByLabel('Accepted domains', { exact: true });
  const problem = field(page, 'Accepted domains').locator('.field-error');

  await domains.fill('exa mple');
  await next.click();
  await textMatches(problem, /"exa mple" is not a valid domain name: it has a space in it/);
  assert.equal(await domains.getAttribute('aria-invalid'), 'true');
  await textMatches(step, /^Step 1 of 9: Accepted domains$/);
  await screenshot(page, '12-wizard-domain-space');

  await domains.fill('localhost');
  await next.click();
  await textMatches(problem, /"localhost" is not a valid domain name: it is a single name: give the full domain, like example\.com/);
  await textMatches(step, /^Step 1 of 9: Accepted domains$/);

  await domains.fill('example.test');
  await next.click();
  await textMatches(step, /^Step 2 of 9: Internal server$/);
  assert.deepEqual(errors, []);
});

e2eTest('without a virus scanner the wizard says how to install ClamAV, and its review warns and shows the addresses the command line sets', async (world) => {
  const sink = await world.sink();
  const mxPort = await reservePort();
  const { page, errors, step, next, base } = await openWizard(world, ['--mx-listen', `127.0.0.1:${mxPort}`]);
  // the inbound listener comes from the command line: the field says so
  await textMatches(field(page, 'Inbound listener address').locator('.override-note'), /Set on the command line \(--mx-listen\)/);
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test');
  await next.click();
  await textMatches(step, /^Step 2 of 9: Internal server$/);
  await page.getByLabel('Internal server', { exact: true }).fill('127.0.0.1');
  await page.getByLabel('Port', { exact: true }).fill(String(sink.port));
  await next.click();
  await textMatches(step, /^Step 3 of 9: Recipient verification$/);
  await next.click();

  await textMatches(step, /^Step 4 of 9: Filters$/);
  // this box runs no clamd at the usual addresses (127.0.0.1:3310, /var/run/clamav/clamd.ctl): the e2e boxes have none
  const advice = page.getByRole('note', { name: 'No virus scanner' });
  await textMatches(advice, /No virus scanner found\..*sudo apt-get install clamav-daemon clamav-freshclam.*systemctl enable --now clamav-freshclam clamav-daemon.*Look for filters/s);
  await screenshot(page, '12-wizard-no-clamav');
  for (let number = 4; number < 9; number += 1) {
    await textMatches(step, new RegExp(`^Step ${number} of 9: `));
    await next.click();
  }

  await textMatches(step, /^Step 9 of 9: Review and apply$/);
  await page.getByText('The configuration is complete and valid.').waitFor();
  await textMatches(page.locator('.review-warnings'), /Warning\s*No virus scanner: mail is not scanned for viruses\. Install ClamAV/);
  const facts = page.locator('.review-section');
  await textMatches(facts.filter({ hasText: 'Takes mail on' }), new RegExp(`Takes mail on\\s*127\\.0\\.0\\.1:${mxPort} \\(set on the command line\\)`));
  const adminAddress = new URL(base).host;
  await textMatches(facts.filter({ hasText: 'Admin page on' }), new RegExp(`Admin page on\\s*${adminAddress.replace(/\./g, '\\.')} \\(set on the command line\\)`));
  await screenshot(page, '12-wizard-review-in-force');

  // applied, mail arrives on the command line's address, not the default
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await page.getByRole('link', { name: 'Open the dashboard', exact: true }).waitFor();
  await send(mxPort, 'alice@sender.test', ['bob@example.test'], message('on the flag address'));
  await sink.waitForSubject('on the flag address');
  assert.deepEqual(errors, []);
});
