/**
 * A local file's metadata in the terms of a tree node, and the reverse: giving a restored
 * file the owner, mode, extended attributes and nanosecond times a node records. Used by
 * restore (write), verify (compare) and backup (read).
 */
import { chmodSync, constants, lchownSync, type BigIntStats } from 'node:fs';
import { lsetxattr, lutimens, mknod, readXattrs } from '../fuse/native-files.js';
import type { NodeType, TreeNode, Xattr } from '../format/tree.js';

export function nodeTypeOf(st: BigIntStats): NodeType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'chardev';
  return 'blockdev';
}

/** The S_IF* bits mknod needs for a node type that is neither file, folder nor symlink. */
export function fileTypeBits(type: NodeType): number {
  const bits: Partial<Record<NodeType, number>> = { fifo: constants.S_IFIFO, socket: constants.S_IFSOCK, chardev: constants.S_IFCHR, blockdev: constants.S_IFBLK };
  const found = bits[type];
  if (found === undefined) throw new RangeError(`no mknod type for ${type}`);
  return found;
}

/** What applyMetadata and makeSpecialFile need of a tree node (restore sends only this to its writer thread). */
export type NodeMetadata = Pick<TreeNode, 'type' | 'uid' | 'gid' | 'mode' | 'xattrs' | 'atimeNs' | 'mtimeNs' | 'rdev'>;

export function metadataOf(node: TreeNode): NodeMetadata {
  const { type, uid, gid, mode, xattrs, atimeNs, mtimeNs, rdev } = node;
  return { type, uid, gid, mode, xattrs, atimeNs, mtimeNs, rdev };
}

/** Creates a fifo, socket or device node as `node` describes it (permission bits set later). */
export function makeSpecialFile(fullPath: string, node: NodeMetadata): void {
  mknod(fullPath, fileTypeBits(node.type) | (node.mode & 0o777), node.rdev ?? 0);
}

/** Extended attributes of a local path, as a tree node holds them. */
export function localXattrs(path: string): Xattr[] {
  return readXattrs(path);
}

/** A problem with one path that does not stop the whole run. */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

export interface ApplyOptions {
  /** Set owner and group (only root may give files away). */
  readonly owner: boolean;
  readonly report: (problem: Problem) => void;
}

/**
 * Owner first (chown clears setuid/setgid), then mode, extended attributes, and times last
 * (each of the others changes ctime, and setting an xattr may change mtime on some systems).
 * A step that fails is reported and the rest still run. Synchronous on purpose: each call is
 * one short syscall, and fs/promises costs several times that in main-thread overhead (a
 * restore of 25,000 files spent more time there than in the kernel).
 */
export function applyMetadata(fullPath: string, shownPath: string, node: NodeMetadata, options: ApplyOptions): void {
  const attempt = (what: string, step: () => unknown) => {
    try {
      step();
    } catch (e) {
      options.report({ path: shownPath, message: `could not set ${what}: ${(e as Error).message}` });
    }
  };
  if (options.owner) attempt('the owner', () => lchownSync(fullPath, node.uid, node.gid));
  if (node.type !== 'symlink') attempt('the mode', () => chmodSync(fullPath, node.mode));
  for (const xattr of node.xattrs ?? []) attempt(`the extended attribute ${xattr.name}`, () => lsetxattr(fullPath, xattr.name, xattr.value));
  attempt('the times', () => lutimens(fullPath, node.atimeNs, node.mtimeNs));
}
