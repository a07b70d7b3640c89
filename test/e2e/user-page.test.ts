// The end users' quarantine page in a real Chromium: a `moat serve` child with the page on 127.0.0.1, links signed
// with the data directory's own key (as a digest's are), and a digest's own link followed; a real SMTP sink as the internal server.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { openDatabase } from '../../src-relay/store/db.ts';
import { PersonalLists } from '../../src-relay/filters/personal-lists.ts';
import { UserLinks } from '../../src-relay/quarantine/user-links.ts';
import { message, send } from '../helpers/smtp.ts';
import { runCli } from '../helpers/cli.ts';
import { digestLinks, mailPart } from '../helpers/digest-mail.ts';
import { e2eTest, logIn, openScreen, screenshot, textMatches, type World } from './world.ts';

const WEEK_MS = 7 * 86_400_000;

async function relayWithPage(world: World, releaseMode: 'direct' | 'approval') {
  const sink = await world.sink();
  const relay = await world.serveConfigured({
    domains: ['example.test'],
    internal: { host: '127.0.0.1', port: sink.port, tls: 'none' },
    // a message without a Date scores 11 here: quarantined (10), not refused (15)
    filters: { enabled: true, rules: { MISSING_DATE: 11 } },
    quarantine: { userPage: { listen: '127.0.0.1:0', releaseMode } },
  });
  // the ready line says where the page listens (a port reserved beforehand could be taken by another test meanwhile)
  const page = /^moat ready .* user-page=(127\.0\.0\.1:\d+) /m.exec(relay.serve.stdout);
  assert.ok(page, `the ready line names the user page: ${relay.serve.stdout}`);
  const links = await UserLinks.open(world.dataDir);
  return { sink, relay, links, pageBase: `http://${page[1]}` };
}

async function quarantine(mxPort: number, from: string, to: string, subject: string, text: string): Promise<string> {
  const raw = message(subject, `${text}\r\n`).replace(/^Date: .*\r\n/m, '').replace('To: bob@example.test', `To: ${to}`);
  const info = await send(mxPort, from, [to], raw);
  return /queued as (\S+)/.exec(info.response)![1]!;
}

/** The recipient's own lists, read from the relay's database beside the running relay (WAL allows a second reader). */
function personalLists(dataDir: string, recipient: string) {
  const db = openDatabase(dataDir);
  try {
    return new PersonalLists(db).of(recipient).map(({ list, entry }) => ({ list, entry }));
  } finally {
    db.close();
  }
}

async function openLink(page: Page, url: string): Promise<void> {
  const answer = await page.goto(url);
  assert.equal(answer?.status(), 200);
  await page.getByRole('heading', { name: 'A message held for you', level: 1 }).waitFor();
}

e2eTest('a user opens a link, sees the text preview, presses "Release to me", and the message arrives', async (world) => {
  const { sink, relay, links, pageBase } = await relayWithPage(world, 'direct');
  const id = await quarantine(relay.mxPort, 'alice@sender.test', 'anna@example.test', 'Your parcel is waiting', 'Hello Anna, <b>your parcel</b> is at the depot.');
  const { page, errors } = await world.page();
  await openLink(page, `${pageBase}/q/${links.sign({ recipient: 'anna@example.test', messageId: id, expiresAt: Date.now() + WEEK_MS })}`);
  await textMatches(page.locator('pre'), /Hello Anna, <b>your parcel<\/b> is at the depot\./);
  await textMatches(page.locator('dl'), /Subject\s*Your parcel is waiting/);
  await textMatches(page.locator('.why'), /probably junk mail/);
  assert.equal(await page.locator('main b, script, img').count(), 0, 'nothing from the message became an element');
  await screenshot(page, '16-user-page-message');

  await page.getByRole('button', { name: 'Release to me', exact: true }).click();
  await page.getByRole('heading', { name: 'Released to you', level: 1 }).waitFor();
  await textMatches(page.getByRole('status'), /on its way to your mailbox \(anna@example\.test\)/);
  await screenshot(page, '16-user-page-released');
  await sink.waitFor(1);
  assert.deepEqual(sink.messages[0]!.to, ['anna@example.test']);
  assert.match(sink.messages[0]!.raw.toString('utf8'), /^X-Moat-Released: released from quarantine by anna@example\.test/m);

  // the same link again: nothing waits any more, and the page says it went to her, as good news
  await page.goBack();
  await page.reload();
  await page.getByRole('heading', { name: 'Released', level: 1 }).waitFor();
  await textMatches(page.getByRole('status'), /^This message was released from quarantine and delivered to your mailbox/);
  await screenshot(page, '16-user-page-released-again');
  assert.deepEqual(errors, []);
});

