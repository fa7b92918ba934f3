/** Where cairn keeps local state on this machine (XDG base directories). */
import { createHash } from 'node:crypto';
import { homedir, tmpdir } from 'node:os';
import * as path from 'node:path';

/** Journal and staging of one repository: $XDG_STATE_HOME/cairn/<repository id>. */
export function defaultStateDir(repositoryId: string): string {
  const base = process.env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state');
  return path.join(base, 'cairn', repositoryId);
}

/** The object cache and upload queue of one repository: $XDG_CACHE_HOME/cairn/<repository id>. */
export function defaultCacheDir(repositoryId: string): string {
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'cairn', repositoryId);
}

/** Records of running mounts, so `cairn unmount` can find and wait for the daemon. */
export function mountRecordPath(mountpoint: string): string {
  const base = process.env.XDG_RUNTIME_DIR || path.join(tmpdir(), `cairn-${process.getuid?.() ?? 'user'}`);
  const key = createHash('sha256').update(path.resolve(mountpoint)).digest('hex').slice(0, 24);
  return path.join(base, 'cairn-mounts', `${key}.json`);
}

/** The control socket of a running mount, next to its record. */
export function controlSocketPath(mountpoint: string): string {
  return mountRecordPath(mountpoint).replace(/\.json$/, '.sock');
}
