import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { AdminClient } from '../helpers/admin.ts';
import { eventually } from '../helpers/cli.ts';
import { message, RawSmtp, send } from '../helpers/smtp.ts';
import { reservePort } from '../helpers/sink.ts';
import { heldPort } from '../helpers/held-port.ts';
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
    submission: { listen: '127.0.0.1:0', login: { firstDelayMs: 0, maxDelayMs: 0, maxFailuresPerAccount: 2 } },
  });
  const submission = await listenerPort(admin, 'submission');
  await page.getByText('No accounts yet.').waitFor();
  assert.equal(await page.getByRole('note').filter({ hasText: 'submission listeners are off' }).count(), 0, 'a listener takes log-ins');

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

  // a second wrong password from 127.0.0.1 (the old one was the first) locks the name there: the open page sees it
  // by itself, and says for which address
  await assert.rejects(submit(submission, { user: 'scanner', pass: 'a wrong password' }, 'scanner@example.test', ['bob@example.test'], officeMessage('scanner@example.test', 'bob@example.test', 'wrong')), /\b535\b/);
  await textMatches(account, /Locked\s*from 127\.0\.0\.1 only, until/);
  // the dashboard says so too (no alert is raised for a lockout), with the way back here
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Dashboard/ }).click();
  const attention = page.locator('section[aria-labelledby="warnings-title"]');
  await textMatches(attention, /The account scanner cannot log in to send mail.*scanner from 127\.0\.0\.1, until .*The right password is refused too/s);
  // no alert is promised for it either
  await textMatches(page.locator('section[aria-labelledby="alerts-title"]'), /^Open alerts\s*No open alerts\. A log-in locked after failed passwords is listed under "Needs attention now" above\.$/);
  await screenshot(page, '04-dashboard-login-locked');
  await attention.getByRole('link', { name: 'Unlock under Settings → Submission accounts' }).click();
  await textMatches(account, /Locked\s*from 127\.0\.0\.1 only, until/);
  await account.getByRole('button', { name: 'Unlock', exact: true }).click();
  await textMatches(account, /Active/);

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

e2eTest("settings: an account given a sender domain that is not the relay's is added with a note naming the domain likely meant; fixing the address clears it", async (world) => {
  const { page, errors } = await settingsWorld(world, '#/settings/accounts', { submission: { listen: '127.0.0.1:0' } });
  await page.getByText('No accounts yet.').waitFor();
  await page.getByLabel('Account name', { exact: true }).fill('dora');
  await page.getByLabel('Password', { exact: true }).fill(SCANNER_PASSWORD);
  await page.getByLabel('Sender addresses', { exact: true }).fill('dora@exmaple.test');
  await page.getByRole('button', { name: 'Add account', exact: true }).click();
  await textMatches(page.getByRole('status'), /^dora was added\.$/);
  const notes = page.getByRole('note', { name: 'Check these sender addresses' });
  await textMatches(notes, /^Check exmaple\.test is not one of the relay's domains \(did you mean example\.test\?\): allowed, but check the spelling$/);
  await screenshot(page, '12-settings-account-domain-note');

  const account = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'dora', exact: true }) });
  await account.getByRole('button', { name: 'Sender addresses', exact: true }).click();
  const edit = page.getByRole('form', { name: 'Sender addresses of dora' });
  await edit.getByLabel('Sender addresses', { exact: true }).fill('dora@example.test');
  await edit.getByRole('button', { name: 'Save', exact: true }).click();
  await textMatches(page.getByRole('status'), /^dora may now send as dora@example\.test\.$/);
  await notes.waitFor({ state: 'detached' });
  assert.deepEqual(errors, []);
});

