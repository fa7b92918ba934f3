/**
 * The live tree loaded on demand (issue 14): a folder's entries become inodes when an
 * operation first needs them, so a mount's start and memory follow what is used, not how
 * many files the repository holds. A folder not loaded yet is an inode with its attributes
 * (from its parent's tree entry), its tree id, and UNLOADED entries, which throw on any use.
 *
 * The rules that keep this exact (docs/ARCHITECTURE.md "The lazy live tree"):
 * - An operation waits here (`prepare`) until every folder it reads is loaded; the kernel
 *   only knows node ids of inodes it was given, all loaded, and inodes are never dropped.
 * - An unloaded folder is clean by construction: changing its entries needs them loaded,
 *   and its tree id does not depend on its own name or attributes.
 * - A hard-linked file (stored `links` > 1) may be named in folders not loaded yet, whose
 *   trees must be rewritten when it changes and whose names count in its link count: the
 *   first sight of one loads the whole tree (once per session).
 * - Replaying a journal applies records by file id anywhere in the tree: the session loads
 *   the whole tree first (`loadAll`), and counts it afresh.
 * - Counts (files, folders, bytes) start from the base snapshot's stats and move with each
 *   applied record; new file ids start at the repository's `nextFileId`, which every stored
 *   id is below (a folder naming one that is not is refused as damaged).
 */
import { corrupt } from '../errors/errors.js';
import type { RootAttributes } from '../format/snapshot.js';
import type { Tree } from '../format/tree.js';
import type { Repository } from '../repository/repository.js';
import { visitConcurrently } from '../repository/tree-walk.js';
import { FolderOfIds } from './folder-of.js';
import { addParent, type Inode, type InodeTable, isLoaded, needsCommit, ROOT_INO, UNLOADED } from './inode-table.js';
import type { NameAt, NodeAt } from './live-tree.js';
import { inodeFromNode, rootInodeOf } from './tree-sync.js';

/** Folder trees read at once while loading the whole tree. */
const LOADS_AHEAD = 16;

/**
 * Inodes kept in memory before clean folders not used lately are dropped: about 1 KB each
 * with their names and chunk lists (docs/BENCHMARKS.md "A million files, lazily"). 20,000
 * rather than 50,000 since session 15: a `find` over a million files peaked 60–70 MB lower
 * for the same CPU (a walk reads each folder once either way; the folders used last never drop).
 */
export const KEEP_INODES = 20_000;

/**
 * The folders used last are never dropped, whatever their size: a folder of more entries
 * than the limit (a maildir) would otherwise be read again for every lookup in it.
 */
export const KEEP_RECENT_FOLDERS = 2;

/** A drop pass that could not get below the limit waits this long, or for 10 % more inodes. */
const RELIEVE_RETRY_MS = 2000;

export class FolderLoader {
  /** Loads in progress, by folder: an operation and a concurrent one share one read. */
  private readonly loading = new Map<number, Promise<void>>();
  /**
   * Whether the whole tree must be (or is) loaded: 'needed' from the first hard-linked file
   * seen until the load finished; every operation waits for it meanwhile.
   */
  private wholeTree: 'partial' | 'needed' | 'loaded' = 'partial';
  private loadingAll: Promise<void> | null = null;
  /** Folders whose entries were loaded (the root included) and dropped again, for tests and status. */
  loadedFolders = 0;
  droppedFolders = 0;
  /** Loaded folders but the root, least recently used first. */
  private readonly recent = new Map<number, Inode>();
  /** For ids whose inodes were dropped: the folder that named them. */
  private readonly folderOf = new FolderOfIds();
  /** Operations between `prepare` and their end: nothing drops while one runs (they hold inodes). */
  private running = 0;
  /** The table's size after the last drop pass, and when that was. */
  private relieveAbove: number;
  private lastRelieve = 0;

