/**
 * Stores a local directory as trees and content blobs (the way `restic backup` reads a
 * folder). Used by the benchmarks and tests, and as the reference for what a tree holds.
 * Hard links are stored once and share an `inode` number; unchanged directories produce
 * identical tree blobs and so cost nothing the second time.
 *
 * Node has no xattr API, so the archiver stores none; the mount records xattrs itself.
 */
import { createReadStream, promises as fs, type BigIntStats } from 'node:fs';
import * as path from 'node:path';
import type { SnapshotStats } from '../format/snapshot.js';
import { compareNames, type NodeType, type TreeNode } from '../format/tree.js';
import { saveContent } from './file-content.js';
import type { Repository } from './repository.js';

interface ArchiveState {
  readonly inodes: Map<string, { inode: number; content: string[]; size: number }>;
  nextInode: number;
  files: number;
  dirs: number;
  bytes: number;
  addedBytes: number;
}

export async function archiveDirectory(repo: Repository, root: string): Promise<{ tree: string; stats: SnapshotStats }> {
  const state: ArchiveState = { inodes: new Map(), nextInode: 1, files: 0, dirs: 0, bytes: 0, addedBytes: 0 };
  const tree = await archiveFolder(repo, root, state);
  const { files, dirs, bytes, addedBytes } = state;
  return { tree, stats: { files, dirs, bytes, addedBytes } };
}

async function archiveFolder(repo: Repository, folder: string, state: ArchiveState): Promise<string> {
  const names = (await fs.readdir(folder)).sort(compareNames);
  const nodes: TreeNode[] = [];
  for (const name of names) nodes.push(await archiveEntry(repo, path.join(folder, name), name, state));
  state.dirs++;
  const saved = await repo.saveTree({ nodes });
  state.addedBytes += saved.addedBytes;
  return saved.id;
}

function typeOf(st: BigIntStats): NodeType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'chardev';
  return 'blockdev';
}

async function archiveEntry(repo: Repository, fullPath: string, name: string, state: ArchiveState): Promise<TreeNode> {
  const st = await fs.lstat(fullPath, { bigint: true });
  const type = typeOf(st);
  const base = {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: st.mtimeNs,
    atimeNs: st.atimeNs,
    ctimeNs: st.ctimeNs,
    links: Number(st.nlink),
  };
  switch (type) {
    case 'dir':
      return { ...base, size: 0, inode: state.nextInode++, links: 1, subtree: await archiveFolder(repo, fullPath, state) };
    case 'symlink': {
      const target = await fs.readlink(fullPath);
      return { ...base, size: Buffer.byteLength(target), inode: state.nextInode++, target };
    }
    case 'file': {
      const key = `${st.dev}:${st.ino}`;
      let known = st.nlink > 1n ? state.inodes.get(key) : undefined;
      if (!known) {
        const saved = await saveContent(repo, createReadStream(fullPath, { highWaterMark: 1024 * 1024 }));
        known = { inode: state.nextInode++, content: saved.content, size: saved.size };
        if (st.nlink > 1n) state.inodes.set(key, known);
        state.files++;
        state.bytes += saved.size;
        state.addedBytes += saved.addedBytes;
      }
      return { ...base, size: known.size, inode: known.inode, content: known.content };
    }
    case 'chardev':
    case 'blockdev':
      return { ...base, size: 0, inode: state.nextInode++, rdev: Number(st.rdev) };
    default:
      return { ...base, size: 0, inode: state.nextInode++ };
  }
}
