/**
 * `cairn backup`: make the folder DEST of the repository's tree an exact copy of a local
 * folder (what `rsync -aHAX --delete SRC/ MOUNT/DEST/` makes through a mount) and take a
 * snapshot. The rest of the newest snapshot's tree stays as it is: its folders above DEST
 * are re-encoded with DEST's new tree id, every other tree blob is reused. Unchanged files
 * are not read (archiver.ts: size, mtime, ctime), and keep their file ids.
 */
import { promises as fs } from 'node:fs';
import { currentUserName } from '../backend/local-user.js';
import { CairnError } from '../errors/errors.js';
import type { RootAttributes, SnapshotStats } from '../format/snapshot.js';
import type { Tree, TreeNode } from '../format/tree.js';
import { localXattrs } from '../localfs/metadata.js';
import { archiveDirectory, type ArchiveCounts, type ArchiveOptions } from './archiver.js';
import { countEntry, type EntryTotals } from './inspect.js';
import type { Repository, StoredSnapshot } from './repository.js';
import { pathParts, visitConcurrently } from './tree-walk.js';

export interface BackupOptions extends Pick<ArchiveOptions, 'exclude' | 'onProgress' | 'onProblem' | 'reader'> {
  /** The folder inside the repository's tree ('' for the whole tree). */
  readonly dest: string;
  readonly tags?: readonly string[];
}

export interface BackupResult {
  readonly snapshot: StoredSnapshot;
  readonly counts: ArchiveCounts;
  /** Sealed bytes this backup added to the store. */
  readonly addedBytes: number;
}

export async function backupFolder(repo: Repository, source: string, options: BackupOptions): Promise<BackupResult> {
  const top = await fs.lstat(source, { bigint: true }).catch(() => null);
  if (!top?.isDirectory()) throw new CairnError('USAGE', `${source} is not a folder`, { hint: 'back up a folder; its contents become DEST in the repository' });
  const snapshots = await repo.listSnapshots();
  const base = snapshots[snapshots.length - 1] ?? null;
  const dest = pathParts(options.dest);

  // The trees from the root down to DEST's parent, and the nodes naming each step.
  const trees: Tree[] = [];
  const steps: (TreeNode | undefined)[] = [];
  let treeId = base?.snapshot.tree ?? null;
  for (const [i, part] of dest.entries()) {
    const tree = treeId ? await repo.loadTree(treeId) : { nodes: [] };
    const node = tree.nodes.find((n) => n.name === part);
    if (node && node.type !== 'dir') {
      throw new CairnError('USAGE', `${dest.slice(0, i + 1).join('/')} is a ${node.type} in the newest snapshot, not a folder`, { hint: 'choose another DEST' });
    }
    trees.push(tree);
    steps.push(node);
    treeId = node?.subtree ?? null;
  }

  const old = dest.length === 0 || !treeId ? null : await summarizeOldDest(repo, treeId);
  const archived = await archiveDirectory(repo, source, { ...options, parentTree: treeId, keepSharedId: (id) => old === null || old.idsAllInside.has(id) });
  let nextFileId = archived.nextFileId;
  let addedBytes = archived.stats.addedBytes;
  const sourceAttributes: RootAttributes = {
    mode: Number(top.mode & 0o7777n), uid: Number(top.uid), gid: Number(top.gid),
    atimeNs: top.atimeNs, mtimeNs: top.mtimeNs, ctimeNs: top.ctimeNs, xattrs: localXattrs(source),
  };

  // Graft: DEST's node carries the source folder's metadata; the folders above it keep
  // theirs (new ones are made like mkdir -p), with the new subtree below them.
  let subtree = archived.tree;
  let subfolders = archived.subfolders;
  let createdDirs = 0;
  for (let i = dest.length - 1; i >= 0; i--) {
    const existing = steps[i];
    const now = BigInt(Date.now()) * 1_000_000n;
    const made: RootAttributes = { mode: 0o755, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, atimeNs: now, mtimeNs: now, ctimeNs: now };
    const attributes = i === dest.length - 1 ? sourceAttributes : (existing ?? made);
    if (!existing && i < dest.length - 1) createdDirs++; // DEST itself is among the archived folders
    const node: TreeNode = {
      name: dest[i]!, type: 'dir', size: 0, links: 2 + subfolders,
      mode: attributes.mode, uid: attributes.uid, gid: attributes.gid, atimeNs: attributes.atimeNs, mtimeNs: attributes.mtimeNs, ctimeNs: attributes.ctimeNs,
      ...(attributes.xattrs?.length ? { xattrs: attributes.xattrs } : {}),
      fileId: existing?.fileId ?? nextFileId++,
      subtree,
    };
    const nodes = [...trees[i]!.nodes.filter((n) => n.name !== node.name), node];
    const saved = await repo.saveTree({ nodes });
    addedBytes += saved.addedBytes;
    subtree = saved.id;
    subfolders = nodes.filter((n) => n.type === 'dir').length;
  }

  const stats = dest.length === 0 ? { ...archived.stats, addedBytes } : totals(base, old, archived.stats, createdDirs, addedBytes);
  const snapshot = await repo.saveSnapshot({
    tree: subtree,
    stats,
    nextFileId,
    tags: options.tags ?? [],
    parent: base?.id ?? null,
    user: currentUserName(),
    ...(dest.length === 0 ? { root: sourceAttributes } : base?.snapshot.root ? { root: base.snapshot.root } : {}),
  });
  return { snapshot, counts: archived.counts, addedBytes };
}