  constructor(
    private readonly repo: Repository,
    private readonly table: InodeTable,
    /** Inodes kept before clean folders drop (KEEP_INODES). */
    readonly keepInodes = KEEP_INODES,
    /** Folders used last that never drop (KEEP_RECENT_FOLDERS; tests make it 0). */
    private readonly keepRecentFolders = KEEP_RECENT_FOLDERS,
  ) {
    this.relieveAbove = keepInodes;
  }

  /**
   * Runs `op` once the folders `refs` reads are loaded (at once when they are). Folders
   * drop only between operations: one that awaits may hold inodes of the tree meanwhile.
   */
  during<T>(refs: readonly (NodeAt | NameAt)[], op: () => T | Promise<T>): T | Promise<T> {
    this.running++;
    let result: T | Promise<T>;
    try {
      const loading = this.prepare(refs);
      result = loading ? loading.then(op) : op();
    } catch (e) {
      this.ended();
      throw e;
    }
    if (!(result instanceof Promise)) {
      this.ended();
      return result;
    }
    return result.finally(() => this.ended());
  }

  private ended(): void {
    if (--this.running > 0 || this.table.size <= this.keepInodes) return;
    // A pass that could not get below the limit (folders changed since the last snapshot,
    // files open) is not repeated for every request.
    if (this.table.size <= this.relieveAbove * 1.1 && Date.now() - this.lastRelieve < RELIEVE_RETRY_MS) return;
    this.relieve();
  }

  /**
   * Drops the entries of clean folders not used lately, oldest first, until the table
   * holds 80 % of `keepInodes` (the last few folders used stay, whatever their size). A folder drops when its tree is stored (no change since the
   * last snapshot), its subfolders are dropped already, and none of its entries is open,
   * hard-linked, or has bytes to commit. The whole tree, once loaded for hard links or a
   * replay, stays. Runs between operations only, and never while a folder loads.
   */
  relieve(): void {
    this.lastRelieve = Date.now();
    if (this.wholeTree !== 'partial' || this.loading.size > 0 || this.running > 0) return;
    const target = Math.floor(this.keepInodes * 0.8);
    let candidates = this.recent.size - this.keepRecentFolders;
    for (const [ino, dir] of this.recent) {
      if (this.table.size <= target || candidates-- <= 0) break;
      if (this.table.get(ino) !== dir || !isLoaded(dir)) {
        this.recent.delete(ino); // removed, or dropped with its parent
        continue;
      }
      if (this.droppable(dir)) this.drop(dir);
    }
    this.relieveAbove = Math.max(this.keepInodes, this.table.size);
  }

  private droppable(dir: Inode): boolean {
    if (dir.ino === ROOT_INO || dir.treeId === undefined) return false;
    for (const ino of dir.children!.values()) {
      const entry = this.table.get(ino);
      if (!entry) return false;
      if (entry.type === 'dir') {
        if (isLoaded(entry)) return false;
      } else if (entry.openCount > 0 || entry.nlink !== 1 || entry.hiddenNames > 0 || entry.stream || needsCommit(entry)) {
        return false;
      }
    }
    return true;
  }

  private drop(dir: Inode): void {
    for (const ino of dir.children!.values()) this.table.unload(this.table.get(ino)!);
    this.folderOf.setAll(dir.children!.values(), dir.ino);
    dir.children = UNLOADED; // its subdirs count stays: it is what its entries say
    this.recent.delete(dir.ino);
    this.droppedFolders++;
  }

  /**
   * Makes the root inode of a version-2 tree with its folders not loaded, and loads the
   * root's entries. Counts start from the base snapshot's stats.
   */
  async openRoot(rootTree: string | null, root: RootAttributes, stats: { files: number; dirs: number; bytes: number }): Promise<void> {
    const rootInode = rootInodeOf(root);
    this.table.add(rootInode);
    this.table.startCounts(stats);
    if (rootTree === null) {
      this.loadedFolders++;
      return;
    }
    rootInode.children = UNLOADED;
    rootInode.treeId = rootTree;
    await this.load(rootInode);
  }

