import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { GTUBE } from '../../src-relay/filters/builtin-rules.ts';
import { message, send } from '../helpers/smtp.ts';
import { countColour, decodePng } from './png-pixels.ts';
import { e2eTest, heading, horizontalOverflow, logIn, openScreen, screenshot, textMatches } from './world.ts';

/** No spinner left on the page: what the screenshot shows is the screen with its data. */
async function settled(page: Page): Promise<void> {
  // waitForFunction evals in the page, which the app's CSP (no 'unsafe-eval') forbids; evaluate runs over CDP.
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await page.waitForTimeout(100)) {
    if ((await page.evaluate<number>("document.querySelectorAll('.state.loading').length")) === 0) return;
  }
  assert.fail('a screen still shows a loading spinner after 10 s');
}

/** How far each table is wider than its box (a table that scrolls sideways hides its last columns). */
function tableOverflow(page: Page): Promise<number[]> {
  // the scrolling tables' overflow, and the small ones' (a filter decision in the narrow preview pane) past their box
  return page.evaluate<number[]>(
    "[...[...document.querySelectorAll('.table-wrap')].map((wrap) => wrap.scrollWidth - wrap.clientWidth), ...[...document.querySelectorAll('table.compact')].map((table) => table.offsetWidth - table.parentElement.clientWidth)]",
  );
}

/** The screen fits the 1280 px window and is saved as test-results/screenshots/NAME.png. */
async function look(page: Page, name: string): Promise<void> {
  await settled(page);
  assert.ok((await horizontalOverflow(page)) <= 0, `${name}: nothing needs horizontal scrolling at 1280 px (overflow ${await horizontalOverflow(page)} px)`);
  await screenshot(page, name);
  for (const overflow of await tableOverflow(page)) assert.ok(overflow <= 0, `${name}: every table column is in view (a table is ${overflow} px too wide)`);
}

/**
 * A chart whose first two lines lie on each other (as many deferred as rejected, at the same hour) shows both: the
 * legend gives each total, and the first line's colour is still seen in the picture, through the second's dashes.
 */
async function bothLinesShow(page: Page, title: string, legend: string[]): Promise<void> {
  const figure = page.locator('figure.chart', { has: page.locator('.chart-title', { hasText: title }) });
  const legendText = (await figure.locator('.legend').textContent()) ?? '';
  for (const item of legend) assert.ok(legendText.replace(/\s+/g, ' ').includes(item), `the "${title}" legend says "${item}" (it says "${legendText}")`);
  const first = await figure.locator('.series-1 .line').getAttribute('d');
  assert.equal(await figure.locator('.series-2 .line').getAttribute('d'), first, `the test's premise: the first two lines of "${title}" lie on each other`);
  const strokes = await page.evaluate<string[]>(
    `Array.from([...document.querySelectorAll('figure.chart')].find((f) => f.querySelector('.chart-title').textContent === ${JSON.stringify(title)})` +
      `.querySelectorAll('.line'), (line) => getComputedStyle(line).stroke)`,
  );
  const pixels = decodePng(await figure.locator('svg').screenshot());
  for (const [index, stroke] of strokes.slice(0, 2).entries()) {
    const [r, g, b] = (stroke.match(/\d+/g) ?? []).map(Number);
    const hex = `#${[r, g, b].map((value) => (value ?? 0).toString(16).padStart(2, '0')).join('')}`;
    const seen = countColour(pixels, hex);
    assert.ok(seen >= 60, `line ${index + 1} of "${title}" (${hex}) can be seen: ${seen} pixels of its colour`);
  }
}

/** The text of the focused element (the node tsconfig has no DOM types, so the page evaluates a string). */
function focusedText(page: Page): Promise<string | null> {
  return page.evaluate<string | null>('document.activeElement ? document.activeElement.textContent : null');
}

