import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reservePort } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';
import { ADMIN_PASSWORD, e2eTest, heading, horizontalOverflow, screenshot, textMatches } from './world.ts';

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
