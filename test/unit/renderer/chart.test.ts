import { test } from 'node:test';
import assert from 'node:assert/strict';
import { areaPath, labelIndexes, linePath, linePoints, niceStep, seriesMax, ticks, xAt, yAt, type Box } from '../../../src-renderer/lib/chart.ts';

const box: Box = { width: 110, height: 60, top: 0, right: 0, bottom: 10, left: 10 };

test('axis steps are 1, 2 or 5 times a power of ten', () => {
  assert.equal(niceStep(0), 1);
  assert.equal(niceStep(3), 5);
  assert.equal(niceStep(10.5), 20);
  assert.equal(niceStep(150), 200);
});

test('ticks start at zero and reach the largest value', () => {
  assert.deepEqual(ticks(0), [0, 1]);
  assert.deepEqual(ticks(42), [0, 20, 40, 60]);
  assert.deepEqual(ticks(8), [0, 2, 4, 6, 8]);
  assert.deepEqual(ticks(1000), [0, 500, 1000]);
});

test('values map onto the plot, upside down as SVG wants', () => {
  assert.equal(xAt(0, 3, box), 10);
  assert.equal(xAt(2, 3, box), 110);
  assert.equal(xAt(0, 1, box), 60, 'a single bucket sits in the middle');
  assert.equal(yAt(0, 10, box), 50);
  assert.equal(yAt(10, 10, box), 0);
  assert.equal(yAt(20, 10, box), 0, 'clamped to the top');
  assert.equal(yAt(5, 0, box), 50, 'an empty axis keeps everything at the bottom');
});

test('a series becomes a path and an area', () => {
  const rows = [{ n: 0 }, { n: 5 }, { n: 10 }];
  assert.equal(seriesMax(rows, ['n']), 10);
  const points = linePoints(rows, 'n', 10, box);
  assert.equal(linePath(points), 'M10 50 L60 25 L110 0');
  assert.equal(areaPath(points, box), 'M10 50 L60 25 L110 0 L110 50 L10 50 Z');
  assert.equal(linePath([]), '');
});

test('time labels are spread out and include the latest bucket', () => {
  assert.deepEqual(labelIndexes(3), [0, 1, 2]);
  const indexes = labelIndexes(24, 6);
  assert.equal(indexes[indexes.length - 1], 23);
  assert.ok(indexes.length <= 6);
  assert.deepEqual(labelIndexes(0), []);
});
