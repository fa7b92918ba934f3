/**
 * Between the repository's trees and the live inode table: load a snapshot into inodes,
 * and write the changed directories back as tree blobs. Writing re-encodes only
 * directories without a current tree id (changed since load or last write).
 *
 * Inodes are numbered by the file ids the trees carry, so a journal written against one
 * session applies to the same files after a remount, after a snapshot, on any machine.
 */
import { corrupt } from '../errors/errors.js';
import type { RootAttributes } from '../format/snapshot.js';
import type { Tree, TreeNode } from '../format/tree.js';
import type { Repository } from '../repository/repository.js';
import { addParent, type Inode, InodeTable, isTransientName, newInode, NO_XATTRS, ROOT_INO, storedLinks, withChunkSizes } from './inode-table.js';
import type { ChunkRef } from './records.js';


export function rootAttributesOf(root: Inode): RootAttributes {
  return {
    mode: root.mode, uid: root.uid, gid: root.gid, atimeNs: root.atimeNs, mtimeNs: root.mtimeNs, ctimeNs: root.ctimeNs,
    ...(root.xattrs.size > 0 ? { xattrs: [...root.xattrs].map(([name, value]) => ({ name, value })) } : {}),
  };
}

export function xattrMap(xattrs: TreeNode['xattrs']): ReadonlyMap<string, Buffer> {
  return xattrs?.length ? new Map(xattrs.map((x) => [x.name, Buffer.from(x.value)])) : NO_XATTRS;
}

/** The root folder's inode from a snapshot's root attributes (named once, by the snapshot). */
export function rootInodeOf(root: RootAttributes): Inode {
  return newInode(ROOT_INO, 'dir', { ...root, xattrs: xattrMap(root.xattrs), nlink: 1 });
}

/** An inode for a tree entry, with the attributes and chunks the entry stores (no names counted yet). */
export function inodeFromNode(ino: number, node: TreeNode): Inode {
  const inode = newInode(ino, node.type, {
    mode: node.mode, uid: node.uid, gid: node.gid, rdev: node.rdev ?? 0,
    atimeNs: node.atimeNs, mtimeNs: node.mtimeNs, ctimeNs: node.ctimeNs,
    xattrs: xattrMap(node.xattrs),
    size: node.size,
  });
  if (node.type === 'symlink') inode.target = node.target ?? '';
  if (node.type === 'file') {
    if (node.content && node.content.length > 0) inode.treeContent = node.content;
    inode.baseLimit = node.size;
  }
  return inode;
}

/** A file's committed chunks with their sizes from the index (inode-table.ts withChunkSizes); reading that file fails, not listing its folder. */
export function committedChunks(repo: Repository, inode: Inode): ChunkRef[] {
  return withChunkSizes(inode, (id) => repo.blobPlainSize(id));
}

/**
 * Subfolder trees read ahead of the walk, per folder. The walk stays in order (file ids of
 * version-1 trees are given out in it), only the reads overlap: at mount, a tree of a
 * thousand folders was read one folder at a time, the process idle between.
 */
const TREES_AHEAD = 16;

/**
 * Loads a whole snapshot tree into `table`, for a base from before format 2 (a version-2
 * tree loads folder by folder on demand: src/vfs/folder-loader.ts). Version-2 trees give every inode its file id
 * (names with one id are hard links of one file). A version-1 tree has no stable ids: its
 * files are numbered afresh from the table's next id, hard links grouped by the old
 * per-snapshot number, and every folder is marked changed so the next snapshot stores it
 * again as version 2.
 */
