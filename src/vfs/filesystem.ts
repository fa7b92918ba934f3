/**
 * The filesystem as FUSE calls it: POSIX operations on nodes named by path (tests, tools)
 * or by node (the low-level FUSE adapter: a live inode number, or a history node's parts),
 * and by open handle, each naming its caller. This facade only routes: paths below /.snapshots go to
 * the read-only history (src/vfs/history-ops.ts), everything else to the live tree's groups
 * of operations (names, attributes, file contents), which share one core
 * (src/vfs/live-tree.ts: lookups with permission checks, the snapshot barrier, journal then
 * apply). No FUSE types: errors are FsError with an errno name.
 *
 * A caller left out is the mount's owner (direct users of this layer: tests, benchmarks).
 */
import { SNAPSHOTS_DIR } from '../timetravel/names.js';
import type { SnapshotView } from '../timetravel/view.js';
import { AttributeOps } from './attribute-ops.js';
import type { Barrier } from './barrier.js';
import { fail } from './errors.js';
import type { FileData } from './file-data.js';
import type { FolderLoader } from './folder-loader.js';
import { type CommitGate, FileOps } from './file-ops.js';
import { historyParts, HistoryOps, refuseHistory } from './history-ops.js';
import { type InodeTable, ROOT_INO } from './inode-table.js';
import type { Journal } from './journal.js';
import { LiveTree, type NameAt, type NodeAt } from './live-tree.js';
import { NamespaceOps } from './namespace-ops.js';
import { type Caller, R } from './permissions.js';
import type { StagingArea } from './staging.js';
import { type Listing, type Stat, type Statfs, statOf, type TimeSpec } from './stat.js';

export type { CommitGate } from './file-ops.js';
export type { Listing, Stat, Statfs, TimeSpec } from './stat.js';
export { S_IFMT } from './stat.js';
export { NAME_MAX } from './live-tree.js';
export { XATTR_NAME_MAX, XATTR_SIZE_MAX } from './attribute-ops.js';

const O_ACCMODE = 3;
const O_RDONLY = 0;

/** A node of the history view by its parts below /.snapshots ([] is /.snapshots itself). */
export interface HistoryAt {
  readonly history: readonly string[];
}
/** A node: a path, a live inode number, or a history node. */
export type NodeRef = NodeAt | HistoryAt;
/** A name: a path, or a folder (live or history) and the name in it. */
export type NameRef = NameAt | { readonly parent: HistoryAt; readonly name: string };

const isHistoryAt = (at: object): at is HistoryAt => 'history' in at;

/** The extended attribute holding a file's capabilities (setcap). */
export const CAPABILITY_XATTR = 'security.capability';

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
  /** Loads folders on demand (absent: the whole tree is in the table). */
  readonly loader?: FolderLoader;
}

export class Filesystem {
  private readonly tree: LiveTree;
  private readonly names: NamespaceOps;
  private readonly attributes: AttributeOps;
  private readonly files: FileOps;
  /** Requests below /.snapshots, when the view is there. */
  private readonly history: HistoryOps | undefined;
  private nextHandle = 1;

  constructor(
    readonly table: InodeTable,
    journal: Journal,
    staging: StagingArea,
    data: FileData,
    gate: CommitGate,
    private readonly options: FilesystemOptions,
  ) {
    this.tree = new LiveTree(table, journal, options.barrier, options);
    const newHandle = () => this.nextHandle++;
    this.history = options.view && new HistoryOps(options.view, () => table.get(ROOT_INO)!, newHandle);
    this.names = new NamespaceOps(this.tree, this.history !== undefined);
    this.attributes = new AttributeOps(this.tree, options.stagingDir, this.history !== undefined);
    this.files = new FileOps(this.tree, this.names, staging, data, gate, options.barrier, newHandle, options.waitForSpace);
  }

  /** Set when anything changed since the last snapshot (the session clears it). */
  get changedSinceSnapshot(): boolean {
    return this.tree.changedSinceSnapshot;
  }

  set changedSinceSnapshot(changed: boolean) {
    this.tree.changedSinceSnapshot = changed;
  }

  /** When the last change was (ms since the epoch). */
  get lastChangeAt(): number {
    return this.tree.lastChangeAt;
  }

  /** The parts below /.snapshots when `at` is there and the view is on, else null. */
  private historyOf(at: NodeRef): string[] | null {
    if (!this.history) return null;
    if (typeof at === 'string') return historyParts(at);
    return isHistoryAt(at) ? [...at.history] : null;
  }

