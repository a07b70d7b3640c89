import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';
import { GTUBE } from '../../src-relay/filters/builtin-rules.ts';
import { message, send } from '../helpers/smtp.ts';
import { VIEWPORT } from './browser.ts';
import { ADMIN_PASSWORD, e2eTest, heading, logIn, screenshot, textMatches, type World } from './world.ts';

// The desktop window may be made as small as 800×560 (src-main/window-state.ts MIN_WINDOW_SIZE) and a browser window
// any size: down to that, the page itself never scrolls sideways. The message tables (queue, quarantine, tracking)
// do not scroll sideways either: narrow, they fold recipients and subject under the sender and leave lesser columns
// to the detail pane. Another wide table scrolls inside its own box; cards, forms and the side navigation make room.

/** The desktop window's smallest size (src-main/window-state.ts MIN_WINDOW_SIZE). */
const NARROW = { width: 800, height: 560 };

/** What goes past the window's right edge: the page's overflow, and visible controls outside a box that scrolls. */
interface Fit {
  overflow: number;
  outside: string[];
  /** Table columns too narrow to read (a fixed layout squeezed short of room gives a column no width at all). */
  squeezed: string[];
  /** Message tables (table.messages) whose box scrolls sideways: their last columns out of sight. */
  scrolling: string[];
}

/** The narrowest a table column may be and still show a word (the tick-box column aside). */
const MIN_COLUMN_PX = 40;

async function fit(page: Page): Promise<Fit> {
  // a control in a table that scrolls sideways (.table-wrap, overflow-x: auto) is reached by scrolling that table
  return page.evaluate<Fit>(`(() => {
    const width = window.innerWidth;
    const scrolls = (element) => {
      for (let at = element.parentElement; at; at = at.parentElement) {
        const overflowX = getComputedStyle(at).overflowX;
        if (overflowX === 'auto' || overflowX === 'scroll') return true;
      }
      return false;
    };
    const outside = [...document.querySelectorAll('button, a[href], input, select, textarea, h1, h2, label')]
      .filter((element) => element.getClientRects().length > 0 && !scrolls(element))
      .filter((element) => { const box = element.getBoundingClientRect(); return box.width > 1 && box.right > width + 0.5; })
      .map((element) => element.tagName.toLowerCase() + ' "' + (element.getAttribute('aria-label') || element.textContent || element.getAttribute('name') || '').trim().slice(0, 50) + '"');
    const squeezed = [...document.querySelectorAll('thead th:not(.check)')]
      .filter((element) => element.getClientRects().length > 0 && element.getBoundingClientRect().width < ${MIN_COLUMN_PX})
      .map((element) => 'column "' + (element.textContent || '').trim() + '" ' + Math.round(element.getBoundingClientRect().width) + ' px');
    const scrolling = [...document.querySelectorAll('.table-wrap')]
      .filter((wrap) => wrap.querySelector('table.messages') && wrap.scrollWidth > wrap.clientWidth)
      .map((wrap) => 'table "' + (wrap.querySelector('caption')?.textContent || '').trim().slice(0, 40) + '" ' + (wrap.scrollWidth - wrap.clientWidth) + ' px wider than its box');
    return { overflow: document.documentElement.scrollWidth - width, outside, squeezed, scrolling };
  })()`);
}

/** No spinner left: what the screenshot shows is the screen with its data. */
async function settled(page: Page): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await page.waitForTimeout(100)) {
    if ((await page.evaluate<number>("document.querySelectorAll('.state.loading').length")) === 0) return;
  }
  assert.fail('a screen still shows a loading spinner after 10 s');
}

/**
 * The screen fits the window's width: nothing scrolls the page sideways, no control sits past the right edge, the
 * main navigation and the screen's title are in view; saved as test-results/screenshots/NAME-WIDTH.png.
 */
