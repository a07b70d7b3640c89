import type { Db } from '../store/db.ts';
import type { BackupSummary } from '../backup/backup.ts';
import type { BackupLog } from '../backup/schedule.ts';
import { STATE_KEYS, StateStore, type StateKey } from '../store/state-store.ts';
import type { ProbeResult, ProbeStatus } from './types.ts';
import type { Alert, Severity } from '../events.ts';

/** One row of the per-minute series: `minute` is the minute's start in ms since the epoch. */
export interface MetricRow {
  minute: number;
  name: string;
  labels: string;
  value: number;
}

export interface TickRow {
  item: string;
  done: number;
  at: number;
  note: string | null;
}

// the state keys live with the state table's owner; re-exported for the monitor's readers
export { STATE_KEYS };

interface AlertRow {
  id: number;
  rule: string;
  severity: Severity;
  title: string;
  message: string;
  hint: string;
  raised_at: number;
  cleared_at: number | null;
  clear_message: string | null;
}

const toAlert = (row: AlertRow): Alert => ({
  id: row.id,
  rule: row.rule,
  severity: row.severity,
  title: row.title,
  message: row.message,
  hint: row.hint,
  raisedAt: row.raised_at,
  clearedAt: row.cleared_at,
  clearMessage: row.clear_message,
});

/**
 * The monitor's SQL: metric series, alerts, checklist results and ticks. Every statement prepared once. Its state
 * values (last backup, first start, served addresses) go through the state table's owner, store/state-store.ts.
 */
export class MonitorStore {
  private readonly s;
  private readonly state: StateStore;

  constructor(readonly db: Db) {
    this.state = new StateStore(db);
    this.s = {
      addCounter: db.prepare(
        `INSERT INTO metric_minutes (minute, name, labels, value) VALUES (?, ?, ?, ?)
         ON CONFLICT(minute, name, labels) DO UPDATE SET value = value + excluded.value`,
      ),
      setGauge: db.prepare(
        `INSERT INTO metric_minutes (minute, name, labels, value) VALUES (?, ?, ?, ?)
         ON CONFLICT(minute, name, labels) DO UPDATE SET value = excluded.value`,
      ),
      range: db.prepare(`SELECT minute, name, labels, value FROM metric_minutes WHERE minute >= ? AND minute < ? ORDER BY minute`),
      prune: db.prepare(`DELETE FROM metric_minutes WHERE minute < ?`),
      // the primary key (minute, ...) walks the window as a range; 30 days of every counter is a few thousand rows
      sums: db.prepare(
        `SELECT name, labels, SUM(value) AS value FROM metric_minutes WHERE minute >= ? AND minute < ? AND name IN (SELECT value FROM json_each(?))
         GROUP BY name, labels`,
      ),
      openAlerts: db.prepare(`SELECT * FROM alerts WHERE cleared_at IS NULL ORDER BY raised_at, id`),
      alertHistory: db.prepare(`SELECT * FROM alerts WHERE raised_at >= ? ORDER BY raised_at DESC, id DESC LIMIT ?`),
      insertAlert: db.prepare(
        `INSERT INTO alerts (rule, severity, title, message, hint, raised_at) VALUES (@rule, @severity, @title, @message, @hint, @raisedAt)`,
      ),
      updateAlert: db.prepare(`UPDATE alerts SET message = ?, hint = ? WHERE id = ? AND cleared_at IS NULL`),
      clearAlert: db.prepare(`UPDATE alerts SET cleared_at = ?, clear_message = ? WHERE id = ? AND cleared_at IS NULL`),
      pruneAlerts: db.prepare(`DELETE FROM alerts WHERE cleared_at IS NOT NULL AND cleared_at < ?`),
      insertResult: db.prepare(
        `INSERT INTO checklist_results (probe, status, detail, hint, checked_at) VALUES (@probe, @status, @detail, @hint, @checkedAt)`,
      ),
      latestResults: db.prepare(
        `SELECT r.* FROM checklist_results r
         JOIN (SELECT probe, MAX(id) AS id FROM checklist_results GROUP BY probe) last ON last.id = r.id`,
      ),
      resultHistory: db.prepare(
        `SELECT * FROM checklist_results WHERE (@probe IS NULL OR probe = @probe) ORDER BY checked_at DESC, id DESC LIMIT @limit`,
      ),
      pruneResults: db.prepare(`DELETE FROM checklist_results WHERE checked_at < ?`),
      insertTick: db.prepare(`INSERT INTO checklist_ticks (item, done, at, note) VALUES (?, ?, ?, ?)`),
      latestTicks: db.prepare(
        `SELECT t.item, t.done, t.at, t.note FROM checklist_ticks t
         JOIN (SELECT item, MAX(id) AS id FROM checklist_ticks GROUP BY item) last ON last.id = t.id`,
      ),
    };
  }

