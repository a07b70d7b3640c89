import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLaunch } from '../../../src-main/launch.ts';
import { AUTOSTART_FILE, applyStartAtLogin, autostartEntry, execQuote, type LoginItemEffects } from '../../../src-main/login-item.ts';

test('the packaged binary with a relay command runs the command line, Chromium switches skipped', () => {
  assert.deepEqual(parseLaunch(['/opt/Moat/moat', '--no-sandbox', '--ozone-platform=headless', '--disable-gpu', 'serve', '--data-dir', '/var/lib/moat'], true), {
    kind: 'cli',
    args: ['serve', '--data-dir', '/var/lib/moat'],
  });
  assert.deepEqual(parseLaunch(['/opt/Moat/moat', 'queue', 'list'], true), { kind: 'cli', args: ['queue', 'list'] });
  assert.deepEqual(parseLaunch(['/opt/Moat/moat', '--help'], true), { kind: 'cli', args: ['help'] });
});

test('in development the app path comes before the arguments', () => {
  assert.deepEqual(parseLaunch(['/repo/node_modules/electron/dist/electron', '.', 'queue', 'list'], false), { kind: 'cli', args: ['queue', 'list'] });
  assert.deepEqual(parseLaunch(['/repo/node_modules/electron/dist/electron', '.'], false), { kind: 'gui', hidden: false });
});

test('anything else opens the desktop app, hidden when started at login', () => {
  assert.deepEqual(parseLaunch(['/opt/Moat/moat'], true), { kind: 'gui', hidden: false });
  assert.deepEqual(parseLaunch(['/opt/Moat/moat', '--hidden'], true), { kind: 'gui', hidden: true });
  assert.deepEqual(parseLaunch(['/opt/Moat/moat', '--no-sandbox', '--hidden'], true), { kind: 'gui', hidden: true });
  assert.deepEqual(parseLaunch(['/opt/Moat/moat', 'serve-me'], true), { kind: 'gui', hidden: false });
  assert.deepEqual(parseLaunch(['/opt/Moat/moat', '--', 'serve'], true), { kind: 'gui', hidden: false }, 'a lone -- is not a switch');
});

function effects(platform: NodeJS.Platform, log: unknown[][]): LoginItemEffects {
  return {
    platform,
    setLoginItemSettings: (settings) => void log.push(['setLoginItemSettings', settings]),
    autostartDir: '/home/a/.config/autostart',
    command: '/home/a/Apps/Moat-0.1.0.AppImage',
    writeFile: (path, data) => void log.push(['writeFile', path, data]),
    mkdir: (path) => void log.push(['mkdir', path]),
    rm: (path) => void log.push(['rm', path]),
  };
}

test('on Windows and macOS start-at-login is Electron\'s login item, started hidden', () => {
  const log: unknown[][] = [];
  applyStartAtLogin(true, effects('win32', log));
  applyStartAtLogin(false, effects('darwin', log));
  assert.deepEqual(log, [
    ['setLoginItemSettings', { openAtLogin: true, args: ['--hidden'] }],
    ['setLoginItemSettings', { openAtLogin: false, args: ['--hidden'] }],
  ]);
});

test('on Linux start-at-login writes and removes an XDG autostart entry', () => {
  const log: unknown[][] = [];
  applyStartAtLogin(true, effects('linux', log));
  applyStartAtLogin(false, effects('linux', log));
  const file = `/home/a/.config/autostart/${AUTOSTART_FILE}`;
  assert.deepEqual(log, [['mkdir', '/home/a/.config/autostart'], ['writeFile', file, autostartEntry('/home/a/Apps/Moat-0.1.0.AppImage')], ['rm', file]]);
  assert.match(autostartEntry('/opt/Moat/moat'), /^Exec="\/opt\/Moat\/moat" --hidden$/m);
});

test('a command with reserved characters is quoted the way the desktop entry spec asks', () => {
  assert.equal(execQuote('/home/a b/Moat.AppImage'), '"/home/a b/Moat.AppImage"');
  assert.equal(execQuote('/x/$HOME"`'), '"/x/\\\\$HOME\\\\"\\\\`"');
  assert.equal(execQuote('/x/100%'), '"/x/100%%"');
});
