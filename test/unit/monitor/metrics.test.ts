import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openDatabase } from '../../../src-relay/store/db.ts';
import { MonitorStore } from '../../../src-relay/monitor/monitor-store.ts';
import { Metrics, MINUTE_MS, METRICS_RETENTION_DAYS, decodeLabels, encodeLabels, type Sample } from '../../../src-relay/monitor/metrics.ts';
import { renderPrometheus } from '../../../src-relay/monitor/prometheus.ts';
import { tempDir } from '../../helpers/temp-dir.ts';
import { parsePrometheus, sampleValue } from '../../helpers/prometheus.ts';

const T0 = Date.parse('2026-11-28T10:00:00Z');

function setup(gauges: () => Sample[] = () => []) {
  const dir = tempDir('moat-metrics-');
  const db = openDatabase(dir);
  const store = new MonitorStore(db);
  let now = T0;
  const metrics = new Metrics({ store, clock: () => now, sampleGauges: gauges });
  const rows = () => db.prepare('SELECT minute, name, labels, value FROM metric_minutes ORDER BY minute, name, labels').all() as { minute: number; name: string; labels: string; value: number }[];
  return {
    db,
    metrics,
    rows,
    at: (ms: number) => (now = ms),
    done: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('counters are kept in memory and written once per flush, one row per minute per series', () => {
  const s = setup();
  try {
    for (let i = 0; i < 50; i++) s.metrics.increment('received');
    s.metrics.increment('rejected', { reason: 'relay' }, 3);
    assert.equal(s.rows().length, 0, 'nothing is written per event');
    s.at(T0 + MINUTE_MS + 5000);
    s.metrics.increment('received', {}, 2);
    s.metrics.flush();
    assert.deepEqual(s.rows(), [
      { minute: T0, name: 'received', labels: '', value: 50 },
      { minute: T0, name: 'rejected', labels: 'reason=relay', value: 3 },
      { minute: T0 + MINUTE_MS, name: 'received', labels: '', value: 2 },
    ]);
    s.metrics.increment('received');
    s.metrics.flush();
    assert.equal(s.rows().find((row) => row.minute === T0 + MINUTE_MS)!.value, 3, 'a later flush adds to the same minute');
  } finally {
    s.done();
  }
});

test('gauges are sampled at each flush, the last sample of a minute wins', () => {
  let size = 4;
  const s = setup(() => [{ name: 'queue_size', labels: {}, value: size }]);
  try {
    s.metrics.flush();
    size = 9;
    s.metrics.flush();
    assert.deepEqual(s.rows(), [{ minute: T0, name: 'queue_size', labels: '', value: 9 }]);
  } finally {
    s.done();
  }
});

test(`rows older than ${METRICS_RETENTION_DAYS} days are pruned`, () => {
  const s = setup();
  try {
    s.metrics.increment('delivered', { route: 'internal' });
    s.metrics.flush();
    s.at(T0 + (METRICS_RETENTION_DAYS + 1) * 86400_000);
    s.metrics.increment('delivered', { route: 'internal' });
    s.metrics.flush();
    assert.deepEqual(s.rows().map((row) => row.minute), [T0 + (METRICS_RETENTION_DAYS + 1) * 86400_000]);
  } finally {
    s.done();
  }
});

test('series: per-minute points with zeros filled in for counters, sums per hourly step, unwritten counts included', () => {
  const s = setup(() => [{ name: 'queue_size', labels: {}, value: 7 }]);
  try {
    s.metrics.increment('received');
    s.at(T0 + 2 * MINUTE_MS);
    s.metrics.increment('received', {}, 4);
    s.metrics.flush();
    s.metrics.increment('received'); // not flushed yet
    const minutes = s.metrics.series({ names: ['received'], from: T0, to: T0 + 4 * MINUTE_MS });
    assert.deepEqual(minutes, [{ name: 'received', kind: 'counter', labels: {}, points: [{ t: T0, v: 1 }, { t: T0 + MINUTE_MS, v: 0 }, { t: T0 + 2 * MINUTE_MS, v: 5 }, { t: T0 + 3 * MINUTE_MS, v: 0 }] }]);
    const hourly = s.metrics.series({ from: T0, to: T0 + 3600_000, stepMinutes: 60 });
    assert.deepEqual(hourly.find((series) => series.name === 'received')!.points, [{ t: T0, v: 6 }]);
    assert.deepEqual(hourly.find((series) => series.name === 'queue_size')!.points, [{ t: T0, v: 7 }]);
  } finally {
    s.done();
  }
});

test('windowSum counts only the last N minutes', () => {
  const s = setup();
  try {
    s.metrics.increment('deferred', { route: 'internal' }, 5);
    s.at(T0 + 10 * MINUTE_MS);
    s.metrics.increment('deferred', { route: 'outbound' }, 2);
    assert.equal(s.metrics.windowSum('deferred', 5), 2);
    assert.equal(s.metrics.windowSum('deferred', 11), 7);
    assert.equal(s.metrics.windowSum('deferred', 11, { route: 'internal' }), 5);
  } finally {
    s.done();
  }
});

test('labels survive encoding, even with , and = in a value', () => {
  const labels = { route: 'mx:a=b,c', reason: 'relay' };
  assert.equal(encodeLabels(labels), 'reason=relay,route=mx%3Aa%3Db%2Cc');
  assert.deepEqual(decodeLabels(encodeLabels(labels)), labels);
});

test('the Prometheus text is parseable, escapes label values, and keeps HELP/TYPE before samples', () => {
  const text = renderPrometheus([
    { name: 'moat_x_total', type: 'counter', help: 'a help with \\ and\nnewline', samples: [{ labels: { reason: 'a "quoted" \\ value\n' }, value: 3 }, { labels: { reason: 'b' }, value: 0 }] },
    { name: 'moat_y', type: 'gauge', help: 'y', samples: [{ value: 1.5 }] },
  ]);
  const families = parsePrometheus(text);
  assert.equal(families.get('moat_x_total')!.type, 'counter');
  assert.equal(sampleValue(families, 'moat_x_total', { reason: 'a "quoted" \\ value\n' }), 3);
  assert.equal(sampleValue(families, 'moat_y'), 1.5);
});