e2eTest('settings: without a submission listener the accounts tab says no client can log in yet, beside an account that reads Active', async (world) => {
  const { page, errors } = await settingsWorld(world, '#/settings/accounts');
  const note = page.getByRole('note').filter({ hasText: 'The submission listeners are off, so no office client can log in with these accounts yet.' });
  await note.waitFor();
  await page.getByLabel('Account name', { exact: true }).fill('scanner');
  await page.getByLabel('Password', { exact: true }).fill(SCANNER_PASSWORD);
  await page.getByLabel('Sender addresses', { exact: true }).fill('scanner@example.test');
  await page.getByRole('button', { name: 'Add account', exact: true }).click();
  await textMatches(page.getByRole('status'), /^scanner was added\.$/);
  assert.equal(await note.count(), 1, 'still said with an account listed');
  await screenshot(page, '12-settings-accounts-no-listener');
  await note.getByRole('link', { name: 'Configuration' }).click();
  await textMatches(page.getByRole('navigation', { name: 'Settings sections' }).locator('[aria-current="page"]'), /^Configuration$/);
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

  // the same entry put on the other list moves there, and the status line says what it left
  await page.getByRole('radio', { name: 'Allow', exact: true }).check();
  await page.getByLabel('Sender address or @domain', { exact: true }).fill('@SPAM.test');
  await page.getByRole('button', { name: 'Add to list', exact: true }).click();
  await textMatches(page.getByRole('status'), /^@spam\.test is on the allow list\. It was on the deny list \(note: "sends junk every day"\) and was taken off it\.$/);
  await textMatches(denied, /None\./);
  assert.deepEqual(errors, []);
});

e2eTest('settings: "Back up now" writes a backup into the configured folder and lists it', async (world) => {
  const { admin, page, errors, relay } = await settingsWorld(world, '#/settings/backups', { backup: { folder: join(world.dataDir, 'backups-e2e') } });
  const folder = join(world.dataDir, 'backups-e2e');
  // the checklist run once, as the relay does soon after it starts: its backup item warns, and the menu counts it
  assert.equal((await admin.call('checklist.run', {})).probes.find((probe) => probe.id === 'backup-age')?.status, 'warning');
  await page.reload();
  await heading(page, 'Settings').waitFor();
  await page.getByText('No backups yet.').waitFor();
  await textMatches(page.locator('main'), /Last backup:\s*never/);
  // whether anything backs up by itself, and what a backup file holds, are said where backups are made
  await textMatches(page.locator('main'), /Scheduled backups are off: only “Back up now” makes one\. Set “Back up every” under Configuration → Backups → Scheduled backups\. Backups are not encrypted: a backup holds the keys, the accounts and every queued and quarantined message/);
  assert.equal(await page.locator('main p').filter({ hasText: /^Folder:/ }).locator('code').textContent(), folder, 'the configured folder is shown');

  const checklistCount = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Checklist/ }).locator('.count');
  const countLabel = async () => ((await checklistCount.count()) === 0 ? null : await checklistCount.getAttribute('aria-label'));
  const labelBefore = await countLabel();
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
  // the checklist says the same at once, not "no backup has been made yet" until its next run
  await eventually(
    async () => (await admin.call('checklist.get', {})).probes.find((probe) => probe.id === 'backup-age')?.status === 'ok',
    UI_TIMEOUT_MS,
    "the checklist's backup item to be ok",
  );
  // the menu's count agrees at once (it is asked again only every minute otherwise)
  const probes = (await admin.call('checklist.get', {})).probes;
  const failing = probes.filter((probe) => probe.status === 'failing').length;
  const warning = probes.filter((probe) => probe.status === 'warning').length;
  const words = [failing ? `${failing} failing` : '', warning ? `${warning} with a warning` : ''].filter(Boolean).join(', ');
  const labelAfter = failing + warning === 0 ? null : `checklist: ${words}`;
  assert.notEqual(labelBefore, labelAfter, 'the backup item counted before');
  await eventually(async () => (await countLabel()) === labelAfter, 5000, `the menu's checklist count to read ${labelAfter}`);
  assert.equal((await admin.call('relay.status', {})).state, 'running');
  assert.ok(relay.serve.running);
  // the file gone from the folder: the page does not say "No backups yet" under "Last backup: … ago"
  rmSync(join(folder, file));
  await page.reload();
  await textMatches(page.locator('main .state.empty'), /^No backup files in this folder: the last backup was written elsewhere \(moat backup create writes where it is told\), or has been moved or deleted\.$/);
  assert.deepEqual(errors, []);
});

