// The backup passphrase file, read as a backup reads it: a missing, unreadable or empty file is named at its field
// before Apply, not met as a raw "ENOENT: no such file or directory" when Back up now or a scheduled backup runs.
import { readFileSync, statSync } from 'node:fs';
import type { Config } from './schema.ts';
import type { ConfigProblem } from './load.ts';

/** A passphrase file's text without its final line break, or why it cannot be used, in plain words. */
export function readPassphrase(file: string): { value: string } | { problem: string } {
  let text: string;
  try {
    // a pipe or a device would block the read or never end: only a regular file is read
    const stat = statSync(file);
    if (stat.isDirectory()) return { problem: `${file} is a folder, not a file` };
    if (!stat.isFile()) return { problem: `${file} is not a regular file (a device, pipe or socket): put the passphrase in a plain file` };
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { problem: `${file} does not exist` };
    if (code === 'EACCES' || code === 'EPERM') return { problem: `${file} cannot be read by Moat (permission denied): let the user Moat runs as read it` };
    return { problem: `${file} cannot be read (${code ?? (error as Error).message})` };
  }
  const value = text.replace(/\r?\n$/, '');
  return value ? { value } : { problem: `${file} is empty: write the passphrase in it (one line)` };
}

/** The passphrase file `backup.passphraseFile` names, checked at its field (the settings page, Apply). */
export function passphraseFileProblems(config: Config): ConfigProblem[] {
  const file = config.backup.passphraseFile;
  if (!file) return [];
  const read = readPassphrase(file);
  return 'problem' in read ? [{ path: 'backup.passphraseFile', message: read.problem }] : [];
}