async function fits(page: Page, title: string, name: string): Promise<void> {
  await settled(page);
  const { width } = page.viewportSize()!;
  const where = `${name} at ${width} px`;
  const { overflow, outside, squeezed, scrolling } = await fit(page);
  assert.ok(overflow <= 0, `${where}: the page does not scroll sideways (document.documentElement.scrollWidth is ${overflow} px over window.innerWidth)`);
  assert.deepEqual(outside, [], `${where}: no control is cut off at the right edge`);
  assert.deepEqual(squeezed, [], `${where}: every table column is wide enough to read (a table too wide for its box scrolls in it)`);
  assert.deepEqual(scrolling, [], `${where}: a message table fits its box, its last column in view without scrolling sideways`);
  await screenshot(page, `50-narrow-${name}-${width}`);
  assert.ok(await page.getByRole('navigation', { name: 'Main' }).isVisible(), `${where}: the main navigation is visible`);
  assert.ok(await heading(page, title).isVisible(), `${where}: the heading "${title}" is visible`);
}

/** The column headers of the message table as shown (a sort button's mark left out). */
function columns(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`[...document.querySelectorAll('table.messages thead th:not(.check)')]
    .filter((th) => th.getClientRects().length > 0)
    .map((th) => th.innerText.replace(/[▲▼]/g, '').replace(/\\s+/g, ' ').trim())`);
}

/**
 * The message table's columns at this width: all of them where there is room (1280 px, no pane); narrow, recipients
 * and subject are under the sender (and said so in its header), and `row` shows them.
 */
async function tableColumns(page: Page, row: Locator, wide: string[], narrow: string[], shows: RegExp[]): Promise<void> {
  const width = page.viewportSize()!.width;
  const shown = await columns(page);
  if (width >= VIEWPORT.width) {
    assert.deepEqual(shown, wide, `at ${width} px the table shows all its columns`);
    return;
  }
  assert.deepEqual(shown, narrow, `at ${width} px the table folds its columns together`);
  const text = await row.innerText();
  for (const part of shows) assert.match(text, part, `at ${width} px the row still shows ${part}`);
}

/**
 * Where the text of `row`'s sender wraps inside a word: each line break the browser made, as the text around it,
 * unless it falls after "@", "-" or a space or before a dot (an address cut "example.te / st" is misread).
 */
async function midWordBreaks(row: Locator): Promise<string[]> {
  // a function made from text: this file is type-checked without the DOM's types
  const breaks = new Function('sender', `
    const chars = [];
    const walker = document.createTreeWalker(sender, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let at = 0; at < node.textContent.length; at++) {
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + 1);
        chars.push({ char: node.textContent[at], top: Math.round(range.getBoundingClientRect().top) });
      }
    }
    const text = chars.map(({ char }) => char).join('');
    return chars
      .map((_, at) => at)
      .filter((at) => at > 0 && chars[at].top > chars[at - 1].top && !/[@\\-\\s]/.test(chars[at - 1].char) && chars[at].char !== '.')
      .map((at) => text.slice(Math.max(0, at - 12), at) + ' / ' + text.slice(at, at + 12));
  `) as (sender: unknown) => string[];
  return row.locator('.message-sender').evaluate(breaks);
}

/** Follows a link of the main navigation (the way an admin gets there) and waits for the screen's title. */
async function go(page: Page, link: string | RegExp, title: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: typeof link === 'string' }).click();
  await heading(page, title).waitFor();
}

const LONG_LOCAL = 'accounts-payable.notifications.department-of-finance';
const LONG_DOMAIN = 'subsidiary-with-a-long-name.example-holding-company.test';
const LONG_SUBJECT = `Re: Fwd: Your invoice INV-2026-000123456789 for the quarterly maintenance contract ${'Überweisungsbestätigung'.repeat(2)}`;