e2eTest('every screen shows its data after mail has flowed, fits 1280×800, and raises no page errors', async (world) => {
  // the internal server takes bob's mail and asks to try busy's later: one delivered, one waiting in the queue
  const { sink, relay, admin } = await world.relayWithBusyMailboxes((address) => address === 'busy@example.test');
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
  await bothLinesShow(page, 'Rejections and failures', ['Rejected 1', 'Deferred 1', 'Bounced 0']);

  // the main navigation works from the keyboard: Tab to a link, Enter follows it
  const nav = page.getByRole('navigation', { name: 'Main' });
  await page.locator('body').focus();
  for (let presses = 0; presses < 15 && !/^Queue/.test((await focusedText(page)) ?? ''); presses++) await page.keyboard.press('Tab');
  assert.match((await focusedText(page)) ?? '', /^Queue/, 'Tab reaches the Queue link');
  await page.keyboard.press('Enter');
  await heading(page, 'Queue').waitFor();
  assert.equal(await nav.getByRole('link', { name: /^Queue/ }).getAttribute('aria-current'), 'page');

  const waiting = page.getByRole('row', { name: 'Message from carol@sender.test to busy@example.test', exact: true });
  // the queue column says the 451 in words; the raw reply is the cell's tooltip (and under Details in the pane)
  await textMatches(waiting, /Retrying.*The receiving server refused for now/);
  assert.match((await waiting.locator('[title*="451"]').first().getAttribute('title')) ?? '', /451/);
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
  // the rules only added points (the decision quarantined): their row does not say "accept"
  const rules = preview.locator('.decision tbody', { hasText: 'builtin-rules' });
  assert.match((await rules.locator('tr').first().textContent()) ?? '', /^builtin-rules\s*points only\s*\d/);
  // its reasons on a line of their own, rule names whole: in a column of the pane "MISSING_DATE" broke mid-word
  const reasons = rules.locator('td.reasons');
  assert.match((await reasons.textContent()) ?? '', /MISSING_DATE/);
  const reasonsBox = (await reasons.boundingBox())!;
  const tableBox = (await preview.locator('.decision table').boundingBox())!;
  assert.ok(reasonsBox.width > tableBox.width * 0.9, `the reasons span the table (${reasonsBox.width} of ${tableBox.width})`);
  await look(page, '06-quarantine-preview');

  await nav.getByRole('link', { name: 'Checklist' }).click();
  await heading(page, 'Checklist').waitFor();
  await page.locator('table.probes').waitFor();
  // "not run yet" beside every probe reads as broken unless the page says when they run
  await textMatches(page.getByTestId('checklist-schedule'), /^The automatic checks run every 6 hours; next run in [1-5] min \(.+\)\. Run now checks at once\.$/);
  await look(page, '07-checklist');

  await nav.getByRole('link', { name: 'Message tracking' }).click();
  await heading(page, 'Message tracking').waitFor();
  const found = page.locator('table.data-table tbody tr');
  await textMatches(found.filter({ hasText: 'quarterly report' }), /Delivered/);
  await textMatches(found.filter({ hasText: 'spam@sender.test' }), /Refused.*550 5\.7\.1/);
  await textMatches(found.filter({ hasText: 'cheap watches' }), /Quarantined/);
  // its recipients wait for a release, not for delivery: never "Waiting" beside the "Quarantined" badge
  await found.filter({ hasText: 'cheap watches' }).getByRole('button', { name: /^Show history of the message/ }).click();
  const heldRecipients = page.getByRole('complementary', { name: 'Message history' }).locator('.recipients');
  await textMatches(heldRecipients, /Quarantined.*not delivered unless released from the quarantine/s);
  assert.doesNotMatch((await heldRecipients.textContent()) ?? '', /Waiting/);
  await page.getByRole('button', { name: 'Close history', exact: true }).click();
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
  // new mail shows in the open list by itself, no search pressed (it waited for one)
  await send(relay.mxPort, 'dave@sender.test', ['bob@example.test'], message('arrives while tracking is open'));
  await textMatches(found.filter({ hasText: 'arrives while tracking is open' }), /Delivered|In the queue/);

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
  // what is typed in the wizard survives a look at another screen
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test, second.test');
  await page.getByRole('button', { name: 'Next', exact: true }).click();
  await textMatches(page.locator('#wizard-step-title'), /^Step 2 of 9: Internal server$/);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Queue/ }).click();
  await heading(page, 'Queue').waitFor();
  await page.getByRole('link', { name: 'Setup wizard', exact: true }).click();
  await textMatches(page.locator('#wizard-step-title'), /^Step 2 of 9: Internal server$/);
  await page.getByRole('button', { name: 'Back', exact: true }).click();
  assert.equal(await page.getByLabel('Accepted domains', { exact: true }).inputValue(), 'example.test, second.test');
  // unless the saved configuration changed meanwhile (another window applied something): then it is set aside, and said
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Queue/ }).click();
  await heading(page, 'Queue').waitFor();
  const { saved } = await admin.call('config.get', {});
  assert.equal((await admin.call('config.apply', { config: { ...saved, checklist: { intervalHours: 12 } } })).error, null);
  await page.getByRole('link', { name: 'Setup wizard', exact: true }).click();
  await textMatches(page.getByTestId('wizard-set-aside'), /What you typed in the wizard earlier was not applied and is set aside: the saved configuration changed meanwhile/);
  await textMatches(page.locator('#wizard-step-title'), /^Step 1 of 9: Accepted domains$/);
  assert.equal(await page.getByLabel('Accepted domains', { exact: true }).inputValue(), 'example.test');
  // walked through again with nothing changed: the review says Apply would only restart the relay, and does not call
  // the internal server it already delivers to untested
  for (let number = 1; number < 9; number += 1) {
    await textMatches(page.locator('#wizard-step-title'), new RegExp(`^Step ${number} of 9: `));
    await page.getByRole('button', { name: 'Next', exact: true }).click();
  }
  await textMatches(page.locator('#wizard-step-title'), /^Step 9 of 9: Review and apply$/);
  await textMatches(page.getByRole('note', { name: 'Nothing changed' }), /^Nothing has changed from the configuration in force\. Apply saves it as it is and restarts the relay/);
  assert.doesNotMatch((await page.locator('.wizard-step').textContent()) ?? '', /was not tested/);
  await look(page, '10-setup-wizard-again-unchanged');
  // one change, and the note is gone
  await page.getByRole('button', { name: 'Edit Accepted domains', exact: true }).click();
  await page.getByLabel('Accepted domains', { exact: true }).fill('example.test, second.test');
  for (let number = 1; number < 9; number += 1) {
    await textMatches(page.locator('#wizard-step-title'), new RegExp(`^Step ${number} of 9: `));
    await page.getByRole('button', { name: 'Next', exact: true }).click();
  }
  await page.getByText('The configuration is complete and valid.').waitFor();
  assert.equal(await page.getByRole('note', { name: 'Nothing changed' }).count(), 0);

  assert.deepEqual(errors, [], 'no page errors and no Content Security Policy violations');
});

