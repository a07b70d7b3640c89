// `moat backup create FILE` / `moat backup restore FILE --data-dir DIR`: one file holding a consistent snapshot of
// the relay (works while `serve` runs), and a fresh data directory rebuilt from it.
import type { ConfigProblem, ConfigResult } from '../config/load.ts';
import { BackupError, createBackup, readPassphraseFile, restoreBackup } from '../backup/backup.ts';
import { backupLog, MonitorStore } from '../monitor/monitor-store.ts';
import { openDatabase } from '../store/db.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CommandIo } from './io.ts';
import { missingStore } from '../engine.ts';

export const BACKUP_USAGE = `  moat backup create FILE [--passphrase-file F] [--data-dir DIR]     (while serve runs, too)
              | restore FILE --data-dir NEWDIR [--passphrase-file F] [--deliver-queue]
                 NEWDIR new or empty. The queued mail it brings back is held (nothing is sent) until
                 "moat queue resume --data-dir NEWDIR": while the old relay still runs, releasing it
                 delivers every message twice. --deliver-queue: the old relay is gone for good
                 (a disaster recovery); the queue is delivered as soon as the new relay starts`;

export interface BackupCliContext {
  /** --data-dir as given (restore insists on it). */
  dataDirFlag: string | undefined;
  passphraseFile: string | undefined;
  /** restore: leave the queue due at once instead of held (--deliver-queue). */
  deliverQueue?: boolean;
  /** The configuration as serve would read it (file + flags). */
  resolve(): { dataDir: string; configFile: string; result: ConfigResult };
  refuseConfig(configFile: string, problems: ConfigProblem[]): number;
}

export async function backupCommand(args: string[], context: BackupCliContext, io: CommandIo): Promise<number> {
  const [action, file, ...extra] = args;
  const usage = (message: string) => {
    io.err(`moat: ${message}\nusage:\n${BACKUP_USAGE}\n`);
    return EXIT_USAGE;
  };
  if (action !== 'create' && action !== 'restore') return usage(`unknown backup action ${JSON.stringify(action ?? '')}`);
  if (!file) return usage(`backup ${action} needs a FILE`);
  if (extra.length) return usage(`unexpected arguments: ${extra.join(' ')}`);
  if (context.deliverQueue && action !== 'restore') return usage('--deliver-queue is for backup restore');
  let passphrase: string | undefined;
  try {
    passphrase = context.passphraseFile ? readPassphraseFile(context.passphraseFile) : undefined;
  } catch (error) {
    io.err(`moat: ${(error as Error).message}\n`);
    return EXIT_FAILED;
  }
  try {
    if (action === 'create') {
      const { dataDir, configFile, result } = context.resolve();
      if (!result.ok) return context.refuseConfig(configFile, result.problems);
      const missing = missingStore(dataDir);
      if (missing) {
        io.err(`moat: ${missing}\n`);
        return EXIT_FAILED;
      }
      const summary = await createBackup({ dataDir, file, config: result.config, configFile, passphrase });
      const db = openDatabase(dataDir);
      try {
        backupLog(new MonitorStore(db)).succeeded(summary);
      } finally {
        db.close();
      }
      io.out(
        `backup written: ${summary.file} (${summary.bytes} bytes, ${summary.messages} queued message(s), ${summary.quarantined} in quarantine, ${summary.files} files${summary.encrypted ? ', encrypted' : ''})\n`,
      );
      if (!summary.encrypted) io.out('note: it holds the TLS private key and every queued message in plain form: keep it safe, or use --passphrase-file\n');
      return EXIT_OK;
    }
    if (!context.dataDirFlag) return usage('backup restore needs --data-dir NEWDIR (a new or empty directory)');
    const summary = await restoreBackup({ file, dataDir: context.dataDirFlag, passphrase, deliverQueue: context.deliverQueue });
    io.out(
      `restored ${summary.files} files into ${summary.dataDir}: backup of ${summary.manifest.hostname} taken ${summary.manifest.createdAt} (Moat ${summary.manifest.moat}), ${summary.messages} queued message(s), ${summary.quarantined} in quarantine\n`,
    );
    if (summary.queueHeld) {
      io.out(
        `HELD: the ${summary.messages} queued message(s) are held; the restored relay sends none of them until you release them.\n` +
          `  While the old relay (${summary.manifest.hostname}) still runs, keep them held: it delivers them itself, and releasing them here delivers each one twice.\n` +
          `  Once the old relay is gone for good, release them with: moat queue resume --data-dir ${summary.dataDir}\n` +
          `  (or "Resume delivery" on the admin page's Queue screen)\n`,
      );
    } else if (summary.messages > 0) {
      io.out(`the ${summary.messages} queued message(s) are due for delivery at once (--deliver-queue): if the old relay still runs, stop it for good first, or they are delivered twice\n`);
    }
    for (const note of summary.notes) io.out(`note: ${note}\n`);
    if (summary.missing.length) io.out(`WARNING: ${summary.missing.length} message(s) have no spool file in the backup and will be set aside: ${summary.missing.join(', ')}\n`);
    io.out(`start it with: moat serve --data-dir ${summary.dataDir}\n`);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof BackupError) {
      io.err(`moat: ${error.message} (${error.code})\n`);
      return EXIT_FAILED;
    }
    throw error;
  }
}
