// Dashboard figures, chart series, alerts, the patch-status checklist and backups: the running relay's Monitor and
// backup schedule, read and driven the same way the CLI and the timers do it.
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { monitorContract } from '../../monitor/contract.ts';
import type { Monitor } from '../../monitor/index.ts';
import type { Metrics } from '../../monitor/metrics.ts';
import { STATE_KEYS } from '../../monitor/monitor-store.ts';
import { isEncryptedBackup, type BackupSummary } from '../../backup/backup.ts';
import { scheduledBackupTime } from '../../backup/schedule.ts';
import { ApiError } from '../errors.ts';
import type { Handlers } from './types.ts';

/** The dashboard's two charts: 24 hourly buckets, or 28 six-hour buckets (7 days); the last one is the current one. */
export const CHART_RANGES = {
  '24h': { bucketMs: 3600_000, buckets: 24 },
  '7d': { bucketMs: 6 * 3600_000, buckets: 28 },
} as const;
/** The counters the charts show, each summed over its labels (rejected over every reason, delivered over routes). */
const CHART_COUNTERS = ['received', 'submitted', 'delivered', 'deferred', 'bounced', 'rejected', 'quarantined'] as const;
/** alerts.list's "recent": raised within this many days. */
const RECENT_ALERT_DAYS = 7;
const RECENT_ALERT_LIMIT = 500;
/** Backups end in this (the scheduler's names do; a `moat backup create` into the folder should too). */
const BACKUP_SUFFIX = '.moat';

type ChartCounter = (typeof CHART_COUNTERS)[number];
type Bucket = { at: number } & Record<ChartCounter, number>;

/** Counts per bucket from the stored minutes and the ones not written yet; empty buckets are zeros. */
export function chartBuckets(metrics: Metrics, range: keyof typeof CHART_RANGES, now: number): { bucketMs: number; buckets: Bucket[] } {
  const { bucketMs, buckets: count } = CHART_RANGES[range];
  const to = Math.floor(now / bucketMs) * bucketMs + bucketMs;
  const from = to - count * bucketMs;
  const buckets: Bucket[] = [];
  const byStart = new Map<number, Bucket>();
  for (let at = from; at < to; at += bucketMs) {
    const bucket: Bucket = { at, received: 0, submitted: 0, delivered: 0, deferred: 0, bounced: 0, rejected: 0, quarantined: 0 };
    buckets.push(bucket);
    byStart.set(at, bucket);
  }
  for (const series of metrics.series({ names: CHART_COUNTERS, from, to, stepMinutes: bucketMs / 60_000 })) {
    const name = series.name as ChartCounter;
    for (const point of series.points) {
      const bucket = byStart.get(point.t);
      if (bucket) bucket[name] += point.v;
    }
  }
  return { bucketMs, buckets };
}

function checklistView(monitor: Monitor) {
  const { checklist } = monitor;
  const latest = new Map(checklist.latest().map((result) => [result.probe, result]));
  return {
    probes: checklist.probeList().map(({ id, title }) => {
      const result = latest.get(id);
      if (!result) return { id, title, status: 'unknown' as const, detail: 'not run yet', hint: null, checkedAt: null };
      return { id, title, status: result.status, detail: result.detail, hint: result.hint ?? null, checkedAt: result.checkedAt };
    }),
    manual: checklist.manual().map(({ id, text, reviewDays, state, tickedAt, note }) => ({ id, text, reviewDays, state, tickedAt, note })),
    schedule: monitor.checklistSchedule(),
  };
}

/** The backups in the folder, newest first; a scheduled one's time comes from its name, any other's from the file. */
async function listBackups(folder: string) {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files = [];
  for (const name of names) {
    if (name.startsWith('.') || !name.endsWith(BACKUP_SUFFIX)) continue;
    const path = join(folder, name);
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) continue;
    const encrypted = await isEncryptedBackup(path).catch(() => false);
    files.push({ file: name, size: info.size, createdAt: scheduledBackupTime(name) ?? Math.round(info.mtimeMs), encrypted });
  }
  return files.sort((a, b) => b.createdAt - a.createdAt || b.file.localeCompare(a.file));
}

