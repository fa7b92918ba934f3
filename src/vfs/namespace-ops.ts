/**
 * The operations on names: create (nodes of every type), link, unlink, rmdir and rename,
 * with the permission rules of folders (write and search, sticky) and libfuse's hidden
 * names kept to libfuse. Every change goes through the LiveTree (barrier, journal, apply).
 */
import type { NodeType } from '../format/tree.js';
import { SNAPSHOTS_DIR } from '../timetravel/names.js';
import { fail } from './errors.js';
import { refuseHistory } from './history-ops.js';
import { firstParent, type Inode, isTransientName, ROOT_INO } from './inode-table.js';
import { describe, LiveTree, type NameAt, type NodeAt } from './live-tree.js';
import { type Caller, mayAccess, newNodeOwnership, W } from './permissions.js';
import { S_IFMT, TYPE_OF_BITS } from './stat.js';

export class NamespaceOps {
  constructor(
    private readonly tree: LiveTree,
    /** Whether /.snapshots is the history view (then no live node may take its name). */
    private readonly historyShown: boolean,
  ) {}

  /** A new node at `path`, owned by `caller` (src/vfs/permissions.ts), journaled and applied. */
  createNode(caller: Caller, path: NameAt, type: NodeType, mode: number, extra: { rdev?: number; target?: string } = {}): Inode {
    refuseHistory(path);
    if (this.historyShown && namesSnapshotsFolder(path)) fail('EEXIST', describe(path));
    const { parent, name } = this.tree.parentOf(path, caller);
    if (parent.children!.has(name)) fail('EEXIST', describe(path));
    if (isTransientName(name)) fail('EPERM', describe(path));
    const ino = this.tree.table.allocateIno();
    const owner = newNodeOwnership(caller, parent, type === 'dir', mode & 0o7777);
    this.tree.record({
      op: 'mknod', parent: parent.ino, name, ino, type, mode: owner.mode, uid: owner.uid, gid: owner.gid,
      rdev: extra.rdev ?? 0, ...(extra.target !== undefined ? { target: extra.target } : {}), t: this.tree.now(),
    });
    return this.tree.table.get(ino)!;
  }

  /** New nodes belong to `caller` (the FUSE adapter passes the calling process). */
  mkdir(path: NameAt, mode: number, caller: Caller): void | Promise<void> {
    return this.tree.change(() => void this.createNode(caller, path, 'dir', mode));
  }

  mknod(path: NameAt, mode: number, rdev: number, caller: Caller): void | Promise<void> {
    return this.tree.change(() => {
      const type = TYPE_OF_BITS.get(mode & S_IFMT) ?? (mode & S_IFMT ? undefined : 'file');
      if (!type || type === 'dir' || type === 'symlink') fail('EINVAL', describe(path));
      this.createNode(caller, path, type!, mode, { rdev });
    });
  }

  symlink(target: string, path: NameAt, caller: Caller): void | Promise<void> {
    return this.tree.change(() => {
      if (Buffer.byteLength(target) > 4095) fail('ENAMETOOLONG', target);
      this.createNode(caller, path, 'symlink', 0o777, { target });
    });
  }

  unlink(path: NameAt, caller: Caller): void | Promise<void> {
    return this.tree.change(() => {
      refuseHistory(path);
      const { parent, name } = this.tree.parentOf(path, caller);
      const ino = parent.children!.get(name);
      if (ino === undefined) fail('ENOENT', describe(path));
      const inode = this.tree.table.get(ino!)!;
      if (inode.type === 'dir') fail('EISDIR', describe(path));
      this.tree.mayRemove(caller, parent, inode, describe(path));
      // libfuse removing its own hidden name: no snapshot or replay holds that name.
      this.tree.record({ op: 'unlink', parent: parent.ino, name, t: this.tree.now() }, !isTransientName(name));
    });
  }

  rmdir(path: NameAt, caller: Caller): void | Promise<void> {
    return this.tree.change(() => this.removeDir(path, caller));
  }

  private removeDir(path: NameAt, caller: Caller): void {
    refuseHistory(path);
    const { parent, name } = this.tree.parentOf(path, caller);
    const ino = parent.children!.get(name);
    if (ino === undefined) fail('ENOENT', describe(path));
    const dir = this.tree.table.get(ino!)!;
    if (dir.type !== 'dir') fail('ENOTDIR', describe(path));
    this.tree.mayRemove(caller, parent, dir, describe(path));
    if (dir.children!.size > 0) fail('ENOTEMPTY', describe(path));
    this.tree.record({ op: 'unlink', parent: parent.ino, name, t: this.tree.now() });
  }

  rename(from: NameAt, to: NameAt, caller: Caller): void | Promise<void> {
    return this.tree.change(() => this.move(from, to, caller));
  }

  private move(from: NameAt, to: NameAt, caller: Caller): void {
    refuseHistory(from, to);
    const src = this.tree.parentOf(from, caller);
    const dst = this.tree.parentOf(to, caller);
    const ino = src.parent.children!.get(src.name);
    // A hidden name stands for an unlinked file: it cannot be given a name again.
    if (ino === undefined || isTransientName(src.name)) fail('ENOENT', describe(from));
    const inode = this.tree.table.get(ino!)!;
    const existing = dst.parent.children!.get(dst.name);
    if (existing === ino) return; // two names of one file: POSIX says do nothing
    if (inode.type === 'dir') {
      // A directory cannot move below itself.
      for (let d: Inode | undefined = dst.parent; d; d = d.ino === ROOT_INO ? undefined : this.tree.table.get(firstParent(d)!)) {
        if (d.ino === inode.ino) fail('EINVAL', describe(to));
      }
    }
    this.tree.mayRemove(caller, src.parent, inode, describe(from));
    // A folder moving to another parent rewrites its '..': that needs write permission on it.
    if (inode.type === 'dir' && src.parent !== dst.parent && !mayAccess(caller, inode, W)) fail('EACCES', describe(from));
    if (existing !== undefined) {
      const target = this.tree.table.get(existing)!;
      this.tree.mayRemove(caller, dst.parent, target, describe(to));
      if (inode.type === 'dir' && target.type !== 'dir') fail('ENOTDIR', describe(to));
      if (inode.type !== 'dir' && target.type === 'dir') fail('EISDIR', describe(to));
      if (target.type === 'dir' && target.children!.size > 0) fail('ENOTEMPTY', describe(to));
    }
    this.tree.record({ op: 'rename', parent: src.parent.ino, name: src.name, newParent: dst.parent.ino, newName: dst.name, t: this.tree.now() });
  }

  link(existing: NodeAt, path: NameAt, caller: Caller): void | Promise<void> {
    return this.tree.change(() => {
      refuseHistory(existing, path);
      const inode = this.tree.resolve(existing, caller);
      if (inode.type === 'dir') fail('EPERM', describe(existing));
      // As Linux: a file with no names left cannot get one back through link().
      if (!LiveTree.journaled(inode)) fail('ENOENT', describe(existing));
      const { parent, name } = this.tree.parentOf(path, caller);
      if (parent.children!.has(name)) fail('EEXIST', describe(path));
      if (isTransientName(name)) fail('EPERM', describe(path));
      this.tree.record({ op: 'link', parent: parent.ino, name, ino: inode.ino, t: this.tree.now() });
    });
  }
}

/** Whether a name is the root's `.snapshots`, which the history view owns. */
function namesSnapshotsFolder(at: NameAt): boolean {
  return typeof at === 'string' ? at === `/${SNAPSHOTS_DIR}` : at.parent === ROOT_INO && at.name === SNAPSHOTS_DIR;
}
