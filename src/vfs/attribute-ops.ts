/**
 * The operations on attributes: stat, access, listings, link targets, statfs, and the
 * changes chmod, chown, utimens and extended attributes (POSIX ACLs become the mode), each
 * with Linux's ownership rules (src/vfs/permissions.ts).
 */
import { statfsSync } from 'node:fs';
import { SNAPSHOTS_DIR } from '../timetravel/names.js';
import { fail } from './errors.js';
import { refuseHistory } from './history-ops.js';
import { isTransientName, ROOT_INO } from './inode-table.js';
import { describe, LiveTree, NAME_MAX, type NodeAt } from './live-tree.js';
import {
  type Caller, chmodResult, listedXattrs, mayAccess, mayChown, modeAfterChown, R, utimeAccess, xattrAccess,
} from './permissions.js';
import { ACL_ACCESS_XATTR, aclPermissions } from './posix-acl.js';
import { type Listing, type Stat, type Statfs, statOf, type TimeSpec } from './stat.js';

export const XATTR_NAME_MAX = 255;
export const XATTR_SIZE_MAX = 65536;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

export class AttributeOps {
  constructor(
    private readonly tree: LiveTree,
    /** Where staging lives: its disk's free space is what statfs reports. */
    private readonly stagingDir: string,
    /** Whether /.snapshots is the history view (a live entry of that name is hidden). */
    private readonly historyShown: boolean,
  ) {}

  getattr(path: NodeAt, caller: Caller): Stat {
    return statOf(this.tree.resolve(path, caller));
  }

  /** access(2) and chdir: F_OK (0) or any of R, W, X. */
  access(path: NodeAt, mode: number, caller: Caller): void {
    const inode = this.tree.resolve(path, caller);
    if (mode !== 0 && !mayAccess(caller, inode, mode & 7)) fail('EACCES', describe(path));
  }

  /**
   * A folder's entries with their attributes (hidden names left out; the facade adds
   * .snapshots to the root folder with --snapshots visible).
   */
  readdir(path: NodeAt, caller: Caller): Listing {
    const dir = this.tree.resolve(path, caller);
    if (!dir.children) fail('ENOTDIR', describe(path));
    if (!mayAccess(caller, dir, R)) fail('EACCES', describe(path));
    const names: string[] = [];
    const stats: Stat[] = [];
    for (const [name, ino] of dir.children!) {
      if (isTransientName(name)) continue;
      if (dir.ino === ROOT_INO && name === SNAPSHOTS_DIR && this.historyShown) continue; // shadowed by the view
      names.push(name);
      stats.push(statOf(this.tree.table.get(ino)!));
    }
    return { names, stats };
  }

  readlink(path: NodeAt, caller: Caller): string {
    const inode = this.tree.resolve(path, caller);
    if (inode.type !== 'symlink') fail('EINVAL', describe(path));
    return inode.target!;
  }

  statfs(): Statfs {
    // Writes are staged on the local disk, so its free space is what a writer can use now.
    const local = statfsSync(this.stagingDir);
    const unit = 65536; // large blocks keep the counts inside libfuse2's 32-bit fields
    const free = Math.floor((local.bavail * local.bsize) / unit);
    const counts = this.tree.table.counts();
    const used = counts.bytes;
    const clamp = (n: number) => Math.min(n, 0xffffffff);
    return {
      bsize: unit, frsize: unit,
      blocks: clamp(Math.ceil(used / unit) + free), bfree: clamp(free), bavail: clamp(free),
      files: clamp(counts.files + counts.dirs + 1_000_000), ffree: 1_000_000, favail: 1_000_000,
      namemax: NAME_MAX,
    };
  }

  chmod(path: NodeAt, mode: number, caller: Caller): void | Promise<void> {
    return this.tree.change(() => {
      refuseHistory(path);
      const inode = this.tree.resolve(path, caller);
      const allowed = chmodResult(caller, inode, mode & 0o7777);
      if (allowed === null) fail('EPERM', describe(path));
      this.tree.record({ op: 'setattr', ino: inode.ino, mode: allowed!, t: this.tree.now() }, LiveTree.journaled(inode));
    });
  }

