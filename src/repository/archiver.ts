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
 *
 * This thread lists the folders (scan-folder.ts), walks, decides, dedups and packs; files
 * are read and sealed by a SourceReader (worker threads).
 */
import * as path from 'node:path';
import type { SnapshotStats } from '../format/snapshot.js';
import { sameNodes, TREE_VERSION, type Tree, type TreeNode } from '../format/tree.js';
import type { Problem } from '../localfs/metadata.js';
import { warmListings } from '../localfs/warm-metadata.js';
import { type KnownEntry, type LocalStat, scanFolder, type StattedEntry, untouched } from './scan-folder.js';
import { SourceReader } from './source-reader.js';
import type { Repository } from './repository.js';

/** Files being sealed at once across the whole run: keeps every sealing thread busy, bounds memory. */
const CONCURRENT_FILES = 64;
/**
 * Extra folder walks at once (see archiveFolder). A folder's tree waits for all its files to
 * be sealed; with 4 the walk stalled behind them and both threads idled a third of a first
 * backup: 16 made it 4-7 % faster (docs/BENCHMARKS.md, session 18).
 */
const CONCURRENT_FOLDERS = 16;

export interface ArchiveOptions {
  /** The folder's tree in the previous snapshot: quick check and file ids come from it. */
  readonly parentTree?: string | null;
  /** True for a path (relative to the folder, '/'-separated) that is not to be stored. */
  readonly exclude?: (relativePath: string, isDir: boolean) => boolean;
  /** Whether an id the parent gave several names (a hard link) may be kept (see idFor). */
  readonly keepSharedId?: (fileId: number) => boolean;
  readonly onProgress?: (progress: ArchiveCounts) => void;
  readonly onProblem?: (problem: Problem) => void;
  /** A reader the caller started early (SourceReader.warmUp) and closes; by default one of our own. */
  readonly reader?: SourceReader;
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
  /** Subfolders of the archived folder (its link count is 2 + that). */
  readonly subfolders: number;
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
    readonly reader: SourceReader,
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
  const reader = options.reader ?? new SourceReader(repo.sealingKeys());
  reader.unlock(repo.sealingKeys());
  try {
    const run = new ArchiveRun(repo, reader, options, await repo.nextFileIdFloor());
    const { tree, subfolders } = await archiveFolder(run, root, '', options.parentTree ?? null);
    const { files, dirs, bytes, addedBytes } = run.stats;
    return { tree, subfolders, stats: { files, dirs, bytes, addedBytes }, nextFileId: run.nextFileId, counts: run.counts };
  } finally {
    if (!options.reader) await reader.close();
  }
}

/** A folder's tree, and how many subfolders it names (its link count is 2 + that). */
interface ArchivedFolder {
  readonly tree: string;
  readonly subfolders: number;
}

