import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';
import { GTUBE } from '../../src-relay/filters/builtin-rules.ts';
import { message, send } from '../helpers/smtp.ts';
import { e2eTest, openScreen, screenshot, textMatches } from './world.ts';

// The queue, quarantine and tracking lists are one tab stop each (a roving tabindex, as a grid has): Tab crosses a
// list of many rows in one press, the arrows, Home and End move between its rows, and Shift+Tab comes back to the
// row the keyboard was last on. Enter and Space do what they did.

/** Where the keyboard is: in the list's body or not, the row's data-row-id, and a few words to tell it by. */
interface Focus {
  inList: boolean;
  rowId: string | null;
  text: string;
}

function focus(page: Page): Promise<Focus> {
  return page.evaluate<Focus>(`(() => {
    const element = document.activeElement;
    if (!element || element === document.body) return { inList: false, rowId: null, text: '(nothing)' };
    return {
      inList: Boolean(element.closest('table.messages tbody')),
      rowId: element.getAttribute('data-row-id'),
      text: (element.getAttribute('aria-label') || element.textContent || element.tagName).trim().slice(0, 80),
    };
  })()`);
}

/** The list's rows' data-row-id in order, and how many of the list's elements are tab stops (tabindex 0). */
function listState(page: Page): Promise<{ ids: (string | null)[]; stops: number }> {
  return page.evaluate<{ ids: (string | null)[]; stops: number }>(`(() => {
    const body = document.querySelector('table.messages tbody');
    const items = [...body.querySelectorAll('[data-roving]')];
    return { ids: items.map((item) => item.getAttribute('data-row-id')), stops: items.filter((item) => item.tabIndex === 0).length };
  })()`);
}

/**
 * Tab from `start` until the keyboard has crossed the list and left it: how many presses landed in the list, and
 * where it went after it.
 */
async function tabAcross(page: Page, start: Locator, what: string): Promise<{ inList: Focus[]; after: Focus }> {
  await start.focus();
  const inList: Focus[] = [];
  for (let presses = 0; presses < 60; presses++) {
    await page.keyboard.press('Tab');
    const now = await focus(page);
    if (now.inList) inList.push(now);
    else if (inList.length > 0) return { inList, after: now };
  }
  assert.fail(`${what}: 60 presses of Tab did not cross the list (${inList.length} of them in it)`);
}

/** One tab stop for the whole list; the arrows, Home and End move; Shift+Tab comes back to the row last moved to. */
async function oneTabStop(page: Page, start: Locator, what: string): Promise<(string | null)[]> {
  const { ids, stops } = await listState(page);
  assert.ok(ids.length >= 3, `${what}: the list has rows enough to tell (${ids.length})`);
  assert.equal(stops, 1, `${what}: one row is the tab stop (tabindex 0), the others -1`);
  const crossing = await tabAcross(page, start, what);
  assert.equal(crossing.inList.length, 1, `${what}: one press of Tab lands in the list of ${ids.length} rows (${crossing.inList.map((stop) => stop.text).join(' | ')})`);
  const first = crossing.inList[0]!;
  assert.equal(first.rowId, ids[0], `${what}: coming in, the keyboard lands on the first row`);

  await page.keyboard.press('Shift+Tab');
  assert.equal((await focus(page)).rowId, ids[0], `${what}: Shift+Tab from after the list comes back to its row`);
  await page.keyboard.press('ArrowDown');
  assert.equal((await focus(page)).rowId, ids[1], `${what}: ArrowDown moves to the second row`);
  await page.keyboard.press('End');
  const last = ids.length - 1;
  assert.equal((await focus(page)).rowId, ids[last], `${what}: End moves to the last row`);
  await page.keyboard.press('ArrowDown');
  assert.equal((await focus(page)).rowId, ids[last], `${what}: ArrowDown on the last row stays there`);
  await page.keyboard.press('Home');
  assert.equal((await focus(page)).rowId, ids[0], `${what}: Home moves to the first row`);
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowUp');
  assert.equal((await focus(page)).rowId, ids[1], `${what}: ArrowUp moves back a row`);
  assert.equal((await listState(page)).stops, 1, `${what}: still one tab stop after moving`);

  // out of the list and back: the keyboard returns to the row it was last on
  await page.keyboard.press('Tab');
  assert.ok(!(await focus(page)).inList, `${what}: Tab from a row leaves the list`);
  await page.keyboard.press('Shift+Tab');
  assert.equal((await focus(page)).rowId, ids[1], `${what}: Shift+Tab comes back to the row last moved to`);
  const again = await tabAcross(page, start, what);
  assert.equal(again.inList.length, 1, `${what}: still one press of Tab across the list`);
  assert.equal(again.inList[0]!.rowId, ids[1], `${what}: Tab from before the list comes in at the row last moved to`);
  await page.keyboard.press('Shift+Tab');
  return ids;
}

const LONG = 'accounts-payable.notifications';

