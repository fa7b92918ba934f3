/**
 * The live tree: inodes by file id, directories as name -> file id maps. Changed only
 * through apply(record), so a live operation and its replay after a crash take one code
 * path. Tracks which directories changed since their tree blob was last written, so a
 * snapshot re-encodes only those (and their ancestors), not the whole tree.
 *
 * Replay applies the same records with the same code, staging included: the staging area
 * only keeps, in memory, which staged bytes are current; it never deletes bytes a record
 * could still need (src/vfs/staging.ts), so a replayed truncate or delete changes nothing
 * on disk.
 */
import type { NodeType } from '../format/tree.js';
import { RangeSet } from './ranges.js';
import type { ContentStream } from './content-stream.js';
import type { ChunkRef, JournalRecord } from './records.js';
import type { StagedAt } from './staging.js';

export const ROOT_INO = 1;

/** Names libfuse2 gives unlinked-but-open files; transient, never part of a snapshot. */
export const isTransientName = (name: string): boolean => name.startsWith('.fuse_hidden');

/** A journal record that does not fit the tree it is replayed on (names the record). */
export class UnappliableRecord extends Error {}

export interface Inode {
  /** The file id: stable for the life of the repository (src/format/tree.ts); also st_ino. */
  readonly ino: number;
  readonly type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Names referring to this inode (directories: 1, plus their own '.' is implicit). */
  nlink: number;
  /** How many of those names are transient (.fuse_hidden…): not stored, not counted in trees. */
  hiddenNames: number;
  /** Replaced, never changed in place: inodes without xattrs share one empty map. */
  xattrs: ReadonlyMap<string, Buffer>;
  target?: string;
  /** Directories: entries. */
  children?: Map<string, number>;
  /** Directories: number of subdirectories (for nlink = 2 + subdirs). */
  subdirs: number;
  /** Directories: the tree blob id while unchanged since it was loaded or written. */
  treeId?: string;
  /** Where this inode is named: parent directory -> number of names in it. */
  parents: Parents;
  /** Files: logical size. */
  size: number;
  /** Files: committed chunks, and how many bytes of them are still valid (after truncation). */
  content: ChunkRef[];
  /**
   * Files as loaded from a tree and not read or committed since: their chunk ids, holding
   * `baseLimit` bytes, whose sizes are looked up only when the chunks are used
   * (tree-sync.ts committedChunks); `content` is empty meanwhile. With the index on local
   * disk a lookup is a read, and a `find` over a million files made a million of them.
   */
  treeContent?: readonly string[];
  baseLimit: number;
  /** Files: byte ranges whose current data is in the staging file, not in `content`. */
  dirty: RangeSet;
  /** Open handles; an unlinked inode lives on until the last one closes. */
  openCount: number;
  /**
   * Files: the streaming commit running ahead of the writer (src/vfs/content-stream.ts);
   * null once a change below it ended one, until the file's next commit. Memory only.
   */
  stream?: ContentStream | null;
}

export type StagingHooks = {
  /** A write record: the file's bytes [offset, offset + length) are the ones staged at `where`. */
  place(ino: number, offset: number, length: number, where: StagedAt | undefined): void;
  /** A file's staged bytes are no longer current (truncated away, committed or file deleted). */
  truncate(ino: number, size: number): void;
  /** A file's staged bytes in [start, end) are no longer current (committed by a `chunks` record). */
  committed(ino: number, start: number, end: number): void;
  remove(ino: number): void;
};

/**
 * A file's committed chunks with their sizes, looked up the first time they are needed after
 * it was loaded from its tree (Inode.treeContent). CORRUPT (from `chunkSize`) when the index
 * names none of a chunk.
 */
export function withChunkSizes(inode: Inode, chunkSize: (id: string) => number): ChunkRef[] {
  if (inode.treeContent) {
    inode.content = inode.treeContent.map((id) => ({ id, size: chunkSize(id) }));
    inode.treeContent = undefined;
  }
  return inode.content;
}

/**
 * Whether chunks starting at byte `from` continue the file's committed chunks (a `chunks`
 * record): at 0 when nothing committed is valid, else right after committed chunks that are
 * all still valid (their sizes known, none cut by a truncate).
 */
export function continuesCommitted(inode: Inode, from: number): boolean {
  if (from !== inode.baseLimit) return false;
  return from === 0 || (inode.treeContent === undefined && inode.content.reduce((sum, c) => sum + c.size, 0) === from);
}

