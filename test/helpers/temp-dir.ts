import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
// a test that fails half-way leaves no directory behind either: each one goes when its process ends
process.on('exit', () => {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // a child still writing there: the dir stays, and the test's own verdict stands
    }
  }
});

/** A fresh directory under the system's temp dir, removed when this process exits. */
export function tempDir(prefix = 'moat-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
