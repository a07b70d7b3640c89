import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IPC_CHANNELS, type DesktopPreferences, type RelayStatus } from '../../../src-main/bridge.ts';
import { IPC_INPUTS, createIpcHandlers, type IpcEffects } from '../../../src-main/ipc.ts';

const prefs: DesktopPreferences = {
  notifications: { enabled: true, notifyOnClear: true, minSeverity: 'warning', mutedRules: [] },
  startAtLogin: false,
  closeAction: 'tray',
  managedRelay: { mode: 'host', dataDir: '/home/admin/.config/Moat/relay' },
  attachPasswordSaved: false,
  recovered: [],
};
const status: RelayStatus = { state: 'running', mode: 'host', address: '127.0.0.1:40001' };
const trusted = { senderFrame: { url: 'app://moat/index.html#/settings', parent: null } };

/** Effects that record their calls; the test fails if one runs when it must not. */
function effects(calls: unknown[][] = []): IpcEffects {
  return {
    getPreferences: () => (calls.push(['getPreferences']), prefs),
    setNotificationChoices: (choices) => (calls.push(['setNotificationChoices', choices]), prefs),
    setStartAtLogin: (enabled) => (calls.push(['setStartAtLogin', enabled]), prefs),
    setCloseAction: (action) => (calls.push(['setCloseAction', action]), prefs),
    chooseManagedRelay: (choice) => (calls.push(['chooseManagedRelay', choice]), prefs),
    testAttach: (input) => (calls.push(['testAttach', input]), Promise.resolve({ reachable: true as const, hostname: 'mx', version: '0.1.0', state: 'running' })),
    showSampleNotification: () => (calls.push(['showSampleNotification']), null),
    getRelayStatus: () => (calls.push(['getRelayStatus']), status),
    retryRelay: () => (calls.push(['retryRelay']), status),
  };
}

const mustNotRun: IpcEffects = new Proxy({} as IpcEffects, {
  get: (_target, name) => () => assert.fail(`effect ${String(name)} ran`),
});

test('every bridge method has a channel and an input schema', () => {
  const handlers = createIpcHandlers(effects());
  assert.deepEqual(Object.keys(handlers).sort(), Object.keys(IPC_INPUTS).map((method) => IPC_CHANNELS[method as keyof typeof IPC_INPUTS]).sort());
});

test('a valid call from the app\'s page runs its effect with the parsed input', async () => {
  const calls: unknown[][] = [];
  const handlers = createIpcHandlers(effects(calls));
  const choices = { enabled: true, notifyOnClear: false, minSeverity: 'critical', mutedRules: ['backup-age'] };
  assert.deepEqual(await handlers[IPC_CHANNELS.setNotificationChoices]!(trusted, choices), { ok: true, result: prefs });
  assert.deepEqual(await handlers[IPC_CHANNELS.getRelayStatus]!(trusted, undefined), { ok: true, result: status });
  assert.deepEqual(calls, [['setNotificationChoices', choices], ['getRelayStatus']]);
});

test('a call from another page or an iframe is refused before anything runs', async () => {
  const handlers = createIpcHandlers(mustNotRun);
  for (const senderFrame of [{ url: 'https://evil.example/', parent: null }, { url: 'app://moat/index.html', parent: {} }, null]) {
    const result = await handlers[IPC_CHANNELS.setStartAtLogin]!({ senderFrame }, true);
    assert.equal(result.ok, false);
    if (!result.ok) assert.equal(result.code, 'FORBIDDEN');
  }
});

