/**
 * The operations on file contents through open handles: create and open (with read/write
 * permission), read, write (staging first, then its record), truncate, fsync and release
 * (a closed file with staged bytes is committed in the background). Content changes wait
 * for a snapshot in progress and for a commit of the same file.
 */
import type { Barrier } from './barrier.js';
import { fail, FsError } from './errors.js';
import type { FileData } from './file-data.js';
import type { Inode } from './inode-table.js';
import { describe, LiveTree, localDiskError, type NameAt, type NodeAt } from './live-tree.js';
import type { NamespaceOps } from './namespace-ops.js';
import { type Caller, mayAccess, modeAfterWrite, R, S_ISGID, S_ISUID, W } from './permissions.js';
import type { StagedAt, StagingArea } from './staging.js';
import { type Stat, statOf } from './stat.js';

const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;

interface Handle {
  readonly inode: Inode;
  readonly writable: boolean;
  /**
   * Opened with O_APPEND: every write goes to the end of the file as this layer knows it.
   * The kernel computes the offset from its own cached size, and libfuse2 gives each name of
   * a hard-linked file its own kernel inode: after a write through one name, an append
   * through another came with a stale offset and overwrote data (measured).
   */
  readonly append: boolean;
}

/** What file operations need from the background committer. */
export interface CommitGate {
  /** Whether a commit of this inode is running (content changes must wait). */
  isCommitting(ino: number): boolean;
  /** Resolves when no commit of this inode is running. */
  idle(ino: number): Promise<void>;
  /** A file's handles are all closed and it has staged data: commit it in the background. */
  fileClosed(inode: Inode): void;
  /** Commit this file now, open or not. */
  commitSoon(ino: number): void;
}

/**
 * A file rewritten in place while it stays open (a database, a VM image) leaves replaced
 * bytes in the staging log; past this much it is committed while open, so that the log's
 * segments can go (docs/LOCAL_STATE.md "Staging").
 */
export const OVERWRITE_COMMIT_BYTES = 64 * 1024 * 1024;

export class FileOps {
  private readonly handles = new Map<number, Handle>();

  constructor(
    private readonly tree: LiveTree,
    private readonly names: NamespaceOps,
    private readonly staging: StagingArea,
    private readonly data: FileData,
    private readonly gate: CommitGate,
    private readonly barrier: Barrier | undefined,
    /** Handle numbers come from the Filesystem, shared with the history view's. */
    private readonly newHandle: () => number,
    /** Back-pressure: a promise while the local budget is used up (see FilesystemOptions). */
    private readonly waitForSpace?: (ino: number) => Promise<void> | null,
  ) {}

  owns(fh: number): boolean {
    return this.handles.has(fh);
  }

  private handle(fh: number): Handle {
    const handle = this.handles.get(fh);
    if (!handle) throw new FsError('EBADF');
    return handle;
  }

  create(path: NameAt, mode: number, caller: Caller, flags = O_WRONLY): number | Promise<number> {
    return this.tree.change(() => this.openInode(this.names.createNode(caller, path, 'file', mode), (flags & O_ACCMODE) !== O_RDONLY, (flags & O_APPEND) !== 0));
  }

  open(path: NodeAt, flags: number, caller: Caller): number {
    const inode = this.tree.resolve(path, caller);
    if (inode.type === 'dir' && (flags & O_ACCMODE) !== O_RDONLY) fail('EISDIR', describe(path));
    // The kernel follows symlinks before it opens; one reaching here is opened as O_NOFOLLOW would.
    if (inode.type === 'symlink') fail('ELOOP', describe(path));
    const access = flags & O_ACCMODE;
    const want = (access === O_RDONLY ? R : access === O_WRONLY ? W : R | W) | (flags & O_TRUNC ? W : 0);
    if (!mayAccess(caller, inode, want)) fail('EACCES', describe(path));
    return this.openInode(inode, access !== O_RDONLY, (flags & O_APPEND) !== 0);
  }

  private openInode(inode: Inode, writable: boolean, append = false): number {
    const fh = this.newHandle();
    this.handles.set(fh, { inode, writable, append });
    inode.openCount++;
    return fh;
  }

