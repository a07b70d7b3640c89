// The patch-status checklist against live parts: the open-relay self-test on a real mx listener, the internal
// server's EHLO (with and without AUTH, before and after STARTTLS), and the `moat checklist` commands.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { SMTPServer } from 'smtp-server';
import { generate } from 'selfsigned';
import { Sink, reservePort } from '../helpers/sink.ts';
import { startRelay } from '../helpers/relay.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { heldPort } from '../helpers/held-port.ts';
import { until } from '../helpers/submission.ts';
import { ServeProcess, runCli } from '../helpers/cli.ts';
import { startHost } from '../helpers/admin.ts';
import { closedPort, fakeRspamd, fakeSpamd } from '../helpers/engine-pings.ts';
import { openDatabase } from '../../src-relay/store/db.ts';
import { openRelaySelfTest, relayTricks } from '../../src-relay/monitor/self-test.ts';

const TEST_TIMEOUT_MS = 120_000;
const dirs: string[] = [];
const serves: ServeProcess[] = [];
after(async () => {
  for (const serve of serves) if (serve.running) await serve.stop('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * An SMTP server playing the internal Exchange, AUTH offered or not. Exchange's default receive connector offers
 * AUTH only once the session is encrypted, which smtp-server cannot do (it always lists AUTH): for that case this is a
 * few lines of hand-written SMTP over a real socket, with a real STARTTLS upgrade.
 */
async function internalServer(options: { auth: boolean; starttls: boolean }): Promise<{ port: number; stop: () => Promise<void> }> {
  if (!options.starttls) {
    const server = new SMTPServer({
      logger: false,
      disabledCommands: [...(options.auth ? [] : ['AUTH']), 'STARTTLS'],
      authOptional: true,
      allowInsecureAuth: true,
      onAuth: (_auth, _session, callback) => callback(new Error('no')),
      closeTimeout: 100,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.server.address() as AddressInfo).port, stop: () => new Promise((resolve) => server.close(() => resolve())) };
  }
  const pems = await generate([{ name: 'commonName', value: 'exchange.example.test' }], { keySize: 2048 });
  const sockets = new Set<Socket>();
  const server = createNetServer((plain) => {
    sockets.add(plain);
    const talk = (socket: Socket, secure: boolean) => {
      let buffer = '';
      const onData = (chunk: Buffer) => {
        buffer += chunk.toString('latin1');
        let at: number;
        while ((at = buffer.indexOf('\r\n')) !== -1) {
          const line = buffer.slice(0, at).toUpperCase();
          buffer = buffer.slice(at + 2);
          if (line.startsWith('EHLO')) {
            const features = ['250-exchange.example.test Hello', '250-SIZE 37748736', ...(secure ? [] : ['250-STARTTLS']), ...(secure && options.auth ? ['250-AUTH NTLM LOGIN'] : []), '250 8BITMIME'];
            socket.write(`${features.join('\r\n')}\r\n`);
          } else if (line === 'STARTTLS' && !secure) {
            socket.off('data', onData);
            socket.write('220 2.0.0 SMTP server ready\r\n', () => {
              const tlsSocket = new TLSSocket(socket, { isServer: true, key: pems.private, cert: pems.cert });
              sockets.add(tlsSocket);
              tlsSocket.on('error', () => {});
              talk(tlsSocket, true);
            });
            return;
          } else if (line === 'QUIT') socket.end('221 2.0.0 Bye\r\n');
          else socket.write('250 2.0.0 OK\r\n');
        }
      };
      socket.on('data', onData);
    };
    plain.on('error', () => {});
    plain.write('220 exchange.example.test Microsoft ESMTP MAIL Service ready\r\n');
    talk(plain, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test('the open-relay self-test against a live Moat: every trick refused with 5xx, nothing queued, nothing sent on', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  try {
    const outcome = await openRelaySelfTest({ host: '127.0.0.1', port: relay.port, ourDomain: 'example.test', helo: 'relay.example.test' });
    assert.equal(outcome.status, 'ok', outcome.detail);
    assert.equal(outcome.results.length, relayTricks('example.test').length);
    for (const result of outcome.results) {
      assert.equal(result.refused, 'yes', `${result.trick}: ${result.reply}`);
      assert.match(result.reply, /^5\d\d/);
    }
    assert.deepEqual(outcome.results.map((result) => result.trick), [
      'foreign domain', 'percent hack', 'bang path', 'quoted local part', 'address literal', 'source route', 'two at signs', 'IMCEA encapsulation',
    ]);
    const [probe] = await relay.relay.monitor.runChecklist(['open-relay']);
    assert.equal(probe!.status, 'ok');
    assert.match(probe!.detail, /all 8 relay tricks were refused/);
    assert.equal((relay.relay.queue.store.db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n, 0);
    assert.equal(sink.messages.length, 0);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('the self-test says failing when a trick is accepted, warning on a 4xx, unknown when nothing answers', { timeout: TEST_TIMEOUT_MS }, async () => {
  const open = await Sink.start();
  const soft = await Sink.start({ onRecipient: (address) => (address.includes('%') ? { code: 451, text: '4.7.1 greylisted' } : { code: 550, text: '5.7.1 relay denied' }) });
  try {
    const failing = await openRelaySelfTest({ host: '127.0.0.1', port: open.port, ourDomain: 'example.test', helo: 'relay.example.test' });
    assert.equal(failing.status, 'failing');
    assert.match(failing.detail, /OPEN RELAY/);
    assert.ok(failing.hint);
    assert.equal(open.messages.length, 0, 'no DATA is ever sent');
    const warning = await openRelaySelfTest({ host: '127.0.0.1', port: soft.port, ourDomain: 'example.test', helo: 'relay.example.test' });
    assert.equal(warning.status, 'warning');
    assert.match(warning.detail, /percent hack got only a temporary refusal/);
    const nothing = await openRelaySelfTest({ host: '127.0.0.1', port: await reservePort(), ourDomain: 'example.test', helo: 'relay.example.test' });
    assert.equal(nothing.status, 'unknown');
    assert.match(nothing.detail, /ECONNREFUSED/);
  } finally {
    await open.stop();
    await soft.stop();
  }
});

test('internal server: AUTH offered is a warning (in plain text, or only after STARTTLS), not offered is ok, unreachable is unknown', { timeout: TEST_TIMEOUT_MS }, async () => {
  const cases = [
    { auth: true, starttls: false, tls: 'none', expect: 'warning', detail: /offers SMTP AUTH \(.*\) in plain text/ },
    { auth: true, starttls: true, tls: 'opportunistic', expect: 'warning', detail: /offers SMTP AUTH \(.*\) after STARTTLS/ },
    { auth: false, starttls: true, tls: 'opportunistic', expect: 'ok', detail: /does not offer SMTP AUTH/ },
    { auth: false, starttls: false, tls: 'none', expect: 'ok', detail: /does not offer SMTP AUTH/ },
  ] as const;
  for (const entry of cases) {
    const server = await internalServer(entry);
    const relay = await startRelay(server.port, { internal: { host: '127.0.0.1', port: server.port, tls: entry.tls } });
    try {
      const [probe] = await relay.relay.monitor.runChecklist(['internal-auth']);
      assert.equal(probe!.status, entry.expect, `${JSON.stringify(entry)}: ${probe!.detail}`);
      assert.match(probe!.detail, entry.detail);
    } finally {
      await relay.stop();
      await server.stop();
    }
  }
  const relay = await startRelay(await reservePort());
  try {
    const [probe] = await relay.relay.monitor.runChecklist(['internal-auth']);
    assert.equal(probe!.status, 'unknown');
  } finally {
    await relay.stop();
  }
});

test('results are kept as history; manual items are ticked with a date and fall due again after their review period', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const relay = await startRelay(sink.port);
  const { checklist } = relay.relay.monitor;
  try {
    await relay.relay.monitor.runChecklist(['open-relay', 'backup-age']);
    // a backup written looks at its checklist item again at once: a run of its own between the two
    await relay.relay.backups.runNow();
    await relay.relay.monitor.runChecklist(['open-relay', 'backup-age']);
    assert.deepEqual(checklist.history('backup-age', 10).map((result) => result.status), ['ok', 'ok', 'warning']);
    // (the users' page item is looked at when the relay starts)
    assert.deepEqual(checklist.history(null, 10, true).map((result) => `${result.probe}:${result.status}`).sort(), ['backup-age:ok', 'backup-age:warning', 'open-relay:ok', 'user-page:ok']);
    assert.equal(checklist.history(null, 10, true).filter((result) => result.probe === 'open-relay').length, 1, 'only changes of status');
    assert.equal(checklist.latestOf('backup-age')!.status, 'ok');
    assert.equal(checklist.manual().find((item) => item.id === 'firewall-reviewed')!.state, 'todo');
    assert.ok(checklist.tick('firewall-reviewed', { note: 'with the network team' }));
    const ticked = checklist.manual().find((item) => item.id === 'firewall-reviewed')!;
    assert.equal(ticked.state, 'done');
    assert.equal(ticked.note, 'with the network team');
    const longAgo = Date.now() - 400 * 86400_000;
    checklist.tick('own-dmz', { at: longAgo });
    assert.equal(checklist.manual().find((item) => item.id === 'own-dmz')!.state, 'due');
    assert.equal(checklist.tick('no-such-item'), false);
    // a note alone is not the check done again: the state and the date stay, ticked or not
    assert.ok(checklist.setNote('own-dmz', 'firewall rules exported'));
    assert.ok(checklist.setNote('firewall-reviewed', 'with the network team and the ISP'));
    const afterNotes = new Map(checklist.manual().map((item) => [item.id, item]));
    assert.deepEqual([afterNotes.get('own-dmz')!.state, afterNotes.get('own-dmz')!.tickedAt, afterNotes.get('own-dmz')!.note], ['due', longAgo, 'firewall rules exported']);
    assert.deepEqual([afterNotes.get('firewall-reviewed')!.state, afterNotes.get('firewall-reviewed')!.tickedAt, afterNotes.get('firewall-reviewed')!.note], ['done', ticked.tickedAt, 'with the network team and the ISP']);
    checklist.tick('firewall-reviewed', { done: false });
    assert.ok(checklist.setNote('firewall-reviewed', 'next week'));
    const { state, tickedAt, note } = checklist.manual().find((item) => item.id === 'firewall-reviewed')!;
    assert.deepEqual({ state, tickedAt, note }, { state: 'todo', tickedAt: null, note: 'next week' });
    assert.equal(checklist.setNote('no-such-item', 'x'), false);
  } finally {
    await relay.stop();
    await sink.stop();
  }
});

test('moat checklist: run probes against the running serve, tick items, print the list and the history', { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const dir = tempDir();
  dirs.push(dir);
  try {
    const serve = await ServeProcess.start(['--data-dir', dir, '--domain', 'example.test', '--mx-listen', '127.0.0.1:0', '--internal', `127.0.0.1:${sink.port}`, '--admin-listen', '127.0.0.1:0']);
    serves.push(serve);
    const flags = ['--data-dir', dir, '--domain', 'example.test', '--internal', `127.0.0.1:${sink.port}`];
    const run = await runCli(['checklist', 'run', 'open-relay', 'admin-listener', 'tls-certificate', ...flags]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`OK +open-relay +all 8 relay tricks were refused with 5xx at 127\\.0\\.0\\.1:${serve.port}`));
    assert.match(run.stdout, /OK +admin-listener +bound to 127\.0\.0\.1:\d+ \(loopback only\)/);
    assert.match(run.stdout, /OK +tls-certificate .*self-signed/);
    assert.match(run.stdout, /- +os-updates +not run yet/);
    const tick = await runCli(['checklist', 'tick', 'firewall-reviewed', 'only', '25', 'open', ...flags]);
    assert.equal(tick.code, 0, tick.stderr);
    const show = await runCli(['checklist', ...flags]);
    assert.match(show.stdout, /\[x\] firewall-reviewed +\d{4}-\d\d-\d\d .* — only 25 open/);
    assert.match(show.stdout, /\[ \] own-dmz +never/);
    const ticked = show.stdout.match(/\[x\] firewall-reviewed +(\d{4}-\d\d-\d\d)/)![1];
    const note = await runCli(['checklist', 'note', 'firewall-reviewed', 'and', '587', ...flags]);
    assert.equal(note.code, 0, note.stderr);
    assert.equal(note.stdout, 'firewall-reviewed: note saved\n');
    assert.match((await runCli(['checklist', ...flags])).stdout, new RegExp(`\\[x\\] firewall-reviewed +${ticked} .* — and 587`), 'the note alone changed');
    const untick = await runCli(['checklist', 'untick', 'firewall-reviewed', ...flags]);
    assert.equal(untick.code, 0);
    assert.match((await runCli(['checklist', ...flags])).stdout, /\[ \] firewall-reviewed/);
    const bad = await runCli(['checklist', 'tick', 'nothing', ...flags]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /no manual item "nothing"/);
    assert.match(bad.stderr, /manual items: firewall-reviewed, own-dmz/);
    const history = await runCli(['checklist', 'history', 'open-relay', ...flags]);
    assert.match(history.stdout, /OK +open-relay/);
    assert.equal((await serve.stop()).code, 0);
    const stopped = await runCli(['checklist', 'run', 'open-relay', ...flags]);
    assert.match(stopped.stdout, /UNKNOWN +open-relay +the relay is not running/, 'with serve stopped the self-test cannot tell');
  } finally {
    await sink.stop();
  }
});

test('moat checklist run: the spam-engine probe reports the configured rspamd and spamd answering, and fails for one that does not', { timeout: TEST_TIMEOUT_MS }, async () => {
  const rspamd = await fakeRspamd();
  const spamd = await fakeSpamd();
  const dir = tempDir();
  dirs.push(dir);
  try {
    openDatabase(dir).close();
    const configure = (filters: Record<string, unknown>) =>
      writeFileSync(join(dir, 'moat.json'), JSON.stringify({ domains: ['example.test'], internal: { host: '127.0.0.1', port: 2599 }, filters }));
    configure({ rspamd: { address: rspamd.address }, spamd: { address: spamd.address } });
    const up = await runCli(['checklist', 'run', 'spam-engines', '--data-dir', dir]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, new RegExp(`OK +spam-engines +answering: rspamd at ${rspamd.address}, spamd at ${spamd.address}`));
    const down = await closedPort();
    configure({ rspamd: { address: rspamd.address }, spamd: { address: down } });
    const failing = await runCli(['checklist', 'run', 'spam-engines', '--data-dir', dir]);
    assert.equal(failing.code, 0, failing.stderr);
    assert.match(failing.stdout, new RegExp(`FAILING +spam-engines +not answering: spamd at ${down} \\(.*ECONNREFUSED`));
    assert.match(failing.stdout, /hint: Start the engine .*refused with 451/);
  } finally {
    await rspamd.stop();
    await spamd.stop();
  }
});

test('moat checklist run on a claimed relay says the admin password is set; before the claim it fails', { timeout: TEST_TIMEOUT_MS }, async () => {
  const dir = tempDir();
  dirs.push(dir);
  const world = await startHost({}, { dataDir: dir });
  try {
    const before = await runCli(['checklist', 'run', 'admin-password', '--data-dir', dir]);
    assert.equal(before.code, 0, before.stderr);
    assert.match(before.stdout, /FAILING +admin-password +no admin password is set/);
    await world.admin();
    const after = await runCli(['checklist', 'run', 'admin-password', '--data-dir', dir]);
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stdout, /OK +admin-password +an admin password is set/);
    assert.doesNotMatch(after.stdout, /embedded use/);
  } finally {
    await world.stop();
  }
});

test("the users' quarantine page probe: failing while its address is held by another program (digest links lead nowhere), ok once it listens, ok when it is off", { timeout: TEST_TIMEOUT_MS }, async () => {
  const sink = await Sink.start();
  const blocker = await heldPort();
  const held = await startRelay(sink.port, { quarantine: { userPage: { listen: `127.0.0.1:${blocker.port}` } } }, { userPageRetryBindMs: 200 });
  const shown = () => held.relay.monitor.checklist.latestOf('user-page');
  try {
    // at the start (an Apply too), not at the next scheduled run hours away
    await until('the checklist says so', () => shown()?.status === 'failing');
    assert.equal(shown()!.detail.split(';')[0], `it is not listening on 127.0.0.1:${blocker.port}: another program already listens on 127.0.0.1:${blocker.port} (EADDRINUSE)`);
    assert.match(shown()!.hint!, /quarantine\.userPage\.listen/);
    // and once the page binds, tried again by itself, the checklist follows
    await blocker.release();
    await until('the page listens and the checklist says so', () => shown()?.status === 'ok');
    assert.equal(shown()!.detail, `listening on 127.0.0.1:${blocker.port}`);
  } finally {
    await held.stop();
    await blocker.release();
  }
  const listening = await startRelay(sink.port, { quarantine: { userPage: { listen: '127.0.0.1:0' } } });
  const off = await startRelay(sink.port);
  try {
    const [up] = await listening.relay.monitor.checklist.run(['user-page']);
    assert.equal(up!.status, 'ok');
    assert.equal(up!.detail, `listening on ${listening.relay.userPage!.address}`);
    const [none] = await off.relay.monitor.checklist.run(['user-page']);
    assert.equal(none!.status, 'ok');
    assert.match(none!.detail, /is off/);
  } finally {
    await listening.stop();
    await off.stop();
    await sink.stop();
  }
});