export const NO_XATTRS: ReadonlyMap<string, Buffer> = new Map();

/**
 * The entries of a folder whose tree is not loaded yet (src/vfs/folder-loader.ts loads it
 * before any operation that reads them). Every use throws: an operation that forgot to wait
 * for the load fails loudly instead of taking the folder for empty.
 */
class UnloadedEntries extends Map<string, number> {
  private refuse(): never {
    throw new Error('internal error: a folder was used before its tree was loaded');
  }
  override get(): number | undefined { return this.refuse(); }
  override has(): boolean { return this.refuse(); }
  override set(): this { return this.refuse(); }
  override delete(): boolean { return this.refuse(); }
  override clear(): void { this.refuse(); }
  override get size(): number { return this.refuse(); }
  override keys(): IterableIterator<string> { return this.refuse(); }
  override values(): IterableIterator<number> { return this.refuse(); }
  override entries(): IterableIterator<[string, number]> { return this.refuse(); }
  override forEach(): void { this.refuse(); }
  override [Symbol.iterator](): IterableIterator<[string, number]> { return this.refuse(); }
}
export const UNLOADED: Map<string, number> = new UnloadedEntries();

/** Whether a folder's entries are in the table (always true of other types). */
export const isLoaded = (inode: Inode): boolean => inode.children !== UNLOADED;

/**
 * Where an inode is named: 0 for nowhere, a folder's file id for one name in it (every
 * folder and almost every file), or folder -> number of names for hard links. A map per
 * inode cost about 130 bytes, which a million files feel.
 */
export type Parents = number | Map<number, number>;

/** The folders naming an inode. */
export function parentsOf(inode: Inode): Iterable<number> {
  const parents = inode.parents;
  return typeof parents === 'number' ? (parents === 0 ? [] : [parents]) : parents.keys();
}

/** One folder naming the inode (the only one, for a folder), or undefined. */
export function firstParent(inode: Inode): number | undefined {
  const [parent] = parentsOf(inode);
  return parent;
}

/** A name for the inode was added in folder `dir`. */
export function addParent(inode: Inode, dir: number): void {
  const parents = inode.parents;
  if (parents === 0) {
    inode.parents = dir;
  } else if (typeof parents === 'number') {
    inode.parents = new Map([[parents, 1]]);
    inode.parents.set(dir, (inode.parents.get(dir) ?? 0) + 1);
  } else {
    parents.set(dir, (parents.get(dir) ?? 0) + 1);
  }
}

/** A name for the inode in folder `dir` was removed. */
function removeParent(inode: Inode, dir: number): void {
  const parents = inode.parents;
  if (typeof parents === 'number') {
    if (parents === dir) inode.parents = 0;
    return;
  }
  const count = (parents.get(dir) ?? 1) - 1;
  if (count === 0) parents.delete(dir);
  else parents.set(dir, count);
  if (parents.size === 0) inode.parents = 0;
  else if (parents.size === 1) {
    const [only, names] = parents.entries().next().value as [number, number];
    if (names === 1) inode.parents = only;
  }
}

export function newInode(ino: number, type: NodeType, attrs: Partial<Inode> = {}): Inode {
  return {
    ino, type, mode: 0o644, uid: 0, gid: 0, rdev: 0, atimeNs: 0n, mtimeNs: 0n, ctimeNs: 0n, nlink: 0, hiddenNames: 0,
    xattrs: NO_XATTRS, subdirs: 0, parents: 0, size: 0, content: [], baseLimit: 0, dirty: new RangeSet(), openCount: 0,
    ...(type === 'dir' ? { children: new Map<string, number>() } : {}),
    ...attrs,
  };
}

/** Names a snapshot would store: an inode named only by transient names is as good as unlinked. */
export function storedLinks(inode: Inode): number {
  return inode.nlink - inode.hiddenNames;
}

/** Whether a file has bytes or a size its committed chunks do not hold yet. */
export function needsCommit(inode: Inode): boolean {
  if (inode.type !== 'file') return false;
  // A tree's chunks hold the node's size (baseLimit) until their sizes are looked up.
  const committedSize = inode.treeContent ? inode.baseLimit : inode.content.reduce((sum, c) => sum + c.size, 0);
  return !inode.dirty.isEmpty || inode.baseLimit !== committedSize || inode.size !== inode.baseLimit;
}

