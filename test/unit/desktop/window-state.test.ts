import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_WINDOW_SIZE, MIN_WINDOW_SIZE, boundsToSave, restoreBounds } from '../../../src-main/window-state.ts';

const laptop = { x: 0, y: 0, width: 1920, height: 1040 };
const rightMonitor = { x: 1920, y: 0, width: 2560, height: 1400 };

test('the first start opens at the default size, placed by the OS', () => {
  assert.deepEqual(restoreBounds(null, [laptop]), { bounds: DEFAULT_WINDOW_SIZE, maximized: false });
});

test('saved bounds on a screen that is still there are restored', () => {
  assert.deepEqual(restoreBounds({ x: 2000, y: 100, width: 1400, height: 900, maximized: false }, [laptop, rightMonitor]), {
    bounds: { x: 2000, y: 100, width: 1400, height: 900 },
    maximized: false,
  });
});

test('a window saved on a monitor that is gone opens on the screen that is left, at a size that fits', () => {
  const restored = restoreBounds({ x: 2000, y: 100, width: 2400, height: 1300, maximized: true }, [laptop]);
  assert.deepEqual(restored, { bounds: { width: 1920, height: 1040 }, maximized: true });
});

test('a window only a sliver of which would show is not placed there', () => {
  const restored = restoreBounds({ x: 1900, y: 100, width: 1000, height: 700, maximized: false }, [laptop]);
  assert.equal(restored.bounds.x, undefined);
});

test('saved sizes below the minimum grow to it', () => {
  assert.deepEqual(boundsToSave({ x: 1.4, y: 2.6, width: 300, height: 200 }, false), { x: 1, y: 3, width: MIN_WINDOW_SIZE.width, height: MIN_WINDOW_SIZE.height, maximized: false });
  assert.equal(restoreBounds({ x: 10, y: 10, width: 200, height: 150, maximized: false }, [laptop]).bounds.width, MIN_WINDOW_SIZE.width);
});