async function archiveFolder(run: ArchiveRun, folder: string, relative: string, parentTree: string | null): Promise<ArchivedFolder> {
  const parent: Tree = parentTree ? await run.repo.loadTree(parentTree) : { nodes: [] };
  const previous = new Map(parent.nodes.map((n) => [n.name, n]));
  const known = new Map<string, KnownEntry>(parent.nodes.map((n) => [n.name, { type: n.type, mtimeNs: n.mtimeNs, ctimeNs: n.ctimeNs }]));
  const entries: { entry: StattedEntry; rel: string }[] = [];
  for (const entry of scanFolder(folder, known)) {
    const rel = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if ('statError' in entry) run.problem({ path: rel, message: `cannot read: ${entry.statError}` });
    else if (!run.options.exclude?.(rel, entry.stat.type === 'dir')) entries.push({ entry, rel });
  }
  warmListings(entries.filter(({ entry }) => entry.stat.type === 'dir').map(({ entry }) => path.join(folder, entry.name)));
  const nodes: TreeNode[] = [];
  // Files side by side. A subfolder runs beside the rest when one of a few folder slots is
  // free (its listing then overlaps ours), else in turn, depth first; so memory stays near a
  // few paths of folders, never the whole tree.
  const pending: Promise<TreeNode | null>[] = [];
  for (const { entry, rel } of entries) {
    const old = previous.get(entry.name);
    pending.push(archiveEntry(run, path.join(folder, entry.name), rel, entry, old).catch((e: unknown) => {
      run.problem({ path: rel, message: `cannot read: ${(e as Error).message}${old ? '; kept the previous version' : ''}` });
      return old ?? null;
    }));
    if (entry.stat.type !== 'dir') continue;
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
  // Every entry as the parent tree recorded it (most folders of a backup of few changes):
  // that tree is this one, with no encoding, hashing and lookup to find so.
  const asBefore = parentTree !== null && parent.version === TREE_VERSION && sameNodes(nodes, parent.nodes) && run.repo.holds(parentTree) ? parentTree : null;
  const saved = asBefore !== null ? { id: asBefore, addedBytes: 0 } : await run.repo.saveTree({ nodes });
  run.stats.addedBytes += saved.addedBytes;
  return { tree: saved.id, subfolders: nodes.filter((n) => n.type === 'dir').length };
}

async function archiveEntry(run: ArchiveRun, fullPath: string, rel: string, entry: StattedEntry, old: TreeNode | undefined): Promise<TreeNode> {
  if (entry.readError !== undefined) throw new Error(entry.readError);
  const st = entry.stat;
  const type = st.type;
  const previous = old?.type === type ? old : undefined;
  // Untouched (mtime and ctime as recorded): the recorded atime stays (reading moved it,
  // under relatime), so the folder's tree id stays too, and so do the recorded xattrs.
  const same = untouched(previous, st);
  const base = {
    name: entry.name,
    type,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    mtimeNs: st.mtimeNs,
    atimeNs: same ? previous!.atimeNs : st.atimeNs,
    ctimeNs: st.ctimeNs,
    links: st.nlink,
    xattrs: same ? (previous!.xattrs ?? []) : entry.xattrs!,
  };
  run.counts.entries++;
  run.progress();
  switch (type) {
    case 'dir': {
      const fileId = run.idFor(previous);
      const folder = await archiveFolder(run, fullPath, rel, previous?.subtree ?? null);
      // 2 + the subfolders stored (FORMAT.md), whatever the source's filesystem counts.
      return { ...base, size: 0, fileId, links: 2 + folder.subfolders, subtree: folder.tree };
    }
    case 'symlink': {
      const target = entry.target!;
      return { ...base, size: Buffer.byteLength(target), fileId: run.idFor(previous), target };
    }
    case 'file': {
      const linked = st.nlink > 1;
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
      return { ...base, size: 0, fileId: run.idFor(previous), rdev: st.rdev };
    default:
      return { ...base, size: 0, fileId: run.idFor(previous) };
  }
}

/** A file unchanged since the parent snapshot by size, mtime and ctime (rsync's quick check). */
function unchanged(st: LocalStat, previous: TreeNode | undefined): boolean {
  return previous !== undefined && BigInt(previous.size) === st.size && previous.mtimeNs === st.mtimeNs && previous.ctimeNs === st.ctimeNs && previous.content !== undefined;
}

async function storeFile(run: ArchiveRun, fullPath: string, st: LocalStat, previous: TreeNode | undefined): Promise<StoredFile> {
  const fileId = run.idFor(previous);
  run.stats.files++;
  if (previous && unchanged(st, previous)) {
    run.counts.unchangedFiles++;
    run.stats.bytes += previous.size;
    return { fileId, content: [...previous.content!], size: previous.size };
  }
  if (previous) run.counts.changedFiles++;
  else run.counts.newFiles++;
  const content: string[] = [];
  let addedBytes = 0;
  // A changed file mostly keeps its chunks: those the store holds need no sealing again.
  const stored = (previous?.content ?? []).filter((id) => run.repo.holds(id));
  const size = await run.readSlot(() =>
    run.reader.sealFile(fullPath, stored, async (chunks) => {
      for (const chunk of chunks) {
        addedBytes += await run.repo.saveSealedBlob('data', chunk.id, chunk);
        content.push(chunk.id);
        run.counts.bytesRead += chunk.plainLength;
      }
      run.progress();
    }, Number(st.size)),
  );
  run.stats.bytes += size;
  run.stats.addedBytes += addedBytes;
  return { fileId, content, size };
}
