/**
 * The read-only `.snapshots/` view: one folder per snapshot (src/timetravel/names.ts) and
 * `latest`, each holding the snapshot's tree exactly as stored. Trees load lazily, one
 * directory at a time, so listing one folder never loads a whole snapshot. Inode numbers are
 * handed out per (snapshot, tree inode) on first sight: stable for the life of the mount,
 * and shared by hard links inside one snapshot.
 */
import { LRUCache } from 'lru-cache';
import type { Tree, TreeNode } from '../format/tree.js';
import { ContentReader } from '../repository/file-content.js';
import type { Repository, StoredSnapshot } from '../repository/repository.js';
import { LATEST, snapshotFolders } from './names.js';

/** Inode numbers of the view start here; the live tree counts up from 2. */
const FIRST_VIEW_INO = 0x80000000;

export type ViewNode =
  | { readonly kind: 'top' }
  | { readonly kind: 'latest'; readonly target: string }
  | { readonly kind: 'snapshot'; readonly stored: StoredSnapshot }
  | { readonly kind: 'entry'; readonly stored: StoredSnapshot; readonly node: TreeNode };

export class NotFound extends Error {}
export class NotADirectory extends Error {}

export class SnapshotView {
  private readonly inos = new Map<string, number>();
  private nextIno = FIRST_VIEW_INO;
  /** Decoded trees with a name index: a lookup in a 10,000-entry folder must not scan it. */
  private readonly trees = new LRUCache<string, { tree: Tree; byName: Map<string, TreeNode> }>({ max: 512 });

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

  inoOf(key: string): number {
    let ino = this.inos.get(key);
    if (ino === undefined) {
      ino = this.nextIno++;
      this.inos.set(key, ino);
    }
    return ino;
  }

  private async tree(id: string): Promise<{ tree: Tree; byName: Map<string, TreeNode> }> {
    let entry = this.trees.get(id);
    if (!entry) {
      const tree = await this.repo.loadTree(id);
      entry = { tree, byName: new Map(tree.nodes.map((n) => [n.name, n])) };
      this.trees.set(id, entry);
    }
    return entry;
  }

  /** The node at `parts` below `.snapshots` (an empty list is the view's own folder). */
  async resolve(parts: readonly string[]): Promise<ViewNode> {
    if (parts.length === 0) return { kind: 'top' };
    const { list, byName } = await this.naming();
    if (parts[0] === LATEST && parts.length === 1) {
      const newest = list[list.length - 1];
      if (!newest) throw new NotFound();
      return { kind: 'latest', target: newest.name };
    }
    const stored = byName.get(parts[0]!);
    if (!stored) throw new NotFound();
    const folder = { stored };
    let current: ViewNode = { kind: 'snapshot', stored: folder.stored };
    for (const name of parts.slice(1)) {
      const treeId: string | undefined = current.kind === 'snapshot' ? current.stored.snapshot.tree : current.kind === 'entry' ? current.node.subtree : undefined;
      if (treeId === undefined) throw new NotADirectory();
      const node: TreeNode | undefined = (await this.tree(treeId)).byName.get(name);
      if (!node) throw new NotFound();
      current = { kind: 'entry', stored: folder.stored, node };
    }
    return current;
  }

  /** Entries of a folder of the view, each with its node. */
  async list(node: ViewNode): Promise<{ name: string; node: ViewNode }[]> {
    switch (node.kind) {
      case 'top': {
        const folders = await this.folders();
        const entries: { name: string; node: ViewNode }[] = folders.map((f) => ({ name: f.name, node: { kind: 'snapshot', stored: f.stored } }));
        if (folders.length > 0) entries.push({ name: LATEST, node: { kind: 'latest', target: folders[folders.length - 1]!.name } });
        return entries;
      }
      case 'snapshot':
      case 'entry': {
        const treeId = node.kind === 'snapshot' ? node.stored.snapshot.tree : node.node.subtree;
        if (treeId === undefined) throw new NotADirectory();
        const { tree } = await this.tree(treeId);
        return tree.nodes.map((n) => ({ name: n.name, node: { kind: 'entry', stored: node.stored, node: n } }));
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