  /**
   * Runs `op` now when the folders `refs` read are loaded, else once they are (a folder's
   * entries load on first use, and drop again when memory is short: src/vfs/folder-loader.ts).
   */
  private whenLoaded<T>(refs: readonly (NodeAt | NameAt)[], op: () => T | Promise<T>): T | Promise<T> {
    return this.options.loader ? this.options.loader.during(refs, op) : op();
  }

  /** A live node's operation, once the folders it reads are loaded. */
  private onNode<T>(path: NodeRef, op: (at: NodeAt) => T | Promise<T>): T | Promise<T> {
    const at = this.live(path);
    return this.whenLoaded([at], () => op(at));
  }

  /** A live name's operation, once its folder (and the named folder, if one) are loaded. */
  private onName<T>(path: NameRef, op: (at: NameAt) => T | Promise<T>): T | Promise<T> {
    const at = this.liveName(path);
    return this.whenLoaded([at], () => op(at));
  }

  /** A node to change: history is read-only. */
  private live(at: NodeRef): NodeAt {
    if (typeof at === 'object' && isHistoryAt(at)) fail('EROFS');
    return at as NodeAt;
  }

  /** A name to add, remove or replace: not in history. */
  private liveName(at: NameRef): NameAt {
    if (typeof at === 'object' && typeof at.parent === 'object') fail('EROFS', at.name);
    return at as NameAt;
  }

  /**
   * The node `name` in folder `parent` and its attributes (a FUSE lookup); the caller needs
   * search permission on the folder. The root's `.snapshots` is the history view when shown.
   */
  lookup(parent: NodeRef, name: string, caller: Caller = this.tree.owner): { at: NodeRef; stat: Stat } | Promise<{ at: NodeRef; stat: Stat }> {
    const parts = this.historyOf(parent);
    if (parts) {
      const at = { history: [...parts, name] };
      return this.history!.getattr(at.history, caller).then((stat) => ({ at, stat }));
    }
    const live = this.live(parent);
    return this.whenLoaded([live], () => {
      const folder = this.tree.resolve(live, caller);
      if (this.history && folder.ino === ROOT_INO && name === SNAPSHOTS_DIR) {
        const at = { history: [] };
        return this.history.getattr(at.history, caller).then((stat) => ({ at, stat }));
      }
      const inode = this.tree.child(folder, name, caller);
      return { at: { ino: inode.ino }, stat: statOf(inode) };
    });
  }

  // ---- attributes and listings ---------------------------------------------------------

  getattr(path: NodeRef, caller: Caller = this.tree.owner): Stat | Promise<Stat> {
    const parts = this.historyOf(path);
    return parts ? this.history!.getattr(parts, caller) : this.onNode(path, (at) => this.attributes.getattr(at, caller));
  }

  fgetattr(fh: number): Stat {
    return this.history?.owns(fh) ? this.history.fgetattr(fh) : this.files.fgetattr(fh);
  }

  /** access(2) and chdir: F_OK (0) or any of R, W, X. */
  access(path: NodeRef, mode: number, caller: Caller = this.tree.owner): void | Promise<void> {
    const parts = this.historyOf(path);
    return parts ? this.history!.access(parts, mode, caller) : this.onNode(path, (at) => this.attributes.access(at, mode, caller));
  }

  /** Opening a folder to list it needs read permission. */
  opendir(path: NodeRef, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.access(path, R, caller);
  }

  readdir(path: NodeRef, caller: Caller = this.tree.owner): Listing | Promise<Listing> {
    const parts = this.historyOf(path);
    if (parts) return this.history!.readdir(parts, caller);
    const listing = this.onNode(path, (at) => this.attributes.readdir(at, caller));
    if (listing instanceof Promise) return listing.then((loaded) => this.withSnapshotsDir(path, loaded, caller));
    return this.withSnapshotsDir(path, listing, caller);
  }

  /** The root's listing names `.snapshots` when the view is shown. */
  private withSnapshotsDir(path: NodeRef, listing: Listing, caller: Caller): Listing | Promise<Listing> {
    if (this.history && this.options.showSnapshots && isRootAt(path)) {
      return this.history.topStat(caller).then((top) => ({ names: [...listing.names, SNAPSHOTS_DIR], stats: [...listing.stats, top] }));
    }
    return listing;
  }

  readlink(path: NodeRef, caller: Caller = this.tree.owner): string | Promise<string> {
    const parts = this.historyOf(path);
    return parts ? this.history!.readlink(parts, caller) : this.onNode(path, (at) => this.attributes.readlink(at, caller));
  }

  statfs(): Statfs {
    return this.attributes.statfs();
  }

  chmod(path: NodeRef, mode: number, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.onNode(path, (at) => this.attributes.chmod(at, mode, caller));
  }

  chown(path: NodeRef, uid: number, gid: number, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.onNode(path, (at) => this.attributes.chown(at, uid, gid, caller));
  }

