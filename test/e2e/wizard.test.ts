import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { reservePort } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';
import type { Locator, Page } from 'playwright-core';
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
  assert.match((await report.textContent()) ?? '', /STARTTLS offered\s*no/, 'heard: the sink offers no STARTTLS');
  await nextStep(2, 'Internal server', '02-wizard-2-internal');
  // before the setup is applied the other screens are named but not links (one used to restart the wizard, empty)
  const nav = page.getByRole('navigation', { name: 'Main' });
  assert.equal(await nav.getByRole('link').count(), 0);
  await textMatches(nav, /Queue.*These open once the setup is applied\./s);
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

/** A locator's text without the parts matching `drop` (what the eye reads: no Details, no words for screen readers only). */
async function textWithout(locator: Locator, drop: string): Promise<string> {
  // the DOM's types are not in this tsconfig: the few members used, by hand
  type Part = { remove(): void };
  type Element = { cloneNode(deep: boolean): { querySelectorAll(selector: string): { forEach(each: (part: Part) => void): void }; textContent: string | null } };
  return locator.evaluate((element: Element, selector: string) => {
    const copy = element.cloneNode(true);
    copy.querySelectorAll(selector).forEach((part) => part.remove());
    return copy.textContent ?? '';
  }, drop);
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

  // the reason goes once the field is changed: it was about what is no longer there
  await domains.fill('localhost');
  assert.equal(await problem.count(), 0, 'no stale reason under a changed field');
  assert.notEqual(await domains.getAttribute('aria-invalid'), 'true');
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
  // what the field's hint says of an empty field is the file's, not a second answer beside the one in force
  const listenerHint = (await field(page, 'Inbound listener address').textContent()) ?? '';
  assert.match(listenerHint, /Left empty here, the file says port 25 on every interface\./);
  assert.doesNotMatch(listenerHint, /Empty: port 25/);
  await toFilters(page, step, next, sink.port);
  // this box runs no clamd at the usual addresses (127.0.0.1:3310, /run/clamav/clamd.ctl): the e2e boxes have none
  const advice = page.getByRole('note', { name: 'No virus scanner' });
  await textMatches(advice, /No virus scanner found\..*sudo apt-get install clamav-daemon clamav-freshclam.*systemctl enable --now clamav-freshclam clamav-daemon.*Look for filters/s);
  // each engine looked for is one plain sentence; the raw answers (error codes) only under its Details
  const engines = page.locator('.engines');
  const visible = await textWithout(engines, 'details');
  assert.match(visible, /ClamAV \(clamd\) at 127\.0\.0\.1:3310: nothing answers there: it is not installed, or not running\./);
  assert.doesNotMatch(visible, /ECONNREFUSED|ENOENT|unreachable/);
  await engines.locator('details').first().locator('summary').click();
  await textMatches(engines.locator('details').first(), /Details.*ECONNREFUSED|Details.*ENOENT/s);
  await screenshot(page, '12-wizard-no-clamav');
  for (let number = 4; number < 9; number += 1) await nextFrom(step, next, number);

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

e2eTest('the wizard looks for filter engines as it opens, and on the long filters step Back and Next stay in sight and in place as it grows', async (world) => {
  const sink = await world.sink();
  const { page, errors, step, next } = await openWizard(world);
  // answered while step 1 shows: arriving on the filters step they pushed Next down under a click
  await page.waitForFunction(() => performance.getEntriesByType('resource').some((entry) => entry.name.endsWith('/api/setup.detectFilters')));
  await textMatches(step, /^Step 1 of 9: /);
  await toFilters(page, step, next, sink.port);
  assert.equal(await page.locator('.engines').count(), 1, 'the findings are there as the step opens');
  const windowHeight = await page.evaluate<number>('window.innerHeight');
  assert.ok((await page.evaluate<number>('document.scrollingElement.scrollHeight')) > windowHeight + 200, 'the step is longer than the window');
  const before = (await next.boundingBox())!;
  assert.ok(before.y + before.height <= windowHeight, `Next is in sight without scrolling (bottom ${before.y + before.height} of ${windowHeight})`);
  // what the step shows grows above the buttons: they stay where the pointer is
  await page.locator('.engines details').first().locator('summary').click();
  await page.locator('.engines details[open]').first().waitFor();
  assert.deepEqual(await next.boundingBox(), before);
  await screenshot(page, '14-wizard-filters-buttons-in-sight', { as: 'window' });
  // scrolled to the end, the buttons sit under the step's last field, covering none of it
  await page.evaluate('window.scrollTo(0, document.scrollingElement.scrollHeight)');
  assert.ok((await page.evaluate<number>('window.scrollY + window.innerHeight - document.scrollingElement.scrollHeight')) >= -1, 'scrolled to the end');
  const lastField = (await page.locator('.wizard-step .field').last().boundingBox())!;
  const buttons = (await page.locator('.wizard-buttons').boundingBox())!;
  assert.ok(lastField.y + lastField.height <= buttons.y, `the last field ends above the buttons (${lastField.y + lastField.height}, ${buttons.y})`);
  await next.click();
  await textMatches(step, /^Step 5 of 9: TLS certificate$/);
  assert.deepEqual(errors, []);
});

e2eTest('a port typed into the internal server field: the wizard says to put it in the Port field, moves it there on request, and the test then answers', async (world) => {
  const sink = await world.sink();
  const { page, errors, step, next } = await openWizard(world);
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test');
  await next.click();
  await textMatches(step, /^Step 2 of 9: Internal server$/);

  await page.getByLabel('Internal server', { exact: true }).fill(`127.0.0.1:${sink.port}`);
  const fix = page.locator('.host-port-fix');
  await textMatches(fix, new RegExp(`Put the port in the Port field: 127\\.0\\.0\\.1 here, ${sink.port} under Port\\.`));
  assert.equal(await page.getByRole('button', { name: 'Test connection', exact: true }).isDisabled(), true, 'no DNS lookup of "IP:port"');
  // Next does not take it either, and says the same at the field
  await next.click();
  await textMatches(field(page, 'Internal server').locator('.field-error'), /Put the port in the Port field/);
  await textMatches(step, /^Step 2 of 9: Internal server$/);
  assert.doesNotMatch((await page.locator('.wizard-step').textContent()) ?? '', /could not be found in DNS|enter its IP address/);
  await screenshot(page, '13-wizard-host-with-port');

  await page.getByRole('button', { name: `Move ${sink.port} to the Port field`, exact: true }).click();
  assert.equal(await page.getByLabel('Internal server', { exact: true }).inputValue(), '127.0.0.1');
  assert.equal(await page.getByLabel('Port', { exact: true }).inputValue(), String(sink.port));
  assert.equal(await fix.count(), 0);
  await page.getByRole('button', { name: 'Test connection', exact: true }).click();
  const report = page.locator('.test-report');
  await textMatches(report, /The internal server answers/);
  // the step lines read "Connect: connected to …", no space before the colon; the advice uses the page's own labels
  // what the eye sees: the words for screen readers ("worked") left out
  const seen = await textWithout(report, '.visually-hidden');
  assert.match(seen, new RegExp(`Connect: connected to 127\\.0\\.0\\.1:${sink.port}`));
  assert.match(seen, /"STARTTLS to the internal server": "When offered" works with that/);
  assert.doesNotMatch(seen, /internal\.tls|\(recipients\)| :/);
  await screenshot(page, '13-wizard-host-port-fixed');
  assert.deepEqual(errors, []);
});

/** From step 1 to the filters step: example.test, delivered to 127.0.0.1 at `port`. */
async function toFilters(page: Page, step: Locator, next: Locator, port: number) {
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test');
  await next.click();
  await textMatches(step, /^Step 2 of 9: Internal server$/);
  await page.getByLabel('Internal server', { exact: true }).fill('127.0.0.1');
  await page.getByLabel('Port', { exact: true }).fill(String(port));
  await next.click();
  await textMatches(step, /^Step 3 of 9: Recipient verification$/);
  await next.click();
  await textMatches(step, /^Step 4 of 9: Filters$/);
}

/** Walks from step `from` (3 unless said) to the review with Next, each click waiting for its step. */
async function toReview(step: Locator, next: Locator, from = 3) {
  for (let number = from; number < 9; number += 1) await nextFrom(step, next, number);
  await textMatches(step, /^Step 9 of 9: Review and apply$/);
}

/** Clicks Next once step `number` shows (no wait for the filters step's findings: they no longer move Next). */
async function nextFrom(step: Locator, next: Locator, number: number) {
  await textMatches(step, new RegExp(`^Step ${number} of 9: `));
  await next.click();
}

e2eTest('the review warns when the internal server was never tested, and plainly when its last test failed', async (world) => {
  const silent = await reservePort();
  const { page, errors, step, next } = await openWizard(world);
  await toFilters(page, step, next, silent);
  await toReview(step, next, 4);
  const warnings = page.locator('.review-warnings');
  await textMatches(warnings, new RegExp(`The internal server \\(127\\.0\\.0\\.1 port ${silent}\\) was not tested`));
  await textMatches(page.locator('#check-title + *, [role=status]').filter({ hasText: 'complete and valid' }), /Ready, with warnings/);

  // tested now: nothing listens there
  await page.getByRole('button', { name: 'Edit Internal server', exact: true }).click();
  await textMatches(step, /^Step 2 of 9: Internal server$/);
  await page.getByRole('button', { name: 'Test connection', exact: true }).click();
  await textMatches(page.locator('.test-report'), /The test failed/);
  // it never heard the server: what it offers is unknown, not "no"
  const failedReport = (await page.locator('.test-report').textContent()) ?? '';
  assert.match(failedReport, /STARTTLS offered\s*—/);
  assert.match(failedReport, /AUTH offered\s*—/);
  await next.click();
  await toReview(step, next);
  await textMatches(warnings, /The internal server did not answer the test: mail will wait in the queue until it does\./);
  assert.doesNotMatch((await warnings.textContent()) ?? '', /was not tested/);
  await screenshot(page, '13-wizard-review-untested-failed');

  // another port than the one tested: "not tested" again
  await page.getByRole('button', { name: 'Edit Internal server', exact: true }).click();
  await page.getByLabel('Port', { exact: true }).fill(String(silent + 1 > 65535 ? silent - 1 : silent + 1));
  await next.click();
  await toReview(step, next);
  await textMatches(warnings, /was not tested/);
  assert.deepEqual(errors, []);
});

e2eTest('after Apply the review becomes a done state: what Moat does now and the dashboard link at the top, no before-apply words', async (world) => {
  const sink = await world.sink();
  const mxPort = await reservePort();
  const { page, errors, step, next } = await openWizard(world);
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test');
  await page.getByLabel('Inbound listener address', { exact: true }).fill(`127.0.0.1:${mxPort}`);
  await page.getByLabel('Host name of this relay', { exact: true }).fill('mx.example.test');
  await next.click();
  await textMatches(step, /^Step 2 of 9: Internal server$/);
  await page.getByLabel('Internal server', { exact: true }).fill('127.0.0.1');
  await page.getByLabel('Port', { exact: true }).fill(String(sink.port));
  await page.getByRole('button', { name: 'Test connection', exact: true }).click();
  await textMatches(page.locator('.test-report'), /The internal server answers/);
  await next.click();
  await toReview(step, next);
  const warnings = page.locator('.review-warnings');
  assert.doesNotMatch((await warnings.textContent().catch(() => '')) ?? '', /internal server|without a domain/, 'tested and named: no warning about either');

  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  const done = page.locator('.wizard-done');
  await textMatches(done, new RegExp(`Moat is running: it accepts mail for example\\.test and delivers it to 127\\.0\\.0\\.1 port ${sink.port}\\.`));
  const link = page.getByRole('link', { name: 'Open the dashboard', exact: true });
  assert.equal(await done.getByRole('link', { name: 'Open the dashboard', exact: true }).count(), 1, 'the link is in the done state');
  const linkBox = await link.boundingBox();
  const firstSection = await page.locator('.review-section').first().boundingBox();
  assert.ok(linkBox && firstSection && linkBox.y < firstSection.y, 'the dashboard link comes before the summary');
  // Apply was pressed at the foot of the page: the outcome is brought into view (a box's y is from the viewport's top)
  const viewport = page.viewportSize()!;
  const doneTitle = page.locator('#done-title');
  // the DOM's types are not in this tsconfig
  const focused = () => doneTitle.evaluate((element: { ownerDocument: { activeElement: unknown } }) => element === element.ownerDocument.activeElement);
  for (let tries = 0; tries < 50 && !(await focused()); tries++) await page.waitForTimeout(100);
  assert.ok(await focused(), 'the focus is on the outcome');
  const titleBox = (await doneTitle.boundingBox())!;
  // below the bar that sticks at the top, not under it
  const topbar = (await page.locator('.topbar').boundingBox())!;
  const seenFrom = topbar.y + topbar.height;
  const status = (await page.locator('.wizard-done p').first().boundingBox())!;
  assert.ok(titleBox.y >= seenFrom && titleBox.y + titleBox.height <= viewport.height, `the Done heading is on screen below the top bar (y ${titleBox.y}, bar to ${seenFrom}, viewport ${viewport.height})`);
  assert.ok(status.y >= seenFrom, `the sentence saying what Moat does now is below the top bar (y ${status.y})`);
  assert.ok(linkBox.y >= seenFrom && linkBox.y + linkBox.height <= viewport.height, `the dashboard link is on screen (y ${linkBox.y})`);
  // and it stays there once the page has heard that the relay runs
  await textMatches(page.locator('.relay-state'), /Running/);
  await page.waitForTimeout(1500);
  const settled = (await doneTitle.boundingBox())!;
  assert.ok(settled.y >= seenFrom && settled.y + settled.height <= viewport.height, `the Done heading stays on screen below the top bar (y ${settled.y})`);
  const text = (await page.locator('.wizard-step').textContent()) ?? '';
  assert.doesNotMatch(text, /Nothing is changed until you press Apply|Before you apply/);
  assert.equal(await page.getByRole('button', { name: 'Apply', exact: true }).count(), 0);
  await screenshot(page, '13-wizard-done');
  await link.click();
  await heading(page, 'Dashboard').waitFor();
  assert.deepEqual(errors, []);
});

e2eTest('a port of 0 and a host with a space are said at their fields, by Test connection and by Next alike', async (world) => {
  const { page, errors, step, next } = await openWizard(world);
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test');
  await next.click();
  await textMatches(step, /^Step 2 of 9: Internal server$/);
  await page.getByLabel('Internal server', { exact: true }).fill('exchange corp');
  await page.getByLabel('Port', { exact: true }).fill('0');
  await page.getByRole('button', { name: 'Test connection', exact: true }).click();
  const wizardStep = page.locator('.wizard-step');
  await textMatches(page.getByRole('alert').first(), /^The test could not run: fix what is marked above, then test again\.$/);
  await textMatches(wizardStep, /Internal server.*expected a host name or IP address/);
  await textMatches(wizardStep, /Port.*must be at least 1/);
  assert.doesNotMatch((await wizardStep.textContent()) ?? '', /some values are not valid|see issues/);
  await screenshot(page, '13-wizard-internal-test-invalid');
  await page.getByLabel('Internal server', { exact: true }).fill('127.0.0.1');
  await next.click();
  await textMatches(wizardStep, /Port.*must be at least 1/);
  await textMatches(step, /^Step 2 of 9: Internal server$/);
  assert.deepEqual(errors.filter((line) => !/400 \(Bad Request\)/.test(line)), []);
});

e2eTest('an Apply that cannot start the relay (its port taken) says nothing was saved and that the relay could not start, not that all is ready', async (world) => {
  const sink = await world.sink();
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const taken = (blocker.address() as AddressInfo).port;
    const { page, errors, step, next } = await openWizard(world);
    await page.getByLabel('Accepted domains', { exact: true }).fill('example.test');
    await page.getByLabel('Inbound listener address', { exact: true }).fill(`127.0.0.1:${taken}`);
    await page.getByLabel('Host name of this relay', { exact: true }).fill('mx.example.test');
    await next.click();
    await textMatches(step, /^Step 2 of 9: Internal server$/);
    await page.getByLabel('Internal server', { exact: true }).fill('127.0.0.1');
    await page.getByLabel('Port', { exact: true }).fill(String(sink.port));
    await next.click();
    await toReview(step, next);
    await textMatches(page.locator('.wizard-step'), /The configuration is complete and valid/);
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    const outcome = page.getByText(/could not be started/).first();
    await textMatches(outcome, /EADDRINUSE.*nothing was saved: Moat is still not set up/);
    const text = (await page.locator('.wizard-step').textContent()) ?? '';
    assert.match(text, /Could not start The configuration passes every check, but the relay could not start with it: see Apply above\./);
    assert.doesNotMatch(text, /complete and valid|previous configuration|back in force/);
    await screenshot(page, '13-wizard-apply-failed');
    assert.deepEqual(errors.filter((line) => !/500 \(Internal Server Error\)/.test(line)), []);
  } finally {
    blocker.close();
  }
});