  /** Writes a batch of counter deltas and gauge samples in one transaction. */
  writeMetrics(counters: readonly MetricRow[], gauges: readonly MetricRow[]): void {
    if (counters.length === 0 && gauges.length === 0) return;
    this.db.transaction(() => {
      for (const row of counters) this.s.addCounter.run(row.minute, row.name, row.labels, row.value);
      for (const row of gauges) this.s.setGauge.run(row.minute, row.name, row.labels, row.value);
    })();
  }

  metricRows(from: number, to: number): MetricRow[] {
    return this.s.range.all(from, to) as MetricRow[];
  }

  /** Each series of `names` summed over the minutes in [from, to) (counters: the events in the window). */
  metricSums(names: readonly string[], from: number, to: number): { name: string; labels: string; value: number }[] {
    return this.s.sums.all(from, to, JSON.stringify(names)) as { name: string; labels: string; value: number }[];
  }

  pruneMetrics(before: number): number {
    return this.s.prune.run(before).changes;
  }

  openAlerts(): Alert[] {
    return (this.s.openAlerts.all() as AlertRow[]).map(toAlert);
  }

  alertHistory(since: number, limit: number): Alert[] {
    return (this.s.alertHistory.all(since, limit) as AlertRow[]).map(toAlert);
  }

  insertAlert(alert: Omit<Alert, 'id' | 'clearedAt' | 'clearMessage'>): Alert {
    const id = Number(this.s.insertAlert.run(alert).lastInsertRowid);
    return { ...alert, id, clearedAt: null, clearMessage: null };
  }

  updateAlert(id: number, message: string, hint: string): boolean {
    return this.s.updateAlert.run(message, hint, id).changes > 0;
  }

  clearAlert(id: number, at: number, message: string): boolean {
    return this.s.clearAlert.run(at, message, id).changes > 0;
  }

  pruneAlerts(before: number): void {
    this.s.pruneAlerts.run(before);
  }

  insertResults(results: readonly ProbeResult[]): void {
    this.db.transaction(() => {
      for (const result of results) {
        this.s.insertResult.run({ probe: result.probe, status: result.status, detail: result.detail, hint: result.hint ?? null, checkedAt: result.checkedAt });
      }
    })();
  }

  latestResults(): { probe: string; status: ProbeStatus; detail: string; hint: string | null; checked_at: number }[] {
    return this.s.latestResults.all() as never;
  }

  resultHistory(probe: string | null, limit: number): { probe: string; status: ProbeStatus; detail: string; hint: string | null; checked_at: number }[] {
    return this.s.resultHistory.all({ probe, limit }) as never;
  }

  pruneResults(before: number): void {
    this.s.pruneResults.run(before);
  }

  tick(item: string, done: boolean, at: number, note: string | null): void {
    this.s.insertTick.run(item, done ? 1 : 0, at, note);
  }

  latestTicks(): TickRow[] {
    return this.s.latestTicks.all() as TickRow[];
  }

  getState(key: StateKey): string | undefined {
    return this.state.get(key);
  }

  setState(key: StateKey, value: string): void {
    this.state.put(key, value);
  }

  deleteState(key: StateKey): void {
    this.state.delete(key);
  }

  getJson<T>(key: StateKey): T | undefined {
    return this.state.getJson<T>(key);
  }
}

/** The backups' record in the state table (backup/schedule.ts `BackupLog`): the last backup written and the last failure. */
export function backupLog(store: MonitorStore): BackupLog {
  return {
    lastAt: () => store.getJson<{ at: number }>(STATE_KEYS.lastBackup)?.at ?? null,
    succeeded: (summary: BackupSummary) =>
      store.setState(STATE_KEYS.lastBackup, JSON.stringify({ at: summary.createdAt, file: summary.file, bytes: summary.bytes, messages: summary.messages, encrypted: summary.encrypted })),
    failed: ({ at, error }) => store.setState(STATE_KEYS.lastBackupError, JSON.stringify({ at, error })),
  };
}
