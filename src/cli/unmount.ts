/** `cairn unmount`: ask the kernel to unmount, then wait for the daemon to save and exit. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { CairnError, type ErrorCode } from '../errors/errors.js';
import { mountRecordPath } from './local-paths.js';
import { isMounted, lazyUnmount, mountpointState } from './mount-table.js';
import { note } from './output.js';

/** True while the process runs; a zombie (exited, not yet reaped by its parent) has finished. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function unmountAndWait(mountpoint: string): Promise<void> {
  const recordFile = mountRecordPath(mountpoint);
  const record = existsSync(recordFile) ? (JSON.parse(readFileSync(recordFile, 'utf8')) as MountRecord) : null;
  if ((await mountpointState(mountpoint)) === 'stale' || (record && !alive(record.pid))) {
    lazyUnmount(mountpoint);
    rmSync(recordFile, { force: true });
    note(`cairn: ${mountpoint} was a dead mount; cleared it. Mount again to replay what it had staged.`);
    return;
  }
  if (!isMounted(mountpoint)) throw new CairnError('USAGE', `${mountpoint} is not mounted`);
  const result = spawnSync('fusermount', ['-u', mountpoint], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new CairnError('USAGE', `cannot unmount ${mountpoint}: ${(result.stderr || '').trim() || 'fusermount failed'}`, {
      hint: 'a program is still using it (see `fuser -m MOUNTPOINT`); close it and try again',
    });
  }
  if (!record) return;
  note('cairn: waiting for the mount to save its changes');
  while (alive(record.pid)) await new Promise((r) => setTimeout(r, 200));
  const outcome = existsSync(recordFile) ? (JSON.parse(readFileSync(recordFile, 'utf8')) as MountRecord) : null;
  if (outcome?.failed) {
    rmSync(recordFile, { force: true });
    throw new CairnError(outcome.failed.code, `the mount could not save everything: ${outcome.failed.message}`, {
      hint: 'nothing is lost: the changes are kept in its local journal and staging; fix the cause and mount again to save them',
    });
  }
  note('cairn: done');
}

interface MountRecord {
  readonly pid: number;
  readonly failed?: { readonly code: ErrorCode; readonly message: string };
}
