import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultPreferences, openPreferenceStore, publicPreferences, readPreferences, writePreference, type KeyValueStore } from '../../../src-main/preferences.ts';
import { recordingLogger } from './fakes.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const DEFAULT_DIR = '/home/admin/.config/Moat/relay';

function mapStore(values: Record<string, unknown>): KeyValueStore & { values: Map<string, unknown> } {
  const map = new Map(Object.entries(values));
  return { values: map, get: (key) => map.get(key), set: (key, value) => void map.set(key, value) };
}

/** A JSON file store that fails to open on a file that is not JSON, as electron-store does. */
class FileStore implements KeyValueStore {
  private data: Record<string, unknown>;
  constructor(private readonly path: string) {
    this.data = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>) : {};
  }
  get(key: string): unknown {
    return this.data[key];
  }
  set(key: string, value: unknown): void {
    this.data[key] = value;
    writeFileSync(this.path, JSON.stringify(this.data));
  }
}

test('an empty store gives the defaults: host a relay in the app\'s own folder, notify everything', () => {
  const { logger } = recordingLogger();
  const { preferences, recovered } = readPreferences(mapStore({}), defaultPreferences(DEFAULT_DIR), logger);
  assert.deepEqual(preferences.managedRelay, { mode: 'host', dataDir: DEFAULT_DIR });
  assert.deepEqual(preferences.notifications, { enabled: true, notifyOnClear: true, minSeverity: 'warning', mutedRules: [] });
  assert.equal(preferences.startAtLogin, false);
  assert.equal(preferences.windowBounds, null);
  assert.deepEqual(recovered, []);
});

test('valid stored values are read back', () => {
  const { logger } = recordingLogger();
  const store = mapStore({
    windowBounds: { x: 10, y: 20, width: 1000, height: 700, maximized: false },
    notifications: { enabled: false, notifyOnClear: true, minSeverity: 'critical', mutedRules: ['backup-age'] },
    startAtLogin: true,
    managedRelay: { mode: 'attach', url: 'https://relay.example.org:8025', user: 'admin' },
  });
  const { preferences, recovered } = readPreferences(store, defaultPreferences(DEFAULT_DIR), logger);
  assert.deepEqual(recovered, []);
  assert.equal(preferences.startAtLogin, true);
  assert.deepEqual(preferences.managedRelay, { mode: 'attach', url: 'https://relay.example.org:8025', user: 'admin' });
  assert.equal(preferences.notifications.minSeverity, 'critical');
});

test('a corrupt value falls back to its default, is written back, and the other values survive', () => {
  const { logger, lines } = recordingLogger();
  const store = mapStore({
    startAtLogin: 'yes',
    notifications: { enabled: true },
    managedRelay: { mode: 'attach', url: 'http://relay.example.org' },
    windowBounds: { x: 10, y: 20, width: 1000, height: 700, maximized: true },
  });
  const defaults = defaultPreferences(DEFAULT_DIR);
  const { preferences, recovered } = readPreferences(store, defaults, logger);
  assert.deepEqual(recovered.sort(), ['managedRelay', 'notifications', 'startAtLogin']);
  assert.equal(preferences.startAtLogin, false);
  assert.deepEqual(preferences.managedRelay, { mode: 'host', dataDir: DEFAULT_DIR });
  assert.equal(preferences.windowBounds?.maximized, true, 'a good value next to bad ones is kept');
  assert.equal(store.values.get('startAtLogin'), false, 'repaired in the store');
  assert.deepEqual(store.values.get('managedRelay'), defaults.managedRelay);
  assert.equal(lines.filter((line) => line === 'PREFERENCE_RESET').length, 3);
});

test('the renderer sees which preferences were reset, never the stored password', () => {
  const { logger } = recordingLogger();
  const { preferences, recovered } = readPreferences(mapStore({ attachPassword: 'c2VhbGVk', startAtLogin: 3 }), defaultPreferences(DEFAULT_DIR), logger);
  const visible = publicPreferences(preferences, recovered);
  assert.deepEqual(visible.recovered, ['startAtLogin']);
  assert.equal(visible.attachPasswordSaved, true);
  assert.doesNotMatch(JSON.stringify(visible), /c2VhbGVk/);
});

test('a value its schema refuses is not written', () => {
  const store = mapStore({});
  assert.equal(writePreference(store, 'managedRelay', { mode: 'host', dataDir: 'relative' }), false);
  assert.equal(store.values.has('managedRelay'), false);
  assert.equal(writePreference(store, 'managedRelay', { mode: 'host', dataDir: '/srv/moat' }), true);
  assert.deepEqual(store.values.get('managedRelay'), { mode: 'host', dataDir: '/srv/moat' });
});

test('a preferences file that is not JSON is moved aside and a fresh one started', () => {
  const dir = tempDir('moat-prefs-');
  const path = join(dir, 'preferences.json');
  writeFileSync(path, '{"startAtLogin": tru');
  const { logger, lines } = recordingLogger();
  const { store, movedAside } = openPreferenceStore({ create: () => new FileStore(path), path, rename: renameSync, clock: () => 1234, logger });
  assert.equal(movedAside, `${path}.corrupt-1234`);
  assert.equal(readFileSync(movedAside!, 'utf8'), '{"startAtLogin": tru', 'kept to look at');
  assert.equal(store.get('startAtLogin'), undefined);
  store.set('startAtLogin', true);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { startAtLogin: true });
  assert.deepEqual(readdirSync(dir).sort(), ['preferences.json', 'preferences.json.corrupt-1234']);
  assert.deepEqual(lines, ['PREFERENCES_UNREADABLE']);
});

test('a readable preferences file is opened as it is', () => {
  const dir = tempDir('moat-prefs-');
  const path = join(dir, 'preferences.json');
  writeFileSync(path, '{"startAtLogin": true}');
  const { logger } = recordingLogger();
  const { store, movedAside } = openPreferenceStore({ create: () => new FileStore(path), path, rename: () => assert.fail('nothing to move'), logger });
  assert.equal(movedAside, null);
  assert.equal(store.get('startAtLogin'), true);
});

test('what closing the window does is read back, and an unknown value falls back to keeping the tray', () => {
  const { logger } = recordingLogger();
  assert.equal(readPreferences(mapStore({}), defaultPreferences(DEFAULT_DIR), logger).preferences.closeAction, 'tray');
  assert.equal(readPreferences(mapStore({ closeAction: 'quit' }), defaultPreferences(DEFAULT_DIR), logger).preferences.closeAction, 'quit');
  const store = mapStore({ closeAction: 'shutdown' });
  const { preferences, recovered } = readPreferences(store, defaultPreferences(DEFAULT_DIR), logger);
  assert.equal(preferences.closeAction, 'tray');
  assert.deepEqual(recovered, ['closeAction']);
  assert.equal(store.values.get('closeAction'), 'tray', 'written back');
  assert.equal(publicPreferences(preferences, recovered).closeAction, 'tray');
});