  fgetattr(fh: number): Stat {
    return statOf(this.handle(fh).inode);
  }

  release(fh: number): void {
    const { inode } = this.handle(fh);
    this.handles.delete(fh);
    inode.openCount--;
    if (inode.openCount === 0) {
      if (inode.type === 'file' && !inode.dirty.isEmpty && inode.nlink > 0) this.gate.fileClosed(inode);
      this.tree.table.freeIfUnused(inode);
    }
  }

  async read(fh: number, offset: number, length: number): Promise<Buffer> {
    const { inode } = this.handle(fh);
    if (inode.type === 'dir') fail('EISDIR');
    return this.data.readShared(inode, offset, length);
  }

  /** `caller`: who writes; a write by anyone but root takes setuid/setgid away, as on Linux. */
  async write(fh: number, requestedOffset: number, data: Uint8Array, caller: Caller): Promise<number> {
    const { inode, writable, append } = this.handle(fh);
    if (!writable) fail('EBADF');
    if (requestedOffset + data.length > Number.MAX_SAFE_INTEGER) fail('EFBIG');
    const space = this.waitForSpace?.(inode.ino);
    if (space) await space;
    for (let wait = this.blockedBy(inode.ino); wait; wait = this.blockedBy(inode.ino)) await wait;
    const offset = append ? inode.size : requestedOffset;
    // Bytes first, then the record that makes them part of the file: a crash between the two
    // leaves bytes nobody was told were written.
    let staged: StagedAt;
    try {
      staged = this.staging.append(data);
    } catch (e) {
      throw localDiskError(e, 'staging');
    }
    this.tree.record({ op: 'write', ino: inode.ino, offset, length: data.length, seg: staged.seg, at: staged.at, t: this.tree.now() }, LiveTree.journaled(inode));
    this.data.noteWrite(inode);
    if (this.staging.overwritten(inode.ino) >= OVERWRITE_COMMIT_BYTES && !this.gate.isCommitting(inode.ino)) this.gate.commitSoon(inode.ino);
    if ((inode.mode & (S_ISUID | S_ISGID)) !== 0) {
      const mode = modeAfterWrite(caller, inode);
      if (mode !== inode.mode) this.tree.record({ op: 'setattr', ino: inode.ino, mode, t: this.tree.now() }, LiveTree.journaled(inode));
    }
    const behind = this.data.throttle(inode); // the write is recorded; only its reply waits
    if (behind) await behind;
    return data.length;
  }

  async truncate(path: NodeAt, size: number, caller: Caller): Promise<void> {
    const inode = this.tree.resolve(path, caller);
    if (!mayAccess(caller, inode, W)) fail('EACCES', describe(path));
    await this.truncateInode(inode, size);
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    await this.truncateInode(this.handle(fh).inode, size);
  }

  private async truncateInode(inode: Inode, size: number): Promise<void> {
    if (inode.type === 'dir') fail('EISDIR');
    if (inode.type !== 'file') fail('EINVAL');
    if (size < 0) fail('EINVAL');
    if (size > Number.MAX_SAFE_INTEGER) fail('EFBIG');
    for (let wait = this.blockedBy(inode.ino); wait; wait = this.blockedBy(inode.ino)) await wait;
    this.tree.record({ op: 'truncate', ino: inode.ino, size, t: this.tree.now() }, LiveTree.journaled(inode));
  }

  /**
   * What a content change of this file must wait for (a snapshot or a commit of the file in
   * progress), or null when it may go ahead. Callers loop until null and change the file in
   * that same synchronous step, so nothing can freeze or lock in between.
   */
  private blockedBy(ino: number): Promise<void> | null {
    if (this.barrier?.isFrozen()) return this.barrier.thawed();
    if (this.gate.isCommitting(ino)) return this.gate.idle(ino);
    return null;
  }

  /** Makes staged bytes and the journal durable on the local disk. */
  fsync(fh: number): void {
    this.handle(fh);
    this.staging.sync();
    this.tree.syncJournal();
  }
}
