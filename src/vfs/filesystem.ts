/**
 * The live filesystem: POSIX operations by path (as libfuse's high-level API calls them) and
 * by open handle. Each change waits while a snapshot holds the tree, is validated, appended
 * to the journal, then applied to the inode table. Every request names its caller, whose
 * permissions are checked as Linux does (src/vfs/permissions.ts); requests below
 * /.snapshots go to the read-only history (src/vfs/history-ops.ts). No FUSE types: errors
 * are FsError with an errno name.
 *
 * Names libfuse gives unlinked-but-open files (.fuse_hidden…) are its own: users cannot
 * create or move them, and changes to a file named only by them are not journaled (after a
 * crash such a file is gone anyway, and a snapshot never holds it).
 */
import { statfsSync } from 'node:fs';
import type { NodeType } from '../format/tree.js';
import { SNAPSHOTS_DIR } from '../timetravel/names.js';
import type { SnapshotView } from '../timetravel/view.js';
import { fail, FsError } from './errors.js';
import { historyParts, HistoryOps, isHistoryPath } from './history-ops.js';
import type { Barrier } from './barrier.js';
import { ACL_ACCESS_XATTR, aclPermissions } from './posix-acl.js';
import {
  type Caller, chmodResult, isRoot, listedXattrs, mayAccess, mayChown, mayRemoveFromSticky, modeAfterChown, modeAfterWrite, newNodeOwnership,
  R, S_ISGID, S_ISUID, utimeAccess, W, X, xattrAccess,
} from './permissions.js';
import { type Listing, S_IFMT, type Stat, type Statfs, statOf, type TimeSpec, TYPE_OF_BITS } from './stat.js';
import type { FileData } from './file-data.js';
import { type Inode, type InodeTable, isTransientName, ROOT_INO, storedLinks } from './inode-table.js';
import type { Journal } from './journal.js';
import type { JournalRecord } from './records.js';
import type { StagingArea } from './staging.js';

export const NAME_MAX = 255;
export const XATTR_NAME_MAX = 255;
export const XATTR_SIZE_MAX = 65536;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_TRUNC = 0o1000;

interface Handle {
  readonly inode: Inode;
  readonly writable: boolean;
}

/** What the filesystem needs from the background committer. */
export interface CommitGate {
  /** Whether a commit of this inode is running (content changes must wait). */
  isCommitting(ino: number): boolean;
  /** Resolves when no commit of this inode is running. */
  idle(ino: number): Promise<void>;
  /** A file's handles are all closed and it has staged data: commit it in the background. */
  fileClosed(inode: Inode): void;
}

export interface FilesystemOptions {
  /** Who owns new nodes when no caller is named (the user running the mount). */
  readonly uid: number;
  readonly gid: number;
  /** The read-only `.snapshots/` view, and whether the root folder lists it. */
  readonly view?: SnapshotView;
  readonly showSnapshots?: boolean;
  /** Frozen while a snapshot is taken; every change waits (see Barrier). */
  readonly barrier?: Barrier;
  /** Where staging lives, for statfs. */
  readonly stagingDir: string;
  /**
   * Back-pressure: called before each write; a promise means the local budget is used up
   * and the write waits for it (commits and uploads free it), instead of failing.
   */
  readonly waitForSpace?: (ino: number) => Promise<void> | null;
  readonly now?: () => bigint;
}

export type { Listing, Stat, Statfs, TimeSpec } from './stat.js';
export { S_IFMT } from './stat.js';

/** Changes under .snapshots are refused: history is read-only. */
function refuseHistory(...paths: string[]): void {
  for (const path of paths) if (isHistoryPath(path)) fail('EROFS', path);
}

export class Filesystem {
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  /** Requests below /.snapshots, when the view is there. */
  private readonly history: HistoryOps | undefined;
  private readonly now: () => bigint;
  /** The caller assumed when none is named: the mount's owner. */
  private readonly owner: Caller;
  /** Set when anything changed since the last snapshot, and when the last change was (ms). */
  changedSinceSnapshot = false;
  lastChangeAt = 0;

  constructor(
    readonly table: InodeTable,
    private readonly journal: Journal,
    private readonly staging: StagingArea,
    private readonly data: FileData,
    private readonly gate: CommitGate,
    private readonly options: FilesystemOptions,
  ) {
    this.owner = { uid: options.uid, gid: options.gid, groups: () => [] };
    this.history = options.view && new HistoryOps(options.view, () => this.table.get(ROOT_INO)!, () => this.nextHandle++);
    this.now = options.now ?? (() => BigInt(Date.now()) * 1_000_000n + BigInt(process.hrtime.bigint() % 1_000_000n));
  }