e2eTest('the queue, quarantine and tracking lists are one tab stop each: arrows, Home and End move, Enter and Space still open and tick', async (world) => {
  const { relay, page, errors } = await world.serveWithInternalDown({ filters: { enabled: true, rules: { MISSING_DATE: 11 } } });
  for (const n of [1, 2, 3, 4]) await send(relay.mxPort, `${LONG}-${n}@sender.test`, ['bob@example.test'], message(`waiting ${n}`));
  for (const n of [5, 6, 7]) await send(relay.mxPort, `${LONG}-${n}@sender.test`, ['bob@example.test'], message(`held ${n}`).replace(/^Date: .*\r\n/m, ''));
  await assert.rejects(send(relay.mxPort, 'spam@sender.test', ['bob@example.test'], message('gtube', `${GTUBE}\r\n`)), /550 5\.7\.1/);

  // ---- queue: from the search box across the list, in one press
  await openScreen(page, '#/queue', 'Queue');
  const queueRows = page.locator('table.messages tbody tr');
  await textMatches(queueRows.nth(3), /Retrying/);
  // a grid to assistive technology: the rows its cells, ticked rows its selection
  assert.equal(await page.getByRole('grid', { name: /^Queued messages/ }).count(), 1, 'the queue is a grid named by its caption');
  assert.equal(await page.getByRole('grid', { name: /^Queued messages/ }).getAttribute('aria-multiselectable'), 'true');
  const queue = await oneTabStop(page, page.getByRole('searchbox', { name: 'Search' }), 'queue');
  // Space ticks the focused row (a grid's selection), Space again unticks; Enter opens its pane, Escape comes back
  const row = page.locator(`tr[data-row-id="${queue[1]}"]`);
  await page.keyboard.press('Space');
  await textMatches(page.getByRole('toolbar', { name: 'Ticked messages' }), /^1 ticked:/);
  assert.equal(await row.getAttribute('aria-selected'), 'true', 'a ticked row is selected');
  assert.equal(await page.getByRole('row', { selected: true }).getAttribute('data-row-id'), queue[1], 'and the only one');
  assert.ok(await row.getByRole('checkbox').isChecked(), "Space ticks the row's box");
  await page.keyboard.press('Space');
  assert.equal(await row.getAttribute('aria-selected'), 'false', 'Space again unticks it');
  await page.keyboard.press('Enter');
  const details = page.getByRole('complementary', { name: 'Message details' });
  await textMatches(details.locator('.subject'), /^waiting/);
  assert.equal((await focus(page)).rowId, queue[1], 'Enter opens the pane and leaves the keyboard on the row');
  await screenshot(page, '60-queue-keyboard');
  await page.keyboard.press('Escape');
  await details.waitFor({ state: 'detached' });
  assert.equal((await focus(page)).rowId, queue[1], 'Escape closes the pane back to the row');
  // a click makes the clicked row the list's tab stop
  await page.locator(`tr[data-row-id="${queue[2]}"] td`).nth(1).click();
  await details.waitFor();
  await page.getByRole('button', { name: 'Close details', exact: true }).click();
  await details.waitFor({ state: 'detached' });
  const clicked = await tabAcross(page, page.getByRole('searchbox', { name: 'Search' }), 'queue after a click');
  assert.equal(clicked.inList.length, 1);
  assert.equal(clicked.inList[0]!.rowId, queue[2], 'Tab comes in at the row last clicked');

  // ---- quarantine
  await openScreen(page, '#/quarantine', 'Quarantine');
  const heldRows = page.locator('table.messages tbody tr');
  await heldRows.nth(2).waitFor();
  assert.equal(await page.getByRole('grid', { name: /^Quarantined messages/ }).count(), 1, 'the quarantine is a grid named by its caption');
  const quarantine = await oneTabStop(page, page.getByRole('searchbox', { name: 'Search' }), 'quarantine');
  await page.keyboard.press('Space');
  await textMatches(page.getByRole('toolbar', { name: 'Ticked messages' }), /^1 ticked:/);
  await page.keyboard.press('Space');
  await page.keyboard.press('Enter');
  const preview = page.getByRole('complementary', { name: 'Message preview' });
  await textMatches(preview.getByRole('heading', { level: 3 }), /^held/);
  await page.keyboard.press('Escape');
  await preview.waitFor({ state: 'detached' });
  assert.equal((await focus(page)).rowId, quarantine[1], 'Escape closes the preview back to the row');

  // ---- tracking: the stop is a row's "Show history" (a refused row's details: it has no history)
  await openScreen(page, '#/tracking', 'Message tracking');
  const found = page.locator('table.messages tbody tr');
  await textMatches(found.filter({ hasText: 'spam@sender.test' }), /Refused/);
  await found.nth(7).waitFor();
  assert.equal(await page.getByRole('grid', { name: /^Messages found/ }).count(), 1, 'the messages found are a grid named by its caption');
  const tracking = await oneTabStop(page, page.getByRole('button', { name: 'Clear', exact: true }), 'tracking');
  await page.keyboard.press('Enter');
  const history = page.getByRole('complementary', { name: 'Message history' });
  await history.locator('.subject').waitFor();
  await page.keyboard.press('Escape');
  await history.waitFor({ state: 'detached' });
  assert.equal((await focus(page)).rowId, tracking[1], "Escape closes the history back to the row's button");
  // the arrows stop at the refused row too, on its details
  await page.keyboard.press('Home');
  let refused: Focus | null = null;
  for (let presses = 0; presses < 10 && !refused; presses++) {
    const now = await focus(page);
    if (now.inList && now.rowId === null) refused = now;
    else await page.keyboard.press('ArrowDown');
  }
  assert.ok(refused, 'the arrows reach the refused row');
  assert.match(refused.text, /Refused after the content check/, "the refused row's details get the focus");
  assert.deepEqual(errors, []);
});
