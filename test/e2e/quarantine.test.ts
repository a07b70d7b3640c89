import assert from 'node:assert/strict';
import { message, send } from '../helpers/smtp.ts';
import type { Page } from 'playwright-core';
import { eventually } from '../helpers/cli.ts';
import { e2eTest, logIn, openScreen, screenshot, textMatches, UI_TIMEOUT_MS, type World } from './world.ts';

/** Text from the internet that would run script if it were ever put into the page as HTML. */
const HOSTILE_SUBJECT = 'Invoice <b>html</b> <img src=x onerror="window.__moatXss=1">';

/** A claimed relay for example.test delivering into a sink, where a message without a Date scores 11: quarantined (10), not refused (15). */
async function junkWorld(world: World, config: Record<string, unknown> = {}) {
  const sink = await world.sink();
  const relay = await world.serveConfigured({
    domains: ['example.test'],
    internal: { host: '127.0.0.1', port: sink.port, tls: 'none' },
    filters: { enabled: true, rules: { MISSING_DATE: 11 } },
    ...config,
  });
  const admin = await world.claim(relay);
  return { sink, relay, admin };
}

e2eTest('a quarantined message is released from the quarantine screen and arrives', async (world) => {
  const { sink, relay } = await junkWorld(world);
  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await openScreen(page, '#/quarantine', 'Quarantine');
  await page.getByText('The quarantine is empty.').waitFor();

  const undated = message(HOSTILE_SUBJECT, 'Cheap offer <script>window.__moatXss=2</script>\r\n').replace(/^Date: .*\r\n/m, '');
  const info = await send(relay.mxPort, 'alice@sender.test', ['bob@example.test'], undated);
  assert.match(info.response, /queued as/);

  // live: the row appears without a reload, with its reason and score
  const row = page.getByRole('row', { name: 'Message from alice@sender.test to bob@example.test', exact: true });
  await row.waitFor();
  assert.equal(await row.locator('.subject-cell').textContent(), HOSTILE_SUBJECT);
  // a cell the column cuts shows the whole of it on hover
  assert.equal(await row.locator('.subject-cell').getAttribute('title'), HOSTILE_SUBJECT);
  assert.match((await row.locator('.reason-cell').getAttribute('title')) ?? '', /junk score 11/);
  assert.match((await row.locator('.reason-cell').textContent()) ?? '', /junk score 11/);
  assert.equal((await row.locator('td.num').first().textContent())?.trim(), '11');

  const menuCount = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Quarantine/ }).locator('.count');
  await textMatches(menuCount, /^1$/);
  await row.click();
  const pane = page.getByRole('complementary', { name: 'Message preview' });
  const subject = pane.getByRole('heading', { level: 3 });
  await textMatches(subject, /^Invoice /);
  assert.equal(await subject.textContent(), HOSTILE_SUBJECT, 'the subject is shown as the text it is');
  await textMatches(pane.locator('.preview-text'), /Cheap offer <script>window\.__moatXss=2<\/script>/);
  await textMatches(pane.locator('.facts'), /Reason\s*junk score 11/);
  // nothing from the message became an element, and nothing of it ran
  assert.equal(await page.locator('main img, main b, main script').count(), 0);
  assert.equal(await page.evaluate('typeof window.__moatXss'), 'undefined');
  await screenshot(page, '06-quarantine-hostile-subject');

  // the pane's own button acts on the message it shows; the bulk ones wait for ticks
  assert.equal(await page.getByRole('toolbar', { name: 'Ticked messages' }).getByRole('button', { name: 'Release selected', exact: true }).isDisabled(), true);
  // the longest question: both its buttons whole inside the dialog (Cancel was cut to "ancel" beside a long name)
  await pane.getByRole('button', { name: 'Release and allow this sender', exact: true }).click();
  const allowDialog = page.getByRole('dialog');
  const box = (await allowDialog.boundingBox())!;
  for (const name of ['Cancel', 'Release 1 message and allow its sender']) {
    const button = (await allowDialog.getByRole('button', { name, exact: true }).boundingBox())!;
    assert.ok(button.x >= box.x && button.x + button.width <= box.x + box.width + 0.5, `"${name}" lies inside the dialog (${JSON.stringify(button)} in ${JSON.stringify(box)})`);
  }
  await screenshot(page, '06-quarantine-release-allow-confirm');
  await allowDialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await pane.getByRole('button', { name: 'Release this message', exact: true }).click();
  // a release sets the filters' doubts aside: it is asked first, saying what reaches the mailbox
  const dialog = page.getByRole('dialog');
  await textMatches(dialog.getByRole('heading'), /^Release this message\?$/);
  await textMatches(dialog, /goes to the queue and on to the recipients as it is: whatever the filters found in it \(a program, a virus, a forged sender\) reaches the mailbox/);
  assert.equal(sink.messages.length, 0, 'nothing is released before the answer');
  await dialog.getByRole('button', { name: 'Release 1 message', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Released 1 message. It is in the queue, due at once: the Queue shows it while the internal server does not take it, Message tracking when it is delivered.' }).waitFor();
  // the pane and its button are gone: the keyboard goes on from the result line, not from the top of the page
  await page.waitForFunction("document.activeElement?.classList.contains('action-result')");
  await sink.waitFor(1);
  const delivered = sink.messages[0]!.raw.toString('utf8');
  assert.match(delivered, /^X-Moat-Released: released from quarantine by admin@127\.0\.0\.1/);
  assert.ok(delivered.includes(`\r\nSubject: ${HOSTILE_SUBJECT}\r\n`));
  await row.waitFor({ state: 'detached' });
  await page.getByText('The quarantine is empty.').waitFor();
  await menuCount.waitFor({ state: 'detached' });
  assert.deepEqual(errors, []);
});