/** The navigation of the configuration's groups. */
const groupNav = (page: Page) => page.getByRole('navigation', { name: 'Configuration sections' });
const openGroup = async (page: Page, title: string) => {
  await groupNav(page).getByRole('button', { name: new RegExp(`^${title.replace(/[()]/g, '\\$&')}`) }).click();
  await page.getByRole('heading', { level: 2, name: title, exact: true }).waitFor();
};

e2eTest('settings: the configuration is grouped by task with human labels, and "Largest message" in MB is saved in bytes and enforced', async (world) => {
  const { relay, admin, page, errors } = await settingsWorld(world, '#/settings');
  const saved = () => JSON.parse(readFileSync(join(world.dataDir, 'moat.json'), 'utf8')) as { mx: Record<string, unknown> };
  const firstStart = (await admin.call('relay.status', {})).startedAt;
  // allTextContents does not wait: the page loads the configuration before it draws the groups
  await page.getByRole('heading', { level: 2, name: 'Domains and recipients', exact: true }).waitFor();
  await groupNav(page).getByRole('button').last().waitFor();
  assert.deepEqual(
    (await groupNav(page).getByRole('button').allTextContents()).map((text) => text.trim()),
    ['Domains and recipients', 'Internal server', 'Filters and quarantine', 'Outgoing mail', 'Accounts', 'Alerts', 'Backups', 'Admin access'],
  );
  const largest = page.getByLabel('Largest message', { exact: true });
  const largestField = field(page, 'Largest message');
  // the unit a person uses, and the config key only on its details line
  await textMatches(largestField, /MB/);
  // the MB is the binary one Exchange's own size limits use (mx.maxMessageBytes is kept at or under those)
  await textMatches(largestField.locator('.hint'), /Default: 25 MB\. 1 MB is 1,048,576 bytes here, as Exchange and Outlook count\./);
  await textMatches(largestField.locator('.key-line'), /^Config key mx\.maxMessageBytes$/);
  assert.equal(await largest.getAttribute('placeholder'), '25', 'the default, in MB');
  const bar = page.locator('.config-bar');
  const status = page.getByRole('status');

  await largest.fill('1');
  await textMatches(bar, /^1 unsaved change: Largest message\s*Everything checks out/);
  await screenshot(page, '12-settings-grouped-forms');
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await textMatches(status, /^Applied 1 change \(Largest message\)\. The relay is running\.$/);
  await textMatches(bar, /^No unsaved changes/);
  await eventually(async () => (await largest.inputValue()) === '1', UI_TIMEOUT_MS, 'the field to show the saved value');
  assert.equal(saved().mx.maxMessageBytes, 1024 * 1024, 'moat.json holds bytes');
  const afterApply = await admin.call('relay.status', {});
  assert.ok(afterApply.startedAt! > firstStart!, 'the relay was restarted with it');
  assert.ok(relay.serve.running);
  // the restarted relay has delivered nothing yet: the dashboard lists its internal server as not tried, not "no routes"
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Dashboard/ }).click();
  await textMatches(page.locator('.routes'), /^Not tried yet Internal server nothing to deliver since an Apply restarted the relay$/);
  // and says why it runs for seconds only
  await textMatches(page.locator('section[aria-labelledby="relay-title"] > p').first(), /^Running for .+, since an Apply restarted it at .+$/);
  await screenshot(page, '65-dashboard-after-apply');

  // the restarted relay announces and enforces the new size: just under it is taken, just over it refused
  const client = await RawSmtp.connect(await listenerPort(admin, 'mx'));
  try {
    assert.match(await client.hello(), /SIZE 1048576/);
    assert.match(await client.command(`MAIL FROM:<alice@sender.test> SIZE=${1024 * 1024}`), /^250/);
    assert.match(await client.command('RSET'), /^250/);
    assert.match(await client.command(`MAIL FROM:<alice@sender.test> SIZE=${1024 * 1024 + 1}`), /^552/);
  } finally {
    client.close();
  }
  assert.deepEqual(errors, []);
});

