/**
 * Restore: a snapshot, or chosen paths of it, into a local folder with everything the mount
 * keeps: content (all-zero chunks left as holes, so sparse files stay sparse), hard links
 * (names sharing a file id), symlinks, fifos, sockets and device nodes, owner (as root),
 * mode, extended attributes and nanosecond times.
 *
 * Up to two passes over the snapshot's trees: the first (only for chosen paths or a target
 * that already holds names) counts what will be written and finds names already present in
 * the target (refused unless `overwrite`); the second writes.
 * Folders get their mode and times at the end, deepest first, so a read-only folder or
 * the writing of its entries does not undo them. A damaged chunk does not stop the restore:
 * its byte range stays zero, the file is named, and the result says so.
 */
import { lstatSync, mkdirSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { CairnError, isCairnError } from '../errors/errors.js';
import type { Snapshot } from '../format/snapshot.js';
import type { Repository } from '../repository/repository.js';
import { pathParts, resolvePath, rootNode, walkTree, type WalkEntry } from '../repository/tree-walk.js';
import { metadataOf, type Problem } from '../localfs/metadata.js';
import { LocalWriter } from './local-writer.js';

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

/** Regular files (each hard-linked file once) and their bytes, written and to write. */
export interface RestoreProgress {
  readonly files: number;
  readonly bytes: number;
  readonly totalFiles: number;
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

  // Pass 1, only when needed: names that already exist (refused unless `overwrite`), and the
  // totals for the progress line. A whole snapshot into a new or empty folder needs neither
  // walk: its stats hold the totals, and this pass took a quarter of such a restore.
  const present = lstatSync(target, { throwIfNoEntry: false });
  if (present && !present.isDirectory()) {
    throw new CairnError('USAGE', `${target} is not a folder`, { hint: 'restore into a folder (it is created when missing)' });
  }
  const targetExisted = present !== undefined;
  const mayConflict = targetExisted && !options.overwrite && !isEmptyFolder(target);
  let totalFiles = snapshot.stats.files;
  let totalBytes = snapshot.stats.bytes;
  if (mayConflict || subtrees.some((s) => s.path !== '')) {
    totalFiles = 0;
    totalBytes = 0;
    const conflicts: string[] = [];
    const counted = new Set<number>();
    for await (const { path: p, node } of all()) {
      if (node.type === 'file' && !(node.links > 1 && counted.has(node.fileId))) {
        totalFiles++;
        totalBytes += node.size;
        if (node.links > 1) counted.add(node.fileId);
      }
      if (mayConflict) {
        const present = lstatSync(path.join(target, p), { throwIfNoEntry: false });
        if (present && !(present.isDirectory() && node.type === 'dir')) conflicts.push(p);
      }
    }
    if (conflicts.length > 0) {
      const shown = conflicts.slice(0, 5).map((c) => JSON.stringify(c)).join(', ');
      throw new CairnError('EXISTS', `${conflicts.length} of the names to restore already exist in ${target} (${shown}${conflicts.length > 5 ? ', …' : ''})`, {
        hint: 'restore into an empty folder, or add --overwrite to replace them (folders are merged, other files replaced)',
      });
    }
  }

  // Pass 2: write. This thread reads, decrypts and decompresses; a writer thread makes
  // the local files, in the order asked for (src/restore/local-writer.ts).
  mkdirSync(target, { recursive: true });
  const owner = options.owner ?? false;
  const folders: { full: string; entry: WalkEntry }[] = [];
  const firstNames = new Map<number, Promise<string>>();
  let entries = 0;
  let files = 0;
  let bytes = 0;
  let damagedFiles = 0;
  let otherProblems = 0;
  const writer = new LocalWriter(owner, {
    problem: (p: Problem) => {
      otherProblems++;
      report(p);
    },
    damaged: (shown, ranges) => {
      damagedFiles++;
      report({ path: shown, message: `damaged, restored with zeros in ${ranges.join(', ')}` });
    },
  });
  const progress = () => options.onProgress?.({ files, bytes, totalFiles, totalBytes });
  const inFlight = new Set<Promise<void>>();

  const writeFile = async (full: string, entry: WalkEntry) => {
    await writeContent(repo, writer, entry, full, (n) => {
      bytes += n;
      progress();
    });
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
        await writer.link(name, full);
        entries++;
        progress();
      });
    }
    const written = writeFile(full, entry).then(() => full);
    if (node.links > 1) firstNames.set(node.fileId, written);
    return written.then(() => {});
  };

  if (!targetExisted) folders.push({ full: target, entry: { path: '', node: rootNode(snapshot) } });
  try {
    for await (const entry of all()) {
      const full = path.join(target, entry.path);
      const { node } = entry;
      if (options.overwrite) await writer.clear(full, node.type === 'dir');
      if (node.type === 'file') {
        // A second name of a hard-linked file waits for the first; other files run side by side.
        const task = restoreFile(full, entry).finally(() => inFlight.delete(task));
        inFlight.add(task);
        if (inFlight.size >= CONCURRENT_FILES) await Promise.race(inFlight);
        continue;
      }
      if (node.type === 'dir') {
        await writer.mkdir(full);
        folders.push({ full, entry });
      } else if (node.type === 'symlink') {
        await writer.symlink(node.target ?? '', full, entry.path, metadataOf(node));
      } else {
        await writer.special(full, entry.path, metadataOf(node));
      }
      entries++;
      progress();
    }
    await Promise.all(inFlight);
    for (const { full, entry } of folders.reverse()) await writer.metadata(full, entry.path, metadataOf(entry.node));
    await writer.finish();
  } catch (e) {
    for (const task of inFlight) task.catch(() => {});
    await writer.abandon();
    throw e;
  }
  return { entries, files, bytes, damagedFiles, otherProblems };
}

function isEmptyFolder(p: string): boolean {
  try {
    return readdirSync(p).length === 0;
  } catch {
    return false; // unreadable: check name by name (and fail as writing would)
  }
}

/**
 * Sends a file's chunks to the writer at their offsets, then closes it there with its size,
 * metadata and the byte ranges that could not be read here (damage, left as zeros; the
 * writer adds those that do not decode and reports the file). Chunks are fetched and
 * opened ahead asynchronously (the store may be remote); the writer thread decompresses.
 */
async function writeContent(repo: Repository, writer: LocalWriter, entry: WalkEntry, full: string, wrote: (bytes: number) => void): Promise<void> {
  const { node } = entry;
  const content = node.content ?? [];
  const damaged: string[] = [];
  const file = await writer.open(full);
  type Loaded = Awaited<ReturnType<Repository['loadBlobPayload']>>;
  const ahead: Promise<Loaded | null>[] = [];
  try {
    const load = (i: number) => repo.loadBlobPayload('data', content[i]!).catch((error: unknown) => {
      if (!isCairnError(error, 'CORRUPT')) throw error;
      return null;
    });
    let offset = 0;
    for (let i = 0; i < content.length; i++) {
      while (ahead.length < CHUNKS_AHEAD && i + ahead.length < content.length) ahead.push(load(i + ahead.length));
      const blob = await ahead.shift()!;
      if (blob === null) {
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
      const { payload, encoding, plainLength } = blob;
      await writer.write(file, offset, payload, { encoding, plainLength, where: `bytes ${offset}–${offset + plainLength} (chunk ${i + 1} of ${content.length})` });
      offset += plainLength;
      wrote(plainLength);
    }
  } finally {
    for (const pending of ahead) pending.catch(() => {}); // left unread after an error
  }
  await writer.close(file, full, node.size, entry.path, metadataOf(node), damaged);
}
