/** Where cairn keeps local state on this machine (XDG base directories). */
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { CairnError } from '../errors/errors.js';
import { homedir, tmpdir } from 'node:os';
import * as path from 'node:path';

/** Journal and staging of one repository: $XDG_STATE_HOME/cairn/<repository id>. */
export function defaultStateDir(repositoryId: string): string {
  const base = process.env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state');
  return path.join(base, 'cairn', repositoryId);
}

/**
 * The log of a background mount (`cairn mount --daemon` without --log-file):
 * $XDG_STATE_HOME/cairn/mount-<mountpoint, slashes as dashes>.log. Named by the mountpoint,
 * because the mount must say where it logs before it has opened the repository.
 */
export function defaultMountLog(mountpoint: string): string {
  const base = process.env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state');
  const name = path.resolve(mountpoint).replace(/^\//, '').replace(/[^A-Za-z0-9._-]+/g, '-') || 'root';
  return path.join(base, 'cairn', `mount-${name}.log`);
}

/** The object cache and upload queue of one repository: $XDG_CACHE_HOME/cairn/<repository id>. */
export function defaultCacheDir(repositoryId: string): string {
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'cairn', repositoryId);
}

/**
 * Records of running mounts (and their control sockets), so `cairn unmount`, `snapshot` and
 * `status` find the daemon: in $XDG_RUNTIME_DIR, else /tmp/cairn-<uid>. The folder is made
 * private (0700), and one that another user owns is refused: whoever owns it could plant a
 * record or a socket and answer in the mount's place.
 */
export function mountRecordPath(mountpoint: string): string {
  const base = process.env.XDG_RUNTIME_DIR || path.join(tmpdir(), `cairn-${process.getuid?.() ?? 'user'}`);
  const folder = path.join(base, 'cairn-mounts');
  ensurePrivateFolder(base, !process.env.XDG_RUNTIME_DIR);
  ensurePrivateFolder(folder, true);
  const key = createHash('sha256').update(path.resolve(mountpoint)).digest('hex').slice(0, 24);
  return path.join(folder, `${key}.json`);
}

/** Creates `folder` (0700) if missing; refuses one that is a link or another user's; `tighten`: make it 0700. */
function ensurePrivateFolder(folder: string, tighten: boolean): void {
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const st = lstatSync(folder);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) {
    throw new CairnError('USAGE', `${folder} is ${st.isDirectory() ? `owned by uid ${st.uid}, not by you` : 'not a folder'}: cairn keeps its mount records and control sockets there and does not trust it`, {
      hint: 'remove it (it holds nothing of value), or set XDG_RUNTIME_DIR to a private folder of yours',
    });
  }
  if (tighten && (st.mode & 0o077) !== 0) chmodSync(folder, 0o700);
}

/** The control socket of a running mount, next to its record. */
export function controlSocketPath(mountpoint: string): string {
  return mountRecordPath(mountpoint).replace(/\.json$/, '.sock');
}

/** Where a mount that saved and exited leaves the snapshot it saved, for `cairn unmount`. */
export function savedSnapshotPath(recordPath: string): string {
  return `${recordPath}.saved`;
}