e2eTest('settings: digest days are ticked by name, none ticked is refused at the field, and Saturday and Sunday are saved as the schema counts them', async (world) => {
  const { page, errors } = await settingsWorld(world, '#/settings');
  const saved = () => JSON.parse(readFileSync(join(world.dataDir, 'moat.json'), 'utf8')) as { quarantine?: { digest?: { weekdays?: number[] } } };
  const bar = page.locator('.config-bar');
  await openGroup(page, 'Filters and quarantine');
  const days = page.getByRole('group', { name: 'Digest days', exact: true });
  const day = (name: string) => days.getByLabel(name, { exact: true });
  const ticked = async () => {
    const names = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
    const states = await Promise.all(names.map((name) => day(name).isChecked()));
    return names.filter((_name, index) => states[index]);
  };
  // the default, by name and ticked
  assert.deepEqual(await ticked(), ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday']);
  await days.scrollIntoViewIfNeeded();
  await screenshot(page, '12-settings-digest-days');
  await textMatches(days.locator('.hint'), /^Days the digest goes out\. Default: Monday to Friday\.Config key/);
  await textMatches(days.locator('.key-line'), /^Config key quarantine\.digest\.weekdays \(0 Sunday … 6 Saturday\)$/);

  for (const name of ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday']) await day(name).uncheck();
  await textMatches(days.locator('.field-error'), /^tick at least one day$/);
  assert.equal(await days.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByRole('button', { name: 'Apply', exact: true }).isDisabled(), true, 'no digest day is not saved');

  await day('Saturday').check();
  await day('Sunday').check();
  await textMatches(bar, /^1 unsaved change: Digest days\s*Everything checks out/);
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await textMatches(page.getByRole('status'), /^Applied 1 change \(Digest days\)\. The relay is running\.$/);
  // pressed from the bar, far down the section: what came of it is brought into view, not left at the page's top
  await eventually(
    async () => {
      const box = await page.getByRole('status').boundingBox();
      return box !== null && box.y >= 0 && box.y + box.height <= (await page.evaluate<number>('window.innerHeight'));
    },
    UI_TIMEOUT_MS,
    'the outcome of Apply to be on screen',
  );
  assert.deepEqual(saved().quarantine?.digest?.weekdays, [0, 6]);
  await eventually(async () => (await ticked()).join() === 'Saturday,Sunday', UI_TIMEOUT_MS, 'the saved days to show ticked');
  assert.deepEqual(errors, []);
});

e2eTest('settings: two invalid fields show two inline errors at once, and Apply changes nothing until both are fixed', async (world) => {
  const { admin, page, errors } = await settingsWorld(world, '#/settings');
  const fileBefore = readFileSync(join(world.dataDir, 'moat.json'), 'utf8');
  const startedAt = (await admin.call('relay.status', {})).startedAt;
  const bar = page.locator('.config-bar');
  const apply = page.getByRole('button', { name: 'Apply', exact: true });

  // one the schema refuses (below its minimum), one the page cannot read at all; no button pressed
  await page.getByLabel('Recipients per message', { exact: true }).fill('0');
  await page.getByLabel('Largest message', { exact: true }).fill('lots');
  await textMatches(field(page, 'Recipients per message').locator('.field-error'), /1/);
  await textMatches(field(page, 'Largest message').locator('.field-error'), /^expected a number \(in MB\)$/);
  assert.equal(await page.getByLabel('Recipients per message', { exact: true }).getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Largest message', { exact: true }).getAttribute('aria-invalid'), 'true');
  await textMatches(bar, /2 problems to fix/);
  await textMatches(groupNav(page).getByRole('button', { name: /^Domains and recipients/ }), /!/);
  assert.equal(await apply.isDisabled(), true, 'Apply waits for the problems to be fixed');
  await screenshot(page, '12-settings-two-problems');

  // a problem in another group is marked in the navigation too
  await openGroup(page, 'Accounts');
  await page.getByLabel('Recipients per submitted message', { exact: true }).fill('0');
  await textMatches(bar, /3 problems to fix/);
  await textMatches(groupNav(page).getByRole('button', { name: /^Accounts/ }), /!/);
  // a look at another screen keeps the edits: back in Settings, the same group, values and count
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Dashboard/ }).click();
  await page.getByRole('heading', { name: 'Dashboard', exact: true }).waitFor();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Settings/ }).click();
  await textMatches(bar, /^3 unsaved changes: .+ and Recipients per submitted message\s*3 problems to fix/);
  assert.equal(await page.getByLabel('Recipients per submitted message', { exact: true }).inputValue(), '0');
  await page.getByRole('button', { name: 'Discard changes', exact: true }).click();
  await textMatches(bar, /^No unsaved changes\s*Everything checks out/);
  assert.equal(readFileSync(join(world.dataDir, 'moat.json'), 'utf8'), fileBefore, 'moat.json is unchanged');
  assert.equal((await admin.call('relay.status', {})).startedAt, startedAt, 'the relay was not restarted');
  assert.deepEqual(errors, []);
});

