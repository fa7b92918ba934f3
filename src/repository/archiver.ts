/**
 * Stores a local folder as trees and content blobs (what `cairn backup` and the benchmarks
 * use; the way `restic backup` reads a folder). With a parent (the same folder's tree in the
 * previous snapshot), a file whose size, mtime and ctime are unchanged is not read again: its
 * chunk list is taken over (rsync's quick check; ctime cannot be set by programs, so a file
 * rewritten and back-dated is still caught). Unchanged entries keep their file ids, so an
 * unchanged folder encodes to the same tree blob and is not stored again.
 *
 * Hard links are stored once and share a file id. A file's link count is the source's
 * (names outside the folder count). Metadata: type, mode, owner, ns times, xattrs, symlink
 * target, device number. A file or folder that cannot be read is reported, not fatal: the
 * parent's version is kept if there is one, otherwise it is left out.
 */
import { createReadStream, promises as fs, readFileSync, type BigIntStats } from 'node:fs';
import * as path from 'node:path';
import type { SnapshotStats } from '../format/snapshot.js';
import { compareNames, type Tree, type TreeNode } from '../format/tree.js';
import { localXattrs, nodeTypeOf, type Problem } from '../localfs/metadata.js';
import { saveContent } from './file-content.js';
import type { Repository } from './repository.js';

/** Files up to this size are read in one exact-size read instead of a stream. */
const WHOLE_READ_LIMIT = 4 * 1024 * 1024;
/** Files read at once across the whole run: hides open and read latency, bounds memory. */
const CONCURRENT_FILES = 8;
/** Extra folder walks at once (see archiveFolder). */
const CONCURRENT_FOLDERS = 4;

export interface ArchiveOptions {
  /** The folder's tree in the previous snapshot: quick check and file ids come from it. */
  readonly parentTree?: string | null;
  /** True for a path (relative to the folder, '/'-separated) that is not to be stored. */
  readonly exclude?: (relativePath: string, isDir: boolean) => boolean;
  /** Whether an id the parent gave several names (a hard link) may be kept (see idFor). */
  readonly keepSharedId?: (fileId: number) => boolean;
  readonly onProgress?: (progress: ArchiveCounts) => void;
  readonly onProblem?: (problem: Problem) => void;
}

export interface ArchiveCounts {
  /** Entries stored (each name). */
  entries: number;
  /** Files by what happened to them (a hard-linked file counted once). */
  newFiles: number;
  changedFiles: number;
  unchangedFiles: number;
  /** Names in the parent that are gone (a folder counts once, with what was in it). */
  removed: number;
  /** Bytes read from local files. */
  bytesRead: number;
  problems: number;
}

export interface ArchiveResult {
  readonly tree: string;
  readonly stats: SnapshotStats;
  readonly nextFileId: number;
  readonly counts: ArchiveCounts;
}

interface StoredFile {
  readonly fileId: number;
  readonly content: string[];
  readonly size: number;
}

class ArchiveRun {
  /** Hard-link groups by (device, inode): claimed before reading, so stored once. */
  readonly inodes = new Map<string, Promise<StoredFile>>();
  /** File ids taken over from the parent in this run, so no id names two files. */
  readonly usedIds = new Set<number>();
  readonly counts: ArchiveCounts = { entries: 0, newFiles: 0, changedFiles: 0, unchangedFiles: 0, removed: 0, bytesRead: 0, problems: 0 };
  readonly stats = { files: 0, dirs: 0, bytes: 0, addedBytes: 0 };
  /** Subfolders that may be walked beside their parent's other entries. */
  freeFolderSlots = CONCURRENT_FOLDERS;
  private reading = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly repo: Repository,
    readonly options: ArchiveOptions,
    public nextFileId: number,
  ) {}

  /**
   * The parent's file id for this entry if it may be kept, else a new one. An id the parent
   * gave several names (a hard link) may also name a file outside this folder, so it is kept
   * only when the caller knows it does not; and no id is taken twice.
   */
  idFor(previous: TreeNode | undefined): number {
    const sharedBefore = previous !== undefined && previous.type !== 'dir' && previous.links > 1;
    if (previous && !this.usedIds.has(previous.fileId) && (!sharedBefore || this.options.keepSharedId?.(previous.fileId))) {
      this.usedIds.add(previous.fileId);
      return previous.fileId;
    }
    return this.nextFileId++;
  }

  problem(p: Problem): void {
    this.counts.problems++;
    this.options.onProblem?.(p);
  }

  progress(): void {
    this.options.onProgress?.(this.counts);
  }

  async readSlot<T>(work: () => Promise<T>): Promise<T> {
    while (this.reading >= CONCURRENT_FILES) await new Promise<void>((r) => this.waiting.push(r));
    this.reading++;
    try {
      return await work();
    } finally {
      this.reading--;
      this.waiting.shift()?.();
    }
  }
}

export async function archiveDirectory(repo: Repository, root: string, options: ArchiveOptions = {}): Promise<ArchiveResult> {
  const run = new ArchiveRun(repo, options, await repo.nextFileIdFloor());
  const tree = await archiveFolder(run, root, '', options.parentTree ?? null);
  const { files, dirs, bytes, addedBytes } = run.stats;
  return { tree, stats: { files, dirs, bytes, addedBytes }, nextFileId: run.nextFileId, counts: run.counts };
}

