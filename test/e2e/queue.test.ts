import assert from 'node:assert/strict';
import { message, send } from '../helpers/smtp.ts';
import { eventually } from '../helpers/cli.ts';
import { e2eTest, heading, logIn, openScreen, screenshot, textMatches, UI_TIMEOUT_MS } from './world.ts';

e2eTest('a deferred message shows in the queue and "Retry" delivers it once the internal server is up', async (world) => {
  const { relay, internalPort, page, errors } = await world.serveWithInternalDown();
  await openScreen(page, '#/queue', 'Queue');
  await page.getByText('The queue is empty').waitFor();

  await send(relay.mxPort, 'alice@sender.test', ['bob@example.test'], message('waits for exchange'));
  const row = page.getByRole('row', { name: 'Message from alice@sender.test to bob@example.test', exact: true });
  // live: the row appears, then turns to "Retrying" with the refusal, without a reload
  await textMatches(row, /Retrying/);
  const reply = await textMatches(row.locator('.reply-line'), /\S/);
  assert.match(reply, /ECONNREFUSED|refused|connect/i);
  assert.match((await row.textContent()) ?? '', /waits for exchange/);
  // with columns to spare at 1280 px, sender, recipient and subject read whole (they were cut at a dozen characters)
  const cut = await page.evaluate<string[]>(`[...document.querySelectorAll('tr[aria-label^="Message from alice"] td')]
    .flatMap((cell) => [cell, ...cell.querySelectorAll('span')])
    .filter((part) => part.offsetParent !== null && (part.scrollWidth > part.clientWidth + 1 || part.scrollHeight > part.clientHeight + 1))
    .map((part) => part.textContent)`);
  assert.deepEqual(cut.filter((text) => /alice@sender|bob@example|waits for exchange/.test(text ?? '')), [], 'nothing of them is cut');
  await screenshot(page, '05-queue-deferred-row');

  await row.click();
  const pane = page.getByRole('complementary', { name: 'Message details' });
  // the deferral as it came, and in words beneath it
  const deferral = pane.locator('.history li').filter({ hasText: 'Deferred:' });
  await textMatches(deferral.locator('.history-text'), /^Deferred: .*ECONNREFUSED.* — next try in /);
  await textMatches(deferral.locator('.plain-sentence-inline'), /^The server refused the connection: nothing is listening at that address and port\.$/);
  // to the second, as the list and the log are: a message's history is often a few seconds long
  for (const time of [pane.locator('.facts time').first(), pane.locator('.history time').first()]) await textMatches(time, /\d{1,2}:\d{2}:\d{2}/);
  // the pane names it as the list does
  await textMatches(pane.locator('.recipients'), /bob@example\.test\s*Retrying.*1 attempt/s);
  await screenshot(page, '05-queue-deferred-detail');

  const sink = await world.sink({ port: internalPort });
  await page.getByRole('checkbox', { name: 'Select the message from alice@sender.test to bob@example.test', exact: true }).check();
  const toolbar = page.getByRole('toolbar', { name: 'Ticked messages' });
  await textMatches(toolbar, /^1 ticked:/);
  await toolbar.getByRole('button', { name: 'Retry 1 selected', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Scheduled for delivery now: 1 message.' }).waitFor();
  await sink.waitFor(1);
  assert.match(sink.messages[0]!.raw.toString('utf8'), /\r\nSubject: waits for exchange\r\n/);

  await row.waitFor({ state: 'detached' });
  await page.getByText('The queue is empty').waitFor();
  await textMatches(pane.locator('.recipients'), /bob@example\.test\s*Delivered/);

  // a message address mistyped (no id can hold a "-"): said in words, not as the API's field report
  for (const [hash, title] of [['#/queue?id=0MXB-cut', 'Queue'], ['#/quarantine?id=0MXB-cut', 'Quarantine']] as const) {
    await openScreen(page, hash, title);
    await textMatches(page.locator('.notice'), /^"0MXB-cut" is not a message id \(an id is 22 letters and digits, like 0MXBPAB660003E4282E61A\): the link may be cut short or mistyped\.$/);
    assert.doesNotMatch((await page.locator('main').textContent()) ?? '', /see issues|not a queue id/);
  }
  assert.deepEqual(errors, []);
});

e2eTest('an open alert on the dashboard says its figures are from when it was raised, beside how long it has been open', async (world) => {
  const { relay, page, errors } = await world.serveWithInternalDown({ alerts: { intervalSec: 1, queueSize: { raise: 1, clear: 0 } } });
  let diskAsked = 0;
  page.on('request', (request) => {
    if (request.url().endsWith('/api/dashboard.disk')) diskAsked++;
  });
  await openScreen(page, '#/dashboard', 'Dashboard');
  await page.getByRole('region', { name: 'Disk' }).getByRole('meter').waitFor();
  const askedAtOpen = diskAsked;
  for (const name of ['anna', 'bert']) await send(relay.mxPort, `${name}@sender.test`, ['bob@example.test'], message(`from ${name}`));
  const alert = page.getByRole('region', { name: 'Open alerts' }).locator('li.alert').first();
  await textMatches(alert, /^The queue is large\s*since .+ \(.+\)\s*When raised: 2 messages are waiting in the queue \(the alert is set at more than 1\)\./s);
  // the disk card follows the mail and the alerts: not the figure of when the page opened
  await eventually(async () => diskAsked > askedAtOpen, UI_TIMEOUT_MS, 'the disk card to ask again');
  await screenshot(page, '04-dashboard-open-alert');
  assert.deepEqual(errors, []);
});

e2eTest('an answer the relay gave before a live update never overwrites that update on screen', async (world) => {
  const { relay, page, errors } = await world.serveWithInternalDown();
  // the dashboard asks for the relay's status as it opens; that answer is held back until the live update is shown
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    let first = true;
    void page.route('**/api/relay.status', async (route) => {
      if (!first) return route.continue();
      first = false;
      const response = await route.fetch();
      release = () => void route.fulfill({ response });
      resolve();
    });
  });
  await openScreen(page, '#/queue', 'Queue');
  await openScreen(page, '#/dashboard', 'Dashboard');
  await held;
  const internal = page.locator('ul.routes li').filter({ hasText: 'Internal server' });
  await textMatches(internal, /^Not tried yet/);

  await send(relay.mxPort, 'alice@sender.test', ['bob@example.test'], message('tried while an answer is on its way'));
  await textMatches(internal, /^Down\s*Internal server/);
  const answered = page.waitForEvent('requestfinished', (request) => request.url().endsWith('/api/relay.status'));
  release();
  await answered;
  for (let look = 0; look < 10; look++) {
    await page.waitForTimeout(50);
    assert.match((await internal.textContent()) ?? '', /^Down\s*Internal server/);
  }
  assert.deepEqual(errors, []);
});