/** A running relay that has seen mail: delivered, waiting (451), quarantined, refused; long addresses and subjects. */
async function busyRelay(world: World) {
  const { sink, relay, admin } = await world.relayWithBusyMailboxes((address) => address.startsWith('busy'));
  await admin.call('accounts.add', { name: 'scanner', password: 'scanner password 1', senders: ['scanner@example.test', `${LONG_LOCAL}@example.test`] });
  const sender = `${LONG_LOCAL}@${LONG_DOMAIN}`;
  await admin.call('senders.set', { list: 'allow', entry: `@partner.${LONG_DOMAIN}`, note: 'our holding company: their invoices are never junk' });
  await admin.call('senders.set', { list: 'deny', entry: 'offers@cheap-watches.test', note: null });
  await admin.call('senders.personalSet', { recipient: `${LONG_LOCAL}@example.test`, list: 'deny', entry: `newsletter@${LONG_DOMAIN}` });
  await admin.call('backups.create', {});
  await send(relay.mxPort, 'alice@sender.test', ['bob@example.test'], message('quarterly report'));
  await send(relay.mxPort, sender, ['busy@example.test', `busy.${LONG_LOCAL}@example.test`], message(LONG_SUBJECT));
  await send(relay.mxPort, sender, ['bob@example.test'], message(`${LONG_SUBJECT} (held)`).replace(/^Date: .*\r\n/m, ''));
  await assert.rejects(send(relay.mxPort, 'spam@sender.test', ['bob@example.test'], message('gtube', `${GTUBE}\r\n`)), /550 5\.7\.1/);
  await sink.waitFor(1);
  return { relay, admin };
}

/**
 * Ticking `row` while its detail pane is open: below 1200 px, where the pane lies over the list, the pane closes and
 * the bulk buttons are not covered; beside the list it stays open (then it is closed). The tick is taken back.
 */
async function tickClosesOverlay(page: Page, row: Locator, pane: string, closeLabel: string, toolbar: string, name: string): Promise<void> {
  const where = `at ${page.viewportSize()!.width} px`;
  await row.getByRole('checkbox').check();
  const details = page.getByRole('complementary', { name: pane });
  if (page.viewportSize()!.width < 1200) {
    await details.waitFor({ state: 'detached', timeout: 5_000 });
    await page.getByRole('toolbar', { name: toolbar }).getByRole('button').first().waitFor();
    const uncovered = await page.evaluate<string>(`(() => {
      const button = document.querySelector('[role="toolbar"][aria-label="${toolbar}"] button');
      const box = button.getBoundingClientRect();
      const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
      return top === null ? 'nothing' : top === button || button.contains(top) ? 'uncovered' : top.outerHTML.slice(0, 120);
    })()`);
    assert.equal(uncovered, 'uncovered', `${pane}: the first bulk button is covered ${where}`);
    await screenshot(page, `50-narrow-${name}-ticked-${page.viewportSize()!.width}`);
  } else {
    assert.ok(await details.isVisible(), `${pane}: beside the list, a tick leaves the pane open ${where}`);
    await page.getByRole('button', { name: closeLabel, exact: true }).click();
  }
  await row.getByRole('checkbox').uncheck();
}

