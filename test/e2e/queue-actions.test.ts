import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { AdminClient } from '../helpers/admin.ts';
import { eventually } from '../helpers/cli.ts';
import { message, send } from '../helpers/smtp.ts';
import { e2eTest, openScreen, screenshot, textMatches, UI_TIMEOUT_MS } from './world.ts';

/** The queued messages by sender, as the API lists them (every status, one page). */
async function queuedBySender(admin: AdminClient): Promise<Map<string, { id: string; status: string; attempts: number }>> {
  const { rows } = await admin.call('queue.list', { limit: 500 });
  return new Map(rows.map((row) => [row.sender, { id: row.id, status: row.status, attempts: row.attempts }]));
}

const row = (page: Page, sender: string) => page.getByRole('row', { name: `Message from ${sender} to bob@example.test`, exact: true });
const tick = (page: Page, sender: string) => page.getByRole('checkbox', { name: `Select the message from ${sender} to bob@example.test`, exact: true });

e2eTest('queue actions: hold ticked rows and undo it, delete the open message and bounce a ticked one through dialogs that name them, pause and resume delivery', async (world) => {
  // the internal server is down (its port reserved, nothing listening); bounces to other domains go to a smarthost
  const smarthost = await world.sink();
  const { relay, internalPort, page, errors, admin } = await world.serveWithInternalDown({
    outbound: { smarthost: { host: '127.0.0.1', port: smarthost.port, tls: 'none' } },
  });
  await openScreen(page, '#/queue', 'Queue');
  await page.getByText('The queue is empty').waitFor();

  const senders = ['alice@sender.test', 'carol@sender.test', 'dave@sender.test', 'erin@sender.test'];
  for (const sender of senders) await send(relay.mxPort, sender, ['bob@example.test'], message(`from ${sender.split('@')[0]}`));
  for (const sender of senders) await textMatches(row(page, sender).locator('.badge'), /^Retrying$/);
  const toolbar = page.getByRole('toolbar', { name: 'Ticked messages' });
  const bulk = (name: string) => toolbar.getByRole('button', { name, exact: true });
  // the action's result line (the paused-delivery banner is a status too)
  const status = page.locator('.status-line');

  // with nothing ticked the bulk buttons are there, say so, and do nothing
  await textMatches(toolbar, /^Tick messages to act on several at once\./);
  for (const name of ['Retry selected', 'Hold selected', 'Release selected', 'Delete selected', 'Bounce selected']) assert.equal(await bulk(name).isDisabled(), true, `${name} is disabled with none ticked`);
  // and look it: the red ones as grey as the rest (red enough, they looked like they waited for a click)
  const looks = (name: string) =>
    page.evaluate<string>(`(() => {
      const button = [...document.querySelectorAll('[role=toolbar] button')].find((candidate) => candidate.textContent.trim() === ${JSON.stringify(name)});
      const style = getComputedStyle(button);
      return [style.color, style.borderColor, style.backgroundColor].join(' / ');
    })()`);
  for (const name of ['Delete selected', 'Bounce selected']) assert.equal(await looks(name), await looks('Retry selected'), `${name}, disabled, looks like Retry selected, disabled`);

  // ---- hold two ticked rows; the ticks are cleared; Undo releases them
  await tick(page, 'alice@sender.test').check();
  await tick(page, 'carol@sender.test').check();
  await textMatches(toolbar, /^2 ticked:/);
  await bulk('Hold 2 selected').click();
  await textMatches(status, /^Held 2 messages\.Undo$/);
  await textMatches(row(page, 'alice@sender.test').locator('.badge'), /^Held$/);
  await textMatches(row(page, 'carol@sender.test').locator('.badge'), /^Held$/);
  await textMatches(row(page, 'dave@sender.test').locator('.badge'), /^Retrying$/);
  let queued = await queuedBySender(admin);
  assert.deepEqual(
    senders.map((sender) => queued.get(sender)?.status),
    ['held', 'held', 'deferred', 'deferred'],
    'queue.list agrees with the screen',
  );
  assert.deepEqual((await admin.call('queue.list', { status: 'held' })).rows.map((held) => held.sender).sort(), ['alice@sender.test', 'carol@sender.test']);
  // the ticks went with the action: the next bulk click cannot hit them by surprise
  await textMatches(toolbar, /^Tick messages to act on several at once\./);
  assert.equal(await tick(page, 'alice@sender.test').isChecked(), false);
  assert.equal(await tick(page, 'carol@sender.test').isChecked(), false);
  assert.equal(await bulk('Release selected').isDisabled(), true);
  await screenshot(page, '11-queue-held-undo');
  // the open message's pane says held too: no "next try" (in the past, it read as overdue and stuck)
  await row(page, 'alice@sender.test').click();
  const recipientLine = page.getByRole('article', { name: /^Message / }).locator('ul.recipients li').first();
  await textMatches(recipientLine, /^bob@example\.test Held.*not tried until released.*The last attempt:/s);
  assert.doesNotMatch((await recipientLine.textContent()) ?? '', /next try/);
  // nor a promise of tries and a return to the sender that a hold suspends
  const limits = page.getByRole('article', { name: /^Message / }).locator('.retry-limits');
  await textMatches(limits, /^Held: Moat does not try it, nor return it to its sender, until it is released; then it gets at least one more try\.$/);
  await screenshot(page, '11-queue-held-pane');

  await status.getByRole('button', { name: 'Undo', exact: true }).click();
  await textMatches(status, /^Released 2 messages\.$/);
  await textMatches(recipientLine, /^bob@example\.test Retrying/);
  await textMatches(row(page, 'alice@sender.test').locator('.badge'), /^Retrying$/);
  await textMatches(row(page, 'carol@sender.test').locator('.badge'), /^Retrying$/);
  assert.equal((await admin.call('queue.list', { status: 'held' })).total, 0, 'Undo released exactly the held two');
  // a release makes the message due at once: both are tried again (and refused again) before the internal server comes up
  await eventually(
    async () => {
      const now = await queuedBySender(admin);
      return now.get('alice@sender.test')?.attempts === 2 && now.get('carol@sender.test')?.attempts === 2;
    },
    UI_TIMEOUT_MS,
    'the released messages to be tried again',
  );

  // ---- delete the open message from its pane: Cancel leaves it alone, the dialog names it, its Delete removes it
  const daveId = (await queuedBySender(admin)).get('dave@sender.test')!.id;
  await row(page, 'dave@sender.test').click();
  const pane = page.getByRole('complementary', { name: 'Message details' });
  await textMatches(pane.locator('.subject'), /^from dave$/);
  const paneActions = pane.getByRole('group', { name: 'Actions for this message' });
  assert.deepEqual(await paneActions.getByRole('button').allTextContents(), ['Retry this message now', 'Hold this message', 'Delete this message', 'Bounce this message']);
  await paneActions.getByRole('button', { name: 'Delete this message', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await textMatches(dialog.getByRole('heading'), /^Delete this message\?$/);
  assert.deepEqual(await dialog.locator('.confirm-list li').allTextContents(), ['dave@sender.testfrom dave']);
  await screenshot(page, '11-queue-delete-confirm');
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal((await admin.call('queue.show', { id: daveId })).status, 'queued', 'Cancel deletes nothing');
  await row(page, 'dave@sender.test').waitFor();
  await textMatches(pane.locator('.subject'), /^from dave$/);

  await paneActions.getByRole('button', { name: 'Delete this message', exact: true }).click();
  await dialog.getByRole('button', { name: 'Delete 1 message', exact: true }).click();
  await textMatches(status, /^Deleted 1 message\.$/);
  await row(page, 'dave@sender.test').waitFor({ state: 'detached' });
  await pane.waitFor({ state: 'detached' });
  assert.equal((await admin.call('queue.show', { id: daveId })).status, 'deleted');
  assert.equal((await queuedBySender(admin)).has('dave@sender.test'), false);

  // ---- bounce a ticked message: the sender gets a DSN, through the smarthost (sender.test is not ours)
  await tick(page, 'erin@sender.test').check();
  await bulk('Bounce 1 selected').click();
  await textMatches(dialog.getByRole('heading'), /^Bounce 1 message\?$/);
  assert.deepEqual(await dialog.locator('.confirm-list li').allTextContents(), ['erin@sender.testfrom erin']);
  await textMatches(dialog, /bounce report \(DSN\)/);
  await screenshot(page, '11-queue-bounce-confirm');
  await dialog.getByRole('button', { name: 'Bounce 1 message', exact: true }).click();
  await textMatches(status, /^Bounced 1 message\.$/);
  await row(page, 'erin@sender.test').waitFor({ state: 'detached' });
  await textMatches(toolbar, /^Tick messages to act on several at once\./);
  await smarthost.waitFor(1);
  const dsn = smarthost.messages[0]!;
  assert.equal(dsn.from, '', 'a DSN has the null sender');
  assert.deepEqual(dsn.to, ['erin@sender.test']);
  const report = dsn.raw.toString('utf8');
  assert.match(report, /\r\nSubject: Undelivered Mail Returned to Sender\r\n/);
  assert.match(report, /Final-Recipient: rfc822; ?bob@example\.test/i);
  assert.match(report, /Action: failed/);
  assert.match(report, /returned to the sender by the administrator/);
  assert.match(report, /Subject: from erin/, 'the DSN quotes the original header');
  // the relay records the DSN's delivery just after the smarthost took it: from then on only alice and carol wait
  await eventually(async () => (await admin.call('queue.summary', {})).size === 2, UI_TIMEOUT_MS, 'the DSN to leave the queue');

  // ---- "Retry all now" with the internal server still down: the line says what came of each try, and why
  await page.getByRole('button', { name: 'Retry all now', exact: true }).click();
  await textMatches(status, /^2 recipients were made due now\. Tried: 2 still waiting\. The last try: The server refused the connection: nothing is listening at that address and port\.$/);
  await screenshot(page, '11-queue-retry-all-down');
  queued = await queuedBySender(admin);
  assert.deepEqual(['alice@sender.test', 'carol@sender.test'].map((sender) => queued.get(sender)?.attempts), [3, 3]);

  // ---- pause delivery; mail is still taken in; "Retry all now" while paused sends nothing
  await page.getByRole('button', { name: 'Pause delivery', exact: true }).click();
  // the banner explains the pause; the result line does not say it again
  await textMatches(status, /^Delivery paused\.$/);
  const resume = page.getByRole('button', { name: 'Resume delivery', exact: true });
  await resume.waitFor();
  await page.locator('.banner').filter({ hasText: 'Delivery is paused' }).waitFor();
  assert.equal((await admin.call('queue.summary', {})).queueHeld, true);

  await send(relay.mxPort, 'frank@sender.test', ['bob@example.test'], message('from frank'));
  await textMatches(row(page, 'frank@sender.test').locator('.badge'), /^Waiting$/);
  // no row promises a try while nothing leaves the queue
  await textMatches(row(page, 'frank@sender.test').locator('td.nowrap.wide'), /^paused$/);
  await textMatches(row(page, 'alice@sender.test').locator('td.nowrap.wide'), /^paused$/);
  const internal = await world.sink({ port: internalPort });
  await page.getByRole('button', { name: 'Retry all now', exact: true }).click();
  await textMatches(status, /^2 recipients were made due now: they go as soon as you resume delivery \(it is paused\)\.$/);
  await screenshot(page, '11-queue-paused');
  // No sleep to show that nothing happens: Retry all wakes the scheduler at once (setImmediate), so it has made its
  // choice before the relay reads the next API call. What that call sees is the proof: delivery still paused, the
  // three still queued with the attempts they had, and nothing at the internal server, which is up by now.
  const summary = await admin.call('queue.summary', {});
  assert.equal(summary.queueHeld, true);
  assert.equal(summary.size, 3);
  queued = await queuedBySender(admin);
  assert.deepEqual(
    ['alice@sender.test', 'carol@sender.test', 'frank@sender.test'].map((sender) => queued.get(sender)?.attempts),
    [3, 3, 0],
  );
  assert.equal(internal.messages.length, 0, 'nothing is delivered while delivery is paused');

  // ---- resume: a message held on its own during the pause stays held (a NO_REPLY one waits for a mailbox check);
  // the others arrive, once each, and the held one once it is released
  const carol = queued.get('carol@sender.test')!.id;
  assert.deepEqual(await admin.call('queue.act', { action: 'hold', ids: [carol] }), { done: [carol], unchanged: [], gone: [] });
  await resume.click();
  await textMatches(status, /^Delivery resumed\. One message held on its own stays held: release it from its row when it may go\.$/);
  await page.getByRole('button', { name: 'Pause delivery', exact: true }).waitFor();
  for (const subject of ['from alice', 'from frank']) await internal.waitForSubject(subject);
  await textMatches(row(page, 'carol@sender.test').locator('.badge'), /^Held$/);
  assert.equal(internal.messages.some((sunk) => sunk.from === 'carol@sender.test'), false, 'the held message is not sent with the rest');
  assert.deepEqual(await admin.call('queue.act', { action: 'release', ids: [carol] }), { done: [carol], unchanged: [], gone: [] });
  await internal.waitForSubject('from carol');
  await page.getByText('The queue is empty').waitFor();
  assert.deepEqual(internal.messages.map((sunk) => sunk.from).sort(), ['alice@sender.test', 'carol@sender.test', 'frank@sender.test']);
  assert.deepEqual(await admin.call('queue.summary', {}), { size: 0, oldest: null, held: 0, queueHeld: false });
  // the deleted and the bounced message never reached the internal server, and only the DSN went out
  assert.equal(smarthost.messages.length, 1);
  assert.deepEqual(errors, []);
});

e2eTest('with message A open and B and C ticked, the pane deletes only A and the bulk Delete names and deletes only B and C', async (world) => {
  const { relay, page, errors, admin } = await world.serveWithInternalDown();
  await openScreen(page, '#/queue', 'Queue');
  await page.getByText('The queue is empty').waitFor();

  const names = ['anna', 'bert', 'cora', 'dirk', 'emma', 'finn', 'gina', 'hugo', 'ines', 'jana'];
  for (const name of names) await send(relay.mxPort, `${name}@sender.test`, ['bob@example.test'], message(`note from ${name}`));
  for (const name of names) await textMatches(row(page, `${name}@sender.test`).locator('.badge'), /^Retrying$/);
  const ids = await queuedBySender(admin);
  const id = (name: string) => ids.get(`${name}@sender.test`)!.id;
  const toolbar = page.getByRole('toolbar', { name: 'Ticked messages' });
  const status = page.locator('.status-line');
  const dialog = page.getByRole('dialog');

  // A open, B and C ticked: two targets on screen, each with its own buttons
  await row(page, 'anna@sender.test').click();
  const pane = page.getByRole('complementary', { name: 'Message details' });
  await textMatches(pane.locator('.subject'), /^note from anna$/);
  await tick(page, 'bert@sender.test').check();
  await tick(page, 'cora@sender.test').check();
  await textMatches(toolbar, /^2 ticked:/);
  await screenshot(page, '12-queue-open-and-ticked');

  // the pane's Delete names A only, and deletes A only
  await pane.getByRole('button', { name: 'Delete this message', exact: true }).click();
  await textMatches(dialog.getByRole('heading'), /^Delete this message\?$/);
  assert.deepEqual(await dialog.locator('.confirm-list li').allTextContents(), ['anna@sender.testnote from anna']);
  await dialog.getByRole('button', { name: 'Delete 1 message', exact: true }).click();
  await textMatches(status, /^Deleted 1 message\.$/);
  await pane.waitFor({ state: 'detached' });
  assert.equal((await admin.call('queue.show', { id: id('anna') })).status, 'deleted');
  for (const name of ['bert', 'cora', 'dirk']) assert.equal((await admin.call('queue.show', { id: id(name) })).status, 'queued', `${name} is untouched by the pane's Delete`);
  // the ticks of B and C are still there: the pane's action was not about them
  assert.equal(await tick(page, 'bert@sender.test').isChecked(), true);
  assert.equal(await tick(page, 'cora@sender.test').isChecked(), true);

  // the bulk Delete names B and C with their subjects, and the count
  await toolbar.getByRole('button', { name: 'Delete 2 selected', exact: true }).click();
  await textMatches(dialog.getByRole('heading'), /^Delete 2 messages\?$/);
  assert.deepEqual((await dialog.locator('.confirm-list li').allTextContents()).sort(), ['bert@sender.testnote from bert', 'cora@sender.testnote from cora']);
  assert.equal(await dialog.locator('.confirm-more').count(), 0);
  await screenshot(page, '12-queue-bulk-delete-confirm');
  await dialog.getByRole('button', { name: 'Delete 2 messages', exact: true }).click();
  await textMatches(status, /^Deleted 2 messages\.$/);
  await row(page, 'bert@sender.test').waitFor({ state: 'detached' });
  await row(page, 'cora@sender.test').waitFor({ state: 'detached' });
  for (const name of ['bert', 'cora']) assert.equal((await admin.call('queue.show', { id: id(name) })).status, 'deleted');
  const left = await queuedBySender(admin);
  assert.deepEqual([...left.keys()].sort(), names.slice(3).map((name) => `${name}@sender.test`), 'only A, B and C are gone');
  // ticks cleared after the action
  await textMatches(toolbar, /^Tick messages to act on several at once\./);
  assert.equal(await page.locator('tbody input[type=checkbox]:checked').count(), 0);

  // more than the dialog names: the first five, "and 2 more", and the count
  await page.getByRole('checkbox', { name: 'Select all on this page', exact: true }).check();
  await toolbar.getByRole('button', { name: 'Delete 7 selected', exact: true }).click();
  await textMatches(dialog.getByRole('heading'), /^Delete 7 messages\?$/);
  assert.equal(await dialog.locator('.confirm-list li').count(), 5);
  await textMatches(dialog.locator('.confirm-more'), /^and 2 more$/);
  await screenshot(page, '12-queue-bulk-delete-many');
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal((await admin.call('queue.summary', {})).size, 7, 'Cancel deletes nothing');

  // Hold from the pane, then Undo: the held message is released again
  await page.getByRole('button', { name: 'Clear selection', exact: true }).click();
  await row(page, 'dirk@sender.test').click();
  await pane.getByRole('button', { name: 'Hold this message', exact: true }).click();
  await textMatches(status, /^Held 1 message\.Undo$/);
  await textMatches(row(page, 'dirk@sender.test').locator('.badge'), /^Held$/);
  await pane.getByRole('button', { name: 'Release this message', exact: true }).waitFor();
  assert.equal((await admin.call('queue.show', { id: id('dirk') })).held, true);
  await status.getByRole('button', { name: 'Undo', exact: true }).click();
  await textMatches(status, /^Released 1 message\.$/);
  await textMatches(row(page, 'dirk@sender.test').locator('.badge'), /^Retrying$/);
  assert.equal((await admin.call('queue.show', { id: id('dirk') })).held, false);
  assert.equal((await admin.call('queue.list', { status: 'held' })).total, 0);
  assert.deepEqual(errors, []);
});