  utimens(path: NodeRef, atime: TimeSpec, mtime: TimeSpec, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.onNode(path, (at) => this.attributes.utimens(at, atime, mtime, caller));
  }

  setxattr(path: NodeRef, name: string, value: Uint8Array, flags: number, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.onNode(path, (at) => this.attributes.setxattr(at, name, value, flags, caller));
  }

  /** Whether live file `ino` carries a file capability (the kernel removes it when the file is written). */
  hasCapability(ino: number): boolean {
    return this.table.get(ino)?.xattrs.has(CAPABILITY_XATTR) ?? false;
  }

  getxattr(path: NodeRef, name: string, caller: Caller = this.tree.owner): Buffer | Promise<Buffer> {
    const parts = this.historyOf(path);
    return parts ? this.history!.getxattr(parts, name, caller) : this.onNode(path, (at) => this.attributes.getxattr(at, name, caller));
  }

  listxattr(path: NodeRef, caller: Caller = this.tree.owner): string[] | Promise<string[]> {
    const parts = this.historyOf(path);
    return parts ? this.history!.listxattr(parts, caller) : this.onNode(path, (at) => this.attributes.listxattr(at, caller));
  }

  removexattr(path: NodeRef, name: string, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.onNode(path, (at) => this.attributes.removexattr(at, name, caller));
  }

  // ---- names ------------------------------------------------------------------------------

  /** New nodes belong to `caller` (the FUSE adapter passes the calling process). */
  mkdir(path: NameRef, mode: number, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.onName(path, (at) => this.names.mkdir(at, mode, caller));
  }

  mknod(path: NameRef, mode: number, rdev: number, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.onName(path, (at) => this.names.mknod(at, mode, rdev, caller));
  }

  symlink(target: string, path: NameRef, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.onName(path, (at) => this.names.symlink(target, at, caller));
  }

  link(existing: NodeRef, path: NameRef, caller: Caller = this.tree.owner): void | Promise<void> {
    const from = this.live(existing);
    const to = this.liveName(path);
    return this.whenLoaded([from, to], () => this.names.link(from, to, caller));
  }

  unlink(path: NameRef, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.onName(path, (at) => this.names.unlink(at, caller));
  }

  rmdir(path: NameRef, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.onName(path, (at) => this.names.rmdir(at, caller));
  }

  rename(from: NameRef, to: NameRef, caller: Caller = this.tree.owner): void | Promise<void> {
    const source = this.liveName(from);
    const target = this.liveName(to);
    return this.whenLoaded([source, target], () => this.names.rename(source, target, caller));
  }

  // ---- file contents ---------------------------------------------------------------------

  /** `flags`: the open flags (access mode, O_APPEND); a plain create opens for writing. */
  create(path: NameRef, mode: number, caller: Caller = this.tree.owner, flags?: number): number | Promise<number> {
    return this.onName(path, (at) => this.files.create(at, mode, caller, flags));
  }

  open(path: NodeRef, flags: number, caller: Caller = this.tree.owner): number | Promise<number> {
    const parts = this.historyOf(path);
    if (!parts) return this.onNode(path, (at) => this.files.open(at, flags, caller));
    if ((flags & O_ACCMODE) !== O_RDONLY) fail('EROFS');
    return this.history!.open(parts, caller);
  }

  release(fh: number): void {
    if (this.history?.owns(fh)) this.history.release(fh);
    else this.files.release(fh);
  }

  async read(fh: number, offset: number, length: number): Promise<Buffer> {
    return this.history?.owns(fh) ? this.history.read(fh, offset, length) : this.files.read(fh, offset, length);
  }

  /** `caller`: who writes; a write by anyone but root takes setuid/setgid away, as on Linux. */
  async write(fh: number, offset: number, data: Uint8Array, caller: Caller = this.tree.owner): Promise<number> {
    if (this.history?.owns(fh)) fail('EROFS');
    return this.files.write(fh, offset, data, caller);
  }

  async truncate(path: NodeRef, size: number, caller: Caller = this.tree.owner): Promise<void> {
    const at = this.live(path);
    refuseHistory(at);
    return this.whenLoaded([at], () => this.files.truncate(at, size, caller));
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    if (this.history?.owns(fh)) fail('EROFS');
    return this.files.ftruncate(fh, size);
  }

  /** Makes staged bytes and the journal durable on the local disk. */
  fsync(fh: number): void {
    if (!this.history?.owns(fh)) this.files.fsync(fh);
  }
}

/** Whether a (live) node reference names the root folder. */
function isRootAt(at: NodeRef): boolean {
  return typeof at === 'string' ? at === '/' : 'ino' in at && at.ino === ROOT_INO;
}
