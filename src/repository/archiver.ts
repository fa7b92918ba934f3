/**
 * Stores a local directory as trees and content blobs (the way `restic backup` reads a
 * folder). Used by the benchmarks and tests, and as the reference for what a tree holds.
 * Hard links are stored once and share a file id (numbered from the repository's floor, so
 * no id is reused); unchanged files still get new ids, so a second archive of one folder
 * writes new trees. A file's link count is the source's (names outside the folder count).
 *
 * Node has no xattr API, so the archiver stores none; the mount records xattrs itself.
 */
import { createReadStream, promises as fs, type BigIntStats } from 'node:fs';
import * as path from 'node:path';
import type { SnapshotStats } from '../format/snapshot.js';
import { compareNames, type TreeNode } from '../format/tree.js';
import { nodeTypeOf } from '../localfs/metadata.js';
import { saveContent } from './file-content.js';
import type { Repository } from './repository.js';

/** Files up to this size are read in one exact-size read instead of a stream. */
const WHOLE_READ_LIMIT = 4 * 1024 * 1024;
/** Entries of one folder archived at once: hides file-open and read latency. */
const CONCURRENT_ENTRIES = 8;

interface StoredFile {
  readonly fileId: number;
  readonly content: string[];
  readonly size: number;
}

interface ArchiveState {
  /** Hard-link groups by (device, inode): claimed before reading, so stored once. */
  readonly inodes: Map<string, Promise<StoredFile>>;
  nextFileId: number;
  files: number;
  dirs: number;
  bytes: number;
  addedBytes: number;
}

export async function archiveDirectory(repo: Repository, root: string): Promise<{ tree: string; stats: SnapshotStats; nextFileId: number }> {
  const state: ArchiveState = { inodes: new Map(), nextFileId: await repo.nextFileIdFloor(), files: 0, dirs: 0, bytes: 0, addedBytes: 0 };
  const tree = await archiveFolder(repo, root, state);
  const { files, dirs, bytes, addedBytes } = state;
  return { tree, stats: { files, dirs, bytes, addedBytes }, nextFileId: state.nextFileId };
}

async function archiveFolder(repo: Repository, folder: string, state: ArchiveState): Promise<string> {
  const names = (await fs.readdir(folder)).sort(compareNames);
  const nodes: TreeNode[] = new Array(names.length);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      nodes[i] = await archiveEntry(repo, path.join(folder, names[i]!), names[i]!, state);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_ENTRIES, names.length) }, worker));
  state.dirs++;
  const saved = await repo.saveTree({ nodes });
  state.addedBytes += saved.addedBytes;
  return saved.id;
}

async function archiveEntry(repo: Repository, fullPath: string, name: string, state: ArchiveState): Promise<TreeNode> {
  const st = await fs.lstat(fullPath, { bigint: true });
  const type = nodeTypeOf(st);
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
      return { ...base, size: 0, fileId: state.nextFileId++, links: Number(st.nlink), subtree: await archiveFolder(repo, fullPath, state) };
    case 'symlink': {
      const target = await fs.readlink(fullPath);
      return { ...base, size: Buffer.byteLength(target), fileId: state.nextFileId++, target };
    }
    case 'file': {
      const key = `${st.dev}:${st.ino}`;
      let stored = st.nlink > 1n ? state.inodes.get(key) : undefined;
      if (!stored) {
        stored = storeFile(repo, fullPath, st, state);
        if (st.nlink > 1n) state.inodes.set(key, stored);
      }
      const known = await stored;
      return { ...base, size: known.size, fileId: known.fileId, content: known.content };
    }
    case 'chardev':
    case 'blockdev':
      return { ...base, size: 0, fileId: state.nextFileId++, rdev: Number(st.rdev) };
    default:
      return { ...base, size: 0, fileId: state.nextFileId++ };
  }
}

async function storeFile(repo: Repository, fullPath: string, st: BigIntStats, state: ArchiveState): Promise<StoredFile> {
  const fileId = state.nextFileId++;
  const source = st.size <= BigInt(WHOLE_READ_LIMIT) ? [await fs.readFile(fullPath)] : createReadStream(fullPath, { highWaterMark: 1024 * 1024 });
  const saved = await saveContent(repo, source);
  state.files++;
  state.bytes += saved.size;
  state.addedBytes += saved.addedBytes;
  return { fileId, content: saved.content, size: saved.size };
}