e2eTest('settings: edits kept across screens are set aside, and said to be, when the saved configuration changed meanwhile', async (world) => {
  const { admin, page, errors } = await settingsWorld(world, '#/settings');
  const bar = page.locator('.config-bar');
  await page.getByLabel('Recipients per message', { exact: true }).fill('50');
  await textMatches(bar, /^1 unsaved change: Recipients per message/);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Dashboard/ }).click();
  await page.getByRole('heading', { name: 'Dashboard', exact: true }).waitFor();

  // another window applies a different change while this one's edit waits
  const { saved } = await admin.call('config.get', {});
  const applied = await admin.call('config.apply', { config: { ...saved, checklist: { intervalHours: 12 } } });
  assert.equal(applied.error, null);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Settings/ }).click();
  const notice = page.getByTestId('drafts-set-aside');
  await textMatches(notice, /Your edits of one setting \(Recipients per message\) were not applied and are set aside: the saved configuration changed meanwhile/);
  await textMatches(bar, /^No unsaved changes/);
  assert.notEqual(await page.getByLabel('Recipients per message', { exact: true }).inputValue(), '50', 'the field shows what is saved');
  await screenshot(page, '12-settings-drafts-set-aside');
  await notice.getByRole('button', { name: 'Dismiss', exact: true }).click();
  assert.equal(await notice.count(), 0);

  // an edit kept while nothing else changed is kept, with no notice
  await page.getByLabel('Recipients per message', { exact: true }).fill('60');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Dashboard/ }).click();
  await page.getByRole('heading', { name: 'Dashboard', exact: true }).waitFor();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Settings/ }).click();
  await textMatches(bar, /^1 unsaved change/);
  assert.equal(await page.getByLabel('Recipients per message', { exact: true }).inputValue(), '60');
  assert.equal(await notice.count(), 0);

  // closing the tab (or reloading it) would lose the edit: the browser asks first, from any screen; stay keeps it
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Dashboard/ }).click();
  const asked = new Promise<string>((resolve) => page.once('dialog', (dialog) => void dialog.dismiss().then(() => resolve(dialog.type()))));
  await page.close({ runBeforeUnload: true });
  assert.equal(await asked, 'beforeunload');
  assert.equal(page.isClosed(), false, 'staying keeps the page and its edit');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Settings/ }).click();
  assert.equal(await page.getByLabel('Recipients per message', { exact: true }).inputValue(), '60');
  // with nothing left to lose the page closes without a question
  await page.getByRole('button', { name: 'Discard changes', exact: true }).click();
  await textMatches(bar, /^No unsaved changes/);
  let questions = 0;
  page.on('dialog', (dialog) => {
    questions += 1;
    void dialog.accept();
  });
  const closed = page.waitForEvent('close');
  await page.close({ runBeforeUnload: true });
  await closed;
  assert.equal(questions, 0);
  assert.deepEqual(errors, []);
});