e2eTest('a down internal server on the dashboard says it is as of the last try, and "Try it again now" delivers once it is back', async (world) => {
  const { relay, internalPort, page, errors } = await world.serveWithInternalDown();
  await send(relay.mxPort, 'alice@sender.test', ['bob@example.test'], message('waits on the dashboard'));
  await openScreen(page, '#/dashboard', 'Dashboard');
  const internal = page.locator('ul.routes li').filter({ hasText: 'Internal server' });
  // not "down" as a fact of now: Moat has not looked since its last try, which can be an hour old
  await textMatches(internal, /^Down\s*Internal server\s*not reachable; no mail taken since .+ \(.+\) · as of the last try, (just now|\d+ s ago)/);
  await textMatches(page.getByRole('region', { name: 'Queue' }).locator('.big-number'), /^1 message waiting$/);
  await screenshot(page, '04-dashboard-route-down');

  // tried while the server is still down: the answer shows, not "Trying…" for ever beside a stale "last try"
  await page.waitForTimeout(1100);
  await internal.getByRole('button', { name: 'Try it again now', exact: true }).click();
  await textMatches(internal.getByRole('status'), /^Tried again: still not reachable \(the reason is above\)\.$/);
  await textMatches(internal, /as of the last try, (just now|[0-2] s ago)/);

  const sink = await world.sink({ port: internalPort });
  await internal.getByRole('button', { name: 'Try it again now', exact: true }).click();
  await textMatches(internal.getByRole('status'), /^Trying 1 waiting message now\.$/);
  await sink.waitFor(1);
  assert.match(sink.messages[0]!.raw.toString('utf8'), /\r\nSubject: waits on the dashboard\r\n/);
  await textMatches(page.locator('ul.routes li').filter({ hasText: 'Internal server' }), /^Up\s*Internal server\s*since /);

  // a screen opened from the menu starts at its top: its heading is not left under the sticky top bar
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Queue/ }).click();
  await heading(page, 'Queue').waitFor();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Dashboard/ }).click();
  await heading(page, 'Dashboard').waitFor();
  assert.equal(await page.evaluate<number>('window.scrollY'), 0);
  const [headingTop, barBottom] = await page.evaluate<[number, number]>("[document.querySelector('main h1').getBoundingClientRect().top, document.querySelector('.topbar').getBoundingClientRect().bottom]");
  assert.ok(headingTop >= barBottom, `the heading (top ${headingTop}) is below the top bar (bottom ${barBottom})`);
  assert.deepEqual(errors, []);
});