/** Every screen of the sidebar, its views and panes, the settings' tabs and groups, and the wizard's steps. */
async function everyScreen(page: Page): Promise<void> {
  await go(page, 'Dashboard', 'Dashboard');
  await page.locator('.charts svg').first().waitFor();
  await fits(page, 'Dashboard', 'dashboard');

  await go(page, /^Queue/, 'Queue');
  const waiting = page.getByRole('row', { name: new RegExp(`^Message from ${LONG_LOCAL}@`) });
  await textMatches(waiting, /Retrying/);
  await fits(page, 'Queue', 'queue');
  await tableColumns(
    page,
    waiting,
    ['Received', 'Sender', 'Recipients', 'Subject', 'Status', 'Route', 'Attempts', 'Next try', 'Size'],
    ['Received', 'Sender · Recipients · Subject', 'Status'],
    [/to busy/, /Re: Fwd: Your invoice/, /Internal server · 1 attempt/, /Next try in \d+ min/],
  );
  await waiting.click();
  await textMatches(page.getByRole('complementary', { name: 'Message details' }).locator('.subject'), /^Re: Fwd:/);
  await fits(page, 'Queue', 'queue-detail');
  await tickClosesOverlay(page, waiting, 'Message details', 'Close details', 'Ticked messages', 'queue');
  await page.getByRole('navigation', { name: 'Queue views' }).getByRole('link', { name: 'By destination', exact: true }).click();
  await page.getByRole('row', { name: 'Destination Internal server', exact: true }).waitFor();
  await fits(page, 'Queue', 'queue-by-destination');
  await page.getByRole('navigation', { name: 'Queue views' }).getByRole('link', { name: 'Messages', exact: true }).click();

  await go(page, /^Quarantine/, 'Quarantine');
  const held = page.getByRole('row', { name: new RegExp(`^Message from ${LONG_LOCAL}@`) });
  await held.waitFor();
  await fits(page, 'Quarantine', 'quarantine');
  await tableColumns(
    page,
    held,
    ['Received', 'Sender', 'Recipients', 'Subject', 'Reason', 'Score', 'Size'],
    ['Received', 'Sender · Recipients · Subject', 'Reason'],
    [/to bob@example\.test/, /Re: Fwd: Your invoice/, /junk score/, /Score [\d.]+ · [\d.]+ (B|kB)/],
  );
  assert.deepEqual(await midWordBreaks(held), [], 'the long sender address wraps at its "@" and dots, not inside a word');
  await held.click();
  await textMatches(page.getByRole('complementary', { name: 'Message preview' }).locator('.decision'), /MISSING_DATE/);
  await fits(page, 'Quarantine', 'quarantine-preview');
  await tickClosesOverlay(page, held, 'Message preview', 'Close preview', 'Ticked messages', 'quarantine');

  await go(page, /^Checklist/, 'Checklist');
  await page.locator('table.probes').waitFor();
  // what the probes found is the longest text in the table
  await page.getByRole('button', { name: 'Run now', exact: true }).click();
  await page.getByRole('status').filter({ hasText: /^Checked\./ }).waitFor();
  await fits(page, 'Checklist', 'checklist');

  await go(page, 'Message tracking', 'Message tracking');
  const found = page.locator('table.data-table tbody tr');
  await textMatches(found.filter({ hasText: 'quarterly report' }), /Delivered/);
  await textMatches(found.filter({ hasText: 'spam@sender.test' }), /Refused/);
  await fits(page, 'Message tracking', 'tracking');
  await tableColumns(
    page,
    found.filter({ hasText: 'quarterly report' }),
    ['Time', 'Sender', 'Recipients', 'Subject', 'Outcome', 'Details'],
    ['Time', 'Sender · Recipients · Subject', 'Outcome'],
    [/to bob@example\.test/, /quarterly report/, /Delivered/, /Show history/],
  );
  await found.filter({ hasText: 'quarterly report' }).getByRole('button', { name: /^Show history of the message from alice@sender\.test/ }).click();
  await textMatches(page.getByRole('complementary', { name: 'Message history' }).locator('.history'), /Delivered/);
  await fits(page, 'Message tracking', 'tracking-history');
  await page.getByRole('button', { name: 'Close history', exact: true }).click();

  await go(page, 'Statistics', 'Statistics');
  await textMatches(page.getByRole('region', { name: 'Mail in and out' }), /Received from the internet/);
  await fits(page, 'Statistics', 'statistics');

  await go(page, 'Settings', 'Settings');
  const tabs = page.getByRole('navigation', { name: 'Settings sections' });
  const sectionNav = page.getByRole('navigation', { name: 'Configuration sections' });
  await sectionNav.waitFor();
  const groups = await sectionNav.getByRole('button').allTextContents();
  assert.ok(groups.length >= 8, `the configuration has its groups (${groups.join(', ')})`);
  for (const [index, group] of groups.entries()) {
    await sectionNav.getByRole('button').nth(index).click();
    await textMatches(page.locator('#config-section-title'), new RegExp(`^${group.replace(/ !$/, '')}$`));
    await fits(page, 'Settings', `settings-${index + 1}-${group.replace(/\W+/g, '-').toLowerCase()}`);
  }
  const sections: [tab: string, shows: RegExp, name: string][] = [
    ['Submission accounts', /scanner/, 'settings-accounts'],
    ['Sender lists', /newsletter@/, 'settings-senders'],
    ['Backups', /moat-backup-.*\.moat/, 'settings-backups'],
    ['Admin password', /Change the admin password/, 'settings-password'],
  ];
  for (const [tab, shows, name] of sections) {
    await tabs.getByRole('link', { name: tab, exact: true }).click();
    await textMatches(tabs.locator('[aria-current="page"]'), new RegExp(`^${tab}$`));
    await textMatches(page.locator('main'), shows);
    await fits(page, 'Settings', name);
  }

  await page.getByRole('link', { name: 'Setup wizard', exact: true }).click();
  await heading(page, 'Setup wizard').waitFor();
  const step = page.locator('#wizard-step-title');
  // the wizard keeps its step between visits: start again from the first
  await page.getByRole('navigation', { name: 'Wizard steps' }).getByRole('button').first().click();
  const titles = ['Accepted domains', 'Internal server', 'Recipient verification', 'Filters', 'TLS certificate', 'Outbound', 'Submission accounts', 'Admin password', 'Review and apply'];
  for (const [index, title] of titles.entries()) {
    await textMatches(step, new RegExp(`^Step ${index + 1} of 9: ${title}$`));
    if (title === 'Filters') await page.locator('.engines, .state.empty').first().waitFor();
    if (title === 'Review and apply') await page.getByRole('button', { name: 'Apply', exact: true }).waitFor();
    await fits(page, 'Setup wizard', `wizard-${index + 1}-${title.replace(/\W+/g, '-').toLowerCase()}`);
    if (index < titles.length - 1) await page.getByRole('button', { name: 'Next', exact: true }).click();
  }
}