async function archiveFolder(run: ArchiveRun, folder: string, relative: string, parentTree: string | null): Promise<string> {
  const parent: Tree = parentTree ? await run.repo.loadTree(parentTree) : { nodes: [] };
  const previous = new Map(parent.nodes.map((n) => [n.name, n]));
  const names = (await fs.readdir(folder)).sort(compareNames);
  const entries = await Promise.all(names.map(async (name) => {
    const rel = relative === '' ? name : `${relative}/${name}`;
    try {
      const st = await fs.lstat(path.join(folder, name), { bigint: true });
      if (run.options.exclude?.(rel, st.isDirectory())) return null;
      return { name, rel, st };
    } catch (e) {
      run.problem({ path: rel, message: `cannot read: ${(e as Error).message}` });
      return null;
    }
  }));
  const nodes: TreeNode[] = [];
  // Files side by side. A subfolder runs beside the rest when one of a few folder slots is
  // free (its lstats then overlap ours: that is where a cold walk waits), else in turn, depth
  // first; so memory stays near a few paths of folders, never the whole tree.
  const pending: Promise<TreeNode | null>[] = [];
  for (const entry of entries) {
    if (!entry) continue;
    const old = previous.get(entry.name);
    pending.push(archiveEntry(run, path.join(folder, entry.name), entry.rel, entry.name, entry.st, old).catch((e: unknown) => {
      run.problem({ path: entry.rel, message: `cannot read: ${(e as Error).message}${old ? '; kept the previous version' : ''}` });
      return old ?? null;
    }));
    if (!entry.st.isDirectory()) continue;
    if (run.freeFolderSlots > 0) {
      run.freeFolderSlots--;
      void pending[pending.length - 1]!.finally(() => run.freeFolderSlots++);
    } else {
      await pending[pending.length - 1];
    }
  }
  for (const node of await Promise.all(pending)) if (node) nodes.push(node);
  const kept = new Set(nodes.map((n) => n.name));
  for (const name of previous.keys()) if (!kept.has(name)) run.counts.removed++;
  run.stats.dirs++;
  const saved = await run.repo.saveTree({ nodes });
  run.stats.addedBytes += saved.addedBytes;
  return saved.id;
}

async function archiveEntry(run: ArchiveRun, fullPath: string, rel: string, name: string, st: BigIntStats, old: TreeNode | undefined): Promise<TreeNode> {
  const type = nodeTypeOf(st);
  const previous = old?.type === type ? old : undefined;
  // Any change to an inode but its atime moves its ctime (xattrs included). With ctime and
  // mtime unchanged, the recorded atime stays (reading moved it, under relatime), so the
  // folder's tree id stays too, and the recorded xattrs are still true without asking.
  const untouched = previous !== undefined && previous.ctimeNs === st.ctimeNs && previous.mtimeNs === st.mtimeNs;
  const base = {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: st.mtimeNs,
    atimeNs: untouched ? previous.atimeNs : st.atimeNs,
    ctimeNs: st.ctimeNs,
    links: Number(st.nlink),
    xattrs: untouched ? (previous.xattrs ?? []) : localXattrs(fullPath),
  };
  run.counts.entries++;
  run.progress();
  switch (type) {
    case 'dir': {
      const fileId = run.idFor(previous);
      return { ...base, size: 0, fileId, subtree: await archiveFolder(run, fullPath, rel, previous?.subtree ?? null) };
    }
    case 'symlink': {
      const target = await fs.readlink(fullPath);
      return { ...base, size: Buffer.byteLength(target), fileId: run.idFor(previous), target };
    }
    case 'file': {
      const linked = st.nlink > 1n;
      const key = `${st.dev}:${st.ino}`;
      let stored = linked ? run.inodes.get(key) : undefined;
      if (!stored) {
        stored = storeFile(run, fullPath, st, previous);
        if (linked) run.inodes.set(key, stored);
      }
      const known = await stored; // a read error of the first name fails the others too
      return { ...base, size: known.size, fileId: known.fileId, content: known.content };
    }
    case 'chardev':
    case 'blockdev':
      return { ...base, size: 0, fileId: run.idFor(previous), rdev: Number(st.rdev) };
    default:
      return { ...base, size: 0, fileId: run.idFor(previous) };
  }
}

/** A file unchanged since the parent snapshot by size, mtime and ctime (rsync's quick check). */
function unchanged(st: BigIntStats, previous: TreeNode | undefined): previous is TreeNode {
  return previous !== undefined && BigInt(previous.size) === st.size && previous.mtimeNs === st.mtimeNs && previous.ctimeNs === st.ctimeNs && previous.content !== undefined;
}

async function storeFile(run: ArchiveRun, fullPath: string, st: BigIntStats, previous: TreeNode | undefined): Promise<StoredFile> {
  const fileId = run.idFor(previous);
  run.stats.files++;
  if (unchanged(st, previous)) {
    run.counts.unchangedFiles++;
    run.stats.bytes += previous.size;
    return { fileId, content: [...previous.content!], size: previous.size };
  }
  if (previous) run.counts.changedFiles++;
  else run.counts.newFiles++;
  const saved = await run.readSlot(async () => {
    const source = st.size <= BigInt(WHOLE_READ_LIMIT) ? [readFileSync(fullPath)] : createReadStream(fullPath, { highWaterMark: 1024 * 1024 });
    return saveContent(run.repo, counted(run, source));
  });
  run.stats.bytes += saved.size;
  run.stats.addedBytes += saved.addedBytes;
  return { fileId, content: saved.content, size: saved.size };
}

async function* counted(run: ArchiveRun, source: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const piece of source) {
    run.counts.bytesRead += piece.length;
    run.progress();
    yield piece;
  }
}
