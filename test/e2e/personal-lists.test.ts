import assert from 'node:assert/strict';
import { message, RawSmtp } from '../helpers/smtp.ts';
import { e2eTest, logIn, openScreen, screenshot, textMatches, type World } from './world.ts';

async function sendersWorld(world: World) {
  const sink = await world.sink();
  const relay = await world.serveConfigured({
    domains: ['example.test'],
    internal: { host: '127.0.0.1', port: sink.port, tls: 'none' },
    filters: { enabled: true },
  });
  const admin = await world.claim(relay);
  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await openScreen(page, '#/settings/senders', 'Settings');
  return { sink, relay, admin, page, errors };
}

e2eTest("settings: a user's own block is added, listed, refuses that sender's mail to that user, and is removed", async (world) => {
  const { relay, admin, page, errors } = await sendersWorld(world);
  const section = page.getByRole('region', { name: "Users' own sender lists" });
  await textMatches(section, /These are your users' own lists: each one speaks for that user only\..*Neither ever lets a virus or a blocked attachment through\./s);
  await textMatches(section, /No user has an own list yet\./);

  await section.getByLabel("User's address", { exact: true }).fill('bob@example.test');
  await section.getByRole('radio', { name: 'Block this sender', exact: true }).check();
  await section.getByLabel('Sender to block or allow', { exact: true }).fill('pest@annoying.test');
  await section.getByRole('button', { name: "Add to the user's list", exact: true }).click();
  await textMatches(section.getByRole('status'), /^pest@annoying\.test is blocked on bob@example\.test's own list\.$/);
  const table = section.getByRole('table', { name: "Users' own sender lists" });
  const row = table.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'bob@example.test', exact: true }) });
  await textMatches(row, /Blocked.*pest@annoying\.test.*by admin@127\.0\.0\.1/);
  assert.deepEqual((await admin.call('senders.personalList', {})).entries.map((entry) => [entry.recipient, entry.list, entry.entry]), [['bob@example.test', 'deny', 'pest@annoying.test']]);
  await screenshot(page, '16-settings-personal-lists');

  // in force at once: that sender's RCPT to bob is refused, to carol it is not
  const client = await RawSmtp.connect(relay.mxPort);
  try {
    await client.hello();
    assert.match(await client.command('MAIL FROM:<pest@annoying.test>'), /^250/);
    assert.match(await client.command('RCPT TO:<bob@example.test>'), /^550 5\.7\.1 The recipient has blocked mail from this sender/);
    assert.match(await client.command('RCPT TO:<carol@example.test>'), /^250/);
    assert.match(await client.command('DATA'), /^354/);
    client.write(`${message('to carol')}.\r\n`);
    assert.match(await client.reply(), /^250 /);
  } finally {
    client.close();
  }

  // a foreign recipient is refused in words at the field
  await section.getByLabel("User's address", { exact: true }).fill('someone@elsewhere.test');
  await section.getByLabel('Sender to block or allow', { exact: true }).fill('x@y.test');
  await section.getByRole('button', { name: "Add to the user's list", exact: true }).click();
  await textMatches(section.locator('.field').filter({ has: page.getByLabel("User's address", { exact: true }) }), /not an address of this relay's domains \(example\.test\)/);

  await row.getByRole('button', { name: "Remove pest@annoying.test from bob@example.test's list", exact: true }).click();
  await textMatches(section.getByRole('status'), /^pest@annoying\.test was taken off bob@example\.test's own list\.$/);
  await textMatches(section, /No user has an own list yet\./);
  assert.deepEqual((await admin.call('senders.personalList', {})).entries, []);
  assert.deepEqual(errors, []);
});