function backupFile(summary: BackupSummary) {
  return { file: basename(summary.file), size: summary.bytes, createdAt: summary.createdAt, encrypted: summary.encrypted };
}

export const monitorHandlers = {
  'dashboard.get': (_input, context) => {
    const relay = context.relay();
    const { buckets } = chartBuckets(relay.monitor.metrics, '24h', context.clock());
    const sum = (name: ChartCounter) => buckets.reduce((total, bucket) => total + bucket[name], 0);
    return {
      quarantined: relay.quarantine.count(),
      releaseRequests: relay.quarantine.requestCount(),
      last24h: { received: sum('received'), submitted: sum('submitted'), delivered: sum('delivered'), rejected: sum('rejected'), quarantined: sum('quarantined'), bounced: sum('bounced') },
      openAlerts: relay.monitor.alerts.open(),
    };
  },

  'metrics.series': (input, context) => chartBuckets(context.relay().monitor.metrics, input.range, context.clock()),

  'alerts.list': (_input, context) => {
    const { alerts } = context.relay().monitor;
    return { open: alerts.open(), recent: alerts.history(context.clock() - RECENT_ALERT_DAYS * 86400_000, RECENT_ALERT_LIMIT) };
  },

  'checklist.get': (_input, context) => checklistView(context.relay().monitor),

  'checklist.run': async (input, context) => {
    const { monitor } = context.relay();
    const known = new Set(monitor.checklist.probeList().map((probe) => probe.id));
    const unknown = (input.probes ?? []).flatMap((id, index) => (known.has(id) ? [] : [{ path: `probes.${index}`, message: `no probe "${id}" (probes: ${[...known].join(', ')})` }]));
    if (unknown.length) throw new ApiError('INVALID_INPUT', undefined, unknown);
    await monitor.runChecklist(input.probes);
    return checklistView(monitor);
  },

  'checklist.tick': (input, context) => {
    const { monitor } = context.relay();
    const { checklist } = monitor;
    if (!checklist.tick(input.item, { done: input.done, note: input.note ?? null })) throw new ApiError('CHECKLIST_ITEM_GONE', `no manual checklist item "${input.item}"`);
    context.logger.info({ item: input.item, done: input.done, by: context.actor }, input.done ? 'CHECKLIST_TICKED' : 'CHECKLIST_UNTICKED');
    return checklistView(monitor);
  },

  'checklist.note': (input, context) => {
    const { monitor } = context.relay();
    if (!monitor.checklist.setNote(input.item, input.note)) throw new ApiError('CHECKLIST_ITEM_GONE', `no manual checklist item "${input.item}"`);
    context.logger.info({ item: input.item, by: context.actor }, 'CHECKLIST_NOTE');
    return checklistView(monitor);
  },

  'backups.list': async (_input, context) => {
    const { monitor, backups } = context.relay();
    const folder = backups.folder;
    const settings = context.config().backup;
    return {
      folder,
      files: await listBackups(folder),
      lastAt: monitor.store.getJson<{ at: number }>(STATE_KEYS.lastBackup)?.at ?? null,
      everyHours: settings.intervalHours,
      encrypted: settings.passphraseFile !== undefined,
    };
  },

  'backups.create': async (_input, context) => {
    const { backups } = context.relay();
    try {
      const summary = await backups.runNow();
      context.logger.info({ file: summary.file, by: context.actor }, 'BACKUP_REQUESTED');
      return backupFile(summary);
    } catch (error) {
      throw new ApiError('BACKUP_FAILED', `the backup could not be written: ${(error as Error).message}`);
    }
  },
} satisfies Handlers<typeof monitorContract>;