/** WCAG's minimum for a focus indicator against what is next to it (non-text contrast, 1.4.11). */
const FOCUS_CONTRAST_MIN = 3;

type Rgba = [number, number, number, number];

function parseColor(css: string): Rgba {
  const parts = /rgba?\(([^)]+)\)/.exec(css)?.[1]?.split(/[\s,/]+/).filter(Boolean).map(Number);
  if (!parts || parts.length < 3) throw new Error(`not an rgb() colour: ${css}`);
  return [parts[0]!, parts[1]!, parts[2]!, parts[3] ?? 1];
}

function luminance([r, g, b]: Rgba): number {
  const channel = (value: number) => {
    const c = value / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

/**
 * The focused element's focus ring and what it is drawn on, from the computed styles: the outline colour, and the
 * background layers from the element itself (an outline drawn inside it, negative offset) or from its parent
 * (drawn outside) up to the first opaque one, blended.
 */
async function focusRing(page: Page): Promise<{ what: string; visible: boolean; width: number; outline: Rgba; background: Rgba; ratio: number }> {
  const found = await page.evaluate<{ what: string; visible: boolean; width: string; style: string; outline: string; layers: string[] }>(`(() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    const layers = [];
    let at = parseFloat(style.outlineOffset) < 0 ? element : element.parentElement;
    for (; at; at = at.parentElement) {
      const background = getComputedStyle(at).backgroundColor;
      layers.push(background);
      if (!/rgba\\(.*,\\s*0(\\.\\d+)?\\)$|\\/\\s*0(\\.\\d+)?\\)$/.test(background) && !/transparent/.test(background)) break;
    }
    layers.push('rgb(255, 255, 255)');
    return {
      what: element.tagName + ' ' + (element.getAttribute('aria-label') || element.textContent || '').slice(0, 60),
      visible: element.matches(':focus-visible'),
      width: style.outlineWidth,
      style: style.outlineStyle,
      outline: style.outlineColor,
      layers,
    };
  })()`);
  // blend the background layers, the top one (nearest the element) last
  let background: Rgba = [255, 255, 255, 1];
  for (const layer of found.layers.map(parseColor).reverse()) {
    const alpha = layer[3];
    background = [0, 1, 2].map((i) => layer[i]! * alpha + background[i]! * (1 - alpha)).concat(1) as Rgba;
  }
  const outline = parseColor(found.outline);
  const [light, dark] = [luminance(outline), luminance(background)].sort((a, b) => b - a) as [number, number];
  return { what: found.what, visible: found.visible && found.style !== 'none', width: parseFloat(found.width), outline, background, ratio: (light + 0.05) / (dark + 0.05) };
}

async function assertFocusRing(page: Page, where: string): Promise<void> {
  const ring = await focusRing(page);
  assert.ok(ring.visible, `${where}: ${ring.what} shows a focus ring`);
  assert.ok(ring.width >= 2, `${where}: the ring is at least 2 px wide (${ring.width})`);
  assert.ok(ring.ratio >= FOCUS_CONTRAST_MIN, `${where}: the focus ring of ${ring.what} (${ring.outline.join(',')}) on ${ring.background.join(',')} has contrast ${ring.ratio.toFixed(2)}, at least ${FOCUS_CONTRAST_MIN}:1`);
}

/** The row (or row button) the keyboard is on: its data-row-id. */
function focusedRowId(page: Page): Promise<string | null> {
  return page.evaluate<string | null>("document.activeElement ? document.activeElement.getAttribute('data-row-id') : null");
}

/** The tables fit 1280×800: no table and no page scrolls sideways. */
async function fits(page: Page, name: string): Promise<void> {
  await settled(page);
  assert.ok((await page.locator('.table-wrap').count()) > 0, `${name}: a table is shown`);
  for (const overflow of await tableOverflow(page)) assert.ok(overflow <= 0, `${name}: the table's scrollWidth is within its clientWidth (${overflow} px over)`);
  assert.ok((await horizontalOverflow(page)) <= 0, `${name}: the page does not scroll sideways`);
  await screenshot(page, name);
}

const LONG_LOCAL = 'accounts-payable.notifications.department-of-finance';
const LONG_DOMAIN = 'subsidiary-with-a-long-name.example-holding-company.test';
const LONG_SUBJECT = `Re: Fwd: Re: Your invoice INV-2026-000123456789 for the quarterly maintenance contract ${'Überweisungsbestätigungsnummer'.repeat(3)} and more`;

e2eTest('the queue, quarantine and tracking tables fit 1280×800 with and without the pane; Escape closes the pane back to its row; arrows move row to row; focus rings 3:1; no pager on an empty list', async (world) => {
  const { relay, page, errors } = await world.serveWithInternalDown({
    filters: { enabled: true, rules: { MISSING_DATE: 11 } },
  });

  // ---- empty lists: the empty state, no pager
  await openScreen(page, '#/queue', 'Queue');
  await page.getByText('The queue is empty').waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Pages of queued messages' }).count(), 0, 'an empty queue shows no pager');
  assert.equal(await page.getByRole('toolbar', { name: 'Ticked messages' }).count(), 0, 'and no bulk buttons');
  await screenshot(page, '13-queue-empty');
  await openScreen(page, '#/quarantine', 'Quarantine');
  await page.getByText('The quarantine is empty.').waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Pages of quarantined messages' }).count(), 0, 'an empty quarantine shows no pager');

  // ---- long addresses and subjects: three queued, two quarantined
  const recipients = ['bob@example.test', `${LONG_LOCAL}@example.test`, 'carol@example.test'];
  const senders = [1, 2, 3].map((n) => `${LONG_LOCAL}-${n}@${LONG_DOMAIN}`);
  for (const sender of senders) await send(relay.mxPort, sender, recipients, message(`${LONG_SUBJECT} ${sender.slice(-30)}`));
  for (const n of [4, 5]) await send(relay.mxPort, `${LONG_LOCAL}-${n}@${LONG_DOMAIN}`, recipients, message(`${LONG_SUBJECT} quarantined ${n}`).replace(/^Date: .*\r\n/m, ''));

  await openScreen(page, '#/queue', 'Queue');
  const who = (sender: string) => new RegExp(`^Message from ${sender.replace(/\./g, '\\.')} to .* and 1 more$`);
  const rows = senders.map((sender) => page.getByRole('row', { name: who(sender) }));
  for (const row of rows) await textMatches(row, /Retrying/);
  assert.equal(await page.getByRole('navigation', { name: 'Pages of queued messages' }).count(), 1, 'a queue with mail has its pager');
  await fits(page, '13-queue-long-fits');
  const ids = await Promise.all(rows.map(async (row) => (await row.getAttribute('data-row-id'))!));

  // the list is one tab stop (list-keyboard.test.ts counts them): the arrows go from row to row
  await rows[0]!.focus();
  await page.keyboard.press('ArrowDown');
  assert.equal(await focusedRowId(page), ids[1], 'ArrowDown moves from the first row to the second');
  await assertFocusRing(page, 'a queue row');
  await page.keyboard.press('ArrowDown');
  assert.equal(await focusedRowId(page), ids[2], 'ArrowDown moves from the second row to the third');
  await page.keyboard.press('ArrowUp');
  assert.equal(await focusedRowId(page), ids[1], 'ArrowUp goes back one row');
  // Space ticks the focused row; its ring still stands out on the ticked row's colour
  await page.keyboard.press('Space');
  await textMatches(page.getByRole('toolbar', { name: 'Ticked messages' }), /^1 ticked:/);
  await assertFocusRing(page, 'a ticked queue row');

  // Enter opens the pane; the open row's ring on its highlight; the table still fits
  await page.keyboard.press('Enter');
  const pane = page.getByRole('complementary', { name: 'Message details' });
  await textMatches(pane.locator('.subject'), /^Re: Fwd:/);
  // a person planning a long outage can tell whether mail will be lost, and when senders hear of the delay
  await textMatches(pane.locator('.retry-limits'), /^Moat keeps trying until .+ \(5 days after it arrived\), then returns it to its sender\. If it still waits at .+, the sender is told that it is delayed\.$/);
  assert.equal(await focusedRowId(page), ids[1], 'opening the pane leaves the focus on the row');
  await assertFocusRing(page, 'the open (and ticked) queue row');
  await fits(page, '13-queue-long-pane-fits');
  // a pane button's ring, on the pane
  await page.keyboard.press('Shift+Tab');
  await pane.getByRole('button', { name: 'Hold this message', exact: true }).focus();
  await assertFocusRing(page, "the pane's Hold button");
  // a bulk button's ring, on the toolbar
  await page.getByRole('button', { name: 'Hold 1 selected', exact: true }).focus();
  await assertFocusRing(page, 'the bulk Hold button');

  // Escape, from inside the pane, closes it and puts the focus back on its row
  await pane.getByRole('button', { name: 'Hold this message', exact: true }).focus();
  await page.keyboard.press('Escape');
  await pane.waitFor({ state: 'detached' });
  assert.equal(await focusedRowId(page), ids[1], 'Escape returns the focus to the row the pane was opened from');
  assert.ok(!(await page.evaluate<string>('location.hash')).includes('id='), 'the address no longer names the message');
  // Escape in a dialog cancels the dialog only; the pane stays
  await rows[2]!.click();
  await pane.waitFor();
  await pane.getByRole('button', { name: 'Delete this message', exact: true }).click();
  await page.getByRole('dialog').waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'hidden' });
  assert.equal(await pane.count(), 1, "Escape in the dialog leaves the pane open");
  await page.keyboard.press('Escape');
  await pane.waitFor({ state: 'detached' });
  assert.equal(await focusedRowId(page), ids[2]);

  // ---- quarantine: fits with and without its preview; Escape closes it back to the row
  await openScreen(page, '#/quarantine', 'Quarantine');
  const held = [4, 5].map((n) => page.getByRole('row', { name: who(`${LONG_LOCAL}-${n}@${LONG_DOMAIN}`) }));
  for (const row of held) await row.waitFor();
  await fits(page, '13-quarantine-long-fits');
  // newest first: the second row on the page is message 4
  const [first, second] = [held[1]!, held[0]!];
  await first.focus();
  await page.keyboard.press('ArrowDown');
  assert.equal(await focusedRowId(page), await second.getAttribute('data-row-id'), 'ArrowDown moves row to row in the quarantine');
  await assertFocusRing(page, 'a quarantine row');
  await page.keyboard.press('Enter');
  const preview = page.getByRole('complementary', { name: 'Message preview' });
  await textMatches(preview.getByRole('heading', { level: 3 }), /^Re: Fwd:/);
  await fits(page, '13-quarantine-long-pane-fits');
  await page.keyboard.press('Escape');
  await preview.waitFor({ state: 'detached' });
  assert.equal(await focusedRowId(page), await second.getAttribute('data-row-id'), 'Escape returns the focus to the quarantine row');

  // ---- tracking: fits with and without the history; Escape returns to the row's "Show history"
  await openScreen(page, '#/tracking', 'Message tracking');
  const show = page.getByRole('button', { name: new RegExp(`^Show history of the message from ${LONG_LOCAL}-1@`) });
  await show.waitFor();
  await fits(page, '13-tracking-long-fits');
  await show.focus();
  await assertFocusRing(page, 'a tracking row button');
  await page.keyboard.press('Enter');
  const history = page.getByRole('complementary', { name: 'Message history' });
  await textMatches(history.locator('.subject'), /^Re: Fwd:/);
  await fits(page, '13-tracking-long-pane-fits');
  await page.keyboard.press('Escape');
  await history.waitFor({ state: 'detached' });
  assert.equal(await focusedRowId(page), ids[0], "Escape returns the focus to the row's Show history button");
  assert.deepEqual(errors, []);
});
