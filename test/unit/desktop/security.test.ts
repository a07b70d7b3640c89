import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONTENT_SECURITY_POLICY,
  allowNavigation,
  externalLink,
  handleWindowOpen,
  isAppUrl,
  isTrustedSender,
  refuseAllPermissions,
  secureWebPreferences,
  type PermissionSession,
} from '../../../src-main/security.ts';

test('navigation stays within the app', () => {
  assert.equal(allowNavigation('app://moat/index.html#/queue'), true);
  assert.equal(allowNavigation('app://moat/'), true);
  for (const url of ['https://example.org/', 'http://127.0.0.1:8025/', 'file:///etc/passwd', 'app://evil/index.html', 'app://user:pw@moat/', 'javascript:alert(1)', 'data:text/html,hi', 'moat/index.html', '']) {
    assert.equal(allowNavigation(url), false, url);
  }
  assert.equal(allowNavigation(undefined), false);
  assert.equal(allowNavigation(42), false);
});

test('a new window is never opened in the app; an https link goes to the system browser', () => {
  const opened: string[] = [];
  assert.deepEqual(handleWindowOpen('https://www.rfc-editor.org/rfc/rfc5321', (url) => opened.push(url)), { action: 'deny' });
  assert.deepEqual(opened, ['https://www.rfc-editor.org/rfc/rfc5321']);
});

test('links that are not plain https are dropped, never handed to the OS', () => {
  const refuse = (url: string) => {
    throw new Error(`openExternal was called with ${url}`);
  };
  for (const url of ['http://example.org/', 'file:///C:/Windows/system32/calc.exe', 'smb://server/share', 'javascript:alert(1)', 'https://user:secret@example.org/', 'app://moat/index.html', 'not a url']) {
    assert.deepEqual(handleWindowOpen(url, refuse), { action: 'deny' }, url);
    assert.equal(externalLink(url), null, url);
  }
});

test('IPC is trusted only from the app\'s own top-level frame', () => {
  assert.equal(isTrustedSender({ url: 'app://moat/index.html#/dashboard', parent: null }), true);
  assert.equal(isTrustedSender({ url: 'app://moat/index.html', parent: {} }), false, 'an iframe');
  assert.equal(isTrustedSender({ url: 'https://example.org/', parent: null }), false);
  assert.equal(isTrustedSender({ url: 'file:///tmp/x.html', parent: null }), false);
  assert.equal(isTrustedSender(null), false, 'a frame that is gone');
  assert.equal(isTrustedSender(undefined), false);
});

test('app URLs are recognised by scheme and host, not by WHATWG origin (opaque for custom schemes)', () => {
  assert.equal(new URL('app://moat/x').origin, 'null');
  assert.equal(isAppUrl('app://moat/x'), true);
  assert.equal(isAppUrl('app://moat.evil.example/x'), false);
});

test('every permission request and check is refused', () => {
  const granted: boolean[] = [];
  let check: ((webContents: unknown, permission: string) => boolean) | null = null;
  let device: ((details: unknown) => boolean) | null = null;
  const session: PermissionSession = {
    setPermissionRequestHandler: (handler) => {
      for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal']) handler({}, permission, (ok) => granted.push(ok));
    },
    setPermissionCheckHandler: (handler) => {
      check = handler;
    },
    setDevicePermissionHandler: (handler) => {
      device = handler;
    },
  };
  refuseAllPermissions(session);
  assert.deepEqual(granted, [false, false, false, false, false]);
  assert.equal(check!({}, 'media'), false);
  assert.equal(device!({ deviceType: 'usb' }), false);
});

test('the CSP allows only the app itself: no inline script, no eval, no other origin', () => {
  const directives = new Map(CONTENT_SECURITY_POLICY.split('; ').map((part) => [part.split(' ')[0], part.split(' ').slice(1)]));
  assert.deepEqual(directives.get('default-src'), ["'none'"]);
  assert.deepEqual(directives.get('script-src'), ["'self'"]);
  assert.deepEqual(directives.get('connect-src'), ["'self'"]);
  assert.deepEqual(directives.get('object-src'), ["'none'"]);
  assert.deepEqual(directives.get('frame-ancestors'), ["'none'"]);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|https?:|\*/);
});

test('the window runs sandboxed and isolated, without Node', () => {
  const preferences = secureWebPreferences('/app/dist-main/preload.cjs');
  assert.equal(preferences.contextIsolation, true);
  assert.equal(preferences.sandbox, true);
  assert.equal(preferences.nodeIntegration, false);
  assert.equal(preferences.webSecurity, true);
  assert.equal(preferences.webviewTag, false);
  assert.equal(preferences.preload, '/app/dist-main/preload.cjs');
});
