import type { MonitorStore, MetricRow } from './monitor-store.ts';

/** One minute, the resolution of every stored series. */
export const MINUTE_MS = 60_000;
/** How long per-minute series are kept (issue 5: 30 days); older rows are pruned. */
export const METRICS_RETENTION_DAYS = 30;
/** Counters are written to SQLite at most this often, in one transaction (never one write per event). */
export const METRICS_FLUSH_MS = 60_000;
/** Per-minute counts kept in memory for windowed rules (delivery failure ratio); longer windows are not offered. */
export const MAX_WINDOW_MINUTES = 24 * 60;
/** Pruning old rows is cheap but needs no more than an hourly run. */
const PRUNE_EVERY_MS = 3600_000;

export type MetricKind = 'counter' | 'gauge';

export interface MetricDefinition {
  kind: MetricKind;
  /** The Prometheus name (moat_ prefix; counters end in _total). */
  prom: string;
  help: string;
  /** Label names; every label's values are a small fixed set. */
  labels: readonly string[];
}

/**
 * Every stored series: its short name (the key in SQLite and the engine API), kind, Prometheus name and meaning.
 * Inbound (mx) and submitted mail are counted apart: one is the load from the internet, the other the office's.
 */
export const METRICS = {
  received: { kind: 'counter', prom: 'moat_messages_received_total', help: 'Inbound messages accepted on the mx listener (answered 250 queued as ...)', labels: [] },
  submitted: {
    kind: 'counter',
    prom: 'moat_messages_submitted_total',
    help: "Messages accepted on the submission listeners (the office's outgoing mail, 587/465)",
    labels: [],
  },
  rejected: {
    kind: 'counter',
    prom: 'moat_messages_rejected_total',
    help: 'Refusals on the mx listener (recipients, transactions, connections), by reason',
    labels: ['reason'],
  },
  quarantined: { kind: 'counter', prom: 'moat_messages_quarantined_total', help: 'Messages put in quarantine by the filters', labels: [] },
  tagged: { kind: 'counter', prom: 'moat_messages_tagged_total', help: 'Messages tagged as suspicious and delivered', labels: [] },
  delivered: { kind: 'counter', prom: 'moat_recipients_delivered_total', help: 'Recipients delivered (2xx from the next hop), by route', labels: ['route'] },
  deferred: { kind: 'counter', prom: 'moat_recipients_deferred_total', help: 'Delivery attempts deferred (4xx, connection or DNS failure), by route', labels: ['route'] },
  bounced: { kind: 'counter', prom: 'moat_recipients_bounced_total', help: 'Recipients bounced (5xx or expired), by route', labels: ['route'] },
  queue_size: { kind: 'gauge', prom: 'moat_queue_size', help: 'Messages in the queue (not yet delivered to every recipient)', labels: [] },
  queue_oldest_age_seconds: { kind: 'gauge', prom: 'moat_queue_oldest_age_seconds', help: 'Age of the oldest queued message (0 when the queue is empty)', labels: [] },
  route_up: { kind: 'gauge', prom: 'moat_route_up', help: 'Whether the last delivery attempt on a route was taken by the server (1) or not (0: unreachable, or it answered and put the whole message off); no series before its first attempt since the start', labels: ['route'] },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;
export type CounterName = { [K in MetricName]: (typeof METRICS)[K]['kind'] extends 'counter' ? K : never }[MetricName];
export type Labels = Record<string, string>;

export interface Sample {
  name: MetricName;
  labels: Labels;
  value: number;
}

export interface Series {
  name: MetricName;
  kind: MetricKind;
  labels: Labels;
  /** t: the start of the step (ms since the epoch); v: the sum (counters) or the highest sample (gauges) in it. */
  points: { t: number; v: number }[];
}

export interface SeriesQuery {
  names?: readonly MetricName[];
  from: number;
  to: number;
  /** 1 (default) for per-minute points; 60 for hourly ones (a 7-day chart). */
  stepMinutes?: number;
}

/** `route=internal,reason=relay` with sorted keys: the labels column. Values are URI-encoded so `,` and `=` cannot collide. */
export function encodeLabels(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${encodeURIComponent(labels[key]!)}`)
    .join(',');
}

export function decodeLabels(text: string): Labels {
  const labels: Labels = {};
  if (!text) return labels;
  for (const part of text.split(',')) {
    const at = part.indexOf('=');
    labels[part.slice(0, at)] = decodeURIComponent(part.slice(at + 1));
  }
  return labels;
}

const keyOf = (name: string, labels: string) => `${name}\u0000${labels}`;
const splitKey = (key: string) => {
  const at = key.indexOf('\u0000');
  return { name: key.slice(0, at) as MetricName, labels: key.slice(at + 1) };
};
export const minuteOf = (ms: number) => Math.floor(ms / MINUTE_MS) * MINUTE_MS;

export interface MetricsOptions {
  store: MonitorStore;
  clock: () => number;
  /** The gauges as they are now (queue size, oldest age, route states): sampled once a minute and on a scrape. */
  sampleGauges: () => Sample[];
  /** Label sets that exist from the start with 0, as Prometheus users expect (e.g. every refusal reason). */
  initial?: Sample[];
}

/**
 * Counters fed by engine events, kept three ways: totals since start (Prometheus), per-minute deltas waiting to
 * be written (one transaction a minute), and recent minutes in memory (windowed alert rules).
 */
export class Metrics {
  private readonly store: MonitorStore;
  private readonly clock: () => number;
  private readonly sampleGauges: () => Sample[];
  private readonly totals = new Map<string, number>();
  /** minute -> key -> delta not yet in SQLite */
  private pending = new Map<number, Map<string, number>>();
  /** minute -> key -> count, for the last MAX_WINDOW_MINUTES */
  private readonly recent = new Map<number, Map<string, number>>();
  private lastPrune = 0;

  constructor(options: MetricsOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.sampleGauges = options.sampleGauges;
    for (const sample of options.initial ?? []) this.totals.set(keyOf(sample.name, encodeLabels(sample.labels)), sample.value);
    this.loadRecent();
  }

  /**
   * The window's minutes as written before this start: a restart (an Apply, an upgrade) must not make a windowed
   * rule forget the failures it was counting and clear its alert, only to raise it again minutes later.
   */
  private loadRecent(): void {
    const minute = minuteOf(this.clock());
    for (const row of this.store.metricRows(minute - (MAX_WINDOW_MINUTES - 1) * MINUTE_MS, minute + MINUTE_MS)) {
      if ((METRICS as Record<string, { kind: string }>)[row.name]?.kind !== 'counter') continue;
      let bucket = this.recent.get(row.minute);
      if (!bucket) this.recent.set(row.minute, (bucket = new Map()));
      const key = keyOf(row.name as MetricName, row.labels);
      bucket.set(key, (bucket.get(key) ?? 0) + row.value);
    }
  }

  increment(name: CounterName, labels: Labels = {}, by = 1): void {
    const key = keyOf(name, encodeLabels(labels));
    const minute = minuteOf(this.clock());
    this.totals.set(key, (this.totals.get(key) ?? 0) + by);
    for (const buckets of [this.pending, this.recent]) {
      let bucket = buckets.get(minute);
      if (!bucket) buckets.set(minute, (bucket = new Map()));
      bucket.set(key, (bucket.get(key) ?? 0) + by);
    }
  }

  /** Counter totals since the relay started, every label set seen (or declared initially). */
  counters(): Sample[] {
    return [...this.totals].map(([key, value]) => {
      const { name, labels } = splitKey(key);
      return { name, labels: decodeLabels(labels), value };
    });
  }

  gauges(): Sample[] {
    return this.sampleGauges();
  }

  /** A counter's sum over the last `minutes` minutes (this minute included), over all its label sets. */
  windowSum(name: CounterName, minutes: number, filter?: Labels): number {
    const since = minuteOf(this.clock()) - (Math.min(minutes, MAX_WINDOW_MINUTES) - 1) * MINUTE_MS;
    const wanted = filter ? Object.entries(filter) : [];
    let sum = 0;
    for (const [minute, bucket] of this.recent) {
      if (minute < since) continue;
      for (const [key, value] of bucket) {
        const split = splitKey(key);
        if (split.name !== name) continue;
        if (wanted.length) {
          const labels = decodeLabels(split.labels);
          if (!wanted.every(([label, v]) => labels[label] === v)) continue;
        }
        sum += value;
      }
    }
    return sum;
  }

  /**
   * Writes the counters of the minutes gone by, and this minute's gauge sample, in one transaction; prunes rows
   * older than the retention once an hour. Called once a minute and at stop.
   */
  flush(): void {
    const now = this.clock();
    const minute = minuteOf(now);
    const counters: MetricRow[] = [];
    for (const [at, bucket] of this.pending) {
      for (const [key, value] of bucket) {
        const { name, labels } = splitKey(key);
        counters.push({ minute: at, name, labels, value });
      }
    }
    const gauges = this.sampleGauges().map((sample) => ({ minute, name: sample.name, labels: encodeLabels(sample.labels), value: sample.value }));
    this.store.writeMetrics(counters, gauges);
    this.pending = new Map();
    for (const at of this.recent.keys()) if (at < minute - MAX_WINDOW_MINUTES * MINUTE_MS) this.recent.delete(at);
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      this.store.pruneMetrics(minute - METRICS_RETENTION_DAYS * 86400_000);
    }
  }

  /**
   * Each counter of `names` summed over [from, to) per label set, stored minutes plus the ones not written yet: a
   * statistics page's totals, without reading every minute's row into memory.
   */
  sums(names: readonly CounterName[], from: number, to: number): Sample[] {
    const start = minuteOf(from);
    const totals = new Map<string, number>();
    for (const row of this.store.metricSums(names, start, to)) totals.set(keyOf(row.name, row.labels), row.value);
    const wanted = new Set<string>(names);
    for (const [minute, bucket] of this.pending) {
      if (minute < start || minute >= to) continue;
      for (const [key, value] of bucket) if (wanted.has(splitKey(key).name)) totals.set(key, (totals.get(key) ?? 0) + value);
    }
    return [...totals].map(([key, value]) => {
      const { name, labels } = splitKey(key);
      return { name, labels: decodeLabels(labels), value };
    });
  }

  /** The stored series (plus what is not written yet), per minute or per step, counters with 0 where nothing happened. */
  series(query: SeriesQuery): Series[] {
    const step = Math.max(1, Math.floor(query.stepMinutes ?? 1)) * MINUTE_MS;
    const from = Math.floor(minuteOf(query.from) / step) * step;
    const to = query.to;
    const names = query.names ? new Set<string>(query.names) : null;
    const rows = this.store.metricRows(from, to);
    for (const [minute, bucket] of this.pending) {
      if (minute < from || minute >= to) continue;
      for (const [key, value] of bucket) {
        const { name, labels } = splitKey(key);
        rows.push({ minute, name, labels, value });
      }
    }
    const bySeries = new Map<string, Map<number, number>>();
    for (const row of rows) {
      if (!(row.name in METRICS) || (names && !names.has(row.name))) continue;
      const kind = METRICS[row.name as MetricName].kind;
      const key = keyOf(row.name, row.labels);
      let points = bySeries.get(key);
      if (!points) bySeries.set(key, (points = new Map()));
      const t = Math.floor(row.minute / step) * step;
      const previous = points.get(t);
      points.set(t, previous === undefined ? row.value : kind === 'counter' ? previous + row.value : Math.max(previous, row.value));
    }
    const result: Series[] = [];
    for (const [key, points] of bySeries) {
      const { name, labels } = splitKey(key);
      const kind = METRICS[name].kind;
      const list: { t: number; v: number }[] = [];
      if (kind === 'counter') {
        for (let t = from; t < to; t += step) list.push({ t, v: points.get(t) ?? 0 });
      } else {
        for (const [t, v] of [...points].sort((a, b) => a[0] - b[0])) list.push({ t, v });
      }
      result.push({ name, kind, labels: decodeLabels(labels), points: list });
    }
    return result.sort((a, b) => (a.name === b.name ? encodeLabels(a.labels).localeCompare(encodeLabels(b.labels)) : a.name.localeCompare(b.name)));
  }
}
