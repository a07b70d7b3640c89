import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, e2eTest, heading, logIn, openScreen, screenshot, UI_TIMEOUT_MS } from './world.ts';
import { runCli } from '../helpers/cli.ts';

e2eTest('log-in is required and a wrong password is refused', async (world) => {
  const sink = await world.sink();
  const relay = await world.serveConfigured({ domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } });
  const admin = await world.claim(relay);

  // the API answers nobody without a session, whatever the page shows
  const anonymous = await fetch(`${relay.base}/api/relay.status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { code: string }).code, 'UNAUTHENTICATED');
  const events = await fetch(`${relay.base}/api/events`);
  assert.equal(events.status, 401);
  await events.body?.cancel();

  // a new browser context, although the admin's API client holds a session
  assert.ok(admin.cookie);
  const { page, errors } = await world.page();
  await page.goto(`${relay.base}/`);
  await page.getByRole('heading', { name: 'Log in to Moat', exact: true }).waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0, 'no navigation before log-in');
  assert.equal(await heading(page, 'Dashboard').count(), 0);
  await screenshot(page, '03-login');
  // a deep link does not get past the form either
  await page.goto(`${relay.base}/#/queue`);
  await page.getByRole('heading', { name: 'Log in to Moat', exact: true }).waitFor();
  assert.equal(await heading(page, 'Queue').count(), 0);

  const password = page.getByLabel('Password', { exact: true });
  const logIn = page.getByRole('button', { name: 'Log in', exact: true });
  await password.fill('not the password at all');
  await logIn.click();
  await page.getByRole('alert').filter({ hasText: 'wrong password' }).waitFor();
  assert.equal(await password.inputValue(), '', 'the wrong password is cleared');
  // an admin who forgot it is not stuck: the page names the command that sets a new one
  assert.match((await page.locator('.auth-card .hint').textContent()) ?? '', /Forgot the password\? .*moat admin reset-password --data-dir \/var\/lib\/moat/);
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0);
  assert.deepEqual(await page.context().cookies(), [], 'no session cookie for a wrong password');
  await screenshot(page, '03-login-wrong-password');

  await password.fill(ADMIN_PASSWORD);
  await logIn.click();
  // the deep link is kept: the queue opens
  await heading(page, 'Queue').waitFor();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await heading(page, 'Dashboard').waitFor();
  const [cookie] = await page.context().cookies();
  assert.equal(cookie?.name, 'moat_session');
  assert.equal(cookie?.httpOnly, true);
  assert.equal(cookie?.sameSite, 'Strict');
  assert.deepEqual(errors, []);
});

e2eTest('a session ended on the box (moat admin reset-password) takes an open page to the log-in screen by itself, saying why', async (world) => {
  const sink = await world.sink();
  const relay = await world.serveConfigured({ domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, filters: { enabled: false } });
  await world.claim(relay);
  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await openScreen(page, '#/queue', 'Queue');
  await page.locator('.live-open').waitFor();

  const reset = await runCli(['admin', 'reset-password', '--data-dir', world.dataDir], undefined, 'a new admin password 2\n');
  assert.equal(reset.code, 0, reset.stderr);
  // no click: the live stream's end is enough (it used to leave the queue on screen beside "Offline")
  await page.getByText('Your session ended. Log in again to go on.').waitFor({ timeout: UI_TIMEOUT_MS });
  await screenshot(page, '03-login-session-ended');
  assert.deepEqual(errors, []);
});