  // ---- lookups --------------------------------------------------------------------------

  /** The inode at `path`; the caller needs search (x) permission on every folder on the way. */
  private resolve(path: string, caller: Caller): Inode {
    let inode = this.table.get(ROOT_INO)!;
    if (path === '/') return inode;
    const checked = !isRoot(caller);
    for (const name of path.split('/')) {
      if (name === '') continue;
      if (!inode.children) fail('ENOTDIR', path);
      if (checked && !mayAccess(caller, inode, X)) fail('EACCES', path);
      if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG', path);
      const next = inode.children!.get(name);
      if (next === undefined) fail('ENOENT', path);
      inode = this.table.get(next!)!;
    }
    return inode;
  }

  /**
   * The parent folder and final name of a path whose last part may not exist yet. `change`:
   * the caller will add or remove a name there, which needs write and search permission.
   */
  private parentOf(path: string, caller: Caller, change = true): { parent: Inode; name: string } {
    const cut = path.lastIndexOf('/');
    const name = path.slice(cut + 1);
    if (name === '' || name === '.' || name === '..') fail('EINVAL', path);
    if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG', path);
    const parent = this.resolve(cut <= 0 ? '/' : path.slice(0, cut), caller);
    if (!parent.children) fail('ENOTDIR', path);
    if (change && !mayAccess(caller, parent, W | X)) fail('EACCES', path);
    return { parent, name };
  }

  /** A name to remove or replace in `parent`: a sticky folder lets only owners do it. */
  private mayRemove(caller: Caller, parent: Inode, inode: Inode, path: string): void {
    if (!mayRemoveFromSticky(caller, parent, inode)) fail('EPERM', path);
  }

  private handle(fh: number): Handle {
    const handle = this.handles.get(fh);
    if (!handle) throw new FsError('EBADF');
    return handle;
  }

  stat(inode: Inode): Stat {
    return statOf(inode);
  }

  /** The parts below /.snapshots when `path` is there and the view is on, else null. */
  private historyOf(path: string): string[] | null {
    return this.history ? historyParts(path) : null;
  }

  getattr(path: string, caller: Caller = this.owner): Stat | Promise<Stat> {
    const parts = this.historyOf(path);
    if (parts) return this.history!.getattr(parts, caller);
    return this.stat(this.resolve(path, caller));
  }

  /** access(2) and chdir: F_OK (0) or any of R, W, X. */
  access(path: string, mode: number, caller: Caller = this.owner): void | Promise<void> {
    const parts = this.historyOf(path);
    if (parts) return this.history!.access(parts, mode, caller);
    const inode = this.resolve(path, caller);
    if (mode !== 0 && !mayAccess(caller, inode, mode & 7)) fail('EACCES', path);
  }

  /** Opening a folder to list it needs read permission. */
  opendir(path: string, caller: Caller = this.owner): void | Promise<void> {
    return this.access(path, R, caller);
  }

  fgetattr(fh: number): Stat {
    return this.history?.owns(fh) ? this.history.fgetattr(fh) : this.stat(this.handle(fh).inode);
  }

  readdir(path: string, caller: Caller = this.owner): Listing | Promise<Listing> {
    const parts = this.historyOf(path);
    if (parts) return this.history!.readdir(parts, caller);
    const dir = this.resolve(path, caller);
    if (!dir.children) fail('ENOTDIR', path);
    if (!mayAccess(caller, dir, R)) fail('EACCES', path);
    const names: string[] = [];
    const stats: Stat[] = [];
    for (const [name, ino] of dir.children!) {
      if (isTransientName(name)) continue;
      if (dir.ino === ROOT_INO && name === SNAPSHOTS_DIR && this.history) continue; // shadowed by the view
      names.push(name);
      stats.push(this.stat(this.table.get(ino)!));
    }
    if (dir.ino === ROOT_INO && this.history && this.options.showSnapshots) {
      return this.history.topStat(caller).then((top) => ({ names: [...names, SNAPSHOTS_DIR], stats: [...stats, top] }));
    }
    return { names, stats };
  }

