import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { GTUBE } from '../../src-relay/filters/builtin-rules.ts';
import { message, send } from '../helpers/smtp.ts';
import { e2eTest, heading, horizontalOverflow, logIn, screenshot, textMatches } from './world.ts';

/** No spinner left on the page: what the screenshot shows is the screen with its data. */
async function settled(page: Page): Promise<void> {
  await page.waitForFunction("document.querySelectorAll('.state.loading').length === 0", undefined, { polling: 100 });
}

/** How far each table is wider than its box (a table that scrolls sideways hides its last columns). */
function tableOverflow(page: Page): Promise<number[]> {
  return page.evaluate<number[]>("[...document.querySelectorAll('.table-wrap')].map((wrap) => wrap.scrollWidth - wrap.clientWidth)");
}

/** The screen fits the 1280 px window and is saved as test-results/screenshots/NAME.png. */
async function look(page: Page, name: string): Promise<void> {
  await settled(page);
  assert.ok((await horizontalOverflow(page)) <= 0, `${name}: nothing needs horizontal scrolling at 1280 px (overflow ${await horizontalOverflow(page)} px)`);
  await screenshot(page, name);
  for (const overflow of await tableOverflow(page)) assert.ok(overflow <= 0, `${name}: every table column is in view (a table is ${overflow} px too wide)`);
}

/** The text of the focused element (the node tsconfig has no DOM types, so the page evaluates a string). */
function focusedText(page: Page): Promise<string | null> {
  return page.evaluate<string | null>('document.activeElement ? document.activeElement.textContent : null');
}

