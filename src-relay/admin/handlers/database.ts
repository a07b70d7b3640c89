import { mkdirSync } from 'node:fs';
import type { Relay } from '../../engine.ts';
import { openDatabase, type Db } from '../../store/db.ts';
import { ApiError } from '../errors.ts';
import type { ApiContext } from './types.ts';

/** The running relay, or null while it is being set up or has failed (other errors still throw). */
export function runningRelay(context: ApiContext): Relay | null {
  try {
    return context.relay();
  } catch (error) {
    if (error instanceof ApiError && error.code === 'RELAY_NOT_RUNNING') return null;
    throw error;
  }
}

/**
 * The data directory's database: the running relay's connection, or (during setup, when accounts are added before the
 * first start) one opened for this call, as the CLI does; SQLite's WAL lets both work on it at once.
 */
export function withDatabase<T>(context: ApiContext, use: (db: Db) => T): T {
  const relay = runningRelay(context);
  if (relay) return use(relay.database);
  mkdirSync(context.dataDir, { recursive: true, mode: 0o700 });
  const db = openDatabase(context.dataDir);
  try {
    return use(db);
  } finally {
    db.close();
  }
}
