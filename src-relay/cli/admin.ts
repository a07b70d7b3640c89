// `moat admin reset-password`: a forgotten admin password is set anew from the box itself (whoever can run this can
// read the data directory anyway). Works while `serve` runs: the new hash goes into the state table, and the running
// relay compares it with each session's at every request, so every admin session ends at once.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_PASSWORD_STATE, SETUP_TOKEN_FILE } from '../admin/admin-auth.ts';
import { adminPasswordSchema } from '../admin/auth-contract.ts';
import { hashPassword } from '../auth/password.ts';
import { dataPaths } from '../engine.ts';
import { openDatabase } from '../store/db.ts';
import { StateStore } from '../store/state-store.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, readSecret, type CommandIo } from './io.ts';

export const ADMIN_USAGE = `  moat admin  reset-password   [--data-dir DIR]
              (the new admin password is asked for twice, or read from the first line of standard input; never an
              argument; every admin session ends)`;

export async function adminCommand(dataDir: string, args: string[], io: CommandIo): Promise<number> {
  const [action, ...extra] = args;
  if (action !== 'reset-password') return usage(io, `unknown admin action ${JSON.stringify(action ?? '')}`);
  // a password on the command line would be visible to every user of the box (ps) and kept in shell histories
  if (extra.length > 0) return usage(io, 'admin reset-password takes no arguments: the password is asked for, or read from standard input, never given on the command line');
  // a mistyped --data-dir must not create a second, empty relay that holds the new password
  if (!existsSync(dataPaths(dataDir).db)) return failed(io, `no Moat database in ${dataDir} (give the relay's --data-dir)`);
  let password: string;
  try {
    password = await readSecret(io, 'New admin password');
  } catch (error) {
    return failed(io, (error as Error).message);
  }
  const checked = adminPasswordSchema.safeParse(password);
  if (!checked.success) return failed(io, `the admin password must have ${checked.error.issues[0]!.message}; nothing was changed`);
  const hash = await hashPassword(password);
  const db = openDatabase(dataDir);
  try {
    const state = new StateStore(db);
    const claimed = state.get(ADMIN_PASSWORD_STATE) !== undefined;
    state.put(ADMIN_PASSWORD_STATE, hash);
    // a relay claimed this way needs no setup token any more (a running relay refuses a claim once a password is set)
    if (!claimed) rmSync(join(dataDir, SETUP_TOKEN_FILE), { force: true });
    io.out(claimed ? 'admin password reset; every admin session has ended (log in again with the new password)\n' : 'admin password set; the relay is claimed\n');
    return EXIT_OK;
  } finally {
    db.close();
  }
}

function usage(io: CommandIo, problem: string): number {
  io.err(`moat: ${problem}\nusage:\n${ADMIN_USAGE}\n`);
  return EXIT_USAGE;
}

function failed(io: CommandIo, text: string): number {
  io.err(`moat: ${text}\n`);
  return EXIT_FAILED;
}
