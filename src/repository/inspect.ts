/**
 * Questions about snapshots answered from their trees alone: what changed between two
 * (unchanged folders skipped by tree id), which snapshots hold a path matching a pattern,
 * and how much a snapshot or the whole store holds and stores. Reads only tree blobs and the
 * index, never file content.
 */
import type { Snapshot } from '../format/snapshot.js';
import type { TreeNode, Xattr } from '../format/tree.js';
import { compileGlob } from './patterns.js';
import type { Repository } from './repository.js';
import { joinPath, treeEntry, walkTree, type WalkEntry } from './tree-walk.js';

export type ChangeKind = 'added' | 'removed' | 'content' | 'metadata' | 'type';

export interface Change {
  readonly path: string;
  readonly kind: ChangeKind;
  /** For metadata changes: which fields differ (mode, owner, mtime, xattrs, target, device). */
  readonly fields?: readonly string[];
}

/** Every difference from `a` to `b`, depth first in name order. */
export async function* diffEntries(repo: Repository, a: WalkEntry, b: WalkEntry): AsyncGenerator<Change> {
  const here = compareNodes(a.node, b.node);
  if (a.path !== '' && here) yield { path: b.path, ...here };
  if (a.node.type !== 'dir' || b.node.type !== 'dir' || a.node.subtree === b.node.subtree) return;
  const [left, right] = await Promise.all([repo.loadTree(a.node.subtree!), repo.loadTree(b.node.subtree!)]);
  const rightByName = new Map(right.nodes.map((n) => [n.name, n]));
  const leftNames = new Set(left.nodes.map((n) => n.name));
  const names = [...new Set([...left.nodes.map((n) => n.name), ...right.nodes.map((n) => n.name)])].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  const leftByName = new Map(left.nodes.map((n) => [n.name, n]));
  for (const name of names) {
    const path = joinPath(b.path, name);
    const l = leftByName.get(name);
    const r = rightByName.get(name);
    if (l && r) {
      if (l.type !== r.type) yield { path, kind: 'type' };
      else yield* diffEntries(repo, { path: joinPath(a.path, name), node: l }, { path, node: r });
    } else if (leftNames.has(name)) {
      yield { path, kind: 'removed' };
    } else {
      yield { path, kind: 'added' };
    }
  }
}

/** How one node differs from another of the same name (null when it does not). */
export function compareNodes(a: TreeNode, b: TreeNode): { kind: ChangeKind; fields?: string[] } | null {
  if (a.type !== b.type) return { kind: 'type' };
  if (a.type === 'file' && (a.size !== b.size || !sameList(a.content ?? [], b.content ?? []))) return { kind: 'content' };
  const fields = metadataDifferences(a, b);
  return fields.length > 0 ? { kind: 'metadata', fields } : null;
}

