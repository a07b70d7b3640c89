// The statistics page (mail in and out, junk and viruses, top talkers) and the dashboard's disk use: counts from the
// monitor's per-minute series, top lists from the queue's tables (store/queue-store.ts `topTalkers`).
import type { statisticsContract } from '../../monitor/statistics-contract.ts';
import type { CounterName } from '../../monitor/metrics.ts';
import type { Handlers } from './types.ts';

const HOUR_MS = 3600_000;
/** The windows the page offers; 30 days is what the per-minute series keep (monitor/metrics.ts METRICS_RETENTION_DAYS). */
export const STATISTICS_WINDOWS_MS = { '24h': 24 * HOUR_MS, '7d': 7 * 24 * HOUR_MS, '30d': 30 * 24 * HOUR_MS } as const;
/** Each top list names at most this many. */
export const TOP_LIST_LENGTH = 10;
const COUNTERS = ['received', 'submitted', 'delivered', 'deferred', 'bounced', 'quarantined', 'tagged', 'rejected'] as const satisfies readonly CounterName[];
/** The refusal reasons (smtp/mx-listener.ts) counted as viruses and as junk; a refused attachment is `policy`. */
const VIRUS_REASONS = new Set(['virus']);
const JUNK_REASONS = new Set(['junk']);

export const statisticsHandlers = {
  'statistics.get': (input, context) => {
    const relay = context.relay();
    const to = context.clock();
    const from = to - STATISTICS_WINDOWS_MS[input.range];
    const sums = relay.monitor.metrics.sums(COUNTERS, from, to);
    const total = (name: (typeof COUNTERS)[number], reasons?: ReadonlySet<string>) =>
      sums.filter((sample) => sample.name === name && (!reasons || reasons.has(sample.labels.reason ?? ''))).reduce((sum, sample) => sum + sample.value, 0);
    const byReason = new Map<string, number>();
    for (const sample of sums) {
      if (sample.name !== 'rejected' || sample.value === 0) continue;
      const reason = sample.labels.reason ?? 'other';
      byReason.set(reason, (byReason.get(reason) ?? 0) + sample.value);
    }
    const top = relay.queue.store.topTalkers(from, to, TOP_LIST_LENGTH);
    return {
      from,
      to,
      mail: {
        inbound: total('received'),
        submitted: total('submitted'),
        delivered: total('delivered'),
        deferred: total('deferred'),
        bounced: total('bounced'),
        quarantined: total('quarantined'),
        tagged: total('tagged'),
        refused: total('rejected'),
        virus: total('rejected', VIRUS_REASONS),
        junk: total('rejected', JUNK_REASONS),
      },
      refusals: [...byReason].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name)),
      top: { senders: top.senders, recipients: top.recipients, senderDomains: top.senderDomains },
      messages: top.messages,
      capped: top.capped,
    };
  },

  'dashboard.disk': async (_input, context) => {
    const relay = context.relay();
    const space = await relay.monitor.diskSpace();
    return space && { ...space, path: relay.dataDir };
  },
} satisfies Handlers<typeof statisticsContract>;
