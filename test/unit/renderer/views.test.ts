import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barPercent, destinationName, diskUse, refusalWords } from '../../../src-renderer/lib/views.ts';

test('a destination is named by the internal server or by its domain', () => {
  assert.equal(destinationName({ route: 'internal', domain: null }), 'Internal server');
  assert.equal(destinationName({ route: 'outbound', domain: 'partner.example' }), 'partner.example');
});

test('disk use is a warning under 20 % free and critical under 10 %, and unknown without a size', () => {
  assert.deepEqual(diskUse({ free: 50, total: 100 }), { usedShare: 0.5, tone: 'ok' });
  assert.equal(diskUse({ free: 20, total: 100 })!.tone, 'ok', 'exactly 20 % free is still fine');
  assert.equal(diskUse({ free: 19, total: 100 })!.tone, 'warning');
  assert.equal(diskUse({ free: 10, total: 100 })!.tone, 'warning', 'exactly 10 % free is a warning');
  assert.equal(diskUse({ free: 9, total: 100 })!.tone, 'critical');
  assert.equal(diskUse({ free: 200, total: 100 })!.usedShare, 0, 'a free figure above the size is read as all free');
  assert.equal(diskUse(null), null);
  assert.equal(diskUse({ free: 0, total: 0 }), null);
});

test('refusal reasons are said in words; one the page does not know is shown as it is', () => {
  assert.equal(refusalWords('dnsbl'), 'On a block list');
  assert.equal(refusalWords('something-new'), 'something-new');
  assert.equal(refusalWords('constructor'), 'constructor', 'no inherited property is taken for a word');
});

test('top-list bars are shares of the largest count, never zero for a count above zero', () => {
  assert.equal(barPercent(10, 10), 100);
  assert.equal(barPercent(1, 1000), 1);
  assert.equal(barPercent(0, 10), 0);
  assert.equal(barPercent(5, 0), 0);
});
