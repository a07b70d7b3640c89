import assert from 'node:assert/strict';
import { reservePort } from '../helpers/sink.ts';
import { send } from '../helpers/smtp.ts';
import { ADMIN_PASSWORD, e2eTest, openScreen, screenshot, textMatches } from './world.ts';

// Plain words (issue 12): what a person who is not a mail expert reads. Encoded subjects and names decoded, errors
// explained with the raw text under "Details", and a dashboard that never says "All is well" while mail is stuck.

const SUBJECT = 'Grüße aus Köln – Rechnung Nr. 7';
const NAME = 'Jürgen Weiß';
const ENCODED_SUBJECT = `=?UTF-8?B?${Buffer.from(SUBJECT).toString('base64')}?=`;

function encoded(options: { dated: boolean }): string {
  const boundary = 'b-plain-words';
  return (
    `From: =?ISO-8859-1?Q?J=FCrgen_Wei=DF?= <juergen@sender.test>\r\nTo: bob@example.test\r\nSubject: ${ENCODED_SUBJECT}\r\n` +
    (options.dated ? 'Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n' : '') +
    `Message-ID: <plain.${options.dated}.${Date.now()}@sender.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n` +
    `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo Bob.\r\n` +
    `--${boundary}\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''Rechnung%20K%C3%B6ln.pdf\r\n` +
    `Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--${boundary}--\r\n`
  );
}

e2eTest('an encoded subject and sender name are shown decoded in the queue and in quarantine', async (world) => {
  const { relay, page, errors } = await world.serveWithInternalDown({
    // a message without a Date scores 11: quarantined (10), not refused (15)
    filters: { enabled: true, rules: { MISSING_DATE: 11 } },
  });

  await send(relay.mxPort, 'juergen@sender.test', ['bob@example.test'], encoded({ dated: true }));
  await openScreen(page, '#/queue', 'Queue');
  const row = page.getByRole('row', { name: 'Message from juergen@sender.test to bob@example.test', exact: true });
  await textMatches(row, new RegExp(SUBJECT));
  const rowText = (await row.textContent()) ?? '';
  assert.ok(rowText.includes(NAME), rowText);
  assert.ok(!rowText.includes('=?'), 'no encoded word on screen');
  await row.click();
  const pane = page.getByRole('complementary', { name: 'Message details' });
  await textMatches(pane, new RegExp(`${NAME} <juergen@sender\\.test>`));
  await screenshot(page, '60-plain-words-queue');

  await send(relay.mxPort, 'juergen@sender.test', ['bob@example.test'], encoded({ dated: false }));
  await openScreen(page, '#/quarantine', 'Quarantine');
  const kept = page.getByRole('row', { name: 'Message from juergen@sender.test to bob@example.test', exact: true });
  await kept.waitFor();
  assert.equal(await kept.locator('.subject-cell').textContent(), SUBJECT);
  await kept.click();
  const main = page.locator('main');
  await textMatches(main, /Rechnung Köln\.pdf/);
  const shown = (await main.textContent()) ?? '';
  assert.ok(shown.includes(NAME) && shown.includes(SUBJECT), 'the preview shows the name and subject decoded');
  assert.ok(!shown.includes('=?UTF-8?') && !shown.includes('=?ISO-8859-1?'), 'no encoded word in the preview');
  await screenshot(page, '61-plain-words-quarantine');
  assert.deepEqual(errors, []);
});

e2eTest('with the internal server down the dashboard warns at once and explains the refused connection, raw text under Details', async (world) => {
  const { relay, internalPort, page, errors } = await world.serveWithInternalDown();
  await openScreen(page, '#/dashboard', 'Dashboard');
  await page.getByText('No open alerts. All is well.').waitFor();

  await send(relay.mxPort, 'alice@sender.test', ['bob@example.test'], encoded({ dated: true }));
  // live, long before any alert's threshold: the route is down, said as a warning
  const warnings = page.getByRole('region', { name: 'Needs attention now' });
  const warning = warnings.getByRole('alert').filter({ hasText: 'cannot be delivered to the internal server' });
  await warning.waitFor();
  await textMatches(warning, /The server refused the connection: nothing is listening at that address and port\./);
  await textMatches(warning, /What to do: Check that the mail server is running/);
  assert.equal(await page.getByText('All is well').count(), 0, 'never "All is well" while a route is down');
  // on every screen, the top bar too: not a green "Running" while mail piles up
  const badge = page.locator('.relay-state');
  await textMatches(badge, /^Relay: Running · mail not delivered$/);
  assert.match((await badge.getAttribute('class')) ?? '', /\btone-warning\b/);
  await textMatches(page.getByRole('region', { name: 'Open alerts' }), /No alert raised yet/);

  const raw = warning.locator('details code');
  assert.equal(await raw.isVisible(), false, 'the raw text waits under Details');
  await warning.getByText('Details', { exact: true }).click();
  await textMatches(raw, new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${internalPort}`));
  await screenshot(page, '62-plain-words-dashboard-route-down');

  await openScreen(page, '#/queue', 'Queue');
  const row = page.getByRole('row', { name: 'Message from alice@sender.test to bob@example.test', exact: true });
  await textMatches(row.locator('.reply-line'), /The server refused the connection/);
  await row.click();
  const pane = page.getByRole('complementary', { name: 'Message details' });
  const explained = pane.locator('.plain-error');
  await textMatches(explained, /The server refused the connection/);
  await explained.getByText('Details', { exact: true }).click();
  await textMatches(explained.locator('details code'), /ECONNREFUSED/);
  await screenshot(page, '63-plain-words-queue-error');
  assert.deepEqual(errors, []);
});

e2eTest('the wizard\'s "Test connection" explains a refused connection in plain words, the raw error under Details', async (world) => {
  const closed = await reservePort(); // nothing listens there
  const mxPort = await reservePort();
  const { base, token } = await world.serveFresh();
  const { page, errors } = await world.page();
  await page.goto(`${base}/`);
  await page.getByLabel('Setup token', { exact: true }).fill(token);
  await page.getByLabel('New admin password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByLabel('Repeat the password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Claim this relay', exact: true }).click();
  const step = page.locator('#wizard-step-title');
  await textMatches(step, /^Step 1 of \d+: Accepted domains$/);
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test');
  await page.getByLabel('Inbound listener address', { exact: true }).fill(`127.0.0.1:${mxPort}`);
  await page.getByRole('button', { name: 'Next', exact: true }).click();
  await textMatches(step, /Internal server$/);
  await page.getByLabel('Internal server', { exact: true }).fill('127.0.0.1');
  await page.getByLabel('Port', { exact: true }).fill(String(closed));
  await page.getByRole('button', { name: 'Test connection', exact: true }).click();
  const report = page.locator('.test-report');
  await textMatches(report, /The test failed/);
  const explained = report.locator('.plain-error').first();
  await textMatches(explained, /The server refused the connection/);
  await textMatches(explained, /What to do:/);
  await explained.getByText('Details', { exact: true }).click();
  // the probe's own words (it names the address it tried), kept as they came
  await textMatches(explained.locator('details code'), new RegExp(`127\\.0\\.0\\.1:${closed}.*refused`));
  await screenshot(page, '64-plain-words-wizard-refused');
  assert.deepEqual(errors, []);
});