/** Fields a restore would set differently (atime and ctime are not compared: reading and restoring change them). */
export function metadataDifferences(a: TreeNode, b: Pick<TreeNode, 'mode' | 'uid' | 'gid' | 'mtimeNs' | 'xattrs' | 'target' | 'rdev' | 'type'>): string[] {
  const fields: string[] = [];
  if (a.type !== 'symlink' && a.mode !== b.mode) fields.push('mode');
  if (a.uid !== b.uid || a.gid !== b.gid) fields.push('owner');
  if (a.mtimeNs !== b.mtimeNs) fields.push('mtime');
  if (!sameXattrs(a.xattrs ?? [], b.xattrs ?? [])) fields.push('xattrs');
  if ((a.target ?? '') !== (b.target ?? '')) fields.push('target');
  if ((a.rdev ?? 0) !== (b.rdev ?? 0)) fields.push('device');
  return fields;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function sameXattrs(a: readonly Xattr[], b: readonly Xattr[]): boolean {
  if (a.length !== b.length) return false;
  const byName = new Map(b.map((x) => [x.name, x.value]));
  return a.every((x) => {
    const other = byName.get(x.name);
    return other !== undefined && Buffer.compare(Buffer.from(x.value), Buffer.from(other)) === 0;
  });
}

export interface PathFinder {
  /** The pattern names no folder: it matches names at any depth. */
  readonly byName: boolean;
  readonly matches: (nameOrPath: string) => boolean;
  /** Matches found per tree (per tree and place for path patterns), relative to that tree. */
  readonly memo: Map<string, WalkEntry[]>;
}

/** A `find` pattern (see patterns.ts); its memo is filled by findInSnapshot. */
export function pathFinder(pattern: string): PathFinder {
  const glob = compileGlob(pattern);
  return { byName: glob.byName, matches: glob.test, memo: new Map() };
}

/**
 * Matching entries of one snapshot. A folder unchanged across snapshots keeps its tree id,
 * so the finder's memo lets it be searched once for all of them.
 */
export async function findInSnapshot(repo: Repository, snapshot: Snapshot, finder: PathFinder): Promise<WalkEntry[]> {
  const search = async (treeId: string, prefix: string): Promise<WalkEntry[]> => {
    const key = finder.byName ? treeId : `${prefix}\0${treeId}`;
    const known = finder.memo.get(key);
    if (known) return known;
    const found: WalkEntry[] = [];
    for (const node of (await repo.loadTree(treeId)).nodes) {
      const path = joinPath(prefix, node.name);
      if (finder.matches(finder.byName ? node.name : path)) found.push({ path: node.name, node });
      if (node.type === 'dir') for (const inner of await search(node.subtree!, path)) found.push({ path: joinPath(node.name, inner.path), node: inner.node });
    }
    finder.memo.set(key, found);
    return found;
  };
  return search(snapshot.tree, '');
}

export interface ContentStats {
  /** Regular files, each hard-linked file once. */
  files: number;
  dirs: number;
  /** Symlinks, fifos, sockets, devices. */
  others: number;
  /** Sum of file sizes (each hard-linked file once). */
  logicalBytes: number;
  /** Distinct data and tree blobs referenced, and their sealed size on the store. */
  blobs: number;
  storedBytes: number;
}

/** Totals of one snapshot from its trees: each distinct blob counted once. */
export async function snapshotContentStats(repo: Repository, snapshot: Snapshot, seenBlobs = new Set<string>()): Promise<ContentStats> {
  return treeContentStats(repo, snapshot.tree, seenBlobs);
}

/** What a snapshot's totals count of its entries (ContentStats without the blobs). */
export type EntryTotals = Pick<ContentStats, 'files' | 'dirs' | 'others' | 'logicalBytes'>;

/**
 * Counts one tree node into `totals` as a snapshot's stats count it: a hard-linked file once,
 * by its file id in `linked`. False for another name of a file counted already.
 */
export function countEntry(totals: EntryTotals, linked: Set<number>, node: TreeNode): boolean {
  if (node.type === 'dir') totals.dirs++;
  else if (node.type !== 'file') totals.others++;
  else {
    if (node.links > 1) {
      if (linked.has(node.fileId)) return false;
      linked.add(node.fileId);
    }
    totals.files++;
    totals.logicalBytes += node.size;
  }
  return true;
}

/** Totals of a folder's tree (the folder itself counted as one). */
export async function treeContentStats(repo: Repository, tree: string, seenBlobs = new Set<string>()): Promise<ContentStats> {
  const stats: ContentStats = { files: 0, dirs: 1, others: 0, logicalBytes: 0, blobs: 0, storedBytes: 0 }; // the root is a folder too
  const linked = new Set<number>();
  const countBlob = (id: string) => {
    if (seenBlobs.has(id)) return;
    seenBlobs.add(id);
    stats.blobs++;
    stats.storedBytes += repo.index.lookup(id)?.length ?? 0;
  };
  countBlob(tree);
  for await (const { node } of walkTree(repo, treeEntry(tree))) {
    if (!countEntry(stats, linked, node)) continue;
    if (node.type === 'dir') countBlob(node.subtree!);
    for (const id of node.content ?? []) countBlob(id);
  }
  return stats;
}