export async function loadTree(repo: Repository, table: InodeTable, rootTree: string | null, root: RootAttributes): Promise<{ legacy: boolean }> {
  const rootInode = rootInodeOf(root);
  table.add(rootInode);
  if (rootTree === null) {
    table.recount();
    return { legacy: false };
  }
  let legacyFound = false;
  const legacyLinks = new Map<number, Inode>();
  let highest = ROOT_INO;
  const loadDir = async (dir: Inode, treeId: string, reading: Promise<Tree>) => {
    const tree = await reading;
    const legacy = tree.version === 1;
    legacyFound ||= legacy;
    // The next subfolders' trees are read while this folder's entries are made.
    const subtrees = tree.nodes.filter((n) => n.type === 'dir').map((n) => n.subtree!);
    const ahead: (Promise<Tree> | undefined)[] = [];
    const readAhead = (upTo: number) => {
      while (ahead.length < Math.min(subtrees.length, upTo)) {
        const read = repo.loadTree(subtrees[ahead.length]!);
        read.catch(() => undefined); // awaited in turn below; a walk that stopped earlier drops it
        ahead.push(read);
      }
    };
    readAhead(TREES_AHEAD);
    let nextSubtree = 0;
    for (const node of tree.nodes) {
      let inode: Inode | undefined;
      if (legacy) {
        inode = node.type === 'file' && node.links > 1 ? legacyLinks.get(node.fileId) : undefined;
      } else {
        inode = table.get(node.fileId);
        if (inode && (inode.type === 'dir' || node.type === 'dir' || inode.type !== node.type)) {
          throw corrupt(`tree ${treeId}`, `file id ${node.fileId} of ${JSON.stringify(node.name)} is also used by another entry`);
        }
      }
      if (!inode) {
        if (!legacy && node.fileId <= ROOT_INO) throw corrupt(`tree ${treeId}`, `${JSON.stringify(node.name)} has the reserved file id ${node.fileId}`);
        inode = inodeFromNode(legacy ? table.allocateIno() : node.fileId, node);
        highest = Math.max(highest, inode.ino);
        if (legacy && node.type === 'file' && node.links > 1) legacyLinks.set(node.fileId, inode);
        table.add(inode);
      }
      dir.children!.set(node.name, inode.ino);
      inode.nlink++;
      addParent(inode, dir.ino);
      if (node.type === 'dir') {
        dir.subdirs++;
        const read = ahead[nextSubtree]!;
        ahead[nextSubtree++] = undefined;
        readAhead(nextSubtree + TREES_AHEAD);
        await loadDir(inode, node.subtree!, read);
      }
    }
    if (!legacy) dir.treeId = treeId;
  };
  await loadDir(rootInode, rootTree, repo.loadTree(rootTree));
  table.raiseNextIno(highest + 1);
  table.recount();
  return { legacy: legacyFound };
}

export function nodeFromInode(name: string, inode: Inode, subtree?: string): TreeNode {
  const base = {
    name, type: inode.type, mode: inode.mode, uid: inode.uid, gid: inode.gid,
    mtimeNs: inode.mtimeNs, atimeNs: inode.atimeNs, ctimeNs: inode.ctimeNs,
    fileId: inode.ino, links: inode.type === 'dir' ? 2 + inode.subdirs : storedLinks(inode),
    ...(inode.xattrs.size > 0 ? { xattrs: [...inode.xattrs].map(([n, value]) => ({ name: n, value })) } : {}),
  };
  switch (inode.type) {
    case 'file':
      return { ...base, size: inode.size, content: inode.treeContent ?? inode.content.map((c) => c.id) };
    case 'dir':
      return { ...base, size: 0, subtree: subtree! };
    case 'symlink':
      return { ...base, size: Buffer.byteLength(inode.target ?? ''), target: inode.target ?? '' };
    case 'chardev':
    case 'blockdev':
      return { ...base, size: 0, rdev: inode.rdev };
    default:
      return { ...base, size: 0 };
  }
}

export interface TreeWriteStats {
  addedBytes: number;
  treesWritten: number;
}

/**
 * Writes tree blobs for every changed directory under `dir` and returns its tree id.
 * Unchanged directories keep their tree id and cost nothing. Files must be committed first.
 */
export async function writeTree(repo: Repository, table: InodeTable, dir: Inode, stats: TreeWriteStats): Promise<string> {
  if (dir.treeId !== undefined) return dir.treeId;
  const nodes: TreeNode[] = [];
  for (const [name, ino] of dir.children!) {
    if (isTransientName(name)) continue;
    const inode = table.get(ino)!;
    if (inode.type === 'dir') {
      nodes.push(nodeFromInode(name, inode, await writeTree(repo, table, inode, stats)));
    } else {
      if (inode.type === 'file' && !inode.dirty.isEmpty) throw new Error(`file ${name} has uncommitted data`);
      nodes.push(nodeFromInode(name, inode));
    }
  }
  const saved = await repo.saveTree({ nodes });
  stats.addedBytes += saved.addedBytes;
  stats.treesWritten++;
  dir.treeId = saved.id;
  return saved.id;
}