test('invalid inputs are refused with the field that is wrong', async () => {
  const handlers = createIpcHandlers(mustNotRun);
  const cases: [string, unknown, RegExp][] = [
    [IPC_CHANNELS.setStartAtLogin, 'yes', /input/],
    [IPC_CHANNELS.setNotificationChoices, { enabled: true }, /notifyOnClear/],
    [IPC_CHANNELS.setNotificationChoices, { enabled: true, notifyOnClear: true, minSeverity: 'warning', mutedRules: ['../etc'] }, /mutedRules/],
    [IPC_CHANNELS.setNotificationChoices, { enabled: true, notifyOnClear: true, minSeverity: 'warning', mutedRules: [], extra: 1 }, /extra|Unrecognized/i],
    [IPC_CHANNELS.chooseManagedRelay, { mode: 'attach', url: 'http://relay.example.org:8025' }, /plain http/],
    [IPC_CHANNELS.chooseManagedRelay, { mode: 'attach', url: 'https://admin:pw@relay.example.org' }, /user name or password/],
    [IPC_CHANNELS.chooseManagedRelay, { mode: 'host', dataDir: 'relative/dir' }, /absolute/],
    [IPC_CHANNELS.chooseManagedRelay, { mode: 'shell', command: 'rm -rf /' }, /mode/],
    [IPC_CHANNELS.chooseManagedRelay, { mode: 'attach', url: 'https://relay.example.org', password: 'x'.repeat(5000) }, /password/],
    [IPC_CHANNELS.getPreferences, { anything: true }, /input/],
    [IPC_CHANNELS.testAttach, { url: 'http://relay.example.org:8025', password: 'pw' }, /plain http/],
    [IPC_CHANNELS.testAttach, { url: 'https://relay.example.org', password: 'pw', mode: 'attach' }, /mode|Unrecognized/i],
    [IPC_CHANNELS.showSampleNotification, { title: 'spoofed' }, /input/],
    [IPC_CHANNELS.setCloseAction, 'exit', /input|Invalid option/i],
  ];
  for (const [channel, input, message] of cases) {
    const result = await handlers[channel]!(trusted, input);
    assert.equal(result.ok, false, `${channel} ${JSON.stringify(input).slice(0, 60)}`);
    if (!result.ok) {
      assert.equal(result.code, 'INVALID_INPUT');
      assert.match(result.message, message);
    }
  }
});

test('an effect that throws answers INTERNAL, without its stack, and is reported', async () => {
  const reported: string[] = [];
  const handlers = createIpcHandlers(
    {
      ...effects(),
      retryRelay: () => {
        throw new Error('secret detail /home/admin');
      },
    },
    (method, error) => reported.push(`${method}: ${error.message}`),
  );
  const result = await handlers[IPC_CHANNELS.retryRelay]!(trusted, undefined);
  assert.equal(result.ok, false);
  if (!result.ok) {
    assert.equal(result.code, 'INTERNAL');
    assert.doesNotMatch(result.message, /secret detail/);
  }
  assert.deepEqual(reported, ['retryRelay: secret detail /home/admin']);
});

test('an attach URL is stored as its origin', async () => {
  const calls: unknown[][] = [];
  const handlers = createIpcHandlers(effects(calls));
  await handlers[IPC_CHANNELS.chooseManagedRelay]!(trusted, { mode: 'attach', url: 'https://Relay.Example.org:8025/', password: 'correct horse battery' });
  assert.deepEqual(calls, [['chooseManagedRelay', { mode: 'attach', url: 'https://relay.example.org:8025', password: 'correct horse battery' }]]);
});

test('the preload exposes one narrow object, typed by the bridge, and never ipcRenderer itself', async () => {
  const { readFileSync } = await import('node:fs');
  const source = readFileSync(new URL('../../../src-main/preload.ts', import.meta.url), 'utf8');
  const exposed = [...source.matchAll(/exposeInMainWorld\(([^)]*)\)/g)].map((match) => match[1]);
  assert.deepEqual(exposed, ["'moat', bridge"]);
  assert.match(source, /} satisfies MoatBridge;/);
  const methods = [...source.matchAll(/^ {2}(\w+): /gm)].map((match) => match[1]).sort();
  assert.deepEqual(methods, [...Object.keys(IPC_INPUTS), 'onNavigate', 'onRelayStatus'].sort());
  const code = source
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^import .*$/gm, '')
    .replace(/ipcRenderer\.(invoke|on|removeListener)\(/g, '');
  assert.doesNotMatch(code, /ipcRenderer/, 'ipcRenderer is only called, never handed out');
});
