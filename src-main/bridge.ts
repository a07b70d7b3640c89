/**
 * What the preload exposes to the renderer as `window.moat`, written once (STYLE habit 2). The renderer imports
 * these types only; main validates every input again (ipc.ts), since a compromised page can send anything.
 * This file imports nothing, so the web tsconfig can include it.
 */

/** Every failure that crosses IPC: a stable code and readable words (STYLE habit 5). */
export const IPC_ERRORS = {
  FORBIDDEN: "the request did not come from the app's own page",
  INVALID_INPUT: 'the request was not understood (see the message for the field)',
  UNAVAILABLE: 'the relay is not reachable right now',
  INTERNAL: 'something went wrong in the desktop app (see its log)',
} as const;

export type IpcErrorCode = keyof typeof IPC_ERRORS;

export type BridgeResult<T> = { ok: true; result: T } | { ok: false; code: IpcErrorCode; message: string };

export type Severity = 'warning' | 'critical';

/** The relay's health as the tray shows it: any critical alert open is `alert`, any warning is `warning`. */
export type Health = 'ok' | 'warning' | 'alert';

export interface NotificationChoices {
  /** Show desktop notifications at all. */
  enabled: boolean;
  /** Also tell when an alert clears. */
  notifyOnClear: boolean;
  /** Alerts below this severity stay in the dashboard and the tray only. */
  minSeverity: Severity;
  /** Alert rules (e.g. `backup-age`) that never raise a notification. */
  mutedRules: string[];
}

/** What closing the window does: hide it to the tray (a hosted relay keeps running) or quit the app. */
export type CloseAction = 'tray' | 'quit';

/** Which relay the app manages: one it hosts itself, or one already running as a service (a URL). */
export type ManagedRelay = { mode: 'host'; dataDir: string } | { mode: 'attach'; url: string; user?: string };

/** What the renderer may ask for; the password is kept encrypted by main and never returned. */
export type ManagedRelayChoice =
  | { mode: 'host'; dataDir?: string }
  | { mode: 'attach'; url: string; user?: string; password?: string };

/** The preferences as the renderer sees them (window bounds and the stored password stay in main). */
export interface DesktopPreferences {
  notifications: NotificationChoices;
  startAtLogin: boolean;
  closeAction: CloseAction;
  managedRelay: ManagedRelay;
  /** Whether a password for the attached relay is stored (encrypted with the OS keychain). */
  attachPasswordSaved: boolean;
  /** Preference keys whose stored value was unreadable and were reset to their default at start. */
  recovered: string[];
}

/** The managed relay's state: a hosted engine's life cycle, or an attached relay's connection. */
export type RelayStatus =
  | { state: 'starting'; mode: 'host' | 'attach' }
  | { state: 'running'; mode: 'host' | 'attach'; address: string }
  | { state: 'restarting'; mode: 'host'; attempt: number; retryAt: number; lastError: string | null }
  | { state: 'unreachable'; mode: 'attach'; address: string; error: string }
  | { state: 'failed'; mode: 'host' | 'attach'; error: string }
  | { state: 'stopping'; mode: 'host' }
  | { state: 'stopped'; mode: 'host' | 'attach' };

/** What the attach form's test found: the service answered (and who it is), or why not. Nothing is saved. */
export type AttachTestResult = { reachable: true; hostname: string; version: string; state: string } | { reachable: false; code: string; message: string };

/** The attach form's fields for a test: the password is the stored one when left out and the address is unchanged. */
export interface AttachTestInput {
  url: string;
  user?: string;
  password?: string;
}

export interface MoatBridge {
  getPreferences(): Promise<BridgeResult<DesktopPreferences>>;
  setNotificationChoices(choices: NotificationChoices): Promise<BridgeResult<DesktopPreferences>>;
  setStartAtLogin(enabled: boolean): Promise<BridgeResult<DesktopPreferences>>;
  setCloseAction(action: CloseAction): Promise<BridgeResult<DesktopPreferences>>;
  /** Saves the choice and switches to it (stops a hosted engine, starts or attaches the new one). */
  chooseManagedRelay(choice: ManagedRelayChoice): Promise<BridgeResult<DesktopPreferences>>;
  /** Logs in to a Moat service and asks its status, without saving or switching anything. */
  testAttach(input: AttachTestInput): Promise<BridgeResult<AttachTestResult>>;
  /** Shows one sample desktop notification (to see how they look, and that the OS lets them through). */
  showSampleNotification(): Promise<BridgeResult<null>>;
  getRelayStatus(): Promise<BridgeResult<RelayStatus>>;
  /** Starts the hosted engine again after the supervisor gave up, or reconnects to an attached relay. */
  retryRelay(): Promise<BridgeResult<RelayStatus>>;
  /** Main asks the page to show a screen (a notification or the tray was clicked); returns an unsubscribe. */
  onNavigate(listener: (route: string) => void): () => void;
  onRelayStatus(listener: (status: RelayStatus) => void): () => void;
}

/** One channel per bridge method (invoke) and per push from main (send). */
export const IPC_CHANNELS = {
  getPreferences: 'moat:preferences:get',
  setNotificationChoices: 'moat:preferences:notifications',
  setStartAtLogin: 'moat:preferences:start-at-login',
  setCloseAction: 'moat:preferences:close-action',
  chooseManagedRelay: 'moat:preferences:managed-relay',
  testAttach: 'moat:relay:test-attach',
  showSampleNotification: 'moat:notifications:sample',
  getRelayStatus: 'moat:relay:status',
  retryRelay: 'moat:relay:retry',
  navigate: 'moat:push:navigate',
  relayStatus: 'moat:push:relay-status',
} as const;

/** The screens main may open: the renderer's hash routes. */
export const ROUTES = {
  dashboard: '#/dashboard',
  queue: '#/queue',
  /** The queue filtered to the internal server's route (the internal server is down). */
  queueInternal: '#/queue?route=internal',
  /** The queue filtered to the messages being retried (deliveries failing). */
  queueRetrying: '#/queue?status=deferred',
  quarantine: '#/quarantine',
  backups: '#/settings/backups',
  checklist: '#/checklist',
  accounts: '#/settings/accounts',
  settings: '#/settings',
} as const;