/** What a snapshot of the tree would hold now: files and folders (hard links once), file bytes. */
export interface TreeCounts {
  files: number;
  dirs: number;
  bytes: number;
}

export class InodeTable {
  private readonly inodes = new Map<number, Inode>();
  private nextIno = ROOT_INO + 1;
  /**
   * Kept as records apply, so a snapshot or a status costs what changed, not the number of
   * files: the counts of what is stored, and every file that may need a commit (a superset:
   * each is checked with needsCommit when asked for).
   */
  private readonly stored: TreeCounts = { files: 0, dirs: 0, bytes: 0 };
  private readonly uncommitted = new Set<Inode>();
  constructor(
    private readonly staging: StagingHooks,
    /** A chunk's size, from the index (Repository.blobPlainSize): for files loaded from a tree. */
    private readonly chunkSize: (id: string) => number,
  ) {}

  get size(): number {
    return this.inodes.size;
  }

  add(inode: Inode): void {
    this.inodes.set(inode.ino, inode);
    if (inode.ino >= this.nextIno) this.nextIno = inode.ino + 1;
  }

  get(ino: number): Inode | undefined {
    return this.inodes.get(ino);
  }

  allocateIno(): number {
    return this.nextIno++;
  }

  /** New file ids start at `floor` or later (the repository's mark: ids are never reused). */
  raiseNextIno(floor: number): void {
    this.nextIno = Math.max(this.nextIno, floor);
  }

  /** The lowest file id not yet given out. */
  get nextFileId(): number {
    return this.nextIno;
  }

  /** Applies a crashed session's records; throws UnappliableRecord at the first that does not fit. */
  replay(records: readonly JournalRecord[]): void {
    for (const record of records) this.apply(record);
  }

  all(): IterableIterator<Inode> {
    return this.inodes.values();
  }

  /** Files, folders and bytes a snapshot would store now. */
  counts(): TreeCounts {
    return { ...this.stored };
  }

  /** The files that need a commit now (named or not). */
  *uncommittedFiles(): IterableIterator<Inode> {
    for (const inode of this.uncommitted) {
      if (needsCommit(inode)) yield inode;
      else this.uncommitted.delete(inode);
    }
  }

  /**
   * Starts the counts from a snapshot's stats, for a tree whose folders load on demand: the
   * table then never holds every inode to count (src/vfs/folder-loader.ts).
   */
  startCounts(stats: TreeCounts): void {
    this.stored.files = stats.files;
    this.stored.dirs = stats.dirs;
    this.stored.bytes = stats.bytes;
    this.uncommitted.clear();
  }

  /** Forgets a clean inode whose folder's entries are dropped from memory (it loads again from its tree). */
  unload(inode: Inode): void {
    this.inodes.delete(inode.ino);
    this.uncommitted.delete(inode);
  }

  /** An inode loaded from a tree without records: remembered if its chunks do not hold its size. */
  loaded(inode: Inode): void {
    this.add(inode);
    if (needsCommit(inode)) this.uncommitted.add(inode);
  }

  /**
   * Counts the whole table afresh: after a tree was loaded by setting inodes' fields
   * directly (src/vfs/tree-sync.ts) rather than through records.
   */
  recount(): void {
    this.stored.files = this.stored.dirs = this.stored.bytes = 0;
    this.uncommitted.clear();
    for (const inode of this.inodes.values()) {
      this.tally(inode, 1);
      if (needsCommit(inode)) this.uncommitted.add(inode);
    }
  }

  /** Adds (1) or takes away (-1) an inode's share of the counts; only stored names count. */
  private tally(inode: Inode, sign: 1 | -1): void {
    if (storedLinks(inode) <= 0) return;
    if (inode.type === 'dir') this.stored.dirs += sign;
    else if (inode.type === 'file') {
      this.stored.files += sign;
      this.stored.bytes += sign * inode.size;
    }
  }

  /** A change to a file's size or data: counted afresh, and remembered as possibly needing a commit. */
  private resized(inode: Inode, change: () => void): void {
    this.tally(inode, -1);
    change();
    this.tally(inode, 1);
    this.uncommitted.add(inode);
  }

