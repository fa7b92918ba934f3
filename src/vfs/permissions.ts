/**
 * Who owns what, as Linux decides it. Pure: a caller and a folder's owner and mode in, a
 * decision out. (While the kernel's `default_permissions` is on, the kernel checks access
 * itself against the owners and modes this filesystem reports; what it cannot know is the
 * owner of a node that does not exist yet.)
 */

/** Who asks: the calling process's filesystem uid and gid, and (read on first need) its other groups. */
export interface Caller {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups; called only when the primary gid does not decide. */
  readonly groups: () => readonly number[];
}

/** The owner and mode of a node (mode: the 12 permission bits, setuid/setgid/sticky included). */
export interface Owned {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

export const S_ISGID = 0o2000;
const S_IXGRP = 0o010;

export function inGroup(caller: Caller, gid: number): boolean {
  return caller.gid === gid || caller.groups().includes(gid);
}

/**
 * Owner, group and mode of a new node in `parent`, made by `caller` with `mode` (already
 * masked by the kernel with the caller's umask): it belongs to the caller; a setgid folder
 * passes on its group, and to new folders its setgid bit; a new non-folder keeps setgid
 * (with group-execute) only if its creator is root or in that group.
 */
export function newNodeOwnership(caller: Caller, parent: Owned, isDir: boolean, mode: number): { uid: number; gid: number; mode: number } {
  const inherit = (parent.mode & S_ISGID) !== 0;
  const gid = inherit ? parent.gid : caller.gid;
  let newMode = mode;
  if (isDir && inherit) newMode |= S_ISGID;
  else if (!isDir && (newMode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) && caller.uid !== 0 && !inGroup(caller, gid)) newMode &= ~S_ISGID;
  return { uid: caller.uid, gid, mode: newMode };
}
