import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { AdminClient } from '../helpers/admin.ts';
import { eventually } from '../helpers/cli.ts';
import { reservePort } from '../helpers/sink.ts';
import { message, send } from '../helpers/smtp.ts';
import { e2eTest, logIn, openScreen, screenshot, textMatches, UI_TIMEOUT_MS } from './world.ts';

/** The queued messages by sender, as the API lists them (every status, one page). */
async function queuedBySender(admin: AdminClient): Promise<Map<string, { id: string; status: string; attempts: number }>> {
  const { rows } = await admin.call('queue.list', { limit: 500 });
  return new Map(rows.map((row) => [row.sender, { id: row.id, status: row.status, attempts: row.attempts }]));
}

const row = (page: Page, sender: string) => page.getByRole('row', { name: `Message from ${sender} to bob@example.test`, exact: true });
const tick = (page: Page, sender: string) => page.getByRole('checkbox', { name: `Select the message from ${sender} to bob@example.test`, exact: true });

e2eTest('queue actions: hold and release a selection, delete and bounce through their dialogs, pause and resume delivery', async (world) => {
  // the internal server is down (its port reserved, nothing listening); bounces to other domains go to a smarthost
  const internalPort = await reservePort();
  const smarthost = await world.sink();
  const relay = await world.serveConfigured({
    domains: ['example.test'],
    internal: { host: '127.0.0.1', port: internalPort, tls: 'none' },
    outbound: { smarthost: { host: '127.0.0.1', port: smarthost.port, tls: 'none' } },
    // one long retry interval: only the admin's buttons make a message due again within the test
    queue: { retryIntervalsSec: [3600] },
    filters: { enabled: false },
  });
  const admin = await world.claim(relay);
  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await openScreen(page, '#/queue', 'Queue');
  await page.getByText('The queue is empty').waitFor();

  const senders = ['alice@sender.test', 'carol@sender.test', 'dave@sender.test', 'erin@sender.test'];
  for (const sender of senders) await send(relay.mxPort, sender, ['bob@example.test'], message(`from ${sender.split('@')[0]}`));
  for (const sender of senders) await textMatches(row(page, sender).locator('.badge'), /^Retrying$/);
  const toolbar = page.getByRole('toolbar', { name: 'Message actions' });
  // the action's result line (the paused-delivery banner is a status too)
  const status = page.locator('.status-line');

  // ---- hold two ticked rows, then release them
  await tick(page, 'alice@sender.test').check();
  await tick(page, 'carol@sender.test').check();
  await textMatches(toolbar, /^2 selected/);
  await toolbar.getByRole('button', { name: 'Hold', exact: true }).click();
  await textMatches(status, /^Held 2 messages\.$/);
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
  await screenshot(page, '11-queue-held');

  // the selection stays ticked after Hold, so Release acts on the same two
  await textMatches(toolbar, /^2 selected/);
  await toolbar.getByRole('button', { name: 'Release', exact: true }).click();
  await textMatches(status, /^Released 2 messages\.$/);
  await textMatches(row(page, 'alice@sender.test').locator('.badge'), /^Retrying$/);
  await textMatches(row(page, 'carol@sender.test').locator('.badge'), /^Retrying$/);
  assert.equal((await admin.call('queue.list', { status: 'held' })).total, 0);
  // a release makes the message due at once: both are tried again (and refused again) before the internal server comes up
  await eventually(
    async () => {
      const now = await queuedBySender(admin);
      return now.get('alice@sender.test')?.attempts === 2 && now.get('carol@sender.test')?.attempts === 2;
    },
    UI_TIMEOUT_MS,
    'the released messages to be tried again',
  );
  await toolbar.getByRole('button', { name: 'Clear selection', exact: true }).click();
  await textMatches(toolbar, /^Tick messages or open one/);

  // ---- delete the open message: Cancel leaves it alone, the dialog's own Delete removes it
  const daveId = (await queuedBySender(admin)).get('dave@sender.test')!.id;
  await row(page, 'dave@sender.test').click();
  const pane = page.getByRole('complementary', { name: 'Message details' });
  await textMatches(pane.locator('.subject'), /^from dave$/);
  await textMatches(toolbar, /^The open message/);
  await toolbar.getByRole('button', { name: 'Delete', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await textMatches(dialog.getByRole('heading'), /^Delete this message\?$/);
  await screenshot(page, '11-queue-delete-confirm');
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal((await admin.call('queue.show', { id: daveId })).status, 'queued', 'Cancel deletes nothing');
  await row(page, 'dave@sender.test').waitFor();
  await textMatches(pane.locator('.subject'), /^from dave$/);

  await toolbar.getByRole('button', { name: 'Delete', exact: true }).click();
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
  await textMatches(status, /^Deleted 1 message\.$/);
  await row(page, 'dave@sender.test').waitFor({ state: 'detached' });
  await pane.waitFor({ state: 'detached' });
  assert.equal((await admin.call('queue.show', { id: daveId })).status, 'deleted');
  assert.equal((await queuedBySender(admin)).has('dave@sender.test'), false);

  // ---- bounce a ticked message: the sender gets a DSN, through the smarthost (sender.test is not ours)
  await tick(page, 'erin@sender.test').check();
  await toolbar.getByRole('button', { name: 'Bounce', exact: true }).click();
  await textMatches(dialog.getByRole('heading'), /^Bounce this message\?$/);
  await textMatches(dialog, /bounce report \(DSN\)/);
  await screenshot(page, '11-queue-bounce-confirm');
  await dialog.getByRole('button', { name: 'Bounce', exact: true }).click();
  await textMatches(status, /^Bounced 1 message\.$/);
  await row(page, 'erin@sender.test').waitFor({ state: 'detached' });
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

  // ---- pause delivery; mail is still taken in; "Retry all now" while paused sends nothing
  await page.getByRole('button', { name: 'Pause delivery', exact: true }).click();
  await textMatches(status, /^Delivery is paused/);
  const resume = page.getByRole('button', { name: 'Resume delivery', exact: true });
  await resume.waitFor();
  await page.locator('.banner').filter({ hasText: 'Delivery is paused' }).waitFor();
  assert.equal((await admin.call('queue.summary', {})).queueHeld, true);

  await send(relay.mxPort, 'frank@sender.test', ['bob@example.test'], message('from frank'));
  await textMatches(row(page, 'frank@sender.test').locator('.badge'), /^Waiting$/);
  const internal = await world.sink({ port: internalPort });
  await page.getByRole('button', { name: 'Retry all now', exact: true }).click();
  await textMatches(status, /^2 recipients are due for delivery now\.$/);
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
    [2, 2, 0],
  );
  assert.equal(internal.messages.length, 0, 'nothing is delivered while delivery is paused');

  // ---- resume: the three arrive, once each
  await resume.click();
  await textMatches(status, /^Delivery resumed\.$/);
  await page.getByRole('button', { name: 'Pause delivery', exact: true }).waitFor();
  for (const subject of ['from alice', 'from carol', 'from frank']) await internal.waitForSubject(subject);
  await page.getByText('The queue is empty').waitFor();
  assert.deepEqual(internal.messages.map((sunk) => sunk.from).sort(), ['alice@sender.test', 'carol@sender.test', 'frank@sender.test']);
  assert.deepEqual(await admin.call('queue.summary', {}), { size: 0, oldest: null, held: 0, queueHeld: false });
  // the deleted and the bounced message never reached the internal server, and only the DSN went out
  assert.equal(smarthost.messages.length, 1);
  assert.deepEqual(errors, []);
});
