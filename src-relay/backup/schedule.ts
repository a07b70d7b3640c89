import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { Db } from '../store/db.ts';
import { BackupError, createBackup, readPassphraseFile, removeBackupLeftovers, type BackupSummary } from './backup.ts';

/** Names of scheduled backups: sortable by time, and the only files retention ever deletes. */
export const SCHEDULED_NAME = /^moat-backup-\d{8}T\d{6}Z\.moat$/;
/** After a failed scheduled backup, try again this much later (not the whole interval). */
const RETRY_AFTER_FAILURE_MS = 3600_000;
/** The first scheduled backup after a start waits this long, so a start is not slowed by it. */
const FIRST_RUN_DELAY_MS = 60_000;

export function scheduledBackupName(at: number): string {
  return `moat-backup-${new Date(at).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.moat`;
}

/** When a scheduled backup was made, read back from its name; null for any other name. */
export function scheduledBackupTime(name: string): number | null {
  const match = /^moat-backup-(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z\.moat$/.exec(name);
  if (!match) return null;
  const [, year, month, day, hour, minute, second] = match.map(Number) as number[];
  const at = Date.UTC(year!, month! - 1, day!, hour!, minute!, second!);
  return Number.isNaN(at) ? null : at;
}

/**
 * Where backups are recorded: the engine hands in the monitor's (monitor/monitor-store.ts `backupLog`), where the
 * checklist and the backup-age rule look. backup/ never reads or writes that state itself.
 */
export interface BackupLog {
  /** When the last backup was made (by the schedule or `moat backup create`); null before the first. */
  lastAt(): number | null;
  /** A backup was written. */
  succeeded(summary: BackupSummary): void;
  /** A scheduled backup failed. */
  failed(failure: { at: number; error: string }): void;
}

export interface BackupSchedulerOptions {
  config: Config;
  dataDir: string;
  db: Db;
  log: BackupLog;
  clock: () => number;
  logger: Logger;
}

/** Scheduled backups to `backup.folder` every `backup.intervalHours`, keeping the newest `backup.keep`. */
export class BackupScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<BackupSummary> | null = null;
  private stopped = false;
  readonly folder: string;

  constructor(private readonly options: BackupSchedulerOptions) {
    this.folder = resolve(options.config.backup.folder ?? join(options.dataDir, 'backups'));
  }

  get intervalMs(): number {
    return this.options.config.backup.intervalHours * 3600_000;
  }

  /** Clears what a killed backup or restore left (whether or not backups are scheduled), then arms the timer. */
  start(): void {
    const { dataDir, clock, logger } = this.options;
    removeBackupLeftovers({ dataDir, folder: this.folder, now: clock(), logger });
    if (this.intervalMs <= 0) return;
    const last = this.options.log.lastAt() ?? 0;
    const now = this.options.clock();
    this.arm(Math.max(Math.min(FIRST_RUN_DELAY_MS, this.intervalMs), last + this.intervalMs - now));
  }

  private arm(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.runNow().then(
        () => this.arm(this.intervalMs),
        () => this.arm(Math.min(this.intervalMs, RETRY_AFTER_FAILURE_MS)),
      );
    }, Math.max(0, delayMs));
    this.timer.unref();
  }

  /** Writes a backup into the folder now and applies the retention; concurrent calls share one run. */
  runNow(): Promise<BackupSummary> {
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(): Promise<BackupSummary> {
    const { config, dataDir, db, log, clock, logger } = this.options;
    try {
      mkdirSync(this.folder, { recursive: true, mode: 0o700 });
      const passphrase = config.backup.passphraseFile ? settingPassphrase(config.backup.passphraseFile) : undefined;
      const summary = await createBackup({ dataDir, config, db, file: join(this.folder, scheduledBackupName(clock())), passphrase, clock, logger });
      log.succeeded(summary);
      this.prune();
      return summary;
    } catch (error) {
      log.failed({ at: clock(), error: (error as Error).message });
      logger.error({ folder: this.folder, error: (error as Error).message }, 'BACKUP_FAILED');
      throw error;
    }
  }

  /** Deletes the oldest scheduled backups past `keep`; other files in the folder are never touched. */
  prune(): string[] {
    const names = readdirSync(this.folder).filter((name) => SCHEDULED_NAME.test(name)).sort();
    const doomed = names.slice(0, Math.max(0, names.length - this.options.config.backup.keep));
    for (const name of doomed) rmSync(join(this.folder, name), { force: true });
    if (doomed.length) this.options.logger.info({ folder: this.folder, removed: doomed.length }, 'BACKUPS_PRUNED');
    return doomed;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}

/** The configured passphrase; a file gone or emptied since Apply is told with the setting to fix, in plain words. */
function settingPassphrase(file: string): string {
  try {
    return readPassphraseFile(file);
  } catch (error) {
    if (error instanceof BackupError && error.code === 'PASSPHRASE_FILE') {
      throw new BackupError(error.code, `${error.message}. Backups are encrypted with it: put it back, or choose another file under Configuration → Backups → Scheduled backups (Passphrase file)`);
    }
    throw error;
  }
}
