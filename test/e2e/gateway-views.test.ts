import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { eventually } from '../helpers/cli.ts';
import { message, send } from '../helpers/smtp.ts';
import { e2eTest, heading, logIn, openScreen, screenshot, textMatches, UI_TIMEOUT_MS } from './world.ts';

// What a gateway admin expects to see (issue 12): the queue by destination, a message's text and its .eml, the
// statistics page, and message tracking narrowed by outcome; in a real browser against `moat serve`.

e2eTest('the queue by destination shows the internal server down with its error, and "Retry destination" delivers once it is back', async (world) => {
  // the internal server is down: its port reserved, nothing listening
  const { relay, internalPort, page, errors, admin } = await world.serveWithInternalDown();
  const raw = message('quarterly report', 'Dear Bob,\r\n\r\nthe figures are attached.\r\n');
  await send(relay.mxPort, 'ann@sender.test', ['bob@example.test'], raw);
  await eventually(async () => (await admin.call('queue.list', {})).rows[0]?.status === 'deferred', UI_TIMEOUT_MS, 'the message to be deferred');

  await openScreen(page, '#/queue', 'Queue');
  await page.getByRole('navigation', { name: 'Queue views' }).getByRole('link', { name: 'By destination', exact: true }).click();
  const internal = page.getByRole('row', { name: 'Destination Internal server', exact: true });
  await textMatches(internal.locator('.badge'), /^Server unreachable$/);
  // in plain words, as everywhere else; the raw error on hover
  await textMatches(internal, /The server refused the connection: nothing is listening at that address and port\./);
  assert.match((await internal.locator('.plain-error').getAttribute('title')) ?? '', /ECONNREFUSED/);
  await textMatches(internal, /since /);
  await screenshot(page, '40-queue-by-destination-down');

  // the message's text and its file, from the detail pane
  await page.getByRole('navigation', { name: 'Queue views' }).getByRole('link', { name: 'Messages', exact: true }).click();
  await page.getByRole('row', { name: 'Message from ann@sender.test to bob@example.test', exact: true }).click();
  const pane = page.getByRole('complementary', { name: 'Message details' });
  await pane.getByRole('button', { name: 'Show message text', exact: true }).click();
  await textMatches(pane.getByLabel('Message text'), /^Dear Bob,\s+the figures are attached\.$/);
  await screenshot(page, '41-message-text');
  const [download] = await Promise.all([page.waitForEvent('download'), pane.getByRole('button', { name: 'Download .eml', exact: true }).click()]);
  const id = (await admin.call('queue.list', {})).rows[0]!.id;
  assert.equal(download.suggestedFilename(), `${id}.eml`);
  const saved = readFileSync((await download.path())!);
  assert.ok(saved.toString('latin1').includes('Subject: quarterly report\r\n') && saved.toString('latin1').includes('the figures are attached.'), 'the whole message file');
  const trace = await admin.call('tracking.trace', { id });
  assert.ok(trace.history.some((event) => /^Downloaded by admin@127\.0\.0\.1$/.test(event.text)), 'the download is in the history');

  // the internal server comes back; "Retry destination" sends the waiting mail now, not in an hour
  const sink = await world.sink({ port: internalPort });
  await page.getByRole('navigation', { name: 'Queue views' }).getByRole('link', { name: 'By destination', exact: true }).click();
  await page.getByRole('button', { name: 'Retry destination Internal server', exact: true }).click();
  await textMatches(page.locator('.status-line'), /^Scheduled for delivery now: 1 message to Internal server\.$/);
  await sink.waitFor(1, UI_TIMEOUT_MS);
  // shown soon after the delivery, not at the end of a long reload interval
  await page.getByText('Nothing is waiting: every message has been delivered.').waitFor({ timeout: 4_000 });
  await screenshot(page, '42-queue-by-destination-empty');
  assert.deepEqual(errors, []);
});

