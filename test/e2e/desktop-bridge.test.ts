import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { injectStandInBridge, pushNavigate, standInCalls } from './bridge-stand-in.ts';
import { e2eTest, heading, logIn, openScreen, screenshot, textMatches, type World } from './world.ts';

/** A configured relay (delivering to a sink) and a logged-in page; with `bridge`, the stand-in is in place first. */
async function desktopWorld(world: World, bridge: boolean): Promise<{ page: Page; errors: string[] }> {
  const sink = await world.sink();
  const relay = await world.serveConfigured({ domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } });
  await world.claim(relay);
  const opened = await world.page();
  if (bridge) await injectStandInBridge(opened.page);
  await logIn(opened.page, relay.base);
  return opened;
}

const tabs = (page: Page) => page.getByRole('navigation', { name: 'Settings sections' });

e2eTest('desktop: in a plain browser there is no Desktop section, and its address shows the configuration', async (world) => {
  const { page, errors } = await desktopWorld(world, false);
  await openScreen(page, '#/settings', 'Settings');
  await tabs(page).getByRole('link', { name: 'Configuration', exact: true }).waitFor();
  assert.equal(await tabs(page).getByRole('link', { name: 'Desktop app', exact: true }).count(), 0);
  await openScreen(page, '#/settings/desktop', 'Settings');
  assert.equal(await tabs(page).getByRole('link', { name: 'Configuration', exact: true }).getAttribute('aria-current'), 'page');
  assert.equal(await page.getByRole('heading', { name: 'Desktop notifications' }).count(), 0);
  assert.deepEqual(errors, []);
});

e2eTest('desktop: notification choices, start at login and what closing does round-trip through the bridge', async (world) => {
  const { page, errors } = await desktopWorld(world, true);
  await openScreen(page, '#/settings', 'Settings');
  await tabs(page).getByRole('link', { name: 'Desktop app', exact: true }).click();
  await page.getByRole('heading', { name: 'Desktop notifications' }).waitFor();

  await page.getByLabel('No recent backup', { exact: true }).uncheck();
  await textMatches(page.getByRole('status'), /Notification choices saved/);
  await page.getByLabel('Notify about', { exact: true }).selectOption('critical');
  await textMatches(page.getByRole('status'), /Notification choices saved/);
  const saved = await standInCalls(page, 'setNotificationChoices');
  assert.deepEqual(saved.at(-1)?.input, { enabled: true, notifyOnClear: true, minSeverity: 'critical', mutedRules: ['backup-age'] });

  await page.getByRole('button', { name: 'Show a sample notification', exact: true }).click();
  await textMatches(page.getByRole('status'), /A sample notification was sent/);
  assert.equal((await standInCalls(page, 'showSampleNotification')).length, 1);

  await page.getByLabel('Start Moat when I log in', { exact: true }).check();
  await textMatches(page.getByRole('status'), /Moat will start when you log in/);
  assert.deepEqual((await standInCalls(page, 'setStartAtLogin')).map((call) => call.input), [true]);
  assert.equal(await page.getByLabel('Keep Moat running in the tray', { exact: true }).isChecked(), true, 'closing keeps the tray by default');
  await page.getByLabel('Quit Moat', { exact: true }).check();
  await textMatches(page.getByRole('status'), /Closing the window now quits Moat/);
  assert.deepEqual((await standInCalls(page, 'setCloseAction')).map((call) => call.input), ['quit']);
  await screenshot(page, 'desktop-settings');

  // away and back: the tab reads the preferences again and shows what was saved
  await openScreen(page, '#/dashboard', 'Dashboard');
  await openScreen(page, '#/settings/desktop', 'Settings');
  await page.getByRole('heading', { name: 'Desktop notifications' }).waitFor();
  assert.equal(await page.getByLabel('No recent backup', { exact: true }).isChecked(), false);
  assert.equal(await page.getByLabel('Deliveries failing', { exact: true }).isChecked(), true);
  assert.equal(await page.getByLabel('Notify about', { exact: true }).inputValue(), 'critical');
  assert.equal(await page.getByLabel('Start Moat when I log in', { exact: true }).isChecked(), true);
  assert.equal(await page.getByLabel('Quit Moat', { exact: true }).isChecked(), true);
  assert.ok((await standInCalls(page, 'getPreferences')).length >= 2);
  assert.deepEqual(errors, []);
});

