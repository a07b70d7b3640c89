import { z } from 'zod';
import { method } from '../util/contract-kit.ts';

const empty = z.object({}).strict();

export const alertSchema = z.object({
  id: z.number(),
  rule: z.string(),
  severity: z.enum(['warning', 'critical']),
  title: z.string(),
  message: z.string(),
  hint: z.string(),
  raisedAt: z.number(),
  clearedAt: z.number().nullable(),
  clearMessage: z.string().nullable(),
});

/** The `alert` event of the engine, as the UI and the tray receive it. */
export const alertEventSchema = z.object({ action: z.enum(['raised', 'updated', 'cleared']), alert: alertSchema });

export const probeSchema = z.object({
  id: z.string(),
  title: z.string(),
  status: z.enum(['ok', 'warning', 'failing', 'unknown']),
  detail: z.string(),
  hint: z.string().nullable(),
  /** When it last ran; null when it has not run yet. */
  checkedAt: z.number().nullable(),
});

export const manualItemSchema = z.object({
  id: z.string(),
  text: z.string(),
  reviewDays: z.number(),
  state: z.enum(['done', 'due', 'todo']),
  tickedAt: z.number().nullable(),
  note: z.string().nullable(),
});

/** When the probes run by themselves: every `everyHours` (0: only when asked), next at `nextRunAt`. */
const checklistScheduleSchema = z.object({ everyHours: z.number(), nextRunAt: z.number().nullable() });
const checklistSchema = z.object({ probes: z.array(probeSchema), manual: z.array(manualItemSchema), schedule: checklistScheduleSchema });

/** One bucket of the dashboard charts (counts within the bucket). */
export const metricsBucketSchema = z.object({
  at: z.number(),
  received: z.number(),
  /** accepted from office clients on the submission listeners */
  submitted: z.number(),
  delivered: z.number(),
  deferred: z.number(),
  bounced: z.number(),
  rejected: z.number(),
  quarantined: z.number(),
});

/** One backup: `file` is its name in the backup folder. */
export const backupFileSchema = z.object({ file: z.string(), size: z.number(), createdAt: z.number(), encrypted: z.boolean() });

export const monitorContract = {
  'dashboard.get': method({
    summary: 'Figures for the dashboard: today\'s counts, quarantine size, open alerts',
    input: empty,
    output: z.object({
      quarantined: z.number(),
      /** Quarantined messages a recipient asked to have released, waiting for the admin. */
      releaseRequests: z.number(),
      last24h: z.object({ received: z.number(), submitted: z.number(), delivered: z.number(), rejected: z.number(), quarantined: z.number(), bounced: z.number() }),
      openAlerts: z.array(alertSchema),
    }),
  }),
  'metrics.series': method({
    summary: 'Throughput, rejections and quarantine over 24 hours (hourly) or 7 days (6-hourly)',
    input: z.object({ range: z.enum(['24h', '7d']) }).strict(),
    output: z.object({ bucketMs: z.number(), buckets: z.array(metricsBucketSchema) }),
  }),
  'alerts.list': method({
    summary: 'Open alerts, and the ones of the last 7 days',
    input: empty,
    output: z.object({ open: z.array(alertSchema), recent: z.array(alertSchema) }),
  }),
  'checklist.get': method({ summary: 'The patch-status checklist: each probe as last run, and the manual items', input: empty, output: checklistSchema }),
  'checklist.run': method({
    summary: 'Run the probes now (all, or the ones named)',
    input: z.object({ probes: z.array(z.string().max(60)).max(50).optional() }).strict(),
    output: checklistSchema,
  }),
  'checklist.tick': method({
    summary: 'Tick (or untick) a manual item, with an optional note',
    input: z.object({ item: z.string().max(60), done: z.boolean(), note: z.string().max(500).nullable().optional() }).strict(),
    output: checklistSchema,
  }),
  'checklist.note': method({
    summary: "Set a manual item's note; whether it is ticked, and when, stay as they were",
    input: z.object({ item: z.string().max(60), note: z.string().max(500).nullable() }).strict(),
    output: checklistSchema,
  }),
  'backups.list': method({
    summary: 'Backups in the backup folder, and when the last one was made',
    input: empty,
    output: z.object({
      folder: z.string().nullable(),
      files: z.array(backupFileSchema),
      lastAt: z.number().nullable(),
      /** backup.intervalHours: scheduled backups every this many hours; 0: none. */
      everyHours: z.number(),
      /** Whether scheduled backups are encrypted (backup.passphraseFile set). */
      encrypted: z.boolean(),
    }),
  }),
  'backups.create': method({ summary: 'Make a backup now (into the backup folder)', input: empty, output: backupFileSchema }),
} as const;
