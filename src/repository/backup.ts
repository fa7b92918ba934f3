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
import { treeContentStats } from './inspect.js';
import type { Repository, StoredSnapshot } from './repository.js';
import { pathParts, treeEntry, walkTree } from './tree-walk.js';

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

  const inside = dest.length === 0 || !treeId ? null : await idsAllNamedInside(repo, treeId);
  const archived = await archiveDirectory(repo, source, { ...options, parentTree: treeId, keepSharedId: (id) => inside === null || inside.has(id) });
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

  const stats = dest.length === 0 ? { ...archived.stats, addedBytes } : await totals(repo, base, treeId, archived.stats, createdDirs, addedBytes);
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

/**
 * File ids of hard-linked entries whose every name (as many as their link count) is in the
 * old DEST: only those can be kept for files inside it without naming a file outside too.
 */
async function idsAllNamedInside(repo: Repository, tree: string): Promise<Set<number>> {
  const names = new Map<number, { links: number; seen: number }>();
  for await (const { node } of walkTree(repo, treeEntry(tree))) {
    if (node.type === 'dir' || node.links <= 1) continue;
    const entry = names.get(node.fileId) ?? { links: node.links, seen: 0 };
    entry.seen++;
    names.set(node.fileId, entry);
  }
  return new Set([...names].filter(([, n]) => n.seen >= n.links).map(([id]) => id));
}

/**
 * The whole tree's totals when DEST is a subfolder: what the newest snapshot held outside the
 * old DEST (found by counting the old DEST's tree), the new DEST's, and folders made above it.
 */
async function totals(repo: Repository, base: StoredSnapshot | null, oldDest: string | null, fresh: SnapshotStats, createdDirs: number, addedBytes: number): Promise<SnapshotStats> {
  const before = base?.snapshot.stats ?? { files: 0, dirs: 1, bytes: 0 }; // an empty tree is its root folder
  const old = oldDest ? await treeContentStats(repo, oldDest) : { files: 0, dirs: 0, logicalBytes: 0 };
  return {
    files: Math.max(0, before.files - old.files) + fresh.files,
    dirs: Math.max(1, before.dirs - old.dirs) + fresh.dirs + createdDirs,
    bytes: Math.max(0, before.bytes - old.logicalBytes) + fresh.bytes,
    addedBytes,
  };
}
