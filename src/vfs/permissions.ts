/**
 * Permission checks as Linux makes them, for a filesystem that checks them itself (the
 * kernel's `default_permissions` is off while attributes are not cached: it would ask for
 * the attributes of every path component of every call). Pure: a caller and a node's owner
 * and mode in, a decision out. Errnos as Linux gives them: EACCES for missing rwx
 * permission, EPERM for what only the owner (or root) may do.
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
  readonly type: string;
}

export const R = 4;
export const W = 2;
export const X = 1;

export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;
const S_IXGRP = 0o010;

export const isRoot = (caller: Caller): boolean => caller.uid === 0;

export function inGroup(caller: Caller, gid: number): boolean {
  return caller.gid === gid || caller.groups().includes(gid);
}

/**
 * Owner, group and mode of a new node in `parent`, made by `caller` with `mode` (already
 * masked by the kernel with the caller's umask): it belongs to the caller; a setgid folder
 * passes on its group, and to new folders its setgid bit; a new non-folder keeps setgid
 * (with group-execute) only if its creator is root or in that group.
 */
export function newNodeOwnership(caller: Caller, parent: Omit<Owned, 'type'>, isDir: boolean, mode: number): { uid: number; gid: number; mode: number } {
  const inherit = (parent.mode & S_ISGID) !== 0;
  const gid = inherit ? parent.gid : caller.gid;
  let newMode = mode;
  if (isDir && inherit) newMode |= S_ISGID;
  else if (!isDir && (newMode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) && caller.uid !== 0 && !inGroup(caller, gid)) newMode &= ~S_ISGID;
  return { uid: caller.uid, gid, mode: newMode };
}

/**
 * Whether `caller` may access `node` for every bit of `want` (R, W, X). Root may read and
 * write anything and search every folder, but execute a file only when some x bit is set.
 */
export function mayAccess(caller: Caller, node: Owned, want: number): boolean {
  if (isRoot(caller)) return (want & X) === 0 || node.type === 'dir' || (node.mode & 0o111) !== 0;
  const bits = caller.uid === node.uid ? (node.mode >> 6) & 7 : inGroup(caller, node.gid) ? (node.mode >> 3) & 7 : node.mode & 7;
  return (bits & want) === want;
}

export const isOwnerOrRoot = (caller: Caller, node: Owned): boolean => isRoot(caller) || caller.uid === node.uid;

/** In a sticky folder only the file's owner, the folder's owner or root may remove or replace a name. */
export function mayRemoveFromSticky(caller: Caller, dir: Owned, node: Owned): boolean {
  return (dir.mode & S_ISVTX) === 0 || isOwnerOrRoot(caller, node) || caller.uid === dir.uid;
}

/**
 * What a chmod to `mode` may do: the owner or root may set any mode (setgid only when root
 * or in the file's group: Linux drops the bit silently); anyone else may only take away
 * setuid/setgid from a file it may write (the kernel asks for that after a write by a
 * non-owner). Null when refused (EPERM).
 */
export function chmodResult(caller: Caller, node: Owned, mode: number): number | null {
  if (isOwnerOrRoot(caller, node)) return !isRoot(caller) && (mode & S_ISGID) !== 0 && !inGroup(caller, node.gid) ? mode & ~S_ISGID : mode;
  const onlyClears = (mode & ~(S_ISUID | S_ISGID)) === (node.mode & ~(S_ISUID | S_ISGID)) && (mode & ~node.mode) === 0;
  return onlyClears && mayAccess(caller, node, W) ? mode : null;
}

/** A chown to `uid`/`gid` (undefined: unchanged): root gives anything; the owner only its file to one of its groups. */
export function mayChown(caller: Caller, node: Owned, uid: number | undefined, gid: number | undefined): boolean {
  if (isRoot(caller)) return true;
  if (uid !== undefined && (caller.uid !== node.uid || uid !== node.uid)) return false;
  if (gid !== undefined && (caller.uid !== node.uid || (gid !== node.gid && !inGroup(caller, gid)))) return false;
  return true;
}

/** A non-folder loses setuid, and setgid with group-execute, when its owner or group changes (for root too). */
export function modeAfterChown(node: Owned): number {
  if (node.type === 'dir') return node.mode;
  let mode = node.mode & ~S_ISUID;
  if ((mode & S_IXGRP) !== 0) mode &= ~S_ISGID;
  return mode;
}

/** A write by anyone but root takes away setuid, and setgid with group-execute. */
export function modeAfterWrite(caller: Caller, node: Owned): number {
  return isRoot(caller) ? node.mode : modeAfterChown(node);
}

/** Given times need ownership; "now" for both (touch) also works with write permission. */
export function utimeAccess(caller: Caller, node: Owned, toNow: boolean): 'ok' | 'EPERM' | 'EACCES' {
  if (isOwnerOrRoot(caller, node)) return 'ok';
  if (!toNow) return 'EPERM';
  return mayAccess(caller, node, W) ? 'ok' : 'EACCES';
}

/**
 * Extended attributes by namespace: `trusted.*` is root's (others see none); `security.*`
 * is set by root; `system.*` (ACLs) by the owner; `user.*` exists on files and folders only
 * and follows read/write permission (in a sticky folder, owner only).
 */
export function xattrAccess(caller: Caller, node: Owned, name: string, write: boolean): 'ok' | 'EPERM' | 'EACCES' | 'ENODATA' {
  if (name.startsWith('trusted.')) return isRoot(caller) ? 'ok' : write ? 'EPERM' : 'ENODATA';
  if (name.startsWith('security.')) return !write || isRoot(caller) ? 'ok' : 'EPERM';
  if (name.startsWith('system.')) return !write || isOwnerOrRoot(caller, node) ? 'ok' : 'EPERM';
  if (node.type !== 'file' && node.type !== 'dir') return write ? 'EPERM' : 'ENODATA';
  if (write && node.type === 'dir' && (node.mode & S_ISVTX) !== 0 && !isOwnerOrRoot(caller, node)) return 'EPERM';
  return mayAccess(caller, node, write ? W : R) ? 'ok' : 'EACCES';
}

/** The xattr names a listing shows the caller: `trusted.*` only to root, as Linux lists them. */
export function listedXattrs(caller: Caller, names: readonly string[]): string[] {
  return isRoot(caller) ? [...names] : names.filter((n) => !n.startsWith('trusted.'));
}
