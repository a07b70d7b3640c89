import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { AdminClient } from '../helpers/admin.ts';
import { eventually } from '../helpers/cli.ts';
import { message, RawSmtp, send } from '../helpers/smtp.ts';
import { officeMessage, submit } from '../helpers/submission.ts';
import { ADMIN_PASSWORD, e2eTest, heading, logIn, openScreen, screenshot, textMatches, UI_TIMEOUT_MS, type World } from './world.ts';

/** A running relay delivering example.test to its own sink, logged in on the settings tab `hash`. */
async function settingsWorld(world: World, hash: string, extra: Record<string, unknown> = {}) {
  const sink = await world.sink();
  const relay = await world.serveConfigured({
    domains: ['example.test'],
    internal: { host: '127.0.0.1', port: sink.port, tls: 'none' },
    filters: { enabled: false },
    ...extra,
  });
  const admin = await world.claim(relay);
  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await openScreen(page, hash, 'Settings');
  return { sink, relay, admin, page, errors };
}

/** The port of one of the relay's listeners as relay.status reports it (they move when the relay restarts). */
async function listenerPort(admin: AdminClient, listener: 'mx' | 'submission'): Promise<number> {
  const address = (await admin.call('relay.status', {})).addresses[listener];
  assert.ok(address, `the relay has a ${listener} listener`);
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** The field (label, input, hint, problems) whose label is `label`. */
const field = (page: Page, label: string) => page.locator('.field').filter({ has: page.getByLabel(label, { exact: true }) });

const SCANNER_PASSWORD = 'scanner password 1';
const SCANNER_NEW_PASSWORD = 'scanner password 2';

e2eTest('settings: a submission account is added, sends mail, gets a new password and is removed', async (world) => {
  const { sink, admin, page, errors } = await settingsWorld(world, '#/settings/accounts', {
    submission: { listen: '127.0.0.1:0', login: { firstDelayMs: 0, maxDelayMs: 0 } },
  });
  const submission = await listenerPort(admin, 'submission');
  await page.getByText('No accounts yet.').waitFor();

  await page.getByLabel('Account name', { exact: true }).fill('scanner');
  await page.getByLabel('Password', { exact: true }).fill(SCANNER_PASSWORD);
  await page.getByLabel('Sender addresses', { exact: true }).fill('scanner@example.test');
  await page.getByRole('button', { name: 'Add account', exact: true }).click();
  await textMatches(page.getByRole('status'), /^scanner was added\.$/);
  const account = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'scanner', exact: true }) });
  await textMatches(account, /scanner@example\.test.*Active/);
  assert.equal(await page.getByLabel('Account name', { exact: true }).inputValue(), '', 'the form is emptied for the next one');
  const listed = (await admin.call('accounts.list', {})).accounts;
  assert.deepEqual(
    listed.map((item) => [item.name, item.senders]),
    [['scanner', ['scanner@example.test']]],
  );
  await screenshot(page, '12-settings-account-added');

  // the account logs in on the submission listener and sends as its address, and only as that
  await submit(submission, { user: 'scanner', pass: SCANNER_PASSWORD }, 'scanner@example.test', ['bob@example.test'], officeMessage('scanner@example.test', 'bob@example.test', 'scan 1'));
  assert.match(await sink.waitForSubject('scan 1'), /^From: scanner@example\.test\r$/m);
  await assert.rejects(
    submit(submission, { user: 'scanner', pass: SCANNER_PASSWORD }, 'ceo@example.test', ['bob@example.test'], officeMessage('ceo@example.test', 'bob@example.test', 'forged')),
    /\b55\d\b/,
  );

  await account.getByRole('button', { name: 'Reset password', exact: true }).click();
  const reset = page.getByRole('form', { name: 'Reset the password of scanner' });
  await reset.getByLabel('New password', { exact: true }).fill(SCANNER_NEW_PASSWORD);
  await reset.getByLabel('Repeat the password', { exact: true }).fill(SCANNER_NEW_PASSWORD);
  await reset.getByRole('button', { name: 'Save', exact: true }).click();
  await textMatches(page.getByRole('status'), /^The password of scanner was reset\.$/);
  await reset.waitFor({ state: 'detached' });
  await assert.rejects(
    submit(submission, { user: 'scanner', pass: SCANNER_PASSWORD }, 'scanner@example.test', ['bob@example.test'], officeMessage('scanner@example.test', 'bob@example.test', 'old password')),
    /\b535\b/,
    'the old password no longer logs in',
  );
  await submit(submission, { user: 'scanner', pass: SCANNER_NEW_PASSWORD }, 'scanner@example.test', ['bob@example.test'], officeMessage('scanner@example.test', 'bob@example.test', 'scan 2'));
  await sink.waitForSubject('scan 2');

  await account.getByRole('button', { name: 'Remove', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await textMatches(dialog.getByRole('heading'), /^Remove the account scanner\?$/);
  await screenshot(page, '12-settings-account-remove-confirm');
  await dialog.getByRole('button', { name: 'Remove', exact: true }).click();
  await textMatches(page.getByRole('status'), /^scanner was removed\.$/);
  await page.getByText('No accounts yet.').waitFor();
  assert.deepEqual((await admin.call('accounts.list', {})).accounts, []);
  await assert.rejects(
    submit(submission, { user: 'scanner', pass: SCANNER_NEW_PASSWORD }, 'scanner@example.test', ['bob@example.test'], officeMessage('scanner@example.test', 'bob@example.test', 'removed')),
    /\b535\b/,
    'a removed account cannot log in',
  );
  assert.equal(sink.messages.length, 2);
  assert.deepEqual(errors, []);
});

