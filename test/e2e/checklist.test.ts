import assert from 'node:assert/strict';
import { e2eTest, logIn, openScreen, screenshot, textMatches } from './world.ts';

/** Probes every relay has, whatever box it runs on (by the start of their titles). */
const PROBES = [/^Open-relay self-test/, /^Admin listener on loopback/, /^Admin password set/, /^Moat's version/, /^Node\.js runtime/, /^TLS certificate of the mx listener/];
const MANUAL_ITEM = "The domains' MX records point at the relay only, never at the internal server";

e2eTest('the checklist shows its probes, "Run now" runs them and a manual item can be ticked', async (world) => {
  const sink = await world.sink();
  // no schedule: only "Run now" runs the probes, so "not yet" turning into a time is the button's doing
  const relay = await world.serveConfigured({
    domains: ['example.test'],
    internal: { host: '127.0.0.1', port: sink.port, tls: 'none' },
    filters: { enabled: false },
    checklist: { intervalHours: 0 },
  });
  await world.claim(relay);
  const { page, errors } = await world.page();
  await logIn(page, relay.base);
  await openScreen(page, '#/checklist', 'Checklist');

  const probes = page.locator('table.probes tbody tr');
  const probe = (title: RegExp) => probes.filter({ has: page.getByRole('rowheader', { name: title }) });
  await probe(PROBES[0]!).waitFor();
  await textMatches(page.getByTestId('checklist-schedule'), /only when you click Run now \(Settings › Alerts › Run the checklist every: 0 hours\)/);
  for (const title of PROBES) {
    await textMatches(probe(title), /Not checked|Unknown|OK|Warning|Failing/);
    assert.match((await probe(title).locator('td').last().textContent()) ?? '', /not yet/, `${title} has not run yet`);
  }

  // the page has been open a while (its clock ticks once a minute): a run made now must not read "in 11 s"
  await page.waitForTimeout(11_000);
  const before = Date.now();
  await page.getByRole('button', { name: 'Run now', exact: true }).click();
  await page.getByRole('status').filter({ hasText: /^Checked\./ }).waitFor();
  for (const title of PROBES) {
    const lastRun = probe(title).locator('td').last().locator('time');
    await lastRun.waitFor();
    const at = Date.parse((await lastRun.getAttribute('datetime')) ?? '');
    assert.ok(at >= before - 1000, `${title} ran just now (${new Date(at).toISOString()})`);
    assert.equal(await lastRun.textContent(), 'just now', String(title));
  }
  // after a run, the probes that always know their answer have one
  await textMatches(probe(/^Open-relay self-test/), /OK/);
  await textMatches(probe(/^Admin password set/), /OK/);
  await textMatches(probe(/^Admin listener on loopback/), /OK/);
  // after a run nothing reads "Not checked": a probe that could not tell says so
  assert.equal(await probes.filter({ hasText: 'Not checked' }).count(), 0);
  await screenshot(page, '07-checklist-after-run');

  // the dashboard agrees with the checklist: never "All is well" beside a failing item (Node 20's end of life fails one)
  const failing = await probes.filter({ hasText: 'Failing' }).count();
  // and the menu counts what is not ok, from any screen, at once after the run
  const warnings = await probes.filter({ hasText: 'Warning' }).count();
  const menuCount = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Checklist/ }).locator('.count');
  if (failing + warnings === 0) assert.equal(await menuCount.count(), 0);
  else {
    await textMatches(menuCount, new RegExp(`^${failing + warnings}$`));
    assert.match((await menuCount.getAttribute('class')) ?? '', failing ? /tone-critical/ : /tone-warning/);
  }
  await openScreen(page, '#/dashboard', 'Dashboard');
  const alerts = page.getByRole('region', { name: 'Open alerts' });
  // the dashboard counts what the menu counts
  const failingWords = failing === 0 ? '' : failing === 1 ? 'one item of the checklist is failing' : `${failing} items of the checklist are failing`;
  const warnedWords = warnings === 0 ? '' : failing > 0 ? `${warnings === 1 ? 'one more has' : `${warnings} more have`} a warning` : warnings === 1 ? 'one item of the checklist has a warning' : `${warnings} items of the checklist have a warning`;
  if (failing + warnings === 0) await textMatches(alerts, /No open alerts\. All is well\./);
  else {
    await textMatches(alerts, new RegExp(`No open alerts, but ${[failingWords, warnedWords].filter(Boolean).join(', and ')}: see the Checklist\\.`));
    assert.equal(await page.getByText('All is well').count(), 0);
  }
  await openScreen(page, '#/checklist', 'Checklist');

  const tick = page.getByRole('checkbox', { name: MANUAL_ITEM, exact: true });
  assert.equal(await tick.isChecked(), false);
  const item = page.locator('li.manual-item').filter({ has: tick });
  await textMatches(item.locator('.badge'), /^To do$/);
  // the box shows what the relay stored: it turns ticked once checklist.tick has answered, not at the click
  await tick.click();
  await textMatches(item.locator('.badge'), /^Done$/);
  await textMatches(item, /Last done/);
  assert.equal(await tick.isChecked(), true);

  // kept by the relay: a new page shows it ticked
  await page.reload();
  await page.getByRole('checkbox', { name: MANUAL_ITEM, exact: true }).waitFor();
  assert.equal(await page.getByRole('checkbox', { name: MANUAL_ITEM, exact: true }).isChecked(), true);
  assert.deepEqual(errors, []);
});