  /** Marks a directory (and so its ancestors) as needing a new tree blob. */
  invalidate(dir: Inode): void {
    let current: Inode | undefined = dir;
    while (current && current.treeId !== undefined) {
      current.treeId = undefined;
      const parent = firstParent(current);
      current = parent === undefined ? undefined : this.inodes.get(parent);
    }
  }

  /** An inode's own metadata changed: every directory naming it needs a new tree. */
  changed(inode: Inode): void {
    for (const parent of parentsOf(inode)) this.invalidate(this.inodes.get(parent)!);
  }

  apply(record: JournalRecord): void {
    switch (record.op) {
      case 'mknod': {
        if (this.inodes.has(record.ino)) throw new UnappliableRecord(`mknod of ${record.name} reuses file id ${record.ino}`);
        const parent = this.dir(record.parent);
        if (parent.children!.has(record.name)) throw new UnappliableRecord(`mknod of ${record.name}: the name exists`);
        const inode = newInode(record.ino, record.type, {
          mode: record.mode, uid: record.uid, gid: record.gid, rdev: record.rdev,
          atimeNs: record.t, mtimeNs: record.t, ctimeNs: record.t,
          ...(record.target !== undefined ? { target: record.target, size: Buffer.byteLength(record.target) } : {}),
        });
        this.add(inode);
        this.addName(parent, record.name, inode, record.t);
        return;
      }
      case 'link': {
        const inode = this.must(record.ino);
        const parent = this.dir(record.parent);
        if (inode.type === 'dir' || parent.children!.has(record.name)) throw new UnappliableRecord(`link ${record.name} does not fit the tree`);
        inode.ctimeNs = record.t;
        this.addName(parent, record.name, inode, record.t);
        return;
      }
      case 'unlink': {
        const parent = this.dir(record.parent);
        const inode = this.named(parent, record.name);
        this.removeName(parent, record.name, inode, record.t);
        return;
      }
      case 'rename': {
        const from = this.dir(record.parent);
        const to = this.dir(record.newParent);
        const inode = this.named(from, record.name);
        const replaced = to.children!.get(record.newName);
        if (replaced !== undefined) this.removeName(to, record.newName, this.must(replaced), record.t);
        this.removeName(from, record.name, inode, record.t, false);
        this.addName(to, record.newName, inode, record.t);
        inode.ctimeNs = record.t;
        return;
      }
      case 'setattr': {
        const inode = this.must(record.ino);
        if (record.mode !== undefined) inode.mode = record.mode & 0o7777;
        if (record.uid !== undefined) inode.uid = record.uid;
        if (record.gid !== undefined) inode.gid = record.gid;
        if (record.atime !== undefined) inode.atimeNs = record.atime;
        if (record.mtime !== undefined) inode.mtimeNs = record.mtime;
        inode.ctimeNs = record.t;
        this.changed(inode);
        return;
      }
      case 'truncate': {
        const inode = this.must(record.ino);
        if (inode.type !== 'file') throw new UnappliableRecord(`truncate of file id ${record.ino}, which is not a file`);
        if (inode.stream) inode.stream = null;
        // A tree's chunks hold exactly baseLimit bytes only until a truncate cuts into them:
        // their sizes are needed from then on (else the file would seem committed as it was).
        if (record.size < inode.baseLimit) withChunkSizes(inode, this.chunkSize);
        this.resized(inode, () => {
          if (record.size < inode.size) {
            inode.baseLimit = Math.min(inode.baseLimit, record.size);
            inode.dirty.truncate(record.size);
            this.staging.truncate(inode.ino, record.size);
          }
          inode.size = record.size;
        });
        inode.mtimeNs = record.t;
        inode.ctimeNs = record.t;
        this.changed(inode);
        return;
      }
      case 'write': {
        const inode = this.must(record.ino);
        if (inode.type !== 'file') throw new UnappliableRecord(`write to file id ${record.ino}, which is not a file`);
        if (inode.stream && record.offset < inode.stream.fed) inode.stream = null;
        this.resized(inode, () => {
          inode.dirty.add(record.offset, record.offset + record.length);
          this.staging.place(inode.ino, record.offset, record.length, record.seg === undefined ? undefined : { seg: record.seg, at: record.at! });
          inode.size = Math.max(inode.size, record.offset + record.length);
        });
        inode.mtimeNs = record.t;
        inode.ctimeNs = record.t;
        this.changed(inode);
        return;
      }
      case 'xattr': {
        const inode = this.must(record.ino);
        const xattrs = new Map(inode.xattrs);
        if (record.value === null) xattrs.delete(record.name);
        else xattrs.set(record.name, Buffer.from(record.value, 'base64'));
        inode.xattrs = xattrs.size > 0 ? xattrs : NO_XATTRS;
        inode.ctimeNs = record.t;
        this.changed(inode);
        return;
      }
      case 'content': {
        const inode = this.must(record.ino);
        if (inode.type !== 'file') throw new UnappliableRecord(`content of file id ${record.ino}, which is not a file`);
        this.resized(inode, () => {
          inode.content = record.content;
          inode.treeContent = undefined;
          inode.size = record.size;
          inode.baseLimit = record.size;
          inode.dirty = new RangeSet();
          inode.stream = undefined;
          this.staging.remove(inode.ino);
        });
        this.uncommitted.delete(inode);
        this.changed(inode);
        return;
      }
      case 'chunks': {
        // A stream's committed prefix grows (src/vfs/file-data.ts): the chunks go right after
        // the committed bytes, which must end exactly at `from` (0: none are valid any more).
        const inode = this.must(record.ino);
        if (inode.type !== 'file') throw new UnappliableRecord(`chunks of file id ${record.ino}, which is not a file`);
        const end = record.from + record.content.reduce((sum, c) => sum + c.size, 0);
        if (record.from > 0) withChunkSizes(inode, this.chunkSize); // appended to a file loaded from its tree
        if (!continuesCommitted(inode, record.from) || end > inode.size) {
          throw new UnappliableRecord(`chunks of file id ${record.ino} from byte ${record.from} do not continue its committed bytes`);
        }
        this.resized(inode, () => {
          inode.content = record.from === 0 ? record.content : [...inode.content, ...record.content];
          inode.treeContent = undefined;
          inode.baseLimit = end;
          inode.dirty.remove(record.from, end);
          this.staging.committed(inode.ino, record.from, end);
        });
        this.changed(inode);
        return;
      }
    }
  }

