import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queueDeadlines } from '../../../src-relay/queue/deadlines.ts';

const HOUR = 3600_000;
const LIMITS = { lifetimeHours: 120, delayWarningHours: 4 };

test('a waiting message is given up lifetimeHours after its lifetime started, and its sender warned delayWarningHours after', () => {
  assert.deepEqual(queueDeadlines({ lifetimeFrom: 1_000, kind: 'mail', sender: 'ann@partner.test' }, LIMITS), { givesUpAt: 1_000 + 120 * HOUR, warnsSenderAt: 1_000 + 4 * HOUR });
});

test('no delay warning for a DSN, a null sender, or with the warning off; each is still given up', () => {
  for (const [message, limits] of [
    [{ lifetimeFrom: 0, kind: 'dsn', sender: 'ann@partner.test' }, LIMITS],
    [{ lifetimeFrom: 0, kind: 'mail', sender: '' }, LIMITS],
    [{ lifetimeFrom: 0, kind: 'mail', sender: 'ann@partner.test' }, { ...LIMITS, delayWarningHours: 0 }],
  ] as const) {
    assert.deepEqual(queueDeadlines(message, limits), { givesUpAt: 120 * HOUR, warnsSenderAt: null }, JSON.stringify(message));
  }
});