e2eTest('at 800×560, the smallest desktop window, no screen scrolls the page sideways; the same screens fit 1280×800', async (world) => {
  const { relay } = await busyRelay(world);
  const { page, errors } = await world.page();
  await page.setViewportSize(NARROW);
  await logIn(page, relay.base);
  await textMatches(page.locator('.relay-state'), /Relay: Running/);
  await everyScreen(page);

  // the same screens at the size the UI is drawn for
  await page.setViewportSize(VIEWPORT);
  await page.evaluate('window.location.hash = "#/dashboard"');
  await heading(page, 'Dashboard').waitFor();
  await everyScreen(page);
  assert.deepEqual(errors, []);
});

e2eTest('at 800×560, the claim screen and the first run of the wizard fit the window', async (world) => {
  const { base, token } = await world.serveFresh();
  const { page, errors } = await world.page();
  await page.setViewportSize(NARROW);
  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Set up Moat', exact: true }).waitFor();
  const claim = await fit(page);
  assert.ok(claim.overflow <= 0 && claim.outside.length === 0, `the claim screen fits 800 px (${JSON.stringify(claim)})`);
  await screenshot(page, '50-narrow-claim-800');
  await page.getByLabel('Setup token', { exact: true }).fill(token);
  await page.getByLabel('New admin password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByLabel('Repeat the password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Claim this relay', exact: true }).click();
  await textMatches(page.locator('#wizard-step-title'), /^Step 1 of 9: Accepted domains$/);
  await fits(page, 'Set up Moat', 'first-run-wizard');
  assert.deepEqual(errors, []);
});
