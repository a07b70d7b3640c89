/**
 * Moat's Electron main process: composes the parts (each decision lives in a plain module with its own test) and
 * hands them Electron's APIs. Bundled to dist-main/main.js by packaging/build-main.ts.
 */
import { app, BrowserWindow, Menu, Notification, Tray, ipcMain, nativeImage, protocol, safeStorage, screen, session, shell, utilityProcess } from 'electron';
import type { MenuItemConstructorOptions, NativeImage, UtilityProcess } from 'electron';
import Store from 'electron-store';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createLineLogger, createStreamWriter } from '../src-relay/log/logger.ts';
import { managedRelayFromChoice, passwordAction, planRelay, testAttach } from './attach.ts';
import { healthOf } from './alerts.ts';
import { IPC_CHANNELS, ROUTES, type Health, type RelayStatus } from './bridge.ts';
import { trayIconPng } from './icons.ts';
import { createIpcHandlers } from './ipc.ts';
import { parseLaunch } from './launch.ts';
import { applyStartAtLogin } from './login-item.ts';
import { NotificationPolicy, type NotificationRequest } from './notifications.ts';
import { defaultPreferences, openPreferenceStore, publicPreferences, readPreferences, writePreference, type Preferences } from './preferences.ts';
import { createAppProtocolHandler } from './protocol.ts';
import { RelayController } from './relay-controller.ts';
import { ADMIN_TOKEN_ENV } from './engine-runner.ts';
import { APP_ORIGIN, APP_SCHEME, BLOCKED_REQUEST_URLS, allowNavigation, handleWindowOpen, refuseAllPermissions, secureWebPreferences } from './security.ts';
import type { EngineChild } from './supervisor.ts';
import { trayView, type TrayMenuItem } from './tray.ts';
import { MIN_WINDOW_SIZE, boundsToSave, restoreBounds } from './window-state.ts';

const here = dirname(fileURLToPath(import.meta.url));
const PATHS = {
  preload: join(here, 'preload.cjs'),
  engine: join(here, 'engine', 'engine-process.js'),
  relayCli: join(here, 'engine', 'relay-cli.js'),
  icon: join(here, 'icon.png'),
};
/** The Windows notification identity; the same as electron-builder.yml's appId. */
const APP_ID = 'org.moat.desktop';
/** The tray's queue age text is refreshed this often. */
const TRAY_REFRESH_MS = 30_000;
/** E2E tests give each run its own user-data folder (preferences, logs, the hosted relay): STYLE habit 18. */
const USER_DATA_ENV = 'MOAT_DESKTOP_USER_DATA';

const launch = parseLaunch(process.argv, app.isPackaged);
if (launch.kind === 'cli') void runCli(launch.args);
else runDesktop(launch.hidden);

/** `moat serve`, `moat queue list`, ...: the relay's command line, in this process, with no window and no display. */
async function runCli(args: string[]): Promise<void> {
  if (process.platform === 'linux') {
    app.commandLine.removeSwitch('ozone-platform');
    app.commandLine.appendSwitch('ozone-platform', 'headless');
  }
  app.commandLine.appendSwitch('disable-gpu');
  app.disableHardwareAcceleration();
  // Chromium's profile goes to a private temp folder, not into the service's home (/var/lib/moat, the relay's data)
  const profile = mkdtempSync(join(tmpdir(), 'moat-cli-'));
  app.setPath('userData', profile);
  let finished = false;
  const exit = (code: number) => {
    finished = true;
    rmSync(profile, { recursive: true, force: true });
    app.exit(code);
  };
  // Electron turns SIGTERM/SIGINT into a quit; the relay's serve waits for the signal to stop gracefully
  app.on('will-quit', (event) => {
    if (finished) return;
    event.preventDefault();
    process.emit('SIGTERM', 'SIGTERM');
  });
  app.on('window-all-closed', () => {});
  try {
    const cli = (await import(pathToFileURL(PATHS.relayCli).href)) as { main(argv: string[]): Promise<number> };
    exit(await cli.main(args));
  } catch (error) {
    process.stderr.write(`moat: ${(error as Error).stack ?? error}\n`);
    exit(1);
  }
}