e2eTest('settings: a sender put on the deny list is listed and its mail is refused', async (world) => {
  // the sender lists are consulted by the content filters, so they are on here
  const { sink, relay, admin, page, errors } = await settingsWorld(world, '#/settings/senders', { filters: { enabled: true } });
  const denied = page.locator('.panel').filter({ has: page.getByRole('heading', { name: 'Denied senders', exact: true }) });
  await textMatches(denied, /None\./);

  await page.getByRole('radio', { name: 'Deny', exact: true }).check();
  await page.getByLabel('Sender address or @domain', { exact: true }).fill('@spam.test');
  await page.getByLabel('Note', { exact: true }).fill('sends junk every day');
  await page.getByRole('button', { name: 'Add to list', exact: true }).click();
  await textMatches(page.getByRole('status'), /^@spam\.test is on the deny list\.$/);
  const entry = denied.getByRole('row').filter({ has: page.getByRole('rowheader', { name: '@spam.test', exact: true }) });
  await textMatches(entry, /sends junk every day.*by admin@127\.0\.0\.1/);
  await textMatches(page.locator('.panel').filter({ has: page.getByRole('heading', { name: 'Allowed senders', exact: true }) }), /None\./);
  const entries = (await admin.call('senders.list', {})).entries;
  assert.deepEqual(
    entries.map((item) => [item.list, item.entry, item.note]),
    [['deny', '@spam.test', 'sends junk every day']],
  );
  await screenshot(page, '12-settings-sender-denied');

  // in force for the next message, without a restart; other senders still get through
  await assert.rejects(send(relay.mxPort, 'offers@spam.test', ['bob@example.test'], message('cheap offer')), /550 5\.7\.1/);
  await send(relay.mxPort, 'alice@sender.test', ['bob@example.test'], message('still welcome'));
  await sink.waitForSubject('still welcome');
  assert.equal(sink.messages.length, 1);
  assert.deepEqual(errors, []);
});

e2eTest('settings: "Back up now" writes a backup into the configured folder and lists it', async (world) => {
  const { admin, page, errors, relay } = await settingsWorld(world, '#/settings/backups', { backup: { folder: join(world.dataDir, 'backups-e2e') } });
  const folder = join(world.dataDir, 'backups-e2e');
  await page.getByText('No backups yet.').waitFor();
  await textMatches(page.locator('main'), /Last backup:\s*never/);
  assert.equal(await page.locator('main p').filter({ hasText: /^Folder:/ }).locator('code').textContent(), folder, 'the configured folder is shown');

  await page.getByRole('button', { name: 'Back up now', exact: true }).click();
  const written = await textMatches(page.getByRole('status'), /^Backup \S+ written \(.+\)\.$/);
  const file = /^Backup (\S+) written/.exec(written)![1]!;
  await page.getByRole('rowheader', { name: file, exact: true }).waitFor();
  await textMatches(page.locator('main'), /Last backup:\s*(just now|\d+ s ago)/);
  assert.ok(existsSync(join(folder, file)), `${file} is in ${folder}`);
  const listed = await admin.call('backups.list', {});
  assert.equal(listed.folder, folder);
  assert.deepEqual(
    listed.files.map((item) => item.file),
    [file],
  );
  await screenshot(page, '12-settings-backup-made');
  assert.equal((await admin.call('relay.status', {})).state, 'running');
  assert.ok(relay.serve.running);
  assert.deepEqual(errors, []);
});

