/**
 * The filesystem as libfuse's high-level API calls it: POSIX operations by path and by open
 * handle, each naming its caller. This facade only routes: paths below /.snapshots go to
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
import { type CommitGate, FileOps } from './file-ops.js';
import { historyParts, HistoryOps, refuseHistory } from './history-ops.js';
import { type InodeTable, ROOT_INO } from './inode-table.js';
import type { Journal } from './journal.js';
import { LiveTree } from './live-tree.js';
import { NamespaceOps } from './namespace-ops.js';
import { type Caller, R } from './permissions.js';
import type { StagingArea } from './staging.js';
import type { Listing, Stat, Statfs, TimeSpec } from './stat.js';

export type { CommitGate } from './file-ops.js';
export type { Listing, Stat, Statfs, TimeSpec } from './stat.js';
export { S_IFMT } from './stat.js';
export { NAME_MAX } from './live-tree.js';
export { XATTR_NAME_MAX, XATTR_SIZE_MAX } from './attribute-ops.js';

const O_ACCMODE = 3;
const O_RDONLY = 0;

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

  /** The parts below /.snapshots when `path` is there and the view is on, else null. */
  private historyOf(path: string): string[] | null {
    return this.history ? historyParts(path) : null;
  }

  // ---- attributes and listings ---------------------------------------------------------

  getattr(path: string, caller: Caller = this.tree.owner): Stat | Promise<Stat> {
    const parts = this.historyOf(path);
    return parts ? this.history!.getattr(parts, caller) : this.attributes.getattr(path, caller);
  }

  fgetattr(fh: number): Stat {
    return this.history?.owns(fh) ? this.history.fgetattr(fh) : this.files.fgetattr(fh);
  }

  /** access(2) and chdir: F_OK (0) or any of R, W, X. */
  access(path: string, mode: number, caller: Caller = this.tree.owner): void | Promise<void> {
    const parts = this.historyOf(path);
    return parts ? this.history!.access(parts, mode, caller) : this.attributes.access(path, mode, caller);
  }

  /** Opening a folder to list it needs read permission. */
  opendir(path: string, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.access(path, R, caller);
  }

  readdir(path: string, caller: Caller = this.tree.owner): Listing | Promise<Listing> {
    const parts = this.historyOf(path);
    if (parts) return this.history!.readdir(parts, caller);
    const listing = this.attributes.readdir(path, caller);
    if (this.history && this.options.showSnapshots && path === '/') {
      return this.history.topStat(caller).then((top) => ({ names: [...listing.names, SNAPSHOTS_DIR], stats: [...listing.stats, top] }));
    }
    return listing;
  }

  readlink(path: string, caller: Caller = this.tree.owner): string | Promise<string> {
    const parts = this.historyOf(path);
    return parts ? this.history!.readlink(parts, caller) : this.attributes.readlink(path, caller);
  }

  statfs(): Statfs {
    return this.attributes.statfs();
  }

  chmod(path: string, mode: number, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.attributes.chmod(path, mode, caller);
  }

  chown(path: string, uid: number, gid: number, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.attributes.chown(path, uid, gid, caller);
  }

  utimens(path: string, atime: TimeSpec, mtime: TimeSpec, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.attributes.utimens(path, atime, mtime, caller);
  }

  setxattr(path: string, name: string, value: Uint8Array, flags: number, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.attributes.setxattr(path, name, value, flags, caller);
  }

  getxattr(path: string, name: string, caller: Caller = this.tree.owner): Buffer | Promise<Buffer> {
    const parts = this.historyOf(path);
    return parts ? this.history!.getxattr(parts, name, caller) : this.attributes.getxattr(path, name, caller);
  }

  listxattr(path: string, caller: Caller = this.tree.owner): string[] | Promise<string[]> {
    const parts = this.historyOf(path);
    return parts ? this.history!.listxattr(parts, caller) : this.attributes.listxattr(path, caller);
  }

  removexattr(path: string, name: string, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.attributes.removexattr(path, name, caller);
  }

  // ---- names ------------------------------------------------------------------------------

  /** New nodes belong to `caller` (the FUSE adapter passes the calling process). */
  mkdir(path: string, mode: number, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.names.mkdir(path, mode, caller);
  }

  mknod(path: string, mode: number, rdev: number, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.names.mknod(path, mode, rdev, caller);
  }

  symlink(target: string, path: string, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.names.symlink(target, path, caller);
  }

  link(existing: string, path: string, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.names.link(existing, path, caller);
  }

  unlink(path: string, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.names.unlink(path, caller);
  }

  rmdir(path: string, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.names.rmdir(path, caller);
  }

  rename(from: string, to: string, caller: Caller = this.tree.owner): void | Promise<void> {
    return this.names.rename(from, to, caller);
  }

  // ---- file contents ---------------------------------------------------------------------

  create(path: string, mode: number, caller: Caller = this.tree.owner): number | Promise<number> {
    return this.files.create(path, mode, caller);
  }

  open(path: string, flags: number, caller: Caller = this.tree.owner): number | Promise<number> {
    const parts = this.historyOf(path);
    if (!parts) return this.files.open(path, flags, caller);
    if ((flags & O_ACCMODE) !== O_RDONLY) fail('EROFS', path);
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

  async truncate(path: string, size: number, caller: Caller = this.tree.owner): Promise<void> {
    refuseHistory(path);
    return this.files.truncate(path, size, caller);
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