e2eTest('"Always allow this sender" and "Block this sender" are shown as done and put the sender on the user\'s own lists, which the page shows and can take entries off', async (world) => {
  const { relay, links, pageBase } = await relayWithPage(world, 'direct');
  const id = await quarantine(relay.mxPort, 'news@shop.test', 'bert@example.test', 'Weekly offers', 'Big savings this week.');
  const url = `${pageBase}/q/${links.sign({ recipient: 'bert@example.test', messageId: id, expiresAt: Date.now() + WEEK_MS })}`;
  const { page, errors } = await world.page();
  await openLink(page, url);
  await page.getByRole('button', { name: 'Always allow this sender', exact: true }).click();
  await page.getByRole('heading', { name: 'Sender allowed', level: 1 }).waitFor();
  await textMatches(page.getByRole('status'), /mail from news@shop\.test will no longer be held as junk for you/);
  assert.deepEqual(personalLists(world.dataDir, 'bert@example.test'), [{ list: 'allow', entry: 'news@shop.test' }]);

  await page.getByRole('link', { name: 'Back to the message' }).click();
  await page.getByRole('heading', { name: 'A message held for you', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Block this sender', exact: true }).click();
  await page.getByRole('heading', { name: 'Sender blocked', level: 1 }).waitFor();
  await textMatches(page.getByRole('status'), /mail from news@shop\.test will no longer reach you/);
  await screenshot(page, '16-user-page-blocked');
  assert.deepEqual(personalLists(world.dataDir, 'bert@example.test'), [{ list: 'deny', entry: 'news@shop.test' }]);

  // the lists show on the message's page, and an entry comes off with its button
  await page.getByRole('link', { name: 'Back to the message' }).click();
  await page.getByRole('heading', { name: 'Your sender lists', level: 2 }).waitFor();
  await screenshot(page, '16-user-page-lists');
  await page.getByRole('button', { name: 'Remove news@shop.test', exact: true }).click();
  await page.getByRole('heading', { name: 'Sender removed', level: 1 }).waitFor();
  assert.deepEqual(personalLists(world.dataDir, 'bert@example.test'), []);
  assert.deepEqual(errors, []);
});

e2eTest('approval mode: the user asks for release, the admin approves it in the quarantine, and the result mail and the message arrive', async (world) => {
  const { sink, relay, links, pageBase } = await relayWithPage(world, 'approval');
  await world.claim(relay);
  const id = await quarantine(relay.mxPort, 'alice@sender.test', 'cora@example.test', 'Quarterly report', 'Please find the figures below.');
  const user = await world.page();
  await openLink(user.page, `${pageBase}/q/${links.sign({ recipient: 'cora@example.test', messageId: id, expiresAt: Date.now() + WEEK_MS })}`);
  assert.equal(await user.page.getByRole('button', { name: 'Release to me' }).count(), 0);
  await user.page.getByRole('button', { name: 'Ask for release', exact: true }).click();
  await user.page.getByRole('heading', { name: 'Release requested', level: 1 }).waitFor();
  await textMatches(user.page.getByRole('status'), /your request was sent to your mail administrator/);

  // newer junk lands on top of it: the request must not sink out of sight onto page 2
  await quarantine(relay.mxPort, 'spam@sender.test', 'dora@example.test', 'Newer junk', 'Cheap pills.');

  const admin = await world.page();
  await logIn(admin.page, relay.base);
  // the admin is told where they look first: the menu and the dashboard
  await textMatches(admin.page.getByRole('navigation').getByRole('link', { name: /^Quarantine/ }).locator('.count.tone-warning'), /^1 asked$/);
  // beside the quarantine's count, which it does not hide (two held: the asked one and the newer junk)
  await textMatches(admin.page.getByRole('navigation').getByRole('link', { name: /^Quarantine/ }), /^Quarantine\s*2\s*1 asked$/);
  assert.equal(await admin.page.getByRole('navigation').locator('[aria-label="2 in quarantine, 1 asked to be released"]').count(), 1);
  await textMatches(admin.page.locator('.cards'), /1 message a user asked for waits for your answer/);
  await screenshot(admin.page, '16-admin-dashboard-release-request');
  await openScreen(admin.page, '#/quarantine', 'Quarantine');
  const row = admin.page.getByRole('row', { name: 'Message from alice@sender.test to cora@example.test', exact: true });
  await textMatches(row.locator('.reason-cell'), /Release asked for by cora@example\.test/);
  assert.match((await admin.page.locator('tbody tr').first().getAttribute('aria-label')) ?? '', /to cora@example\.test$/, 'the request comes first, above newer mail');
  await row.click();
  const requests = admin.page.getByRole('complementary', { name: 'Message preview' }).getByRole('region', { name: 'Release requests' });
  await textMatches(requests, /cora@example\.test asked for this message to be released to them/);
  await screenshot(admin.page, '16-admin-release-request');
  await requests.getByRole('button', { name: 'Approve release to cora@example.test', exact: true }).click();
  // an approval delivers what the filters held: asked first, in the words of the pane's own Release
  const approve = admin.page.getByRole('dialog', { name: 'Approve the release to cora@example.test?' });
  await textMatches(approve, /whatever the filters found in it \(a program, a virus, a forged sender\) reaches the mailbox/);
  await approve.getByRole('button', { name: 'Cancel', exact: true }).click();
  await approve.waitFor({ state: 'hidden' });
  assert.equal(sink.messages.length, 0, 'Cancel approved nothing');
  await requests.getByRole('button', { name: 'Approve release to cora@example.test', exact: true }).click();
  await screenshot(admin.page, '16-admin-approve-confirm');
  await approve.getByRole('button', { name: 'Approve release', exact: true }).click();
  await admin.page.getByRole('status').filter({ hasText: 'Approved: the message is being delivered to cora@example.test' }).waitFor();

  await sink.waitFor(2);
  const texts = sink.messages.map((sunk) => ({ to: sunk.to, raw: sunk.raw.toString('utf8') }));
  const result = texts.find((sunk) => /Subject: Released to you: Quarterly report/.test(sunk.raw));
  const released = texts.find((sunk) => /^X-Moat-Released: /m.test(sunk.raw));
  assert.deepEqual(result?.to, ['cora@example.test']);
  assert.match(result!.raw, /Your request was approved/);
  assert.deepEqual(released?.to, ['cora@example.test']);
  assert.match(released!.raw, /Please find the figures below\./);
  await row.waitFor({ state: 'detached' });
  assert.deepEqual(user.errors, []);
  assert.deepEqual(admin.errors, []);
});

e2eTest('the digest\'s own link works: `moat quarantine digest --now` mails it through the relay, and following its link releases the message', async (world) => {
  const { sink, relay, pageBase } = await relayWithPage(world, 'direct');
  await quarantine(relay.mxPort, 'alice@sender.test', 'dora@example.test', 'Invoice 4711', 'Dear Dora, the invoice is attached.');
  // the admin tells the digest how users reach the page (its port was picked at start)
  const file = join(world.dataDir, 'moat.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as { quarantine: { userPage: Record<string, unknown> } };
  config.quarantine.userPage.url = pageBase;
  writeFileSync(file, JSON.stringify(config, null, 2));
  const run = await runCli(['quarantine', 'digest', '--now', '--data-dir', world.dataDir]);
  assert.equal(run.code, 0, run.stderr);

  // the running relay delivers the digest the command queued
  await sink.waitFor(1);
  const digest = sink.messages[0]!;
  assert.deepEqual(digest.to, ['dora@example.test']);
  const links = digestLinks(mailPart(digest.raw.toString('utf8'), 'text/plain') ?? '');
  assert.equal(links.length, 1);
  assert.ok(links[0]!.url.startsWith(`${pageBase}/q/`), links[0]!.url);

  const { page, errors } = await world.page();
  await openLink(page, links[0]!.url);
  await textMatches(page.locator('dl'), /Subject\s*Invoice 4711/);
  await page.getByRole('button', { name: 'Release to me', exact: true }).click();
  await page.getByRole('heading', { name: 'Released to you', level: 1 }).waitFor();
  await sink.waitFor(2);
  assert.deepEqual(sink.messages[1]!.to, ['dora@example.test']);
  assert.match(sink.messages[1]!.raw.toString('utf8'), /Dear Dora, the invoice is attached\./);
  assert.deepEqual(errors, []);
});
