import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMessageFile } from '../../src-relay/filters/mime.ts';
import { READ_ONCE_BYTES } from '../../src-relay/filters/message-source.ts';
import { tempDir } from './temp-dir.ts';

/**
 * The MIME walk over `raw`, written to a spool-like file in a temp dir that is removed afterwards; `signal` stops it.
 * A message small enough for the pipeline to read once is walked twice, streamed from the file and from the copy held
 * whole as the pipeline hands it over: the two must agree.
 */
export async function parseRaw(raw: string | Buffer, signal?: AbortSignal) {
  const dir = tempDir('moat-mime-');
  try {
    const path = join(dir, 'message');
    writeFileSync(path, raw);
    const streamed = await parseMessageFile(path, signal);
    const content = Buffer.from(raw);
    if (content.length > READ_ONCE_BYTES) return streamed;
    const held = await parseMessageFile(path, signal, { content, size: content.length });
    assert.deepEqual(held, streamed, 'the walk of the copy held whole differs from the walk of the file');
    return streamed;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
