/**
 * The core every live operation goes through: path lookup with the caller's search
 * permission, the snapshot barrier, and "journal the record, then apply it". The groups
 * of operations (namespace, attributes, file handles) are built on it.
 *
 * Changes to a file named only by libfuse's hidden names (.fuse_hidden…) are not journaled:
 * after a crash such a file is gone anyway, and a snapshot never holds it.
 */
import type { Barrier } from './barrier.js';
import { fail, FsError } from './errors.js';
import { type Inode, type InodeTable, ROOT_INO, storedLinks } from './inode-table.js';
import type { Journal } from './journal.js';
import { type Caller, isRoot, mayAccess, mayRemoveFromSticky, W, X } from './permissions.js';
import type { JournalRecord } from './records.js';

export const NAME_MAX = 255;

/**
 * Where a node is: a path from the root (libfuse's path API, tests), or its inode number
 * (the low-level API names nodes by number once the kernel has looked them up; the kernel
 * checked search permission on the way, with default_permissions).
 */
export type NodeAt = string | { readonly ino: number };
/** Where a name is: a path, or a folder's inode number and the name in it. */
export type NameAt = string | { readonly parent: number; readonly name: string };

/** A node's place for error messages. */
export const describe = (at: NodeAt | NameAt): string =>
  typeof at === 'string' ? at : 'ino' in at ? `inode ${at.ino}` : at.name;

export class LiveTree {
  /** Set when anything changed since the last snapshot, and when the last change was (ms). */
  changedSinceSnapshot = false;
  lastChangeAt = 0;
  /** The caller assumed when none is named: the mount's owner. */
  readonly owner: Caller;
  readonly now: () => bigint;

  constructor(
    readonly table: InodeTable,
    private readonly journal: Journal,
    private readonly barrier: Barrier | undefined,
    options: { readonly uid: number; readonly gid: number; readonly now?: () => bigint },
  ) {
    this.owner = { uid: options.uid, gid: options.gid, groups: () => [] };
    this.now = options.now ?? (() => BigInt(Date.now()) * 1_000_000n + BigInt(process.hrtime.bigint() % 1_000_000n));
  }

  /** The inode at `path`; the caller needs search (x) permission on every folder on the way. */
  resolve(at: NodeAt, caller: Caller): Inode {
    if (typeof at !== 'string') return this.node(at.ino);
    const path = at;
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
   * The parent folder and final name of a path whose last part may not exist yet; the
   * caller will add or remove a name there, which needs write and search permission.
   */
  parentOf(at: NameAt, caller: Caller): { parent: Inode; name: string } {
    let parent: Inode;
    let name: string;
    if (typeof at === 'string') {
      const cut = at.lastIndexOf('/');
      name = at.slice(cut + 1);
      if (Buffer.byteLength(name) <= NAME_MAX) parent = this.resolve(cut <= 0 ? '/' : at.slice(0, cut), caller);
    } else {
      name = at.name;
      parent = this.node(at.parent);
    }
    if (name === '' || name === '.' || name === '..') fail('EINVAL', describe(at));
    if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG', describe(at));
    if (!parent!.children) fail('ENOTDIR', describe(at));
    if (!mayAccess(caller, parent!, W | X)) fail('EACCES', describe(at));
    return { parent: parent!, name };
  }

  /** The inode with this number; ENOENT once it is gone (deleted and closed). */
  node(ino: number): Inode {
    return this.table.get(ino) ?? fail('ENOENT', `inode ${ino}`);
  }

  /** The node `name` in folder `parent` (a lookup): the caller needs search permission on the folder. */
  child(parent: Inode, name: string, caller: Caller): Inode {
    if (!parent.children) fail('ENOTDIR', name);
    if (!isRoot(caller) && !mayAccess(caller, parent, X)) fail('EACCES', name);
    if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG', name);
    const ino = parent.children!.get(name);
    return ino === undefined ? fail('ENOENT', name) : this.table.get(ino)!;
  }

  /** A name to remove or replace in `parent`: a sticky folder lets only owners do it. */
  mayRemove(caller: Caller, parent: Inode, inode: Inode, path: string): void {
    if (!mayRemoveFromSticky(caller, parent, inode)) fail('EPERM', path);
  }

  /**
   * Journals a change, then applies it. `journaled` is false only for changes that concern
   * nothing a snapshot or a replay could hold (files named only by transient names).
   */
  record(record: JournalRecord, journaled = true): void {
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
  change<T>(apply: () => T): T | Promise<T> {
    if (this.barrier?.isFrozen()) return this.barrier.thawed().then(() => this.change(apply));
    return apply();
  }

  /** Whether changes to this inode go to the journal (see the file comment). */
  static journaled(inode: Inode): boolean {
    return storedLinks(inode) > 0;
  }

  /** Syncs the journal (fsync of a file makes its records durable too). */
  syncJournal(): void {
    this.journal.sync();
  }
}

/** A failed write to local state: a full disk is ENOSPC (the program can free space and retry), the rest EIO. */
export function localDiskError(e: unknown, what: 'journal' | 'staging'): FsError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new FsError('ENOSPC', `the local state disk is full (${what})`);
  return new FsError('EIO', `${what} write failed: ${(e as Error).message}`);
}
