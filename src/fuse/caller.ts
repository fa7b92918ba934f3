/**
 * The process whose FUSE request is being answered, as the patched binding publishes it
 * (uid, gid, pid, umask in Fuse.CALLER, valid synchronously inside a handler). Its
 * supplementary groups are read from /proc only when a decision needs them.
 */
import { readFileSync } from 'node:fs';
import Fuse from 'fuse-native';
import type { Caller } from '../vfs/permissions.js';

const published = Fuse.CALLER;

/** The caller of the request being answered now; call before the handler's first await. */
export function currentCaller(): Caller {
  const uid = published[0]!;
  const gid = published[1]!;
  const pid = published[2]!;
  let groups: readonly number[] | undefined;
  return { uid, gid, groups: () => (groups ??= supplementaryGroups(pid)) };
}

/** The `Groups:` line of /proc/<pid>/status; none when the process is gone or unreadable. */
function supplementaryGroups(pid: number): readonly number[] {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Groups:'));
    return line ? line.slice('Groups:'.length).trim().split(/\s+/).filter(Boolean).map(Number) : [];
  } catch {
    return [];
  }
}
