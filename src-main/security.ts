/**
 * Electron's security checklist, as plain functions main wires to Electron's events: the app shows only its own
 * pages (app://moat/), opens nothing in-app, grants no permission, and trusts IPC only from its own top frame.
 */

export const APP_SCHEME = 'app';
export const APP_HOST = 'moat';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

/**
 * The renderer's Content-Security-Policy, sent with every app:// response: scripts, styles and API calls from
 * the app itself only; no inline script, no eval, no plugin, no framing, no form posting elsewhere.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/** Headers on every app:// response besides the CSP. */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

function parse(value: unknown): URL | null {
  if (typeof value !== 'string' || value.length > 8192) return null;
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

/** A page of the app itself (app://moat/...). Custom schemes have an opaque `origin` in WHATWG URL, so compare parts. */
export function isAppUrl(value: unknown): boolean {
  const url = parse(value);
  return url !== null && url.protocol === `${APP_SCHEME}:` && url.host === APP_HOST && !url.username && !url.password;
}

/** `will-navigate` / `will-frame-navigate` / `will-redirect`: only within the app. */
export function allowNavigation(value: unknown): boolean {
  return isAppUrl(value);
}

/** A link the system browser may open when the page asks for a new window: https only, no credentials in it. */
export function externalLink(value: unknown): string | null {
  const url = parse(value);
  if (!url || url.protocol !== 'https:' || url.username || url.password || !url.hostname) return null;
  return url.href;
}

/**
 * `setWindowOpenHandler`: never an Electron window. An https link goes to the system browser (through
 * `openExternal`, which the test replaces); anything else is dropped.
 */
export function handleWindowOpen(value: unknown, openExternal: (url: string) => void): { action: 'deny' } {
  const link = externalLink(value);
  if (link) openExternal(link);
  return { action: 'deny' };
}

/** The part of Electron's WebFrameMain an IPC check reads. */
export interface SenderFrame {
  url: string;
  parent: unknown;
}

/** IPC is answered only for the app's own top-level frame (not an iframe, not a page that navigated away). */
export function isTrustedSender(frame: SenderFrame | null | undefined): boolean {
  return frame !== null && frame !== undefined && frame.parent === null && isAppUrl(frame.url);
}

/** Network requests the renderer's session may make: none. The API goes through app://moat/api (protocol.ts). */
export const BLOCKED_REQUEST_URLS = ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*', 'file://*/*'];

/** The renderer's webPreferences: Electron's secure defaults, stated so a change shows in review. */
export function secureWebPreferences(preload: string) {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    spellcheck: false,
  } as const;
}

/** The session hooks of Electron's `Session` that refuse permissions. */
export interface PermissionSession {
  setPermissionRequestHandler(handler: (webContents: unknown, permission: string, callback: (granted: boolean) => void) => void): void;
  setPermissionCheckHandler(handler: (webContents: unknown, permission: string) => boolean): void;
  setDevicePermissionHandler(handler: (details: unknown) => boolean): void;
}

/** Every permission request and check is refused: the UI needs no camera, location, notification or device. */
export function refuseAllPermissions(session: PermissionSession): void {
  session.setPermissionRequestHandler((_webContents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
}
