/**
 * The hash routes. The desktop shell opens these from notifications, and the page is served from two origins
 * (the admin listener and app://moat/), so the route lives after "#" only: "#/queue?id=ABC123".
 */

export const SCREENS = ['dashboard', 'queue', 'quarantine', 'checklist', 'tracking', 'statistics', 'settings', 'setup'] as const;
export type Screen = (typeof SCREENS)[number];

export const SETTINGS_TABS = ['config', 'accounts', 'senders', 'backups', 'password', 'desktop'] as const;
export type SettingsTab = (typeof SETTINGS_TABS)[number];

export interface Route {
  screen: Screen;
  /** The part after the screen ("accounts" in #/settings/accounts), or null. */
  sub: string | null;
  params: Record<string, string>;
}

export const DEFAULT_ROUTE: Route = { screen: 'dashboard', sub: null, params: {} };

/** "#/settings/accounts?x=1" -> { screen: 'settings', sub: 'accounts', params: { x: '1' } }; anything unknown is the dashboard. */
export function parseHash(hash: string): Route {
  const text = hash.replace(/^#/, '');
  const queryAt = text.indexOf('?');
  const path = queryAt === -1 ? text : text.slice(0, queryAt);
  const query = queryAt === -1 ? '' : text.slice(queryAt + 1);
  const parts = path.split('/').filter(Boolean);
  const screen = parts[0];
  if (!screen || !(SCREENS as readonly string[]).includes(screen)) return { ...DEFAULT_ROUTE, params: {} };
  const params: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(query)) params[key] = value;
  return { screen: screen as Screen, sub: parts[1] ? safeDecode(parts[1]) : null, params };
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** The inverse of parseHash. */
export function formatHash(route: { screen: Screen; sub?: string | null; params?: Record<string, string | undefined> }): string {
  let hash = `#/${route.screen}`;
  if (route.sub) hash += `/${encodeURIComponent(route.sub)}`;
  const entries = Object.entries(route.params ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '');
  if (entries.length) hash += `?${new URLSearchParams(entries).toString()}`;
  return hash;
}

/** The settings tab a route shows ("#/settings" is the configuration). */
export function settingsTab(route: Route): SettingsTab {
  return route.sub && (SETTINGS_TABS as readonly string[]).includes(route.sub) ? (route.sub as SettingsTab) : 'config';
}