e2eTest('every screen shows its data after mail has flowed, fits 1280×800, and raises no page errors', async (world) => {
  // the internal server takes bob's mail and asks to try busy's later: one delivered, one waiting in the queue
  const sink = await world.sink({ onRecipient: (address) => (address === 'busy@example.test' ? { code: 451, text: '4.2.1 Mailbox busy, try later' } : undefined) });
  const relay = await world.serveConfigured({
    domains: ['example.test'],
    internal: { host: '127.0.0.1', port: sink.port, tls: 'none' },
    queue: { retryIntervalsSec: [3600] },
    filters: { enabled: true, rules: { MISSING_DATE: 11 } },
  });
  const admin = await world.claim(relay);
  await admin.call('accounts.add', { name: 'scanner', password: 'scanner password 1', senders: ['scanner@example.test'] });

  await send(relay.mxPort, 'alice@sender.test', ['bob@example.test'], message('quarterly report'));
  await send(relay.mxPort, 'carol@sender.test', ['busy@example.test'], message('meeting notes'));
  await send(relay.mxPort, 'mallory@sender.test', ['bob@example.test'], message('cheap watches').replace(/^Date: .*\r\n/m, ''));
  await assert.rejects(send(relay.mxPort, 'spam@sender.test', ['bob@example.test'], message('gtube', `${GTUBE}\r\n`)), /550 5\.7\.1/);
  await sink.waitFor(1);

  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await textMatches(page.locator('.relay-state'), /Relay: Running/);
  await textMatches(page.locator('.cards'), /Queue/);
  await page.locator('.charts svg').first().waitFor();
  await look(page, '04-dashboard');

  // the main navigation works from the keyboard: Tab to a link, Enter follows it
  const nav = page.getByRole('navigation', { name: 'Main' });
  await page.locator('body').focus();
  for (let presses = 0; presses < 15 && !/^Queue/.test((await focusedText(page)) ?? ''); presses++) await page.keyboard.press('Tab');
  assert.match((await focusedText(page)) ?? '', /^Queue/, 'Tab reaches the Queue link');
  await page.keyboard.press('Enter');
  await heading(page, 'Queue').waitFor();
  assert.equal(await nav.getByRole('link', { name: /^Queue/ }).getAttribute('aria-current'), 'page');

  const waiting = page.getByRole('row', { name: 'Message from carol@sender.test to busy@example.test', exact: true });
  await textMatches(waiting, /Retrying.*451/);
  await look(page, '05-queue');
  // Enter on a focused row opens its detail pane
  await waiting.focus();
  await page.keyboard.press('Enter');
  const detail = page.getByRole('complementary', { name: 'Message details' });
  await textMatches(detail.locator('.subject'), /^meeting notes$/);
  await textMatches(detail.locator('.history'), /Mailbox busy/);
  await look(page, '05-queue-detail');

  await nav.getByRole('link', { name: 'Quarantine' }).click();
  await heading(page, 'Quarantine').waitFor();
  const held = page.getByRole('row', { name: 'Message from mallory@sender.test to bob@example.test', exact: true });
  await held.click();
  const preview = page.getByRole('complementary', { name: 'Message preview' });
  await textMatches(preview.getByRole('heading', { level: 3 }), /^cheap watches$/);
  await textMatches(preview.locator('.decision'), /MISSING_DATE/);
  await look(page, '06-quarantine-preview');

  await nav.getByRole('link', { name: 'Checklist' }).click();
  await heading(page, 'Checklist').waitFor();
  await page.locator('table.probes').waitFor();
  await look(page, '07-checklist');

  await nav.getByRole('link', { name: 'Message tracking' }).click();
  await heading(page, 'Message tracking').waitFor();
  const found = page.locator('table.data-table tbody tr');
  await textMatches(found.filter({ hasText: 'quarterly report' }), /Delivered/);
  await textMatches(found.filter({ hasText: 'spam@sender.test' }), /Refused.*550 5\.7\.1/);
  await textMatches(found.filter({ hasText: 'cheap watches' }), /Quarantined/);
  await found.filter({ hasText: 'quarterly report' }).getByRole('button', { name: /^Show history of the message from alice@sender\.test/ }).click();
  const trace = page.getByRole('complementary', { name: 'Message history' });
  await textMatches(trace.locator('.history'), /Delivered/);
  await textMatches(trace.locator('.recipients'), /bob@example\.test\s*Delivered/);
  // times are in the admin's zone (the browser's: Europe/Berlin here), not the relay's UTC
  const received = trace.locator('.facts time').first();
  const at = new Date((await received.getAttribute('datetime'))!);
  const berlin = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at);
  assert.ok(((await received.textContent()) ?? '').includes(berlin), `${await received.textContent()} shows ${berlin}`);
  await look(page, '08-tracking-trace');

  await nav.getByRole('link', { name: 'Settings' }).click();
  await heading(page, 'Settings').waitFor();
  const tabs = page.getByRole('navigation', { name: 'Settings sections' });
  const sections: [tab: string, shows: RegExp, shot: string][] = [
    ['Configuration', /Check/, '09-settings-configuration'],
    ['Submission accounts', /scanner/, '09-settings-accounts'],
    ['Sender lists', /Allowed senders/, '09-settings-senders'],
    ['Backups', /Back up now/, '09-settings-backups'],
    ['Admin password', /Change the admin password/, '09-settings-password'],
  ];
  for (const [tab, shows, shot] of sections) {
    const link = tabs.getByRole('link', { name: tab, exact: true });
    await link.click();
    await textMatches(tabs.locator('[aria-current="page"]'), new RegExp(`^${tab}$`));
    await textMatches(page.locator('main'), shows);
    await heading(page, 'Settings').waitFor();
    await look(page, shot);
  }

  await page.getByRole('link', { name: 'Setup wizard', exact: true }).click();
  await heading(page, 'Setup wizard').waitFor();
  await textMatches(page.locator('#wizard-step-title'), /^Step 1 of 9: Accepted domains$/);
  assert.equal(await page.getByLabel('Accepted domains', { exact: true }).inputValue(), 'example.test', 'the wizard starts from the configuration in force');
  await look(page, '10-setup-wizard-again');

  assert.deepEqual(errors, [], 'no page errors and no Content Security Policy violations');
});