  /**
   * Null when every folder `refs` needs is loaded (the common case costs no promise), else
   * a promise that settles once they are: for a node, every folder on its path and the node
   * itself when it is a folder; for a name, its folder and the named node when a folder
   * (rmdir and rename look inside it). A missing name or a file on the way ends the walk:
   * the operation itself then fails with the right error.
   */
  prepare(refs: readonly (NodeAt | NameAt)[]): Promise<void> | null {
    if (this.wholeTree === 'needed') return this.loadAll().then(() => this.prepare(refs) ?? undefined);
    let waiting: Promise<void> | null = null;
    for (const ref of refs) {
      const one = this.prepareOne(ref);
      if (one) waiting = waiting ? waiting.then(() => one) : one;
    }
    return waiting;
  }

  private prepareOne(ref: NodeAt | NameAt): Promise<void> | null {
    if (typeof ref === 'string') return this.preparePath(ref.split('/').filter((p) => p !== ''), this.table.get(ROOT_INO)!);
    if ('ino' in ref) {
      const inode = this.table.get(ref.ino);
      if (!inode) {
        // Back in the table, it may be a folder whose own entries the operation needs.
        const reloading = this.reload(ref.ino, 0);
        return reloading && reloading.then(() => (this.table.get(ref.ino) ? this.prepareOne(ref) ?? undefined : undefined));
      }
      if (inode.type !== 'dir') this.touchParentOf(inode);
      return this.ensure(inode);
    }
    const parent = this.table.get(ref.parent);
    if (!parent) {
      const reloading = this.reload(ref.parent, 0);
      return reloading && reloading.then(() => (this.table.get(ref.parent) ? this.prepareOne(ref) ?? undefined : undefined));
    }
    const named = (): Promise<void> | null => {
      if (!parent.children) return null;
      const child = parent.children.get(ref.name);
      const inode = child === undefined ? undefined : this.table.get(child);
      return inode ? this.ensure(inode) : null;
    };
    const first = this.ensure(parent);
    return first ? first.then(() => named() ?? undefined) : named();
  }

  /** Loads the folders along `parts` below `from` (and the last node, when a folder). */
  private preparePath(parts: readonly string[], from: Inode): Promise<void> | null {
    let at = from;
    for (let i = 0; ; i++) {
      const loading = this.ensure(at);
      if (loading) return loading.then(() => this.preparePath(parts.slice(i), at) ?? undefined);
      if (i === parts.length || !at.children) return null;
      const next = at.children.get(parts[i]!);
      const inode = next === undefined ? undefined : this.table.get(next);
      if (!inode) return null;
      at = inode;
    }
  }

  /** Null when `inode` is not an unloaded folder, else its load (shared by concurrent callers). */
  ensure(inode: Inode): Promise<void> | null {
    if (isLoaded(inode)) {
      this.touch(inode);
      return null;
    }
    return this.load(inode);
  }

  /**
   * The kernel names a node whose inode was dropped: load the folder that named it (and
   * that folder's own folder first, when it was dropped too). Null when nothing is known
   * of the id: the operation answers ENOENT.
   */
  private reload(ino: number, depth: number): Promise<void> | null {
    const folder = this.folderOf.get(ino);
    if (folder === undefined || depth > 4096) return null;
    const dir = this.table.get(folder);
    if (dir) return dir.type === 'dir' ? this.ensure(dir) : null;
    const above = this.reload(folder, depth + 1);
    return above && above.then(() => {
      const loaded = this.table.get(folder);
      return (loaded?.type === 'dir' ? this.ensure(loaded) : null) ?? undefined;
    });
  }

  /** Marks a loaded folder as just used (dropped last). */
  private touch(dir: Inode): void {
    if (dir.ino === ROOT_INO || dir.type !== 'dir') return;
    this.recent.delete(dir.ino);
    this.recent.set(dir.ino, dir);
  }

  private touchParentOf(inode: Inode): void {
    const parent = typeof inode.parents === 'number' ? this.table.get(inode.parents) : undefined;
    if (parent) this.touch(parent);
  }