  private must(ino: number): Inode {
    const inode = this.inodes.get(ino);
    if (!inode) throw new UnappliableRecord(`the record names file id ${ino}, which does not exist`);
    return inode;
  }

  private dir(ino: number): Inode {
    const inode = this.must(ino);
    if (!inode.children) throw new UnappliableRecord(`the record names file id ${ino} as a folder, which it is not`);
    return inode;
  }

  private named(dir: Inode, name: string): Inode {
    const ino = dir.children!.get(name);
    if (ino === undefined) throw new UnappliableRecord(`the record names ${JSON.stringify(name)} in folder id ${dir.ino}, which has no such entry`);
    return this.must(ino);
  }

  private addName(parent: Inode, name: string, inode: Inode, t: bigint): void {
    parent.children!.set(name, inode.ino);
    this.tally(inode, -1);
    inode.nlink++;
    if (isTransientName(name)) inode.hiddenNames++;
    this.tally(inode, 1);
    addParent(inode, parent.ino);
    if (inode.type === 'dir') parent.subdirs++;
    parent.mtimeNs = t;
    parent.ctimeNs = t;
    this.changed(parent);
    this.invalidate(parent);
    // Its link count (and ctime) are in the tree of every folder that names it.
    if (inode.type !== 'dir') this.changed(inode);
  }

  private removeName(parent: Inode, name: string, inode: Inode, t: bigint, mayFree = true): void {
    parent.children!.delete(name);
    this.tally(inode, -1);
    inode.nlink--;
    if (isTransientName(name)) inode.hiddenNames--;
    this.tally(inode, 1);
    removeParent(inode, parent.ino);
    if (inode.type === 'dir') parent.subdirs--;
    inode.ctimeNs = t;
    parent.mtimeNs = t;
    parent.ctimeNs = t;
    this.changed(parent);
    this.invalidate(parent);
    this.changed(inode);
    if (mayFree) this.freeIfUnused(inode);
  }

  /** Drops an inode nothing names and nothing has open. Its id is never given out again. */
  freeIfUnused(inode: Inode): void {
    if (inode.nlink > 0 || inode.openCount > 0) return;
    this.inodes.delete(inode.ino);
    this.uncommitted.delete(inode);
    if (inode.type === 'file') this.staging.remove(inode.ino);
  }
}
