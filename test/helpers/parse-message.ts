import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMessageFile } from '../../src-relay/filters/mime.ts';
import { tempDir } from './temp-dir.ts';

/** The MIME walk over `raw`, written to a spool-like file in a temp dir that is removed afterwards; `signal` stops it. */
export async function parseRaw(raw: string | Buffer, signal?: AbortSignal) {
  const dir = tempDir('moat-mime-');
  try {
    const path = join(dir, 'message');
    writeFileSync(path, raw);
    return await parseMessageFile(path, signal);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