  chown(path: NodeAt, uid: number, gid: number, caller: Caller): void | Promise<void> {
    return this.tree.change(() => {
      refuseHistory(path);
      const inode = this.tree.resolve(path, caller);
      // -1 (as unsigned 32-bit) means "leave as it is".
      const given = (v: number) => (v === -1 || v === 0xffffffff ? undefined : v);
      const [newUid, newGid] = [given(uid), given(gid)];
      if (!mayChown(caller, inode, newUid, newGid)) fail('EPERM', describe(path));
      const mode = newUid !== undefined || newGid !== undefined ? modeAfterChown(inode) : inode.mode;
      this.tree.record({
        op: 'setattr', ino: inode.ino, ...(newUid !== undefined ? { uid: newUid } : {}), ...(newGid !== undefined ? { gid: newGid } : {}),
        ...(mode !== inode.mode ? { mode } : {}), t: this.tree.now(),
      }, LiveTree.journaled(inode));
    });
  }

  utimens(path: NodeAt, atime: TimeSpec, mtime: TimeSpec, caller: Caller): void | Promise<void> {
    return this.tree.change(() => {
      refuseHistory(path);
      const inode = this.tree.resolve(path, caller);
      // Both "now" (touch) needs ownership or write permission; any given time, ownership.
      const allowed = utimeAccess(caller, inode, atime === 'now' && mtime === 'now');
      if (allowed !== 'ok') fail(allowed, describe(path));
      const t = this.tree.now();
      const pick = (spec: TimeSpec) => (spec === 'omit' ? undefined : spec === 'now' ? t : spec);
      const a = pick(atime);
      const m = pick(mtime);
      this.tree.record({ op: 'setattr', ino: inode.ino, ...(a !== undefined ? { atime: a } : {}), ...(m !== undefined ? { mtime: m } : {}), t }, LiveTree.journaled(inode));
    });
  }

  setxattr(path: NodeAt, name: string, value: Uint8Array, flags: number, caller: Caller): void | Promise<void> {
    return this.tree.change(() => this.setXattrNow(path, name, value, flags, caller));
  }

  private setXattrNow(path: NodeAt, name: string, value: Uint8Array, flags: number, caller: Caller): void {
    refuseHistory(path);
    const inode = this.tree.resolve(path, caller);
    const allowed = xattrAccess(caller, inode, name, true);
    if (allowed !== 'ok') fail(allowed, name);
    if (Buffer.byteLength(name) > XATTR_NAME_MAX) fail('ERANGE', name);
    if (value.length > XATTR_SIZE_MAX) fail('E2BIG', name);
    if (!/^(user|trusted|security|system)\./.test(name)) fail('ENOTSUP', name);
    const exists = inode.xattrs.has(name);
    if (flags & XATTR_CREATE && exists) fail('EEXIST', name);
    if (flags & XATTR_REPLACE && !exists) fail('ENODATA', name);
    if (name === ACL_ACCESS_XATTR) {
      // As a filesystem with ACLs does: the ACL sets the mode; only an ACL the mode cannot
      // express is kept as an xattr.
      const acl = aclPermissions(value);
      if (!acl) fail('EINVAL', name);
      const t = this.tree.now();
      const journaled = LiveTree.journaled(inode);
      this.tree.record({ op: 'setattr', ino: inode.ino, mode: (inode.mode & ~0o777) | acl!.permissions, t }, journaled);
      if (!acl!.minimal) this.tree.record({ op: 'xattr', ino: inode.ino, name, value: Buffer.from(value).toString('base64'), t }, journaled);
      else if (exists) this.tree.record({ op: 'xattr', ino: inode.ino, name, value: null, t }, journaled);
      return;
    }
    this.tree.record({ op: 'xattr', ino: inode.ino, name, value: Buffer.from(value).toString('base64'), t: this.tree.now() }, LiveTree.journaled(inode));
  }

  getxattr(path: NodeAt, name: string, caller: Caller): Buffer {
    const inode = this.tree.resolve(path, caller);
    const allowed = xattrAccess(caller, inode, name, false);
    if (allowed !== 'ok') fail(allowed, name);
    const value = inode.xattrs.get(name);
    if (value === undefined) fail('ENODATA', name);
    return value!;
  }

  listxattr(path: NodeAt, caller: Caller): string[] {
    return listedXattrs(caller, [...this.tree.resolve(path, caller).xattrs.keys()]);
  }

  removexattr(path: NodeAt, name: string, caller: Caller): void | Promise<void> {
    return this.tree.change(() => {
      refuseHistory(path);
      const inode = this.tree.resolve(path, caller);
      const allowed = xattrAccess(caller, inode, name, true);
      if (allowed !== 'ok') fail(allowed, name);
      if (!inode.xattrs.has(name)) fail('ENODATA', name);
      this.tree.record({ op: 'xattr', ino: inode.ino, name, value: null, t: this.tree.now() }, LiveTree.journaled(inode));
    });
  }
}