e2eTest('the review warns when the name Moat uses has no dot, and the admin password step is one line right after the claim', async (world) => {
  const sink = await world.sink();
  const { page, errors, step, next } = await openWizard(world);
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test');
  await page.getByLabel('Host name of this relay', { exact: true }).fill('vm');
  await next.click();
  await textMatches(step, /^Step 2 of 9: Internal server$/);
  await page.getByLabel('Internal server', { exact: true }).fill('127.0.0.1');
  await page.getByLabel('Port', { exact: true }).fill(String(sink.port));
  await next.click();
  for (let number = 3; number < 8; number += 1) await nextFrom(step, next, number);
  await textMatches(step, /^Step 8 of 9: Admin password$/);
  await textMatches(page.locator('.password-set'), /Set when you claimed the relay/);
  assert.equal(await page.getByLabel('Current admin password', { exact: true }).count(), 0, 'no password boxes a minute after the claim');
  await screenshot(page, '13-wizard-password-claimed');
  await page.getByRole('button', { name: 'Change the admin password', exact: true }).click();
  await page.getByLabel('Current admin password', { exact: true }).waitFor();
  await next.click();
  await textMatches(step, /^Step 9 of 9: Review and apply$/);
  await textMatches(page.locator('.review-warnings'), /Moat will call itself "vm"\. Other mail servers may distrust a name without a domain: give the box's full name .*e\.g\. mail\.example\.com/);
  assert.deepEqual(errors, []);
});

e2eTest('clicking Next many times without waiting walks the wizard step by step to the review, never stuck and never skipping a check', async (world) => {
  const sink = await world.sink();
  const { page, errors, step, next } = await openWizard(world);
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test');
  await next.click();
  await textMatches(step, /^Step 2 of 9: Internal server$/);
  await page.getByLabel('Internal server', { exact: true }).fill('127.0.0.1');
  await page.getByLabel('Port', { exact: true }).fill(String(sink.port));
  // as the newcomer's script did: seven clicks, none waiting for its step
  for (let click = 0; click < 7; click += 1) await next.click();
  await textMatches(step, /^Step 9 of 9: Review and apply$/);
  await page.getByText('The configuration is complete and valid.').waitFor();
  // a burst of clicks faster than the page answers (each 20 ms, whatever the button shows): one step per checked click, never stuck
  await page.getByRole('button', { name: 'Edit Accepted domains', exact: true }).click();
  await textMatches(step, /^Step 1 of 9: Accepted domains$/);
  const seen = await page.evaluate<string[]>(`(async () => {
    const titles = [];
    for (let click = 0; click < 12; click += 1) {
      const button = [...document.querySelectorAll('.wizard-buttons button')].find((candidate) => candidate.textContent === 'Next' || candidate.textContent === 'Checking…');
      if (button) button.click();
      await new Promise((resolve) => setTimeout(resolve, 20));
      titles.push(document.querySelector('#wizard-step-title')?.textContent ?? '');
    }
    return titles;
  })()`);
  const numbers = seen.map((title) => Number(/^Step (\d+)/.exec(title)?.[1]));
  for (let i = 1; i < numbers.length; i += 1) assert.ok(numbers[i]! - numbers[i - 1]! <= 1, `no step skipped: ${seen.join(' | ')}`);
  for (let click = 0; click < 9 && !/^Step 9/.test((await step.textContent()) ?? ''); click += 1) await next.click();
  await textMatches(step, /^Step 9 of 9: Review and apply$/);
  await page.getByText('The configuration is complete and valid.').waitFor();
  assert.deepEqual(errors, []);
});