e2eTest('statistics show the top sender, and message tracking narrows to one outcome', async (world) => {
  const sink = await world.sink({ onRecipient: (address) => (address === 'gone@example.test' ? { code: 550, text: '5.1.1 no such mailbox' } : undefined) });
  const relay = await world.serveConfigured({
    domains: ['example.test'],
    internal: { host: '127.0.0.1', port: sink.port, tls: 'none' },
    // a bounce report would go out through the sink too: no test asks the real DNS
    outbound: { smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' } },
    filters: { enabled: false },
  });
  const admin = await world.claim(relay);
  for (let i = 0; i < 3; i++) await send(relay.mxPort, 'top@busy.example', ['bob@example.test'], message(`weekly ${i}`));
  await send(relay.mxPort, 'once@other.example', ['gone@example.test'], message('to nobody'));
  await assert.rejects(send(relay.mxPort, 'relay@abuse.example', ['someone@elsewhere.test'], message('not ours')), /550|554|553/);
  // three to bob; no bounce report to once@other.example: with the filters off nothing vouches for its sender (backscatter)
  await sink.waitFor(3, UI_TIMEOUT_MS);
  await eventually(async () => (await admin.call('tracking.search', { outcome: 'bounced' })).rows.length === 1, UI_TIMEOUT_MS, 'the bounce to be recorded');

  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await screenshot(page, '43-dashboard-disk');
  await textMatches(page.getByRole('region', { name: 'Disk' }), /free of/);
  await page.getByRole('link', { name: 'Statistics', exact: true }).click();
  await heading(page, 'Statistics').waitFor();
  const senders = page.getByRole('table', { name: 'Top senders' });
  await textMatches(senders.getByRole('row').nth(1), /^top@busy\.example\s*3$/);
  await textMatches(page.getByRole('table', { name: 'Top sender domains' }).getByRole('row').nth(1), /^busy\.example\s*3$/);
  await textMatches(page.getByRole('region', { name: 'Mail in and out' }), /Received from the internet\s*4/);
  await screenshot(page, '44-statistics');
  await page.getByRole('button', { name: 'Last 30 days', exact: true }).click();
  await textMatches(page.getByRole('button', { name: 'Last 30 days', exact: true }), /Last 30 days/);
  assert.equal(await page.getByRole('button', { name: 'Last 30 days', exact: true }).getAttribute('aria-pressed'), 'true');

  await openScreen(page, '#/tracking', 'Message tracking');
  await page.getByLabel('Outcome', { exact: true }).selectOption('bounced');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  const table = page.getByRole('grid', { name: /^Messages found/ });
  await eventually(async () => (await table.getByRole('row').count()) === 2, UI_TIMEOUT_MS, 'one row under the header');
  await textMatches(table.getByRole('row').nth(1), /once@other\.example.*gone@example\.test.*to nobody.*Bounced/);
  // times to the second, with the zone (the browser's here: Europe/Berlin), which the time fields say too
  await textMatches(table.getByRole('row').nth(1).locator('time'), /\d{2}:\d{2}:\d{2} (CET|CEST)$/);
  await textMatches(page.locator('.tracking-form'), /In your time zone \(Europe\/Berlin\); the relay's log is in UTC\./);
  await screenshot(page, '45-tracking-bounced');

  // a refusal's subject is not kept: the row says so, and a subject search says it does not look at refusals
  await page.getByLabel('Outcome', { exact: true }).selectOption('refused');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await textMatches(table.getByRole('row').nth(1), /relay@abuse\.example.*someone@elsewhere\.test.*\(not kept for refused mail\).*Refused/);
  // what the sender was told, and why
  await textMatches(table.getByRole('row').nth(1), /Refused: 554 5\.7\.1 Relay access denied \(the domain is not one we accept mail for\) — client 127\.0\.0\.1$/);
  await screenshot(page, '46-tracking-refused');
  await page.getByLabel('Outcome', { exact: true }).selectOption('');
  await page.getByLabel('Subject', { exact: true }).fill('not ours');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await textMatches(page.locator('main .state.empty'), /^Nothing found\. Refused mail is not searched by subject or Message-ID: those are not kept for it\. Mail older than the history kept on this relay cannot be found\.$/);
  // a search the form refuses runs nothing, and the last one's rows do not stand under it
  await page.getByLabel('From (time)', { exact: true }).fill('2026-12-06T10:00');
  await page.getByLabel('Until (time)', { exact: true }).fill('2026-12-06T09:00');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await textMatches(page.locator('main').getByRole('status').filter({ hasText: 'did not run' }), /^The search did not run: fix what is marked above\.$/);
  await textMatches(page.locator('.tracking-form'), /the end is before the start/);
  assert.equal(await page.locator('main .state.empty').count(), 0, 'no "Nothing found" of the search before');
  await screenshot(page, '46-tracking-refused-search');
  // Clear is back to the latest messages, not the last search's "Nothing found"
  await page.getByRole('button', { name: 'Clear', exact: true }).click();
  await eventually(async () => (await table.getByRole('row').count()) > 4, UI_TIMEOUT_MS, 'the latest messages after Clear');
  assert.deepEqual(errors, []);
});
