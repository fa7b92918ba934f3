/**
 * Writing a local file so that it is all there or not there after a crash or power loss:
 * a temporary name, fsync, rename into place, fsync of the folder. The local store's objects
 * and the upload queue (the only copy of data not yet uploaded) both need exactly this.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** Temporary files end in this; readers of both folders skip and clean them. */
export const TEMP_SUFFIX = '.tmp';

/** Writes `data` to `target` atomically and durably; the caller translates errors. */
export async function writeFileDurably(target: string, data: Uint8Array): Promise<void> {
  const temp = `${target}.${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`;
  try {
    const handle = await openForWrite(temp);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, target);
    await syncFolder(path.dirname(target));
  } catch (e) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** Opens a new temporary file, creating its folder if it went missing (a copy dropped it). */
async function openForWrite(file: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(file, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await fs.mkdir(path.dirname(file), { recursive: true });
    return fs.open(file, 'wx', 0o600);
  }
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