  readlink(path: string, caller: Caller = this.owner): string | Promise<string> {
    const parts = this.historyOf(path);
    if (parts) return this.history!.readlink(parts, caller);
    const inode = this.resolve(path, caller);
    if (inode.type !== 'symlink') fail('EINVAL', path);
    return inode.target!;
  }

  statfs(): Statfs {
    // Writes are staged on the local disk, so its free space is what a writer can use now.
    const local = statfsSync(this.options.stagingDir);
    const unit = 65536; // large blocks keep the counts inside libfuse2's 32-bit fields
    const free = Math.floor((local.bavail * local.bsize) / unit);
    const used = this.usedBytes();
    const clamp = (n: number) => Math.min(n, 0xffffffff);
    return {
      bsize: unit, frsize: unit,
      blocks: clamp(Math.ceil(used / unit) + free), bfree: clamp(free), bavail: clamp(free),
      files: clamp(this.table.size + 1_000_000), ffree: 1_000_000, favail: 1_000_000,
      namemax: NAME_MAX,
    };
  }

  /** Sum of file sizes, recounted at most once a second (file managers ask statfs often). */
  private usedCache = { at: 0, bytes: 0 };

  private usedBytes(): number {
    const now = Date.now();
    if (now - this.usedCache.at > 1000) {
      let bytes = 0;
      for (const inode of this.table.all()) if (inode.type === 'file') bytes += inode.size;
      this.usedCache = { at: now, bytes };
    }
    return this.usedCache.bytes;
  }

  // ---- changes --------------------------------------------------------------------------

  /**
   * Journals a change, then applies it. `journaled` is false only for changes that concern
   * nothing a snapshot or a replay could hold (files named only by transient names).
   */
  private record(record: JournalRecord, journaled = true): void {
    if (journaled) {
      try {
        this.journal.append(record);
      } catch (e) {
        throw localDiskError(e, 'journal');
      }
    }
    this.table.apply(record);
    this.changedSinceSnapshot = true;
    this.lastChangeAt = Date.now();
  }

  /** Runs a change now, or once a snapshot in progress lets go of the tree. */
  private change<T>(apply: () => T): T | Promise<T> {
    const barrier = this.options.barrier;
    if (barrier?.isFrozen()) return barrier.thawed().then(() => this.change(apply));
    return apply();
  }

  /** Whether changes to this inode go to the journal (see the file comment). */
  private static journaled(inode: Inode): boolean {
    return storedLinks(inode) > 0;
  }

  private createNode(caller: Caller, path: string, type: NodeType, mode: number, extra: { rdev?: number; target?: string } = {}): Inode {
    refuseHistory(path);
    if (this.history && path === `/${SNAPSHOTS_DIR}`) fail('EEXIST', path);
    const { parent, name } = this.parentOf(path, caller);
    if (parent.children!.has(name)) fail('EEXIST', path);
    if (isTransientName(name)) fail('EPERM', path);
    const ino = this.table.allocateIno();
    const owner = newNodeOwnership(caller, parent, type === 'dir', mode & 0o7777);
    this.record({
      op: 'mknod', parent: parent.ino, name, ino, type, mode: owner.mode, uid: owner.uid, gid: owner.gid,
      rdev: extra.rdev ?? 0, ...(extra.target !== undefined ? { target: extra.target } : {}), t: this.now(),
    });
    return this.table.get(ino)!;
  }

