import { z } from 'zod';
import type { Logger } from '../src-relay/log/logger.ts';
import { managedRelaySchema } from './attach.ts';
import type { CloseAction, DesktopPreferences, ManagedRelay, NotificationChoices } from './bridge.ts';
import { DEFAULT_NOTIFICATION_CHOICES } from './notifications.ts';

/**
 * Desktop preferences, kept with electron-store (a JSON file in the app's user-data folder). Each key is read
 * through its zod schema on its own, so one bad value (hand edit, older version) falls back to its default and
 * the others survive; a file that is not JSON at all is moved aside and a fresh one started.
 */

export const boundsSchema = z.strictObject({
  x: z.number().int().optional(),
  y: z.number().int().optional(),
  width: z.number().int().min(200).max(20_000),
  height: z.number().int().min(150).max(20_000),
  maximized: z.boolean(),
});

export type WindowBounds = z.infer<typeof boundsSchema>;

const MAX_MUTED_RULES = 100;

export const notificationChoicesSchema = z.strictObject({
  enabled: z.boolean(),
  notifyOnClear: z.boolean(),
  minSeverity: z.enum(['warning', 'critical']),
  mutedRules: z.array(z.string().min(1).max(100).regex(/^[a-z0-9-]+$/, 'a rule id like queue-age')).max(MAX_MUTED_RULES),
});

/** An encrypted password (safeStorage) is base64 text; bigger than this is not one of ours. */
const MAX_SEALED_PASSWORD_CHARS = 8192;

export const PREFERENCE_SCHEMAS = {
  windowBounds: boundsSchema.nullable(),
  notifications: notificationChoicesSchema,
  startAtLogin: z.boolean(),
  closeAction: z.enum(['tray', 'quit']),
  managedRelay: managedRelaySchema,
  /** The attached relay's password, encrypted with the OS keychain (safeStorage), base64. */
  attachPassword: z.string().max(MAX_SEALED_PASSWORD_CHARS).nullable(),
};

export interface Preferences {
  windowBounds: WindowBounds | null;
  notifications: NotificationChoices;
  startAtLogin: boolean;
  closeAction: CloseAction;
  managedRelay: ManagedRelay;
  attachPassword: string | null;
}

export type PreferenceKey = keyof Preferences;

/** The part of electron-store that preferences use (a Map-like store in tests). */
export interface KeyValueStore {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

export function defaultPreferences(defaultDataDir: string): Preferences {
  return {
    windowBounds: null,
    notifications: { ...DEFAULT_NOTIFICATION_CHOICES, mutedRules: [] },
    startAtLogin: false,
    closeAction: 'tray',
    managedRelay: { mode: 'host', dataDir: defaultDataDir },
    attachPassword: null,
  };
}

/**
 * Reads every preference; a stored value its schema refuses is replaced by the default (written back) and its
 * key reported in `recovered`, so the app starts and can say what it reset.
 */
export function readPreferences(store: KeyValueStore, defaults: Preferences, logger: Logger): { preferences: Preferences; recovered: PreferenceKey[] } {
  const preferences = { ...defaults };
  const recovered: PreferenceKey[] = [];
  for (const key of Object.keys(PREFERENCE_SCHEMAS) as PreferenceKey[]) {
    const raw = store.get(key);
    if (raw === undefined) continue;
    const parsed = PREFERENCE_SCHEMAS[key].safeParse(raw);
    if (parsed.success) {
      (preferences as Record<PreferenceKey, unknown>)[key] = parsed.data;
      continue;
    }
    logger.warn({ key, error: parsed.error.issues[0]?.message }, 'PREFERENCE_RESET');
    recovered.push(key);
    store.set(key, defaults[key]);
  }
  return { preferences, recovered };
}

/** Validates and stores one preference; returns false (and stores nothing) when the value is refused. */
export function writePreference<K extends PreferenceKey>(store: KeyValueStore, key: K, value: Preferences[K]): boolean {
  const parsed = PREFERENCE_SCHEMAS[key].safeParse(value);
  if (!parsed.success) return false;
  store.set(key, parsed.data);
  return true;
}

/** The preferences as the renderer may see them. */
export function publicPreferences(preferences: Preferences, recovered: readonly string[]): DesktopPreferences {
  return {
    notifications: preferences.notifications,
    startAtLogin: preferences.startAtLogin,
    closeAction: preferences.closeAction,
    managedRelay: preferences.managedRelay,
    attachPasswordSaved: preferences.attachPassword !== null,
    recovered: [...recovered],
  };
}

export interface OpenStoreOptions<S extends KeyValueStore> {
  /** Creates the store (electron-store's constructor); throws when its file is not JSON. */
  create: () => S;
  /** The store's file, for moving a broken one aside. */
  path: string;
  rename: (from: string, to: string) => void;
  clock?: () => number;
  logger: Logger;
}

/** Opens the store; a file that cannot be read is renamed to `<file>.corrupt-<time>` (kept to look at) and a new one made. */
export function openPreferenceStore<S extends KeyValueStore>(options: OpenStoreOptions<S>): { store: S; movedAside: string | null } {
  try {
    return { store: options.create(), movedAside: null };
  } catch (error) {
    const aside = `${options.path}.corrupt-${(options.clock ?? Date.now)()}`;
    options.logger.error({ file: options.path, movedTo: aside, error: (error as Error).message }, 'PREFERENCES_UNREADABLE');
    options.rename(options.path, aside);
    return { store: options.create(), movedAside: aside };
  }
}