e2eTest("settings: Test connection for the internal server shows what it answered and the wizard's plain advice", async (world) => {
  const { sink, page, errors } = await settingsWorld(world, '#/settings');
  await openGroup(page, 'Internal server');
  assert.equal(await page.getByRole('textbox', { name: 'Internal server', exact: true }).inputValue(), '127.0.0.1');
  const test = page.getByRole('button', { name: 'Test connection to Internal server', exact: true });
  await test.click();
  const report = page.locator('.test-report');
  await textMatches(report, /The internal server answers/);
  await screenshot(page, '12-settings-test-internal');

  // a port where nothing listens: the plain advice says what to check
  const closed = await reservePort();
  await page.getByLabel('Port', { exact: true }).fill(String(closed));
  await test.click();
  await textMatches(report, /The test failed/);
  await textMatches(report.locator('.advice'), new RegExp(`Moat cannot reach 127\\.0\\.0\\.1:${closed}: check the host name and port`));
  await screenshot(page, '12-settings-test-internal-failed');
  assert.ok(sink.port !== closed);
  // port 0: no test of port 25 in its place, but a word on the port typed
  await page.getByLabel('Port', { exact: true }).fill('0');
  await test.click();
  await textMatches(page.getByRole('alert').filter({ hasText: 'Port "0"' }), /^Port "0" is not one Moat can connect to \(1 to 65535\): fix it, then test again\.$/);
  assert.equal(await report.count(), 0, 'no report of a test of another port');
  await page.getByLabel('Port', { exact: true }).fill(String(sink.port));
  await openGroup(page, 'Filters and quarantine');
  await page.getByRole('button', { name: 'Test connection to ClamAV (clamd) address', exact: true }).waitFor();
  await screenshot(page, '12-settings-filters-group');
  await openGroup(page, 'Outgoing mail');
  await textMatches(field(page, 'Waits between delivery attempts'), /minutes/);
  await screenshot(page, '12-settings-outgoing-group');
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

e2eTest('settings: an Apply after another window applied is refused and said so; the current settings load with the edits on top, and both changes land', async (world) => {
  const { admin, page, errors } = await settingsWorld(world, '#/settings');
  const bar = page.locator('.config-bar');
  await page.getByLabel('Recipients per message', { exact: true }).fill('60');
  await textMatches(bar, /^1 unsaved change: Recipients per message/);

  // another window applies a different change while this page is open
  const { saved } = await admin.call('config.get', {});
  assert.equal((await admin.call('config.apply', { config: { ...saved, checklist: { intervalHours: 12 } } })).error, null);

  await bar.getByRole('button', { name: 'Apply', exact: true }).click();
  const changed = page.getByTestId('config-changed');
  await textMatches(changed, /^Not applied: the settings were changed elsewhere after this page loaded them .*Applied now, your page would undo that change\./);
  assert.equal(JSON.parse(readFileSync(join(world.dataDir, 'moat.json'), 'utf8')).mx?.maxRecipients, undefined, 'nothing of this page was written');
  await screenshot(page, '12-settings-config-changed');

  await changed.getByRole('button', { name: 'Load the current settings, keep my edits', exact: true }).click();
  await textMatches(page.getByRole('status'), /The settings as they are now are loaded, with your edits on top/);
  assert.equal(await changed.count(), 0);
  await textMatches(bar, /^1 unsaved change: Recipients per message/);
  assert.equal(await page.getByLabel('Recipients per message', { exact: true }).inputValue(), '60');
  await bar.getByRole('button', { name: 'Apply', exact: true }).click();
  await textMatches(page.getByRole('status'), /^Applied 1 change \(Recipients per message\)\. The relay is running\./);
  const file = JSON.parse(readFileSync(join(world.dataDir, 'moat.json'), 'utf8'));
  assert.equal(file.mx.maxRecipients, 60);
  assert.equal(file.checklist.intervalHours, 12, "the other window's change is kept");
  assert.deepEqual(errors, []);
});

e2eTest('settings: moat.json edited by hand is said not to be in force, with what runs and what the file says, and Apply puts it in force', async (world) => {
  const { admin, page, errors } = await settingsWorld(world, '#/settings', { mx: { listen: '127.0.0.1:0', maxRecipients: 3 } });
  const bar = page.locator('.config-bar');
  await textMatches(bar, /^No unsaved changes\s*Everything checks out/);
  const file = join(world.dataDir, 'moat.json');
  const edited = JSON.parse(readFileSync(file, 'utf8')) as { mx: Record<string, unknown> };
  edited.mx.maxRecipients = 7;
  writeFileSync(file, JSON.stringify(edited, null, 2));
  await page.reload();
  await heading(page, 'Settings').waitFor();
  const notice = page.getByTestId('file-not-in-force');
  await textMatches(notice, /Not in force moat\.json was changed outside this page and not applied.*Recipients per message: the relay runs with 3 recipients; moat\.json says 7 recipients\..*Apply puts the file's value in force/);
  await textMatches(bar, /^No edits here, but moat\.json differs from the settings in force: Recipients per message\s*Everything checks out/);
  assert.equal(await page.getByLabel('Recipients per message', { exact: true }).inputValue(), '7', 'the field shows the file');
  await screenshot(page, '12-settings-file-not-in-force');
  const to = ['a@example.test', 'b@example.test', 'c@example.test', 'd@example.test'];
  assert.equal((await send(await listenerPort(admin, 'mx'), 'alice@sender.test', to, message('before'))).rejected.length, 1, 'the relay still takes 3');

  const apply = bar.getByRole('button', { name: 'Apply', exact: true });
  assert.equal(await apply.isEnabled(), true);
  await apply.click();
  await textMatches(page.getByRole('status').filter({ hasText: 'Applied' }), /^Applied the value moat\.json holds for Recipients per message\. The relay is running\.$/);
  await notice.waitFor({ state: 'detached' });
  await textMatches(bar, /^No unsaved changes/);
  assert.deepEqual((await send(await listenerPort(admin, 'mx'), 'alice@sender.test', to, message('after'))).rejected, []);
  assert.deepEqual(errors, []);
});

e2eTest("settings: a port typed into the internal server's host is not tested but moved by the wizard's button; a port change that failed its test is applied with a warning", async (world) => {
  const { sink, page, errors } = await settingsWorld(world, '#/settings');
  await openGroup(page, 'Internal server');
  const host = page.getByRole('textbox', { name: 'Internal server', exact: true });
  const port = page.getByLabel('Port', { exact: true });
  const test = page.getByRole('button', { name: 'Test connection to Internal server', exact: true });
  const closed = await reservePort();
  await host.fill(`127.0.0.1:${closed}`);
  const move = page.getByRole('button', { name: `Move ${closed} to the Port field`, exact: true });
  await move.waitFor();
  assert.equal(await test.isDisabled(), true, 'no test of a name that holds a port');
  await screenshot(page, '12-settings-host-with-port');
  await move.click();
  assert.equal(await host.inputValue(), '127.0.0.1');
  assert.equal(await port.inputValue(), String(closed));
  await move.waitFor({ state: 'detached' });

  const bar = page.locator('.config-bar');
  const warning = page.getByTestId('apply-warning');
  await textMatches(warning, new RegExp(`^Before you apply The internal server \\(127\\.0\\.0\\.1 port ${closed}\\) was not tested: press "Test connection"`));
  await test.click();
  await textMatches(page.locator('.test-report'), /The test failed/);
  await textMatches(warning, /^Before you apply The internal server did not answer the test: mail will wait in the queue until it does\. You can still apply if you know the server is right\.$/);
  await textMatches(bar, /^1 unsaved change: Port\s*Everything checks out/);
  await screenshot(page, '12-settings-apply-warning');
  await bar.getByRole('button', { name: 'Apply', exact: true }).click();
  await textMatches(page.getByRole('status').filter({ hasText: 'Applied' }), /^Applied 1 change \(Port\)\. The relay is running, but:$/);
  await textMatches(page.locator('.apply-notes'), /^The internal server did not answer the test: mail will wait in the queue until it does\.$/);
  assert.equal(JSON.parse(readFileSync(join(world.dataDir, 'moat.json'), 'utf8')).internal.port, closed, 'the admin who knows better is not stopped');

  // back to the server that answers, tested: no warning
  await port.fill(String(sink.port));
  await test.click();
  await textMatches(page.locator('.test-report'), /The internal server answers/);
  assert.equal(await warning.count(), 0);
  assert.deepEqual(errors, []);
});

e2eTest('settings: turning the submission listener off while an account exists says in the Apply that the account can no longer send', async (world) => {
  const { admin, page, errors } = await settingsWorld(world, '#/settings', { submission: { listen: '127.0.0.1:0' } });
  await admin.call('accounts.add', { name: 'scanner', password: SCANNER_PASSWORD, senders: ['scanner@example.test'] });
  await openGroup(page, 'Accounts');
  await page.getByLabel('STARTTLS listener address', { exact: true }).fill('');
  const bar = page.locator('.config-bar');
  await bar.getByRole('button', { name: 'Apply', exact: true }).click();
  await textMatches(page.getByRole('status').filter({ hasText: 'Applied' }), /^Applied 1 change \(STARTTLS listener address\)\. The relay is running, but:$/);
  await textMatches(page.locator('.apply-notes'), /^The 1 submission account can no longer send mail through Moat: the submission listener with STARTTLS \(127\.0\.0\.1:0\) is off now, and no other one is on\./);
  await screenshot(page, '12-settings-submission-off');
  assert.deepEqual(errors, []);
});

e2eTest('settings: an Apply whose listener address another program holds marks that field and says so in the bar, and Apply works again once the port is free', async (world) => {
  const { admin, page, errors } = await settingsWorld(world, '#/settings');
  const blocker = await heldPort();
  try {
    await openGroup(page, 'Accounts');
    await page.getByLabel('STARTTLS listener address', { exact: true }).fill(`127.0.0.1:${blocker.port}`);
    const bar = page.locator('.config-bar');
    const apply = bar.getByRole('button', { name: 'Apply', exact: true });
    await apply.click();
    await textMatches(page.locator('.error-box'), new RegExp(`another program already listens on 127\\.0\\.0\\.1:${blocker.port} \\(EADDRINUSE\\).*the previous one is back in force`));
    await textMatches(field(page, 'STARTTLS listener address').locator('.field-error'), new RegExp(`^another program already listens on 127\\.0\\.0\\.1:${blocker.port} \\(EADDRINUSE\\): the last Apply could not use it$`));
    assert.equal(await page.getByLabel('STARTTLS listener address', { exact: true }).getAttribute('aria-invalid'), 'true');
    // not "Everything checks out" beside a failed Apply; nor a problem of the value, which would shut Apply
    await textMatches(bar, /The last Apply failed: STARTTLS listener address could not be used/);
    await textMatches(groupNav(page).getByRole('button', { name: /^Accounts/ }), /!/);
    assert.equal(await apply.isDisabled(), false);
    await screenshot(page, '12-settings-apply-port-held');
    await blocker.release();
    await apply.click();
    await textMatches(page.getByRole('status').filter({ hasText: 'Applied' }), /^Applied 1 change \(STARTTLS listener address\)\. The relay is running\.$/);
    assert.equal(await field(page, 'STARTTLS listener address').locator('.field-error').count(), 0);
    await textMatches(bar, /Everything checks out/);
    assert.equal((await admin.call('relay.status', {})).addresses.submission, `127.0.0.1:${blocker.port}`);
    // a new edit: "Applied …" above it would read as if it were applied too
    await page.getByLabel('TLS listener address', { exact: true }).fill('127.0.0.1:0');
    assert.equal(await page.getByRole('status').filter({ hasText: 'Applied' }).count(), 0);
  } finally {
    await blocker.release();
  }
  assert.deepEqual(errors, []);
});

e2eTest('dashboard: moat.json broken by hand is a problem to fix now, at its line and column, with a link to Settings', async (world) => {
  const { page, errors } = await settingsWorld(world, '#/settings');
  const file = join(world.dataDir, 'moat.json');
  // a comma after the last entry of the file
  writeFileSync(file, readFileSync(file, 'utf8').replace(/\n}\s*$/, ',\n}\n'));
  const lines = readFileSync(file, 'utf8').split('\n').length - 1;
  // no event tells of a hand edit: opening the dashboard asks the relay again
  await openScreen(page, '#/dashboard', 'Dashboard');
  const warnings = page.locator('.live-warnings');
  await textMatches(warnings, /moat\.json cannot be used: the relay runs on with the settings it started with, but the next restart would stop it/);
  await textMatches(warnings.locator('.warning-detail'), new RegExp(`moat\\.json is not valid JSON: .* at line ${lines}, column 1$`));
  await screenshot(page, '65-dashboard-config-file-broken');
  await warnings.getByRole('link', { name: /^Open Settings/ }).click();
  await textMatches(page.getByRole('alert').filter({ hasText: 'cannot be read' }), new RegExp(`cannot be read \\(not valid JSON: .* at line ${lines}, column 1\\)`));
  assert.deepEqual(errors.filter((error) => !/CONFIG_FILE_DAMAGED|409|500/.test(error)), []);
});
