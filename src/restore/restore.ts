/**
 * Restore: a snapshot, or chosen paths of it, into a local folder with everything the mount
 * keeps: content (all-zero chunks left as holes, so sparse files stay sparse), hard links
 * (names sharing a file id), symlinks, fifos, sockets and device nodes, owner (as root),
 * mode, extended attributes and nanosecond times.
 *
 * Two passes over the snapshot's trees: the first counts what will be written and finds
 * names already present in the target (refused unless `overwrite`), the second writes.
 * Folders get their mode and times at the end, deepest first, so a read-only folder or
 * the writing of its entries does not undo them. A damaged chunk does not stop the restore:
 * its byte range stays zero, the file is named, and the result says so.
 */
import { closeSync, ftruncateSync, linkSync, lstatSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { CairnError, isCairnError } from '../errors/errors.js';
import type { Snapshot } from '../format/snapshot.js';
import type { TreeNode } from '../format/tree.js';
import type { Repository } from '../repository/repository.js';
import { pathParts, resolvePath, rootNode, walkTree, type WalkEntry } from '../repository/tree-walk.js';
import { applyMetadata, makeSpecialFile, type Problem } from '../localfs/metadata.js';

export interface RestoreOptions {
  /** Paths inside the snapshot to restore (each with its folders above it); all when empty. */
  readonly paths?: readonly string[];
  /** Replace files already in the target instead of refusing. */
  readonly overwrite?: boolean;
  /** Give files their recorded owner (needs root). */
  readonly owner?: boolean;
  readonly onProgress?: (progress: RestoreProgress) => void;
  /** Each problem as it happens (damage, metadata that could not be set). */
  readonly onProblem?: (problem: Problem) => void;
}

export interface RestoreProgress {
  readonly entries: number;
  readonly bytes: number;
  readonly totalEntries: number;
  readonly totalBytes: number;
}

export interface RestoreResult {
  /** Entries written: files (each hard-link name once), folders, symlinks and others. */
  readonly entries: number;
  readonly files: number;
  readonly bytes: number;
  /** Files with damaged content (named through onProblem). */
  readonly damagedFiles: number;
  /** Metadata that could not be set. */
  readonly otherProblems: number;
}

/** Files written at once: hides the latency of reading chunks and creating files. */
const CONCURRENT_FILES = 8;
/** Chunks of one file fetched ahead of the one being written. */
const CHUNKS_AHEAD = 4;

interface Selection {
  readonly entries: WalkEntry[];
  /** Walk starts: selected folders whose whole subtree is restored. */
  readonly subtrees: WalkEntry[];
}

/** The selected entries and the folders above them, shallowest first, without duplicates. */
async function select(repo: Repository, snapshot: Snapshot, paths: readonly string[]): Promise<Selection> {
  const chosen = paths.length === 0 ? [''] : paths;
  const seen = new Set<string>();
  const entries: WalkEntry[] = [];
  const subtrees: WalkEntry[] = [];
  for (const p of chosen) {
    const parts = pathParts(p);
    for (let depth = 1; depth <= parts.length; depth++) {
      const prefix = parts.slice(0, depth).join('/');
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      entries.push(await resolvePath(repo, snapshot, prefix));
    }
    const target = parts.length === 0 ? { path: '', node: rootNode(snapshot) } : await resolvePath(repo, snapshot, parts.join('/'));
    // A path inside one already chosen whole adds nothing.
    if (!subtrees.some((s) => s.path === '' || target.path === s.path || target.path.startsWith(`${s.path}/`))) subtrees.push(target);
  }
  return { entries, subtrees };
}

export async function restoreSnapshot(repo: Repository, snapshot: Snapshot, target: string, options: RestoreOptions = {}): Promise<RestoreResult> {
  const report = options.onProblem ?? (() => {});
  const { entries: above, subtrees } = await select(repo, snapshot, options.paths ?? []);
  const all = async function* () {
    for (const e of above) yield e;
    for (const s of subtrees) yield* walkTree(repo, s);
  };

  // Pass 1: totals and conflicts.
  const targetExisted = exists(target);
  let totalEntries = 0;
  let totalBytes = 0;
  const conflicts: string[] = [];
  const counted = new Set<number>();
  for await (const { path: p, node } of all()) {
    totalEntries++;
    if (node.type === 'file' && !(node.links > 1 && counted.has(node.fileId))) {
      totalBytes += node.size;
      if (node.links > 1) counted.add(node.fileId);
    }
    if (targetExisted) {
      const present = lstatSync(path.join(target, p), { throwIfNoEntry: false });
      if (present && !(present.isDirectory() && node.type === 'dir')) conflicts.push(p);
    }
  }
  if (conflicts.length > 0 && !options.overwrite) {
    const shown = conflicts.slice(0, 5).map((c) => JSON.stringify(c)).join(', ');
    throw new CairnError('EXISTS', `${conflicts.length} of the names to restore already exist in ${target} (${shown}${conflicts.length > 5 ? ', …' : ''})`, {
      hint: 'restore into an empty folder, or add --overwrite to replace them (folders are merged, other files replaced)',
    });
  }

  // Pass 2: write.
  mkdirSync(target, { recursive: true });
  const owner = options.owner ?? false;
  const folders: { full: string; entry: WalkEntry }[] = [];
  const firstNames = new Map<number, Promise<string>>();
  let entries = 0;
  let files = 0;
  let bytes = 0;
  let damagedFiles = 0;
  let otherProblems = 0;
  const problem = (p: Problem) => {
    otherProblems++;
    report(p);
  };
  const progress = () => options.onProgress?.({ entries, bytes, totalEntries, totalBytes });
  const inFlight = new Set<Promise<void>>();

  const writeFile = async (full: string, entry: WalkEntry) => {
    const damaged = await writeContent(repo, entry.node, full, (n) => {
      bytes += n;
      progress();
    });
    if (damaged.length > 0) {
      damagedFiles++;
      report({ path: entry.path, message: `damaged, restored with zeros in ${damaged.join(', ')}` });
    }
    applyMetadata(full, entry.path, entry.node, { owner, report: problem });
    files++;
    entries++;
    progress();
  };
  // The first name of a hard-linked file is written; the others are links to it, made once
  // it exists (and failing with it).
  const restoreFile = (full: string, entry: WalkEntry): Promise<void> => {
    const { node } = entry;
    const first = node.links > 1 ? firstNames.get(node.fileId) : undefined;
    if (first) {
      return first.then(async (name) => {
        linkSync(name, full);
        entries++;
        progress();
      });
    }
    const written = writeFile(full, entry).then(() => full);
    if (node.links > 1) firstNames.set(node.fileId, written);
    return written.then(() => {});
  };

  if (!targetExisted) folders.push({ full: target, entry: { path: '', node: rootNode(snapshot) } });
  for await (const entry of all()) {
    const full = path.join(target, entry.path);
    const { node } = entry;
    if (options.overwrite) clearWay(full, node);
    if (node.type === 'dir') {
      try {
        mkdirSync(full);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      folders.push({ full, entry });
      entries++;
      progress();
      continue;
    }
    if (node.type === 'file') {
      // A second name of a hard-linked file waits for the first; other files run side by side.
      const task = restoreFile(full, entry).finally(() => inFlight.delete(task));
      inFlight.add(task);
      if (inFlight.size >= CONCURRENT_FILES) await Promise.race(inFlight);
      continue;
    }
    if (node.type === 'symlink') symlinkSync(node.target ?? '', full);
    else makeSpecialFile(full, node);
    applyMetadata(full, entry.path, node, { owner, report: problem });
    entries++;
    progress();
  }
  await Promise.all(inFlight);
  for (const { full, entry } of folders.reverse()) applyMetadata(full, entry.path, entry.node, { owner, report: problem });
  return { entries, files, bytes, damagedFiles, otherProblems };
}

function exists(p: string): boolean {
  return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

/** With --overwrite: removes what stands where `node` goes (a folder stays for a folder). */
function clearWay(full: string, node: TreeNode): void {
  const present = lstatSync(full, { throwIfNoEntry: false });
  if (!present || (present.isDirectory() && node.type === 'dir')) return;
  rmSync(full, { recursive: true, force: true });
}

/**
 * Writes a file's chunks at their offsets, skipping all-zero chunks (the file is created
 * empty and sized at the end, so they stay holes). Returns the byte ranges that could not be
 * read (damage), which stay zero. Chunks are fetched ahead asynchronously (the store may be
 * remote); the local writes are synchronous, as in applyMetadata.
 */
async function writeContent(repo: Repository, node: TreeNode, full: string, wrote: (bytes: number) => void): Promise<string[]> {
  const content = node.content ?? [];
  const damaged: string[] = [];
  const fd = openSync(full, 'wx', 0o600);
  const ahead: Promise<{ data: Buffer | null; error: CairnError | null }>[] = [];
  try {
    const load = (i: number) => repo.loadBlob('data', content[i]!).then(
      (data) => ({ data, error: null }),
      (error: unknown) => {
        if (!isCairnError(error, 'CORRUPT')) throw error;
        return { data: null, error: error as CairnError };
      },
    );
    let offset = 0;
    let written = 0; // the end of the last bytes written: beyond it the file is still empty
    for (let i = 0; i < content.length; i++) {
      while (ahead.length < CHUNKS_AHEAD && i + ahead.length < content.length) ahead.push(load(i + ahead.length));
      const { data } = await ahead.shift()!;
      if (data === null) {
        let size: number | null = null;
        try {
          size = repo.blobPlainSize(content[i]!);
        } catch {
          // Not in the index: where the following chunks start is unknown too.
        }
        if (size === null) {
          damaged.push(`bytes ${offset}–${node.size} (chunk ${i + 1} of ${content.length} and after)`);
          break;
        }
        damaged.push(`bytes ${offset}–${offset + size} (chunk ${i + 1} of ${content.length})`);
        offset += size;
        continue;
      }
      if (!isAllZero(data)) {
        writeAll(fd, data, offset);
        written = offset + data.length;
      }
      offset += data.length;
      wrote(data.length);
    }
    if (written !== node.size) ftruncateSync(fd, node.size);
  } finally {
    for (const pending of ahead) pending.catch(() => {}); // left unread after an error
    closeSync(fd);
  }
  return damaged;
}

function writeAll(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

const ZEROS = Buffer.alloc(64 * 1024);

function isAllZero(data: Buffer): boolean {
  for (let at = 0; at < data.length; at += ZEROS.length) {
    const end = Math.min(data.length, at + ZEROS.length);
    if (data.compare(ZEROS, 0, end - at, at, end) !== 0) return false;
  }
  return true;
}
