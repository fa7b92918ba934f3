/**
 * The process whose FUSE request is being answered, as the binding publishes it (uid, gid,
 * pid, umask in CALLER, valid synchronously inside a handler: native/lowlevel.c). Its
 * supplementary groups are read from /proc only when a decision needs them.
 */
import { readFileSync } from 'node:fs';
import type { Caller } from '../vfs/permissions.js';
import { lowLevelBinding } from './lowlevel-binding.js';

let published: Uint32Array | undefined;

/** The caller of the request being answered now; call before the handler's first await. */
export function currentCaller(): Caller {
  published ??= lowLevelBinding().CALLER;
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