e2eTest('desktop: attaching to a service is tested before it can be saved, and the password is never shown again', async (world) => {
  const { page, errors } = await desktopWorld(world, true);
  await openScreen(page, '#/settings/desktop', 'Settings');
  await page.getByRole('heading', { name: 'Which relay this app manages' }).waitFor();
  const connect = page.getByRole('button', { name: 'Connect and save', exact: true });
  await page.getByLabel('Attach to a Moat service', { exact: true }).check();
  assert.equal(await connect.isDisabled(), true, 'no address, nothing to connect to');
  const testButton = page.getByRole('button', { name: 'Test connection', exact: true });
  const result = page.locator('.test-result');
  await page.getByLabel('Service address', { exact: true }).fill('https://dmz.example.test:8443');
  await page.getByLabel('Service password', { exact: true }).fill('wrong password');
  await testButton.click();
  await textMatches(result, /^No connection: the password was not accepted\./);
  assert.equal(await connect.isDisabled(), true, 'a failed test saves nothing');
  await page.getByLabel('Service password', { exact: true }).fill('service password 1');
  assert.equal(await result.count(), 0, 'a changed field needs a new test');
  await testButton.click();
  await textMatches(result, /^The service answers: dmz\.example\.test, Moat 0\.1\.0, relay running\. You can save\.$/);
  await screenshot(page, 'desktop-attach-tested');
  assert.equal(await connect.isDisabled(), false);
  assert.deepEqual((await standInCalls(page, 'chooseManagedRelay')), [], 'testing saves nothing');
  assert.deepEqual((await standInCalls(page, 'testAttach')).map((call) => call.input), [
    { url: 'https://dmz.example.test:8443', password: 'wrong password' },
    { url: 'https://dmz.example.test:8443', password: 'service password 1' },
  ]);
  await connect.click();
  await textMatches(page.getByRole('status'), /Saved: the app now manages the relay at that address/);
  assert.deepEqual((await standInCalls(page, 'chooseManagedRelay')).map((call) => call.input), [{ mode: 'attach', url: 'https://dmz.example.test:8443', password: 'service password 1' }]);
  assert.equal(await page.getByLabel('Service password', { exact: true }).inputValue(), '', 'the password leaves the page once sent');
  await textMatches(page.locator('.desktop-panel'), /A password is saved/);
  await textMatches(page.locator('.desktop-panel'), /Connected to https:\/\/dmz\.example\.test:8443/);
  assert.deepEqual(errors, []);
});

e2eTest('desktop: a navigate push from a notification click lands on the screen it names, the queue filtered as named', async (world) => {
  const { page, errors } = await desktopWorld(world, true);
  assert.equal(await pushNavigate(page, '#/quarantine'), 1, 'the app listens for navigation from the shell');
  await heading(page, 'Quarantine').waitFor();
  // an open-relay alert: the checklist with its open-relay check marked
  await pushNavigate(page, '#/checklist?probe=open-relay');
  await heading(page, 'Checklist').waitFor();
  const marked = page.locator('table.probes tbody tr[aria-current="true"]');
  await marked.waitFor();
  assert.equal(await marked.count(), 1);
  assert.equal(await marked.getAttribute('id'), 'probe-open-relay');
  // the internal server is down: the queue opens filtered to its route
  await pushNavigate(page, '#/queue?route=internal');
  await heading(page, 'Queue').waitFor();
  assert.equal(await page.getByLabel('Route', { exact: true }).inputValue(), 'internal');
  assert.equal(await page.getByLabel('Status', { exact: true }).inputValue(), '');
  assert.deepEqual(errors, []);
});