function runDesktop(startHidden: boolean): void {
  const userData = process.env[USER_DATA_ENV];
  if (userData && isAbsolute(userData)) app.setPath('userData', userData);
  protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true, codeCache: true } }]);
  app.enableSandbox();
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  app.whenReady().then(
    () => startDesktop(startHidden),
    (error: Error) => {
      process.stderr.write(`moat: ${error.stack ?? error}\n`);
      app.exit(1);
    },
  );
}

function openLog(): WriteStream | null {
  try {
    const dir = app.getPath('logs');
    mkdirSync(dir, { recursive: true });
    return createWriteStream(join(dir, 'moat-desktop.log'), { flags: 'a' });
  } catch {
    return null;
  }
}

function startDesktop(startHidden: boolean): void {
  const log = openLog();
  // a full disk or a closed terminal degrades logging, never the app (createStreamWriter)
  const writers = [process.stderr, ...(log ? [log] : [])].map((stream) => createStreamWriter(stream));
  const writeLog = (line: string) => {
    for (const writer of writers) writer.write(line);
  };
  const logger = createLineLogger(writeLog);
  app.setAppUserModelId(APP_ID);
  const appIcon = nativeImage.createFromPath(PATHS.icon);

  // preferences: a store that cannot be read is moved aside, a bad value reset (both said in the UI)
  const defaultDataDir = join(app.getPath('userData'), 'relay');
  const { store } = openPreferenceStore({
    create: () => new Store<Record<string, unknown>>({ name: 'preferences', clearInvalidConfig: false, accessPropertiesByDotNotation: false }),
    path: join(app.getPath('userData'), 'preferences.json'),
    rename: renameSync,
    logger,
  });
  const { preferences, recovered } = readPreferences(store, defaultPreferences(defaultDataDir), logger);
  const prefs: Preferences = preferences;

  // the attached relay's password: sealed with the OS keychain; without a real keychain it is kept for this run only
  let memoryPassword: string | null = null;
  const keychainUsable = () => safeStorage.isEncryptionAvailable() && (process.platform !== 'linux' || safeStorage.getSelectedStorageBackend() !== 'basic_text');
  const storedPassword = (): string | null => {
    if (prefs.attachPassword && keychainUsable()) {
      try {
        return safeStorage.decryptString(Buffer.from(prefs.attachPassword, 'base64'));
      } catch (error) {
        logger.warn({ error: (error as Error).message }, 'PASSWORD_UNSEALING_FAILED');
      }
    }
    return memoryPassword;
  };
  const storePassword = (password: string | null) => {
    memoryPassword = password;
    const sealed = password !== null && keychainUsable() ? safeStorage.encryptString(password).toString('base64') : null;
    prefs.attachPassword = sealed;
    writePreference(store, 'attachPassword', sealed);
  };

  // security: no permission, no request off the app, nothing opened in-app, navigation only within app://moat
  const ses = session.defaultSession;
  refuseAllPermissions(ses);
  ses.webRequest.onBeforeRequest({ urls: BLOCKED_REQUEST_URLS }, (_details, callback) => callback({ cancel: true }));
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event) => {
      if (!allowNavigation(event.url)) event.preventDefault();
    });
    contents.on('will-frame-navigate', (event) => {
      if (!allowNavigation(event.url)) event.preventDefault();
    });
    contents.on('will-redirect', (event) => {
      if (!allowNavigation(event.url)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => handleWindowOpen(url, (link) => void shell.openExternal(link)));
  });

  let window: BrowserWindow | null = null;
  let quitting = false;
  let tray: Tray | null = null;
  const trayImages = new Map<Health, NativeImage>();

  const notifications = new NotificationPolicy(() => prefs.notifications);
  const shownNotifications = new Set<Notification>();
  const notify = (request: NotificationRequest) => {
    if (!Notification.isSupported()) return;
    const notification = new Notification({ title: request.title, body: request.body, urgency: request.urgency, icon: appIcon, timeoutType: request.urgency === 'critical' ? 'never' : 'default' });
    // a notification nobody references is collected, and its click is lost
    shownNotifications.add(notification);
    notification.on('click', () => openRoute(request.route));
    notification.on('close', () => shownNotifications.delete(notification));
    notification.show();
  };

  const forkEngine = (dataDir: string, adminToken: string): EngineChild => {
    const child: UtilityProcess = utilityProcess.fork(PATHS.engine, ['--data-dir', dataDir], {
      serviceName: 'Moat relay engine',
      stdio: 'pipe',
      env: { ...process.env, [ADMIN_TOKEN_ENV]: adminToken },
    });
    child.stdout?.on('data', (data: Buffer) => writeLog(data.toString()));
    child.stderr?.on('data', (data: Buffer) => writeLog(data.toString()));
    return {
      postMessage: (message) => child.postMessage(message),
      kill: () => void child.kill(),
      onMessage: (listener) => void child.on('message', listener),
      onExit: (listener) => void child.on('exit', listener),
    };
  };

  const controller = new RelayController({
    logger,
    notifications,
    forkEngine,
    newToken: () => randomBytes(32).toString('base64url'),
    onStatus: (status: RelayStatus) => {
      window?.webContents.send(IPC_CHANNELS.relayStatus, status);
      refreshTray();
    },
    onSnapshot: () => refreshTray(),
    onNotify: notify,
  });

  protocol.handle(
    APP_SCHEME,
    createAppProtocolHandler({ rendererRoot: join(app.getAppPath(), 'dist-renderer'), readFile: (path) => readFile(path), apiTarget: () => controller.apiTarget }),
  );

  function saveBounds(win: BrowserWindow): void {
    const bounds = boundsToSave(win.getNormalBounds(), win.isMaximized());
    if (writePreference(store, 'windowBounds', bounds)) prefs.windowBounds = bounds;
  }

  function createWindow(route: string, show: boolean): BrowserWindow {
    const restored = restoreBounds(prefs.windowBounds, screen.getAllDisplays().map((display) => display.workArea));
    const win = new BrowserWindow({
      ...restored.bounds,
      minWidth: MIN_WINDOW_SIZE.width,
      minHeight: MIN_WINDOW_SIZE.height,
      show: false,
      title: 'Moat',
      icon: appIcon,
      autoHideMenuBar: true,
      webPreferences: secureWebPreferences(PATHS.preload),
    });
    if (restored.maximized) win.maximize();
    win.once('ready-to-show', () => {
      if (show) win.show();
    });
    // closing hides to the tray: a hosted relay keeps running until Quit
    win.on('close', (event) => {
      saveBounds(win);
      if (quitting || !tray) return;
      // chosen in Settings → Desktop app: closing quits (a hosted relay stops gracefully in before-quit)
      if (prefs.closeAction === 'quit') {
        app.quit();
        return;
      }
      event.preventDefault();
      win.hide();
    });
    win.on('closed', () => {
      if (window === win) window = null;
    });
    void win.loadURL(`${APP_ORIGIN}/index.html${route}`);
    return win;
  }

  function showWindow(): BrowserWindow {
    window ??= createWindow(ROUTES.dashboard, true);
    if (window.isMinimized()) window.restore();
    window.show();
    window.focus();
    return window;
  }

  function openRoute(route: string): void {
    if (!window) {
      window = createWindow(route, true);
      return;
    }
    const win = showWindow();
    if (win.webContents.isLoading()) win.webContents.once('did-finish-load', () => win.webContents.send(IPC_CHANNELS.navigate, route));
    else win.webContents.send(IPC_CHANNELS.navigate, route);
  }

  function trayImage(health: Health): NativeImage {
    let image = trayImages.get(health);
    if (!image) {
      image = nativeImage.createFromBuffer(trayIconPng(health, 32), { scaleFactor: 2 });
      trayImages.set(health, image);
    }
    return image;
  }

  function menuItem(item: TrayMenuItem): MenuItemConstructorOptions {
    if (item.type === 'separator') return { type: 'separator' };
    const action = item.action;
    return {
      label: item.label,
      enabled: item.enabled,
      click: action
        ? () => {
            if (action === 'open') showWindow();
            else if (action === 'pause-delivery' || action === 'resume-delivery') void controller.holdQueue(action === 'pause-delivery');
            else if (action === 'retry-relay') void controller.retry();
            else app.quit();
          }
        : undefined,
    };
  }

  function refreshTray(): void {
    if (!tray) return;
    const snapshot = controller.snapshot;
    const alerts = snapshot?.alerts ?? [];
    const view = trayView({ alertHealth: healthOf(alerts), openAlerts: alerts.length, queue: snapshot?.queue ?? null, relay: controller.status, engine: snapshot?.engine ?? null, now: Date.now() });
    tray.setImage(trayImage(view.health));
    tray.setToolTip(view.tooltip);
    tray.setContextMenu(Menu.buildFromTemplate(view.items.map(menuItem)));
  }

  try {
    tray = new Tray(trayImage('ok'));
    tray.on('click', () => showWindow());
  } catch (error) {
    logger.warn({ error: (error as Error).message }, 'TRAY_UNAVAILABLE');
  }
  setInterval(refreshTray, TRAY_REFRESH_MS);

  const loginItemEffects = {
    platform: process.platform,
    setLoginItemSettings: (settings: { openAtLogin: boolean; args?: string[] }) => app.setLoginItemSettings(settings),
    autostartDir: join(app.getPath('appData'), 'autostart'),
    command: process.env.APPIMAGE ?? process.execPath,
    writeFile: (path: string, data: string) => writeFileSync(path, data),
    mkdir: (path: string) => void mkdirSync(path, { recursive: true }),
    rm: (path: string) => rmSync(path, { force: true }),
  };
  if (prefs.startAtLogin) applyStartAtLogin(true, loginItemEffects);

  const handlers = createIpcHandlers(
    {
      getPreferences: () => publicPreferences(prefs, recovered),
      setNotificationChoices: (choices) => {
        if (writePreference(store, 'notifications', choices)) prefs.notifications = choices;
        return publicPreferences(prefs, recovered);
      },
      setStartAtLogin: (enabled) => {
        applyStartAtLogin(enabled, loginItemEffects);
        if (writePreference(store, 'startAtLogin', enabled)) prefs.startAtLogin = enabled;
        return publicPreferences(prefs, recovered);
      },
      setCloseAction: (action) => {
        if (writePreference(store, 'closeAction', action)) prefs.closeAction = action;
        return publicPreferences(prefs, recovered);
      },
      chooseManagedRelay: async (choice) => {
        const managed = managedRelayFromChoice(choice, defaultDataDir);
        const password = passwordAction(prefs.managedRelay, choice);
        if (password.action === 'store') storePassword(password.password);
        else if (password.action === 'forget') storePassword(null);
        if (writePreference(store, 'managedRelay', managed)) prefs.managedRelay = managed;
        await controller.stop();
        controller.start(planRelay(prefs.managedRelay, storedPassword()));
        return publicPreferences(prefs, recovered);
      },
      testAttach: (input) => {
        // left empty, the password is the stored one, but only for the address it was stored for
        const current = prefs.managedRelay;
        const password = input.password ?? (current.mode === 'attach' && current.url === input.url ? storedPassword() : null);
        return testAttach({ url: input.url, password });
      },
      showSampleNotification: () => {
        notify({ key: 'sample', kind: 'raised', title: 'Moat: sample notification', body: 'Alerts look like this. Clicking one opens the screen it is about.', route: ROUTES.dashboard, urgency: 'normal' });
        return null;
      },
      getRelayStatus: () => controller.status,
      retryRelay: () => controller.retry(),
    },
    (method, error) => logger.error({ method, error: error.stack ?? error.message }, 'IPC_FAILED'),
  );
  for (const [channel, handler] of Object.entries(handlers)) {
    ipcMain.handle(channel, (event, input: unknown) => handler({ senderFrame: event.senderFrame }, input));
  }

  app.on('second-instance', () => showWindow());
  app.on('activate', () => showWindow());
  // the window hides instead of closing; if it is gone anyway, the tray and the relay stay (without a tray: quit)
  app.on('window-all-closed', () => {
    if (!tray) app.quit();
  });
  let stopping: Promise<void> | null = null;
  let stopped = false;
  app.on('before-quit', (event) => {
    quitting = true;
    if (stopped) return;
    event.preventDefault();
    stopping ??= controller.stop().finally(() => {
      stopped = true;
      app.quit();
    });
  });

  controller.start(planRelay(prefs.managedRelay, storedPassword()));
  window = createWindow(ROUTES.dashboard, !startHidden || !tray);
  refreshTray();
}