e2eTest('with quarantined message A open and B and C ticked, the preview deletes only A and the bulk buttons name and act on only B and C', async (world) => {
  const { sink, relay, admin } = await junkWorld(world);
  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await openScreen(page, '#/quarantine', 'Quarantine');
  await page.getByText('The quarantine is empty.').waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Pages of quarantined messages' }).count(), 0, 'an empty quarantine shows no pager');

  for (const name of ['anna', 'bert', 'cora']) await send(relay.mxPort, `${name}@sender.test`, ['bob@example.test'], message(`offer from ${name}`).replace(/^Date: .*\r\n/m, ''));
  const row = (name: string) => page.getByRole('row', { name: `Message from ${name}@sender.test to bob@example.test`, exact: true });
  const tick = (name: string) => page.getByRole('checkbox', { name: `Select the message from ${name}@sender.test to bob@example.test`, exact: true });
  for (const name of ['anna', 'bert', 'cora']) await row(name).waitFor();
  const toolbar = page.getByRole('toolbar', { name: 'Ticked messages' });
  const status = page.locator('.status-line');
  const dialog = page.getByRole('dialog');

  await row('anna').click();
  const pane = page.getByRole('complementary', { name: 'Message preview' });
  await textMatches(pane.getByRole('heading', { level: 3 }), /^offer from anna$/);
  await tick('bert').check();
  await tick('cora').check();

  await pane.getByRole('button', { name: 'Delete this message', exact: true }).click();
  await textMatches(dialog.getByRole('heading'), /^Delete this message\?$/);
  assert.deepEqual(await dialog.locator('.confirm-list li').allTextContents(), ['anna@sender.testoffer from anna']);
  await dialog.getByRole('button', { name: 'Delete 1 message', exact: true }).click();
  await textMatches(status, /^Deleted 1 message\.$/);
  await row('anna').waitFor({ state: 'detached' });
  await pane.waitFor({ state: 'detached' });
  assert.deepEqual((await admin.call('quarantine.list', {})).rows.map((held) => held.sender).sort(), ['bert@sender.test', 'cora@sender.test']);

  // the bulk Delete names B and C; Cancel; then the bulk Release sends exactly those two on
  await toolbar.getByRole('button', { name: 'Delete 2 selected', exact: true }).click();
  await textMatches(dialog.getByRole('heading'), /^Delete 2 messages\?$/);
  assert.deepEqual((await dialog.locator('.confirm-list li').allTextContents()).sort(), ['bert@sender.testoffer from bert', 'cora@sender.testoffer from cora']);
  await screenshot(page, '12-quarantine-bulk-delete-confirm');
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
  await toolbar.getByRole('button', { name: 'Release 2 selected', exact: true }).click();
  await textMatches(dialog.getByRole('heading'), /^Release 2 messages\?$/);
  await dialog.getByRole('button', { name: 'Release 2 messages', exact: true }).click();
  await textMatches(status, /^Released 2 messages\. They are in the queue, due at once: the Queue shows them while the internal server does not take them, Message tracking when they are delivered\.$/);
  await sink.waitFor(2);
  assert.deepEqual(sink.messages.map((sunk) => sunk.from).sort(), ['bert@sender.test', 'cora@sender.test'], 'A was deleted, never delivered');
  await page.getByText('The quarantine is empty.').waitFor();
  assert.equal(await tick('bert').count(), 0);
  assert.equal(await toolbar.count(), 0, 'an empty quarantine has no bulk buttons');
  assert.equal(await page.getByRole('navigation', { name: 'Pages of quarantined messages' }).count(), 0, 'and no pager');
  assert.deepEqual(errors, []);
});