/** What a backup needs to know of the old DEST's tree, from one walk of it. */
interface OldDest {
  /**
   * File ids of hard-linked entries whose every name (as many as their link count) is in the
   * old DEST: only those can be kept for files inside it without naming a file outside too.
   */
  readonly idsAllInside: Set<number>;
  /** Its totals as a snapshot's stats count them (the folder itself is one of the dirs). */
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
}

async function summarizeOldDest(repo: Repository, tree: string): Promise<OldDest> {
  const names = new Map<number, { links: number; seen: number }>();
  const totals: EntryTotals = { files: 0, dirs: 1, others: 0, logicalBytes: 0 }; // DEST itself is a folder
  const counted = new Set<number>();
  // Trees are read 8 at a time: on a cold cache each is a read of the store.
  await visitConcurrently([tree], 8, async (id) => {
    const subtrees: string[] = [];
    for (const node of (await repo.loadTree(id)).nodes) {
      countEntry(totals, counted, node);
      if (node.type === 'dir') subtrees.push(node.subtree!);
      else if (node.links > 1) names.set(node.fileId, { links: node.links, seen: (names.get(node.fileId)?.seen ?? 0) + 1 });
    }
    return subtrees;
  });
  const idsAllInside = new Set([...names].filter(([, n]) => n.seen >= n.links).map(([id]) => id));
  return { idsAllInside, files: totals.files, dirs: totals.dirs, bytes: totals.logicalBytes };
}

/**
 * The whole tree's totals when DEST is a subfolder: what the newest snapshot held outside the
 * old DEST, the new DEST's, and folders made above it.
 */
function totals(base: StoredSnapshot | null, old: OldDest | null, fresh: SnapshotStats, createdDirs: number, addedBytes: number): SnapshotStats {
  const before = base?.snapshot.stats ?? { files: 0, dirs: 1, bytes: 0 }; // an empty tree is its root folder
  const inOld = old ?? { files: 0, dirs: 0, bytes: 0 };
  return {
    files: Math.max(0, before.files - inOld.files) + fresh.files,
    dirs: Math.max(1, before.dirs - inOld.dirs) + fresh.dirs + createdDirs,
    bytes: Math.max(0, before.bytes - inOld.bytes) + fresh.bytes,
    addedBytes,
  };
}
