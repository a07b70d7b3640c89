import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { message, send } from '../helpers/smtp.ts';
import { reservePort } from '../helpers/sink.ts';
import { e2eTest, logIn, screenshot, textMatches } from './world.ts';

/** A TCP hop between the browser and the admin listener that can drop every connection and refuse new ones: a network blip. */
async function cuttableHop(target: string): Promise<{ base: string; cut(): void; mend(): void; close(): Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const open = new Set<Socket>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) return client.destroy();
    const upstream = connect(port, host);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as { port: number };
  return {
    base: `http://127.0.0.1:${address.port}`,
    cut() {
      refusing = true;
      for (const socket of open) socket.destroy();
    },
    mend() {
      refusing = false;
    },
    async close() {
      for (const socket of open) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

e2eTest('after the live updates were cut, the dashboard reads its figures again once they are back: mail received meanwhile is counted', async (world) => {
  const relay = await world.serveConfigured({
    domains: ['example.test'],
    internal: { host: '127.0.0.1', port: await reservePort(), tls: 'none' },
    queue: { retryIntervalsSec: [3600] },
    filters: { enabled: false },
  });
  await world.claim(relay);
  const hop = await cuttableHop(new URL(relay.base).host);
  try {
    const { page, errors } = await world.page();
    await logIn(page, hop.base);
    const received = page.locator('.figures > div').filter({ hasText: 'Received from the internet' }).locator('dd');
    await textMatches(received, /^0$/);
    // the Throughput chart's total for the same minutes
    const charted = page.locator('.legend-item').filter({ hasText: /^Received/ }).locator('.legend-total').first();
    // live: a message counts at once while the stream is up, on the card and the chart alike
    await send(relay.mxPort, 'anna@sender.test', ['bob@example.test'], message('while live'));
    await textMatches(received, /^1$/);
    await textMatches(charted, /^1$/);

    hop.cut();
    await send(relay.mxPort, 'bert@sender.test', ['bob@example.test'], message('while cut'));
    // nothing can tell the page of it now
    await sleep(1500);
    assert.equal(await received.textContent(), '1');

    hop.mend();
    // no further mail: only the stream coming back may bring the new figure
    await textMatches(received, /^2$/);
    await textMatches(charted, /^2$/);
    await screenshot(page, '04-dashboard-after-reconnect');
    assert.deepEqual(errors.filter((error) => !/ERR_CONNECTION|Failed to load resource|net::/.test(error)), []);
  } finally {
    await hop.close();
  }
});
