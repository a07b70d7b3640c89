import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMessageFile } from '../../src-relay/filters/mime.ts';
import { tempDir } from './relay.ts';

/** The MIME walk over `raw`, written to a spool-like file in a temp dir that is removed afterwards. */
export async function parseRaw(raw: string | Buffer) {
  const dir = tempDir('moat-mime-');
  try {
    const path = join(dir, 'message');
    writeFileSync(path, raw);
    return await parseMessageFile(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
