/**
 * Paths inside a snapshot: resolve one to its tree node, and walk a subtree in name order.
 * What restore, verify, ls, find, diff and stats read; nothing here writes.
 */
import { CairnError } from '../errors/errors.js';
import type { RootAttributes, Snapshot } from '../format/snapshot.js';
import type { TreeNode } from '../format/tree.js';
import type { Repository } from './repository.js';

/** One entry of a snapshot with its path from the snapshot's root ('' for the root itself). */
export interface WalkEntry {
  readonly path: string;
  readonly node: TreeNode;
}

/** The root folder as a node (a tree holds its entries' metadata, the snapshot the root's). */
export function rootNode(snapshot: Snapshot): TreeNode {
  const root: RootAttributes = snapshot.root ?? { mode: 0o755, uid: 0, gid: 0, atimeNs: snapshot.timeNs, mtimeNs: snapshot.timeNs, ctimeNs: snapshot.timeNs };
  return { name: '', type: 'dir', size: 0, fileId: 1, links: 2, subtree: snapshot.tree, ...root };
}

/** A walk start for a folder known only by its tree id (its own metadata unknown and unused). */
export function treeEntry(tree: string): WalkEntry {
  return { path: '', node: { name: '', type: 'dir', mode: 0, uid: 0, gid: 0, size: 0, mtimeNs: 0n, atimeNs: 0n, ctimeNs: 0n, fileId: 0, links: 2, subtree: tree } };
}

/** 'a//b/' → ['a', 'b']; refuses '..' (a path inside a snapshot never leaves it). */
export function pathParts(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new CairnError('USAGE', `a path inside a snapshot cannot contain '..': ${path}`);
  return parts;
}

/** The node at `path` ('' or '/' is the root), or a clear error naming the missing part. */
export async function resolvePath(repo: Repository, snapshot: Snapshot, path: string): Promise<WalkEntry> {
  let node = rootNode(snapshot);
  const seen: string[] = [];
  for (const part of pathParts(path)) {
    if (node.type !== 'dir') throw new CairnError('USAGE', `${seen.join('/')} is a ${node.type}, not a folder, in this snapshot`);
    const tree = await repo.loadTree(node.subtree!);
    const child = tree.nodes.find((n) => n.name === part);
    seen.push(part);
    if (!child) throw new CairnError('USAGE', `${seen.join('/')} is not in this snapshot`, { hint: 'paths are relative to the mount\'s top folder; `cairn ls STORE SNAPSHOT` shows what is there' });
    node = child;
  }
  return { path: seen.join('/'), node };
}

export function joinPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/**
 * Every entry below `start` (not `start` itself), depth first in name order; a folder comes
 * before its entries. `enter` may say not to descend into a folder.
 */
export async function* walkTree(repo: Repository, start: WalkEntry, enter: (entry: WalkEntry) => boolean = () => true): AsyncGenerator<WalkEntry> {
  if (start.node.type !== 'dir') return;
  const tree = await repo.loadTree(start.node.subtree!);
  for (const node of tree.nodes) {
    const entry = { path: joinPath(start.path, node.name), node };
    yield entry;
    if (node.type === 'dir' && enter(entry)) yield* walkTree(repo, entry, enter);
  }
}

/**
 * Visits items, `inFlight` at a time, each visit giving more items to visit (a walk of
 * folders whose trees are read concurrently). Stops at the first failure and throws it,
 * once the visits in progress have settled.
 */
export async function visitConcurrently<T>(start: readonly T[], inFlight: number, visit: (item: T) => Promise<readonly T[]>): Promise<void> {
  const pending = [...start];
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  while ((pending.length > 0 || running.size > 0) && failure === null) {
    while (pending.length > 0 && running.size < inFlight) {
      const visiting: Promise<void> = visit(pending.pop()!).then(
        (more) => void pending.push(...more),
        (error: unknown) => void (failure ??= { error }),
      ).finally(() => running.delete(visiting));
      running.add(visiting);
    }
    if (running.size > 0) await Promise.race(running);
  }
  await Promise.all(running);
  if (failure !== null) throw (failure as { error: unknown }).error;
}

/**
 * Reads every folder tree below `root` once, keeping none in memory, and returns how many
 * it read. A mount of a remote store does this in the background so the local object
 * cache holds every tree: folders load on first use (src/vfs/folder-loader.ts) and stay
 * browsable while the server is away.
 */
export async function readEveryTree(repo: Repository, root: string, inFlight = 4): Promise<number> {
  const seen = new Set<string>([root]);
  await visitConcurrently([root], inFlight, async (id) => {
    const subtrees = (await repo.loadTreeUncached(id)).nodes.filter((n) => n.type === 'dir').map((n) => n.subtree!);
    const fresh = subtrees.filter((t) => !seen.has(t));
    for (const t of fresh) seen.add(t);
    return fresh;
  });
  return seen.size;
}
