import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { debounce, throttle } from '../../../src-renderer/lib/throttle.ts';

test('a burst of events reloads once at once and once at the end', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let calls = 0;
    const reload = throttle(() => (calls += 1), 1000);
    reload();
    assert.equal(calls, 1);
    for (let i = 0; i < 50; i += 1) reload();
    assert.equal(calls, 1);
    mock.timers.tick(1000);
    assert.equal(calls, 2);
    mock.timers.tick(1000);
    assert.equal(calls, 2, 'nothing more came');
    reload();
    assert.equal(calls, 3, 'idle again: at once');
    reload();
    reload.cancel();
    mock.timers.tick(5000);
    assert.equal(calls, 3);
  } finally {
    mock.timers.reset();
  }
});

test('the search box asks once typing has stopped', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const seen: string[] = [];
    const search = debounce((text: string) => seen.push(text), 300);
    search('b');
    mock.timers.tick(100);
    search('bo');
    mock.timers.tick(100);
    search('bob');
    mock.timers.tick(299);
    assert.deepEqual(seen, []);
    mock.timers.tick(1);
    assert.deepEqual(seen, ['bob']);
  } finally {
    mock.timers.reset();
  }
});
