/** `cairn unmount`: ask the kernel to unmount, then wait for the daemon to save and exit. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { CairnError, type ErrorCode } from '../errors/errors.js';
import { controlSocketPath, mountRecordPath, savedSnapshotPath } from './local-paths.js';
import { isMounted, lazyUnmount, mountpointState } from './mount-table.js';
import type { SingleBar } from 'cli-progress';
import { controlRequest } from '../control/client.js';
import type { MountStatus } from '../control/protocol.js';
import { formatBytes, note } from './output.js';
import { ProgressLine, terminalBar } from './progress.js';

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

export interface UnmountOptions {
  /** Wait for queued uploads (default), or leave them for the next mount. */
  readonly wait?: boolean;
  /** The mount's status, for the upload progress bar. */
  readonly status?: () => Promise<MountStatus>;
}

/** What the mount saved at its end: a snapshot's id and `.snapshots/` name, or null (nothing changed). */
export type SavedSnapshot = { readonly id: string; readonly name: string } | null;

/** Returns what the mount saved; undefined when the mount was not started by this machine's cairn record. */
export async function unmountAndWait(mountpoint: string, options: UnmountOptions = {}): Promise<SavedSnapshot | undefined> {
  const recordFile = mountRecordPath(mountpoint);
  const record = existsSync(recordFile) ? (JSON.parse(readFileSync(recordFile, 'utf8')) as MountRecord) : null;
  if ((await mountpointState(mountpoint)) === 'stale' || (record && !alive(record.pid))) {
    lazyUnmount(mountpoint);
    rmSync(recordFile, { force: true });
    throw diedUnsaved(mountpoint, 'had died before this unmount (killed or crashed); cleared the dead mount');
  }
  if (!isMounted(mountpoint)) throw new CairnError('USAGE', `${mountpoint} is not mounted`);
  if (options.wait === false) {
    await controlRequest(controlSocketPath(mountpoint), { op: 'no-wait' }).catch((e) =>
      note(`cairn: could not tell the mount not to wait (${(e as Error).message}); it will finish its uploads first`),
    );
  }
  const result = spawnSync('fusermount', ['-u', mountpoint], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new CairnError('USAGE', `cannot unmount ${mountpoint}: ${(result.stderr || '').trim() || 'fusermount failed'}`, {
      hint: 'a program is still using it (see `fuser -m MOUNTPOINT`); close it and try again',
    });
  }
  if (!record) return undefined;
  note('cairn: waiting for the mount to save its changes');
  const saving = await waitShowingUploads(record.pid, options.status);
  // The daemon removes its record when it saved everything; a record left behind says it did not.
  const outcome = existsSync(recordFile) ? (JSON.parse(readFileSync(recordFile, 'utf8')) as MountRecord) : null;
  rmSync(recordFile, { force: true });
  if (outcome) saving?.stop();
  else saving?.complete();
  if (outcome?.failed) {
    throw new CairnError(outcome.failed.code, `the mount could not save everything: ${outcome.failed.message}`, {
      hint: 'nothing is lost: the changes are kept in its local journal and staging; fix the cause and mount again to save them',
    });
  }
  if (outcome) throw diedUnsaved(mountpoint, 'ended without saving (its process was killed or crashed while saving)');
  const savedFile = savedSnapshotPath(recordFile);
  let saved: SavedSnapshot | undefined;
  try {
    saved = (JSON.parse(readFileSync(savedFile, 'utf8')) as { snapshot: SavedSnapshot }).snapshot;
  } catch {
    saved = undefined; // a mount from before this was written
  }
  rmSync(savedFile, { force: true });
  return saved;
}

function diedUnsaved(mountpoint: string, what: string): CairnError {
  return new CairnError('NOT_SAVED', `the mount at ${mountpoint} ${what}`, {
    hint: 'its unsaved changes stay in its local journal and staging: mount the store again to replay and save them',
  });
}

/** The progress line of the commit a mount makes when it unmounts: staged data chunked and sealed. */
class SavingProgress {
  private readonly line = new ProgressLine('saving', 'files');
  private finished = false;

  constructor(private readonly first: MountStatus) {}

  /** Shows where the commit is; false once nothing is staged any more (or this line ended). */
  observe(s: MountStatus): boolean {
    if (this.finished) return false;
    if (s.stagedBytes === 0) {
      this.complete();
      return false;
    }
    this.line.update({
      entries: Math.min(this.first.stagedFiles, s.committedFiles - this.first.committedFiles),
      totalEntries: this.first.stagedFiles,
      bytes: Math.min(this.first.stagedBytes, s.committedBytes - this.first.committedBytes),
      totalBytes: this.first.stagedBytes,
    });
    return true;
  }

  /** Everything was committed (the mount saved it). */
  complete(): void {
    if (this.finished) return;
    this.line.update({ entries: this.first.stagedFiles, totalEntries: this.first.stagedFiles, bytes: this.first.stagedBytes, totalBytes: this.first.stagedBytes });
    this.stop();
  }

  stop(): void {
    this.line.stop();
    this.finished = true;
  }
}

/**
 * Waits for the daemon to exit; shows one progress line while it commits staged data (a
 * big local write takes a while to chunk and seal), then a bar while it uploads its queue.
 * Returns the commit's line, for the caller to complete once it knows the mount saved.
 */
async function waitShowingUploads(pid: number, status: (() => Promise<MountStatus>) | undefined): Promise<SavingProgress | null> {
  let bar: SingleBar | null = null;
  let total = 0;
  let lastLine = 0;
  let saving: SavingProgress | null = null;
  try {
    while (alive(pid)) {
      await new Promise((r) => setTimeout(r, 300));
      const s = status ? await status().catch(() => null) : null;
      if (!s?.unmounting) continue;
      if (!saving && s.stagedBytes > 0) saving = new SavingProgress(s);
      if (saving?.observe(s)) continue;
      const u = s.uploads;
      if (!u || u.queuedBytes === 0) continue;
      total = Math.max(total, u.queuedBytes);
      const done = total - u.queuedBytes;
      const state = `${u.queuedObjects} object(s) left, ${formatBytes(u.bytesPerSecond)}/s, ${u.connection}${u.connection === 'offline' && u.lastError ? `: ${u.lastError}` : ''}`;
      if (process.stderr.isTTY) {
        bar ??= terminalBar('cairn: uploading [{bar}] {percentage}% | {done} of {total} | {state}');
        if (!bar.isActive) bar.start(total, done, { done: formatBytes(done), total: formatBytes(total), state });
        bar.setTotal(total);
        bar.update(done, { done: formatBytes(done), total: formatBytes(total), state });
      } else if (Date.now() - lastLine > 5000) {
        lastLine = Date.now();
        note(`cairn: uploading: ${formatBytes(done)} of ${formatBytes(total)} (${state})`);
      }
    }
  } finally {
    bar?.stop();
  }
  return saving;
}

interface MountRecord {
  readonly pid: number;
  readonly failed?: { readonly code: ErrorCode; readonly message: string };
}
