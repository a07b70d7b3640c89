import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient } from '../../../src-main/admin-client.ts';
import { NotificationPolicy, DEFAULT_NOTIFICATION_CHOICES } from '../../../src-main/notifications.ts';
import { RelayWatch, type RelaySnapshot } from '../../../src-main/relay-watch.ts';
import { trayView, type TrayMenuItem } from '../../../src-main/tray.ts';
import { AdminClient as TestAdminClient, ADMIN_PASSWORD } from '../../helpers/admin.ts';
import { eventually, ServeProcess } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { reservePort } from '../../helpers/sink.ts';
import { message, send } from '../../helpers/smtp.ts';
import { recordingLogger } from './fakes.ts';

/** A real `moat serve` (tsx compiles on the first start) and mail that waits in its queue. */
const LIVE_TEST_TIMEOUT_MS = 120_000;
/** How long the tray may lag the engine: one SSE event (the queue event is throttled to 2 s). */
const LIVE_WAIT_MS = 20_000;
/** "moat ready mx=127.0.0.1:40123 admin=127.0.0.1:40124 data-dir=..." */
const READY_ADMIN = /^moat ready mx=\S+ .*?admin=(\S+) /m;

const label = (items: TrayMenuItem[], prefix: string) => items.find((item): item is Extract<TrayMenuItem, { type: 'item' }> => item.type === 'item' && item.label.startsWith(prefix))?.label;

test('the tray\'s queue figures and pause/resume follow the same queue.summary the dashboard reads, live, whichever side pauses', { timeout: LIVE_TEST_TIMEOUT_MS }, async () => {
  const dataDir = tempDir('moat-tray-live-');
  // the internal server is a closed port: mail stays in the queue, deferred
  const deadPort = await reservePort();
  writeFileSync(join(dataDir, 'moat.json'), JSON.stringify({ hostname: 'relay.example.test', domains: ['example.test'], mx: { listen: '127.0.0.1:0' }, internal: { host: '127.0.0.1', port: deadPort, tls: 'none' }, filters: { enabled: false }, shutdownGraceSec: 1 }));
  const serve = await ServeProcess.start(['--data-dir', dataDir, '--admin-listen', '127.0.0.1:0']);
  let watch: RelayWatch | null = null;
  try {
    const admin = READY_ADMIN.exec(serve.stdout)?.[1];
    assert.ok(admin, serve.stdout);
    const base = `http://${admin}`;
    // the dashboard's side: the browser's client, logged in as the admin
    const dashboard = new TestAdminClient(base);
    await dashboard.call('auth.setup', { token: readFileSync(join(dataDir, 'setup-token'), 'utf8').trim(), password: ADMIN_PASSWORD });
    // the tray's side: main's RelayWatch over its own AdminClient (an attached relay logs in with the password)
    let snapshot: RelaySnapshot | null = null;
    watch = new RelayWatch({
      client: new AdminClient({ baseUrl: base, auth: { kind: 'password', password: ADMIN_PASSWORD } }),
      policy: new NotificationPolicy(() => DEFAULT_NOTIFICATION_CHOICES),
      logger: recordingLogger().logger,
      onChange: (next) => (snapshot = next),
      onNotify: () => {},
    });
    watch.start();
    const tray = () => {
      const now = Date.now();
      return trayView({ alertHealth: 'ok', openAlerts: 0, queue: snapshot?.queue ?? null, relay: { state: 'running', mode: 'attach', address: base }, engine: snapshot?.engine ?? null, now }).items;
    };
    /** Waits until the tray's summary is the one the dashboard reads now. */
    const agree = async (what: string) =>
      eventually(async () => {
        const read = await dashboard.call('queue.summary', {});
        return snapshot?.queue && JSON.stringify(snapshot.queue) === JSON.stringify(read) ? read : null;
      }, LIVE_WAIT_MS, what);

    const empty = await agree('the first read');
    assert.equal(empty.size, 0);
    assert.equal(label(tray(), 'Queue:'), 'Queue: empty');

    await send(serve.port, 'someone@elsewhere.test', ['alice@example.test'], message('waits'));
    await send(serve.port, 'someone@elsewhere.test', ['bob@example.test'], message('waits too'));
    const queued = await eventually(async () => {
      const read = await agree('two queued');
      return read.size === 2 ? read : null;
    }, LIVE_WAIT_MS, 'both messages in the queue');
    assert.match(label(tray(), 'Queue:') ?? '', /^Queue: 2 messages, oldest \d+ s$/);
    assert.equal(queued.queueHeld, false);
    assert.ok(label(tray(), 'Pause delivery'), 'the tray offers to pause');

    // paused from the dashboard: the tray offers Resume
    await dashboard.call('queue.holdAll', {});
    const paused = await eventually(async () => {
      const read = await agree('paused from the dashboard');
      return read.queueHeld ? read : null;
    }, LIVE_WAIT_MS, 'the tray sees the pause');
    assert.equal(paused.size, 2);
    assert.match(label(tray(), 'Queue:') ?? '', /delivery paused$/);
    assert.ok(label(tray(), 'Resume delivery'));

    // resumed from the tray: the dashboard reads it resumed; a message held on its own meanwhile stays held
    const listed = await dashboard.call('queue.list', { limit: 10 });
    const one = listed.rows[0]!.id;
    await dashboard.call('queue.act', { action: 'hold', ids: [one] });
    const resumed = await watch.holdQueue(false);
    assert.equal(resumed.ok, true);
    const read = await agree('resumed from the tray');
    assert.equal(read.queueHeld, false);
    assert.equal(read.held, 1, 'Resume lifts the pause, not the hold of a message held on its own');
    assert.ok(label(tray(), 'Pause delivery'));
  } finally {
    watch?.stop();
    if (serve.running) await serve.stop('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