e2eTest('settings: a configuration key is checked and applied; an invalid value is shown at its field and changes nothing', async (world) => {
  const { sink, relay, admin, page, errors } = await settingsWorld(world, '#/settings');
  const saved = () => JSON.parse(readFileSync(join(world.dataDir, 'moat.json'), 'utf8')) as { mx: Record<string, unknown> };
  const firstStart = (await admin.call('relay.status', {})).startedAt;
  await page.getByRole('navigation', { name: 'Configuration sections' }).getByRole('button', { name: 'Inbound (port 25)', exact: true }).click();
  await page.getByRole('heading', { level: 2, name: 'Inbound (port 25)', exact: true }).waitFor();
  const maxRecipients = page.getByLabel('Max recipients', { exact: true });
  const bar = page.locator('.config-bar');
  const status = page.getByRole('status');
  const apply = page.getByRole('button', { name: 'Apply', exact: true });

  await maxRecipients.fill('2');
  await textMatches(bar, /^1 unsaved change/);
  await page.getByRole('button', { name: 'Check', exact: true }).click();
  await textMatches(status, /^The configuration is valid\.$/);
  await apply.click();
  await textMatches(status, /^Applied\. The relay is running\.$/);
  await textMatches(bar, /^No unsaved changes/);
  // the field shows the saved value once the page has read the configuration back
  await eventually(async () => (await maxRecipients.inputValue()) === '2', UI_TIMEOUT_MS, 'the field to show the saved value');
  assert.equal(saved().mx.maxRecipients, 2, 'moat.json has the new value');
  const afterApply = await admin.call('relay.status', {});
  assert.equal(afterApply.state, 'running');
  assert.ok(afterApply.startedAt! > firstStart!, 'the relay was restarted with it');
  assert.ok(relay.serve.running);
  await screenshot(page, '12-settings-config-applied');

  // the restarted relay takes mail (on its new port: mx listens on 127.0.0.1:0) and holds to the new limit
  const mx = await listenerPort(admin, 'mx');
  await send(mx, 'alice@sender.test', ['bob@example.test'], message('after apply'));
  await sink.waitForSubject('after apply');
  const client = await RawSmtp.connect(mx);
  try {
    await client.hello();
    assert.match(await client.command('MAIL FROM:<alice@sender.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<carol@example.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<dave@example.test>'), /^452/, 'a third recipient is one too many');
  } finally {
    client.close();
  }

  // a value the page can read but the schema refuses: shown at the field, Apply saves and restarts nothing
  const fileBefore = readFileSync(join(world.dataDir, 'moat.json'), 'utf8');
  await maxRecipients.fill('0');
  await page.getByRole('button', { name: 'Check', exact: true }).click();
  await textMatches(status, /^1 problem to fix\.$/);
  await textMatches(field(page, 'Max recipients').locator('.field-error'), /1/);
  assert.equal(await maxRecipients.getAttribute('aria-invalid'), 'true');
  await apply.click();
  await textMatches(status, /^Not applied: fix the problems marked below first\.$/);
  await textMatches(field(page, 'Max recipients').locator('.field-error'), /1/);
  await textMatches(page.getByRole('navigation', { name: 'Configuration sections' }).getByRole('button', { name: /^Inbound \(port 25\)/ }), /!/);
  await screenshot(page, '12-settings-config-invalid');
  // one the page cannot read at all is caught before it is sent
  await maxRecipients.fill('many');
  await textMatches(field(page, 'Max recipients').locator('.field-error'), /^expected a number\b/);
  await apply.click();
  // Apply clears the last result line first; with a problem on the page it stops there
  await status.waitFor({ state: 'detached' });
  assert.equal(readFileSync(join(world.dataDir, 'moat.json'), 'utf8'), fileBefore, 'moat.json is unchanged');
  const unchanged = await admin.call('relay.status', {});
  assert.equal(unchanged.state, 'running');
  assert.equal(unchanged.startedAt, afterApply.startedAt, 'the relay was not restarted');

  await page.getByRole('button', { name: 'Discard changes', exact: true }).click();
  await textMatches(bar, /^No unsaved changes/);
  assert.equal(await maxRecipients.inputValue(), '2');
  assert.deepEqual(errors, []);
});

e2eTest('settings: the admin password is changed, other sessions end, and only the new one logs in', async (world) => {
  const newPassword = 'a brand new admin password';
  const { relay, admin, page, errors } = await settingsWorld(world, '#/settings/password');
  const form = page.getByRole('form', { name: 'Change the admin password' });

  // a wrong current password is refused and changes nothing
  await form.getByLabel('Current password', { exact: true }).fill('not the password at all');
  await form.getByLabel('New password', { exact: true }).fill(newPassword);
  await form.getByLabel('Repeat the new password', { exact: true }).fill(newPassword);
  await form.getByRole('button', { name: 'Change password', exact: true }).click();
  await textMatches(form.getByRole('alert'), /current password is wrong/);
  assert.equal((await admin.raw('relay.status', {})).status, 200, 'the other session is still there');

  await form.getByLabel('Current password', { exact: true }).fill(ADMIN_PASSWORD);
  await form.getByRole('button', { name: 'Change password', exact: true }).click();
  await textMatches(form.getByRole('status'), /^The admin password was changed\. Other sessions were logged out\.$/);
  assert.equal(await form.getByLabel('New password', { exact: true }).inputValue(), '', 'the fields are emptied');
  await screenshot(page, '12-settings-password-changed');
  const ended = await admin.raw('relay.status', {});
  assert.equal(ended.status, 401, 'the API client (another session) was logged out');
  // this page's own session goes on
  await openScreen(page, '#/dashboard', 'Dashboard');

  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.getByRole('heading', { name: 'Log in to Moat', exact: true }).waitFor();
  await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: 'wrong password' }).waitFor();
  assert.equal(await heading(page, 'Dashboard').count(), 0, 'the old password no longer logs in');

  await logIn(page, relay.base, newPassword);
  await textMatches(page.locator('.relay-state'), /Relay: Running/);
  assert.deepEqual(errors, []);
});
