import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { nodeRuntimeStatus, versionInRange } from '../../../src-relay/monitor/node-releases.ts';
import { SUPPORTED_NODE_RANGE } from '../../../src-relay/util/version.ts';

// Issue 12: which Node.js versions Moat supports is written once, in package.json's engines.node; the checklist's
// node-runtime probe reads it from there and warns outside it, and the README says the same.

const root = new URL('../../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } };
/** A day on which the 20.x line is still supported (its end of life is 2026-04-30) and no line is near its end. */
const BEFORE_NODE20_EOL = Date.parse('2026-01-01T00:00:00Z');
const AFTER_NODE20_EOL = Date.parse('2026-12-04T00:00:00Z');

test("the probe's range is package.json's engines.node, and the README's set-up section names the same range", () => {
  assert.equal(SUPPORTED_NODE_RANGE, pkg.engines.node);
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const setup = readme.slice(readme.indexOf('## Set up and test'), readme.indexOf('## Quick start'));
  assert.ok(setup.includes(`\`${pkg.engines.node}\``), `README "Set up and test" must name ${pkg.engines.node}`);
});

test('versions just inside each bound of the supported range are in it, versions one step beyond are not', () => {
  const range = SUPPORTED_NODE_RANGE!;
  for (const inside of ['v20.19.0', 'v20.20.2', 'v22.12.0', 'v24.11.1', 'v26.99.99']) assert.equal(versionInRange(inside, range), true, inside);
  for (const outside of ['v18.20.8', 'v20.18.3', 'v21.7.3', 'v22.11.0', 'v27.0.0']) assert.equal(versionInRange(outside, range), false, outside);
  assert.equal(versionInRange(process.version, range), true, 'the Node.js running these tests is supported');
});

test('range comparators: partial bounds, caret, exact, and what cannot be read', () => {
  assert.equal(versionInRange('v20.0.0', '>=20'), true);
  assert.equal(versionInRange('v19.9.9', '>=20'), false);
  assert.equal(versionInRange('v26.9.9', '<27'), true);
  assert.equal(versionInRange('v27.0.0', '<=26.9.9'), false);
  assert.equal(versionInRange('v20.19.5', '^20.19'), true);
  assert.equal(versionInRange('v21.0.0', '^20.19'), false);
  assert.equal(versionInRange('v22.1.0', '22.1.0'), true);
  assert.equal(versionInRange('v22.1.0-nightly2025', '>=22'), true, 'a pre-release counts as its version');
  assert.equal(versionInRange('v22.1.0', '~22.1'), null, 'a comparator this reader does not know');
  assert.equal(versionInRange('v22.1.0', '>=20 ||'), null, 'an empty alternative');
  assert.equal(versionInRange('banana', '>=20'), null);
});

test('the verdict: inside the range the end of life decides; outside it warns, or fails when the line is past its end', () => {
  const range = SUPPORTED_NODE_RANGE!;
  assert.equal(nodeRuntimeStatus('v20.19.0', BEFORE_NODE20_EOL, range).status, 'ok');
  assert.equal(nodeRuntimeStatus('v24.11.1', AFTER_NODE20_EOL, range).status, 'ok');

  const tooOld = nodeRuntimeStatus('v20.18.3', BEFORE_NODE20_EOL, range);
  assert.equal(tooOld.status, 'warning');
  assert.match(tooOld.detail, /^Node\.js v20\.18\.3 is outside the versions this Moat supports \(\^20\.19\.0 \|\| >=22\.12\.0 <27\); the 20\.x line is supported until 2026-04-30$/);
  assert.match(tooOld.hint!, /package\.json "engines"/);
  assert.equal(nodeRuntimeStatus('v22.11.0', BEFORE_NODE20_EOL, range).status, 'warning');
  assert.equal(nodeRuntimeStatus('v27.0.0', BEFORE_NODE20_EOL, range).status, 'warning', 'too new: not known to work, whatever its support dates');

  assert.equal(nodeRuntimeStatus('v20.19.0', AFTER_NODE20_EOL, range).status, 'failing', 'supported by Moat, but the line gets no security fixes');
  assert.equal(nodeRuntimeStatus('v18.20.8', AFTER_NODE20_EOL, range).status, 'failing', 'outside and past its end of life');

  assert.equal(nodeRuntimeStatus('v24.11.1', AFTER_NODE20_EOL, null).status, 'unknown', 'no range to judge by: not ok');
  assert.equal(nodeRuntimeStatus('v24.11.1', AFTER_NODE20_EOL, '~24').status, 'unknown');
  assert.equal(nodeRuntimeStatus('v20.19.0', AFTER_NODE20_EOL, null).status, 'failing', 'an unreadable range never hides a failure');
});