e2eTest('two windows on one message: what one does shows in the other by itself, list and pane, in the quarantine and the queue', async (world) => {
  // the queue's message waits: its first attempt is not before the hold
  const { sink, relay, admin } = await junkWorld(world, { queue: { retryIntervalsSec: [3600] } });
  const a = await world.page();
  const b = await world.page();
  for (const { page } of [a, b]) {
    await logIn(page, relay.base);
    await openScreen(page, '#/quarantine', 'Quarantine');
  }
  await send(relay.mxPort, 'anna@sender.test', ['bob@example.test'], message('offer from anna').replace(/^Date: .*\r\n/m, ''));
  const row = (page: Page) => page.getByRole('row', { name: 'Message from anna@sender.test to bob@example.test', exact: true });
  const pane = (page: Page) => page.getByRole('complementary', { name: 'Message preview' });
  for (const { page } of [a, b]) {
    await row(page).click();
    await textMatches(pane(page).getByRole('heading', { level: 3 }), /^offer from anna$/);
  }

  // A releases it: B's list loses the row and B's pane says it is gone, with no buttons left to press
  await pane(a.page).getByRole('button', { name: 'Release this message', exact: true }).click();
  await a.page.getByRole('dialog').getByRole('button', { name: 'Release 1 message', exact: true }).click();
  await sink.waitFor(1);
  await row(b.page).waitFor({ state: 'detached' });
  await textMatches(pane(b.page).getByRole('status'), /^This message is no longer in the quarantine: it was released or deleted \(perhaps in another window\), or it expired\.$/);
  assert.equal(await pane(b.page).getByRole('button', { name: 'Try again', exact: true }).count(), 0);
  assert.equal(await pane(b.page).getByRole('button', { name: 'Release this message', exact: true }).count(), 0);
  await screenshot(b.page, '12-quarantine-other-window');

  // the queue: the internal server refuses for now, so a message waits; A holds it, B's open pane says Held
  await sink.stop();
  await send(relay.mxPort, 'bert@sender.test', ['bob@example.test'], message('from bert'));
  const queued = await eventually(async () => (await admin.call('queue.list', {})).rows[0] ?? null, UI_TIMEOUT_MS, 'a queued message');
  for (const { page } of [a, b]) await page.goto(`${relay.base}/#/queue?id=${queued.id}`);
  const recipient = (page: Page) => page.getByRole('article', { name: /^Message / }).locator('ul.recipients li').first();
  await textMatches(recipient(b.page), /^bob@example\.test (Retrying|Waiting)/);
  await a.page.getByRole('button', { name: 'Hold this message', exact: true }).click();
  await textMatches(recipient(b.page), /^bob@example\.test Held/);
  assert.ok(await b.page.getByRole('button', { name: 'Release this message', exact: true }).isVisible());
  assert.deepEqual([...a.errors, ...b.errors], []);
});

e2eTest("a filter reason holding a long unbroken string (a raw encoded Subject) wraps inside the preview: the decision's columns stay in view", async (world) => {
  const { relay } = await junkWorld(world);
  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  const encoded = `=?UTF-8?B?${Buffer.from('plain words '.repeat(30)).toString('base64')}?=`;
  const undated = message(encoded, 'Hello\r\n').replace(/^Date: .*\r\n/m, '');
  assert.match((await send(relay.mxPort, 'alice@sender.test', ['bob@example.test'], undated)).response, /queued as/);
  await openScreen(page, '#/quarantine', 'Quarantine');
  await page.getByRole('row', { name: 'Message from alice@sender.test to bob@example.test', exact: true }).click();
  const pane = page.getByRole('complementary', { name: 'Message preview' });
  await textMatches(pane.locator('.decision'), /NEEDLESSLY_ENCODED_SUBJECT/);
  const [scrollWidth, clientWidth] = await page.evaluate<[number, number]>("(() => { const table = document.querySelector('.decision table'); return [table.scrollWidth, table.parentElement.clientWidth]; })()");
  assert.ok(scrollWidth <= clientWidth + 1, `the decision table is ${scrollWidth} px wide in ${clientWidth} px`);
  assert.ok(await pane.locator('.decision th', { hasText: 'Time' }).isVisible());
  assert.deepEqual(errors, []);
});
