import { closeSync, fsync, openSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Files appear whole or not at all (STYLE habit 13): a temp file beside the target, fsync, rename over it, then
 * fsync of the folder so the rename itself survives a power loss.
 */
export async function writeFileWhole(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  await syncFolder(dirname(path));
}

/** Windows cannot fsync a directory (opening one fails with EPERM or EISDIR); there a rename is as durable as NTFS makes it. */
const CAN_SYNC_FOLDERS = process.platform !== 'win32';

/**
 * fsync of a folder: makes the renames and creations done in it before the call survive a power loss. Only the fsync
 * waits in libuv's pool; opening and closing the folder take microseconds, and queued behind other fsyncs there they
 * would delay the spool's group commit.
 */
export async function syncFolder(path: string): Promise<void> {
  if (!CAN_SYNC_FOLDERS) return;
  const fd = openSync(path, 'r');
  try {
    await new Promise<void>((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
  } finally {
    closeSync(fd);
  }
}