  /** New nodes belong to `caller` (the FUSE adapter passes the calling process; default: the mount's owner). */
  mkdir(path: string, mode: number, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => void this.createNode(caller, path, 'dir', mode));
  }

  mknod(path: string, mode: number, rdev: number, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => {
      const type = TYPE_OF_BITS.get(mode & S_IFMT) ?? (mode & S_IFMT ? undefined : 'file');
      if (!type || type === 'dir' || type === 'symlink') fail('EINVAL', path);
      this.createNode(caller, path, type!, mode, { rdev });
    });
  }

  symlink(target: string, path: string, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => {
      if (Buffer.byteLength(target) > 4095) fail('ENAMETOOLONG', target);
      this.createNode(caller, path, 'symlink', 0o777, { target });
    });
  }

  create(path: string, mode: number, caller: Caller = this.owner): number | Promise<number> {
    return this.change(() => this.openInode(this.createNode(caller, path, 'file', mode), true));
  }

  open(path: string, flags: number, caller: Caller = this.owner): number | Promise<number> {
    const parts = this.historyOf(path);
    if (parts) {
      if ((flags & O_ACCMODE) !== O_RDONLY) fail('EROFS', path);
      return this.history!.open(parts, caller);
    }
    const inode = this.resolve(path, caller);
    if (inode.type === 'dir' && (flags & O_ACCMODE) !== O_RDONLY) fail('EISDIR', path);
    // The kernel follows symlinks before it opens; one reaching here is opened as O_NOFOLLOW would.
    if (inode.type === 'symlink') fail('ELOOP', path);
    const access = flags & O_ACCMODE;
    const want = (access === O_RDONLY ? R : access === O_WRONLY ? W : R | W) | (flags & O_TRUNC ? W : 0);
    if (!mayAccess(caller, inode, want)) fail('EACCES', path);
    return this.openInode(inode, access !== O_RDONLY);
  }

  private openInode(inode: Inode, writable: boolean): number {
    const fh = this.nextHandle++;
    this.handles.set(fh, { inode, writable });
    inode.openCount++;
    return fh;
  }

  release(fh: number): void {
    if (this.history?.owns(fh)) return this.history.release(fh);
    const { inode } = this.handle(fh);
    this.handles.delete(fh);
    inode.openCount--;
    if (inode.openCount === 0) {
      if (inode.type === 'file' && !inode.dirty.isEmpty && inode.nlink > 0) this.gate.fileClosed(inode);
      this.table.freeIfUnused(inode);
    }
  }

  async read(fh: number, offset: number, length: number): Promise<Buffer> {
    if (this.history?.owns(fh)) return this.history.read(fh, offset, length);
    const { inode } = this.handle(fh);
    if (inode.type === 'dir') fail('EISDIR');
    return this.data.read(inode, offset, length);
  }

  /** `caller`: who writes; a write by anyone but root takes setuid/setgid away, as on Linux. */
  async write(fh: number, offset: number, data: Uint8Array, caller: Caller = this.owner): Promise<number> {
    if (this.history?.owns(fh)) fail('EROFS');
    const { inode, writable } = this.handle(fh);
    if (!writable) fail('EBADF');
    if (offset + data.length > Number.MAX_SAFE_INTEGER) fail('EFBIG');
    const space = this.options.waitForSpace?.(inode.ino);
    if (space) await space;
    for (let wait = this.blockedBy(inode.ino); wait; wait = this.blockedBy(inode.ino)) await wait;
    // Bytes first, then the record that makes them part of the file: a crash between the two
    // leaves bytes nobody was told were written.
    try {
      this.staging.write(inode.ino, offset, data);
    } catch (e) {
      throw localDiskError(e, 'staging');
    }
    this.record({ op: 'write', ino: inode.ino, offset, length: data.length, t: this.now() }, Filesystem.journaled(inode));
    if ((inode.mode & (S_ISUID | S_ISGID)) !== 0) {
      const mode = modeAfterWrite(caller, inode);
      if (mode !== inode.mode) this.record({ op: 'setattr', ino: inode.ino, mode, t: this.now() }, Filesystem.journaled(inode));
    }
    return data.length;
  }

  async truncate(path: string, size: number, caller: Caller = this.owner): Promise<void> {
    refuseHistory(path);
    const inode = this.resolve(path, caller);
    if (!mayAccess(caller, inode, W)) fail('EACCES', path);
    await this.truncateInode(inode, size);
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    if (this.history?.owns(fh)) fail('EROFS');
    await this.truncateInode(this.handle(fh).inode, size);
  }

  private async truncateInode(inode: Inode, size: number): Promise<void> {
    if (inode.type === 'dir') fail('EISDIR');
    if (inode.type !== 'file') fail('EINVAL');
    if (size < 0) fail('EINVAL');
    if (size > Number.MAX_SAFE_INTEGER) fail('EFBIG');
    for (let wait = this.blockedBy(inode.ino); wait; wait = this.blockedBy(inode.ino)) await wait;
    this.record({ op: 'truncate', ino: inode.ino, size, t: this.now() }, Filesystem.journaled(inode));
  }

  /**
   * What a content change of this file must wait for (a snapshot or a commit of the file in
   * progress), or null when it may go ahead. Callers loop until null and change the file in
   * that same synchronous step, so nothing can freeze or lock in between.
   */
  private blockedBy(ino: number): Promise<void> | null {
    if (this.options.barrier?.isFrozen()) return this.options.barrier.thawed();
    if (this.gate.isCommitting(ino)) return this.gate.idle(ino);
    return null;
  }

  /** Makes staged bytes and the journal durable on the local disk. */
  fsync(fh: number): void {
    if (this.history?.owns(fh)) return;
    const { inode } = this.handle(fh);
    this.staging.sync(inode.ino);
    this.journal.sync();
  }

  unlink(path: string, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => {
      refuseHistory(path);
      const { parent, name } = this.parentOf(path, caller);
      const ino = parent.children!.get(name);
      if (ino === undefined) fail('ENOENT', path);
      const inode = this.table.get(ino!)!;
      if (inode.type === 'dir') fail('EISDIR', path);
      this.mayRemove(caller, parent, inode, path);
      // libfuse removing its own hidden name: no snapshot or replay holds that name.
      this.record({ op: 'unlink', parent: parent.ino, name, t: this.now() }, !isTransientName(name));
    });
  }

  rmdir(path: string, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => this.removeDir(path, caller));
  }

  private removeDir(path: string, caller: Caller): void {
    refuseHistory(path);
    const { parent, name } = this.parentOf(path, caller);
    const ino = parent.children!.get(name);
    if (ino === undefined) fail('ENOENT', path);
    const dir = this.table.get(ino!)!;
    if (dir.type !== 'dir') fail('ENOTDIR', path);
    this.mayRemove(caller, parent, dir, path);
    if (dir.children!.size > 0) fail('ENOTEMPTY', path);
    this.record({ op: 'unlink', parent: parent.ino, name, t: this.now() });
  }

  rename(from: string, to: string, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => this.move(from, to, caller));
  }

  private move(from: string, to: string, caller: Caller): void {
    refuseHistory(from, to);
    const src = this.parentOf(from, caller);
    const dst = this.parentOf(to, caller);
    const ino = src.parent.children!.get(src.name);
    // A hidden name stands for an unlinked file: it cannot be given a name again.
    if (ino === undefined || isTransientName(src.name)) fail('ENOENT', from);
    const inode = this.table.get(ino!)!;
    const existing = dst.parent.children!.get(dst.name);
    if (existing === ino) return; // two names of one file: POSIX says do nothing
    if (inode.type === 'dir') {
      // A directory cannot move below itself.
      for (let d: Inode | undefined = dst.parent; d; d = d.ino === ROOT_INO ? undefined : this.table.get([...d.parents.keys()][0]!)) {
        if (d.ino === inode.ino) fail('EINVAL', to);
      }
    }
    this.mayRemove(caller, src.parent, inode, from);
    // A folder moving to another parent rewrites its '..': that needs write permission on it.
    if (inode.type === 'dir' && src.parent !== dst.parent && !mayAccess(caller, inode, W)) fail('EACCES', from);
    if (existing !== undefined) {
      const target = this.table.get(existing)!;
      this.mayRemove(caller, dst.parent, target, to);
      if (inode.type === 'dir' && target.type !== 'dir') fail('ENOTDIR', to);
      if (inode.type !== 'dir' && target.type === 'dir') fail('EISDIR', to);
      if (target.type === 'dir' && target.children!.size > 0) fail('ENOTEMPTY', to);
    }
    this.record({ op: 'rename', parent: src.parent.ino, name: src.name, newParent: dst.parent.ino, newName: dst.name, t: this.now() });
  }

  link(existing: string, path: string, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => {
      refuseHistory(existing, path);
      const inode = this.resolve(existing, caller);
      if (inode.type === 'dir') fail('EPERM', existing);
      // As Linux: a file with no names left cannot get one back through link().
      if (!Filesystem.journaled(inode)) fail('ENOENT', existing);
      const { parent, name } = this.parentOf(path, caller);
      if (parent.children!.has(name)) fail('EEXIST', path);
      if (isTransientName(name)) fail('EPERM', path);
      this.record({ op: 'link', parent: parent.ino, name, ino: inode.ino, t: this.now() });
    });
  }

  chmod(path: string, mode: number, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => {
      refuseHistory(path);
      const inode = this.resolve(path, caller);
      const allowed = chmodResult(caller, inode, mode & 0o7777);
      if (allowed === null) fail('EPERM', path);
      this.record({ op: 'setattr', ino: inode.ino, mode: allowed!, t: this.now() }, Filesystem.journaled(inode));
    });
  }

  chown(path: string, uid: number, gid: number, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => {
      refuseHistory(path);
      const inode = this.resolve(path, caller);
      // -1 (as unsigned 32-bit) means "leave as it is".
      const given = (v: number) => (v === -1 || v === 0xffffffff ? undefined : v);
      const [newUid, newGid] = [given(uid), given(gid)];
      if (!mayChown(caller, inode, newUid, newGid)) fail('EPERM', path);
      const mode = newUid !== undefined || newGid !== undefined ? modeAfterChown(inode) : inode.mode;
      this.record({
        op: 'setattr', ino: inode.ino, ...(newUid !== undefined ? { uid: newUid } : {}), ...(newGid !== undefined ? { gid: newGid } : {}),
        ...(mode !== inode.mode ? { mode } : {}), t: this.now(),
      }, Filesystem.journaled(inode));
    });
  }

  utimens(path: string, atime: TimeSpec, mtime: TimeSpec, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => {
      refuseHistory(path);
      const inode = this.resolve(path, caller);
      // Both "now" (touch) needs ownership or write permission; any given time, ownership.
      const allowed = utimeAccess(caller, inode, atime === 'now' && mtime === 'now');
      if (allowed !== 'ok') fail(allowed, path);
      const t = this.now();
      const pick = (spec: TimeSpec) => (spec === 'omit' ? undefined : spec === 'now' ? t : spec);
      const a = pick(atime);
      const m = pick(mtime);
      this.record({ op: 'setattr', ino: inode.ino, ...(a !== undefined ? { atime: a } : {}), ...(m !== undefined ? { mtime: m } : {}), t }, Filesystem.journaled(inode));
    });
  }

  setxattr(path: string, name: string, value: Uint8Array, flags: number, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => this.setXattrNow(path, name, value, flags, caller));
  }

  private setXattrNow(path: string, name: string, value: Uint8Array, flags: number, caller: Caller): void {
    refuseHistory(path);
    const inode = this.resolve(path, caller);
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
      const t = this.now();
      const journaled = Filesystem.journaled(inode);
      this.record({ op: 'setattr', ino: inode.ino, mode: (inode.mode & ~0o777) | acl!.permissions, t }, journaled);
      if (!acl!.minimal) this.record({ op: 'xattr', ino: inode.ino, name, value: Buffer.from(value).toString('base64'), t }, journaled);
      else if (exists) this.record({ op: 'xattr', ino: inode.ino, name, value: null, t }, journaled);
      return;
    }
    this.record({ op: 'xattr', ino: inode.ino, name, value: Buffer.from(value).toString('base64'), t: this.now() }, Filesystem.journaled(inode));
  }

  getxattr(path: string, name: string, caller: Caller = this.owner): Buffer | Promise<Buffer> {
    const parts = this.historyOf(path);
    if (parts) return this.history!.getxattr(parts, name, caller);
    const inode = this.resolve(path, caller);
    const allowed = xattrAccess(caller, inode, name, false);
    if (allowed !== 'ok') fail(allowed, name);
    const value = inode.xattrs.get(name);
    if (value === undefined) fail('ENODATA', name);
    return value!;
  }

  listxattr(path: string, caller: Caller = this.owner): string[] | Promise<string[]> {
    const parts = this.historyOf(path);
    if (parts) return this.history!.listxattr(parts, caller);
    return listedXattrs(caller, [...this.resolve(path, caller).xattrs.keys()]);
  }

  removexattr(path: string, name: string, caller: Caller = this.owner): void | Promise<void> {
    return this.change(() => {
      refuseHistory(path);
      const inode = this.resolve(path, caller);
      const allowed = xattrAccess(caller, inode, name, true);
      if (allowed !== 'ok') fail(allowed, name);
      if (!inode.xattrs.has(name)) fail('ENODATA', name);
      this.record({ op: 'xattr', ino: inode.ino, name, value: null, t: this.now() }, Filesystem.journaled(inode));
    });
  }
}

/** A failed write to local state: a full disk is ENOSPC (the program can free space and retry), the rest EIO. */
function localDiskError(e: unknown, what: 'journal' | 'staging'): FsError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new FsError('ENOSPC', `the local state disk is full (${what})`);
  return new FsError('EIO', `${what} write failed: ${(e as Error).message}`);
}