  private load(dir: Inode): Promise<void> {
    let loading = this.loading.get(dir.ino);
    if (!loading) {
      loading = this.loadOnce(dir).finally(() => this.loading.delete(dir.ino));
      this.loading.set(dir.ino, loading);
    }
    return loading;
  }

  private async loadOnce(dir: Inode): Promise<void> {
    const treeId = dir.treeId!;
    // Not through the blob cache: the decoded folder is what is kept (and dropped by the
    // rules above), and a walk of every folder (`find`, rsync's scan) would otherwise evict
    // the chunks of the files being read for tree bytes that are rarely read twice.
    const tree = await this.repo.loadTreeUncached(treeId);
    if (isLoaded(dir)) return;
    this.populate(dir, treeId, tree);
    if (this.wholeTree === 'needed') await this.loadAll();
  }

  /**
   * Makes inodes for a folder's entries (subfolders not loaded). A hard-linked file among
   * them may have names in folders not loaded yet: the whole tree is then needed.
   */
  private populate(dir: Inode, treeId: string, tree: Tree): void {
    if (tree.version === 1) throw corrupt(`tree ${treeId}`, 'a format-1 folder inside a format-2 tree');
    const children = new Map<string, number>();
    let subdirs = 0;
    let linked = false;
    for (const node of tree.nodes) {
      let inode = this.table.get(node.fileId);
      if (inode) {
        if (inode.type === 'dir' || node.type === 'dir' || inode.type !== node.type) {
          throw corrupt(`tree ${treeId}`, `file id ${node.fileId} of ${JSON.stringify(node.name)} is also used by another entry`);
        }
        linked = true;
      } else {
        if (node.fileId <= ROOT_INO) throw corrupt(`tree ${treeId}`, `${JSON.stringify(node.name)} has the reserved file id ${node.fileId}`);
        if (node.fileId >= this.table.nextFileId) {
          throw corrupt(`tree ${treeId}`, `${JSON.stringify(node.name)} has file id ${node.fileId}, at or above the repository's next file id ${this.table.nextFileId}`);
        }
        inode = inodeFromNode(node.fileId, node);
        if (node.type === 'dir') {
          inode.children = UNLOADED;
          inode.treeId = node.subtree!;
          // A folder's stored links are 2 + its subfolders: its nlink before its entries load.
          inode.subdirs = Math.max(0, node.links - 2);
        }
        if (node.type === 'file' && node.links > 1) linked = true;
        this.table.loaded(inode);
      }
      children.set(node.name, inode.ino);
      inode.nlink++;
      addParent(inode, dir.ino);
      if (node.type === 'dir') subdirs++;
    }
    dir.children = children;
    dir.subdirs = subdirs;
    this.loadedFolders++;
    this.touch(dir);
    if (linked && this.wholeTree === 'partial') this.wholeTree = 'needed';
  }

  /** Loads every folder not loaded yet (journal replay, hard links); a failed load is tried again by the next operation. */
  loadAll(): Promise<void> {
    if (this.wholeTree === 'loaded') return Promise.resolve();
    this.wholeTree = 'needed';
    this.loadingAll ??= this.loadEverything().then(
      () => {
        this.wholeTree = 'loaded';
        this.loadingAll = null;
      },
      (e: unknown) => {
        this.loadingAll = null;
        throw e;
      },
    );
    return this.loadingAll;
  }

  private async loadEverything(): Promise<void> {
    const subfolders = (dir: Inode): Inode[] => [...dir.children!.values()].map((ino) => this.table.get(ino)!).filter((child) => child.type === 'dir');
    await visitConcurrently([this.table.get(ROOT_INO)!], LOADS_AHEAD, async (dir) => {
      if (!isLoaded(dir)) {
        const treeId = dir.treeId!;
        const tree = await this.repo.loadTreeUncached(treeId);
        if (!isLoaded(dir)) this.populate(dir, treeId, tree);
      }
      return subfolders(dir);
    });
  }
}