e2eTest('an internal server that answers but refuses every message (back-pressure) is shown refusing mail, on the dashboard, the top bar and the queue, never "Up"', async (world) => {
  let pressure = true;
  const sink = await world.sink({ onSender: () => (pressure ? { code: 452, text: '4.3.1 Insufficient system resources' } : undefined) });
  const relay = await world.serveConfigured({ domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, queue: { retryIntervalsSec: [3600] }, filters: { enabled: false } });
  const admin = await world.claim(relay);
  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await send(relay.mxPort, 'alice@sender.test', ['bob@example.test'], message('put off by a busy server'));
  await eventually(async () => (await admin.call('queue.list', {})).rows[0]?.status === 'deferred', UI_TIMEOUT_MS, 'the message to be put off');

  await openScreen(page, '#/dashboard', 'Dashboard');
  const internal = page.locator('ul.routes li').filter({ hasText: 'Internal server' });
  await textMatches(internal, /^Refusing mail\s*Internal server\s*answers, but has taken no mail since .+ · as of the last try/);
  // the reason in plain words: the server's own trouble, not the network's
  await textMatches(internal, /The receiving server has a temporary problem of its own/);
  await textMatches(page.getByRole('alert').filter({ hasText: 'internal server' }), /Mail for your users cannot be delivered to the internal server: it answers, but refuses every message/);
  // and what usually causes it, where to look
  await textMatches(page.getByRole('alert').filter({ hasText: 'internal server' }), /usually protecting itself: Exchange does so \(back-pressure\)/);
  await textMatches(page.locator('.topbar'), /mail not delivered/);
  await screenshot(page, '05-dashboard-route-refusing');

  await openScreen(page, '#/queue', 'Queue');
  await page.getByRole('navigation', { name: 'Queue views' }).getByRole('link', { name: 'By destination', exact: true }).click();
  await textMatches(page.getByRole('row', { name: 'Destination Internal server', exact: true }).locator('.badge'), /^Server refusing mail$/);

  pressure = false;
  await openScreen(page, '#/dashboard', 'Dashboard');
  await internal.getByRole('button', { name: 'Try it again now', exact: true }).click();
  await sink.waitFor(1);
  await textMatches(page.locator('ul.routes li').filter({ hasText: 'Internal server' }), /^Up\s*Internal server\s*since /);
  assert.deepEqual(errors, []);
});

e2eTest("message tracking: a message delivered to one recipient and waiting for another says so beside its badge, and is found under each recipient's outcome", async (world) => {
  const { sink, relay } = await world.relayWithBusyMailboxes((address) => address === 'busy@example.test');
  await send(relay.mxPort, 'alice@sender.test', ['bob@example.test', 'busy@example.test'], message('team update'));
  await sink.waitFor(1);
  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await openScreen(page, '#/tracking', 'Message tracking');
  const row = page.locator('table.data-table tbody tr').filter({ hasText: 'team update' });
  const lines = row.locator('.wide-only .recipient-outcome');
  await textMatches(lines.first(), /^Delivered: bob@example\.test$/);
  assert.deepEqual(await lines.allTextContents(), ['Delivered: bob@example.test', 'Waiting to retry: busy@example.test']);
  await screenshot(page, '08-tracking-split-recipients');
  // narrowed to bob and Delivered, it is there (it was missed while the message as a whole still waited)
  await page.getByLabel('Recipient', { exact: true }).fill('bob@example.test');
  await page.getByLabel('Outcome', { exact: true }).selectOption({ label: 'Delivered' });
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await textMatches(page.locator('table.data-table tbody'), /team update/);
  await page.getByLabel('Outcome', { exact: true }).selectOption({ label: 'Waiting to retry' });
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.locator('table.data-table').waitFor({ state: 'detached', timeout: UI_TIMEOUT_MS });
  assert.deepEqual(errors, []);
});
