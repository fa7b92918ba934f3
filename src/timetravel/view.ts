/**
 * The read-only `.snapshots/` view: one folder per snapshot (src/timetravel/names.ts) and
 * `latest`, each holding the snapshot's tree exactly as stored. Trees load lazily, one
 * directory at a time, so listing one folder never loads a whole snapshot. Inode numbers are
 * a pure function of (snapshot, file id): equal for exactly the names of one file in one
 * snapshot, the same in every mount, and apart from the live tree's (docs/FORMAT.md).
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Tree, TreeNode } from '../format/tree.js';
import { ContentReader } from '../repository/file-content.js';
import { type Repository, ROOT_FILE_ID, type StoredSnapshot } from '../repository/repository.js';
import { LATEST, snapshotFolders } from './names.js';

/** The view's inode numbers have the top bit set; live file ids stay below 2^63. */
const VIEW_BIT = 1n << 63n;
/** Within the view: snapshot seq (23 bits) above the file id (40 bits). */
const FILE_ID_BITS = 40n;
const LEGACY_BIT = 1n << 62n;

/** st_ino of file `fileId` in the snapshot with sequence number `seq` (0: the view's own entries). */
export function viewIno(seq: number, fileId: number): bigint {
  return VIEW_BIT | (BigInt(seq) << FILE_ID_BITS) | BigInt(fileId);
}

export type ViewNode =
  | { readonly kind: 'top' }
  | { readonly kind: 'latest'; readonly target: string; /** The newest snapshot's time, which the link shows. */ readonly timeNs: bigint }
  | { readonly kind: 'snapshot'; readonly stored: StoredSnapshot }
  /** `path` is below the snapshot's folder ('a/b'); `legacy` marks a node of a version-1 tree. */
  | { readonly kind: 'entry'; readonly stored: StoredSnapshot; readonly node: TreeNode; readonly path: string; readonly legacy: boolean };

export class NotFound extends Error {}
export class NotADirectory extends Error {}

export class SnapshotView {
  /** Decoded trees with a name index: a lookup in a 10,000-entry folder must not scan it. */
  private readonly trees = new LRUCache<string, { tree: Tree; byName: Map<string, TreeNode>; legacy: boolean }>({ max: 512 });

  constructor(private readonly repo: Repository) {}

  /** Folder names, recomputed only when the snapshot list changes (not on every request). */
  private named: { key: string; list: { name: string; stored: StoredSnapshot }[]; byName: Map<string, StoredSnapshot> } | undefined;

  /** Snapshot folders by name, oldest first. */
  async folders(): Promise<{ name: string; stored: StoredSnapshot }[]> {
    return (await this.naming()).list;
  }

  private async naming() {
    const stored = await this.repo.listSnapshots();
    const key = `${stored.length}:${stored[stored.length - 1]?.id ?? ''}`;
    if (this.named?.key !== key) {
      const names = snapshotFolders(stored.map((s) => ({ id: s.id, timeNs: s.snapshot.timeNs })));
      const list = names.map((n, i) => ({ name: n.name, stored: stored[i]! }));
      this.named = { key, list, byName: new Map(list.map((f) => [f.name, f.stored])) };
    }
    return this.named;
  }

  /**
   * st_ino of a node of the view. Version-1 trees carry no stable file ids (and their old
   * numbers were unreliable): their nodes get a hash of (snapshot, path), hard-linked files
   * one of (snapshot, old number), in a range of their own.
   */
  inoOf(node: ViewNode): bigint {
    switch (node.kind) {
      case 'top':
        return viewIno(0, 1);
      case 'latest':
        return viewIno(0, 2);
      case 'snapshot':
        return viewIno(node.stored.snapshot.seq, ROOT_FILE_ID);
      case 'entry': {
        if (!node.legacy) return viewIno(node.stored.snapshot.seq, node.node.fileId);
        const key = node.node.type === 'file' && node.node.links > 1 ? `link:${node.node.fileId}` : `path:${node.path}`;
        const hash = createHash('sha256').update(`${node.stored.id}\0${key}`).digest().readBigUInt64BE(0);
        return VIEW_BIT | LEGACY_BIT | (hash & (LEGACY_BIT - 1n));
      }
    }
  }

  private async tree(id: string): Promise<{ tree: Tree; byName: Map<string, TreeNode>; legacy: boolean }> {
    let entry = this.trees.get(id);
    if (!entry) {
      const tree = await this.repo.loadTree(id);
      entry = { tree, byName: new Map(tree.nodes.map((n) => [n.name, n])), legacy: tree.version === 1 };
      this.trees.set(id, entry);
    }
    return entry;
  }

  /**
   * The node at `parts` below `.snapshots` (an empty list is the view's own folder).
   * `search` is called with every folder passed through on the way (it may throw to refuse).
   */
  async resolve(parts: readonly string[], search?: (folder: ViewNode) => void): Promise<ViewNode> {
    if (parts.length === 0) return { kind: 'top' };
    const { list, byName } = await this.naming();
    if (parts[0] === LATEST && parts.length === 1) {
      const newest = list[list.length - 1];
      if (!newest) throw new NotFound();
      return { kind: 'latest', target: newest.name, timeNs: newest.stored.snapshot.timeNs };
    }
    const stored = byName.get(parts[0]!);
    if (!stored) throw new NotFound();
    search?.({ kind: 'top' });
    const folder = { stored };
    let current: ViewNode = { kind: 'snapshot', stored: folder.stored };
    for (const [i, name] of parts.slice(1).entries()) {
      search?.(current);
      const treeId: string | undefined = current.kind === 'snapshot' ? current.stored.snapshot.tree : current.kind === 'entry' ? current.node.subtree : undefined;
      if (treeId === undefined) throw new NotADirectory();
      const { byName, legacy } = await this.tree(treeId);
      const node = byName.get(name);
      if (!node) throw new NotFound();
      current = { kind: 'entry', stored: folder.stored, node, path: parts.slice(1, i + 2).join('/'), legacy };
    }
    return current;
  }

  /** Entries of a folder of the view, each with its node. */
  async list(node: ViewNode): Promise<{ name: string; node: ViewNode }[]> {
    switch (node.kind) {
      case 'top': {
        const folders = await this.folders();
        const entries: { name: string; node: ViewNode }[] = folders.map((f) => ({ name: f.name, node: { kind: 'snapshot', stored: f.stored } }));
        if (folders.length > 0) {
          const newest = folders[folders.length - 1]!;
          entries.push({ name: LATEST, node: { kind: 'latest', target: newest.name, timeNs: newest.stored.snapshot.timeNs } });
        }
        return entries;
      }
      case 'snapshot':
      case 'entry': {
        const treeId = node.kind === 'snapshot' ? node.stored.snapshot.tree : node.node.subtree;
        if (treeId === undefined) throw new NotADirectory();
        const { tree, legacy } = await this.tree(treeId);
        const prefix = node.kind === 'entry' ? `${node.path}/` : '';
        return tree.nodes.map((n) => ({ name: n.name, node: { kind: 'entry', stored: node.stored, node: n, path: `${prefix}${n.name}`, legacy } }));
      }
      default:
        throw new NotADirectory();
    }
  }

  reader(node: ViewNode): ContentReader {
    if (node.kind !== 'entry' || node.node.type !== 'file') throw new NotFound();
    return new ContentReader(this.repo, node.node.content ?? []);
  }
}
