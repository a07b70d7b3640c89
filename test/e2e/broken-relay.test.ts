import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { AdminClient } from '../helpers/admin.ts';
import { ServeProcess } from '../helpers/cli.ts';
import type { Locator, Page } from 'playwright-core';
import { ADMIN_PASSWORD, e2eTest, heading, logIn, screenshot, textMatches, type World } from './world.ts';

// A broken state (STYLE habit 18): a configuration whose listener cannot bind. The relay keeps its admin page up,
// says why the engine is not running, and the screens show errors instead of crashing or spinning.
e2eTest('a relay that cannot start says why on every screen, and stays manageable', async (world) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as AddressInfo).port;
  try {
    const sink = await world.sink();
    writeFileSync(
      join(world.dataDir, 'moat.json'),
      JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, mx: { listen: `127.0.0.1:${taken}` } }),
    );
    const serve = await ServeProcess.startForSetup(['--data-dir', world.dataDir, '--admin-listen', '127.0.0.1:0']);
    try {
      assert.match(serve.stdout, /state=failed/);
      assert.match(serve.stderr, /EADDRINUSE/);
      const base = `http://${serve.admin}`;
      await new AdminClient(base).call('auth.setup', { token: serve.setupToken, password: ADMIN_PASSWORD });

      const { page, errors } = await world.page();
      await logIn(page, base);
      const banner = page.getByRole('alert').filter({ hasText: 'The relay is not running.' });
      await textMatches(banner, /EADDRINUSE/);
      await screenshot(page, '40-broken-dashboard');
      await page.evaluate('window.location.hash = "#/queue"');
      await heading(page, 'Queue').waitFor();
      await textMatches(page.locator('main'), /relay is not running/i);
      await screenshot(page, '40-broken-queue');
      assert.deepEqual(errors, []);
    } finally {
      await serve.stop();
    }
  } finally {
    blocker.close();
  }
});

// The relay stopped while its dashboard is open: what the page shows is from before, and it must say so, not go on
// with "Running for …" and "All is well".
/** A configured `moat serve`, claimed, with its dashboard open and saying the relay runs. */
async function dashboardOfServe(world: World): Promise<{ serve: ServeProcess; page: Page; topbar: Locator }> {
  const sink = await world.sink();
  writeFileSync(join(world.dataDir, 'moat.json'), JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: sink.port, tls: 'none' }, mx: { listen: '127.0.0.1:0' } }));
  const serve = await ServeProcess.startForSetup(['--data-dir', world.dataDir, '--admin-listen', '127.0.0.1:0']);
  try {
    const base = `http://${serve.admin}`;
    await new AdminClient(base).call('auth.setup', { token: serve.setupToken, password: ADMIN_PASSWORD });
    const { page } = await world.page();
    await logIn(page, base);
    const topbar = page.locator('header.topbar');
    await textMatches(topbar, /Relay: Running/);
    await textMatches(page.locator('main'), /All is well/);
    return { serve, page, topbar };
  } catch (error) {
    await serve.stop();
    throw error;
  }
}

e2eTest('a relay that stops answering while its dashboard is open is shown as not answering, not as running and well', async (world) => {
  const { serve, page, topbar } = await dashboardOfServe(world);
  let stopped = false;
  try {

    await serve.stop();
    stopped = true;
    await textMatches(topbar, /Relay: Not answering/);
    const banner = page.getByRole('alert').filter({ hasText: 'The relay does not answer' });
    await textMatches(banner, /may be out of date/);
    const main = await page.locator('main').innerText();
    assert.doesNotMatch(main, /All is well/);
    assert.doesNotMatch(main, /Running for/);
    assert.match(main, /Not answering/);
    await screenshot(page, '41-relay-not-answering');
  } finally {
    if (!stopped) await serve.stop();
  }
});

// A hung relay (stopped with SIGSTOP: its connections stay open, nothing is answered) is told by the live stream's
// silence: the relay's heartbeat comes every 10 s, and a page that hears nothing for 30 s takes the relay for hung.
e2eTest('a relay that hangs while its dashboard is open is shown as not answering, and as running again once it goes on', async (world) => {
  const { serve, page, topbar } = await dashboardOfServe(world);
  try {
    serve.child.kill('SIGSTOP');
    // up to 30 s of silence, then 10 s without a stream
    await topbar.filter({ hasText: 'Relay: Not answering' }).waitFor({ timeout: 60_000 });
    await textMatches(page.getByRole('alert').filter({ hasText: 'The relay does not answer' }), /may be out of date/);
    assert.doesNotMatch(await page.locator('main').innerText(), /All is well|Running for/);
    await screenshot(page, '41-relay-hung');

    serve.child.kill('SIGCONT');
    await topbar.filter({ hasText: 'Relay: Running' }).waitFor({ timeout: 30_000 });
    await textMatches(page.locator('main'), /All is well/);
  } finally {
    serve.child.kill('SIGCONT');
    await serve.stop();
  }
});
