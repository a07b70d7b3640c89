import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHash, parseHash, settingsTab } from '../../../src-renderer/lib/route.ts';

test('every route the desktop shell opens is understood', () => {
  for (const screen of ['dashboard', 'queue', 'quarantine', 'checklist', 'tracking', 'settings', 'setup'] as const) {
    assert.equal(parseHash(`#/${screen}`).screen, screen);
  }
  assert.deepEqual(parseHash('#/settings/accounts'), { screen: 'settings', sub: 'accounts', params: {} });
});

test('an empty or unknown hash is the dashboard', () => {
  assert.equal(parseHash('').screen, 'dashboard');
  assert.equal(parseHash('#/nowhere').screen, 'dashboard');
  assert.equal(parseHash('#').screen, 'dashboard');
});

test('parameters survive a round trip', () => {
  const hash = formatHash({ screen: 'queue', params: { id: 'ABC123def', empty: '' } });
  assert.equal(hash, '#/queue?id=ABC123def');
  assert.deepEqual(parseHash(hash), { screen: 'queue', sub: null, params: { id: 'ABC123def' } });
});

test('settings tabs default to the configuration', () => {
  assert.equal(settingsTab(parseHash('#/settings')), 'config');
  assert.equal(settingsTab(parseHash('#/settings/backups')), 'backups');
  assert.equal(settingsTab(parseHash('#/settings/bogus')), 'config');
});
