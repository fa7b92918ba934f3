/**
 * The kernel's node ids in the low-level API, and the nodes they stand for. A live node's
 * id is its file id: stable for the repository's life and never reused, so the kernel may
 * keep it across renames, and all names of a hard-linked file share one kernel inode (its
 * cached attributes cannot go stale through another name). A history node gets an id from
 * 2^52 up when the kernel first looks it up and keeps it until the kernel forgets it (the
 * protocol's lookup counts), so memory follows what the kernel holds, not what was browsed.
 */
import { fail } from '../vfs/errors.js';
import type { HistoryAt, NodeRef } from '../vfs/filesystem.js';

/** Live file ids stay below this (they count up from 1); history ids start here. */
export const FIRST_HISTORY_ID = 2 ** 52;

interface HistoryNode {
  readonly at: HistoryAt;
  readonly key: string;
  lookups: number;
}

export class NodeIds {
  private readonly history = new Map<number, HistoryNode>();
  private readonly idsByKey = new Map<string, number>();
  private nextHistoryId = FIRST_HISTORY_ID;

  /** The node an id stands for; ENOENT for a history id the kernel already forgot. */
  nodeOf(id: number): { ino: number } | HistoryAt {
    if (id < FIRST_HISTORY_ID) return { ino: id };
    return this.history.get(id)?.at ?? fail('ENOENT', `node ${id}`);
  }

  /** The id to answer a lookup of `at` with; counts the lookup (the kernel forgets as many). */
  lookedUp(at: NodeRef): number {
    if (typeof at === 'string') throw new Error('the low-level adapter names nodes, not paths');
    if ('ino' in at) return at.ino;
    const key = at.history.join('\0');
    let id = this.idsByKey.get(key);
    if (id === undefined) {
      id = this.nextHistoryId++;
      this.idsByKey.set(key, id);
      this.history.set(id, { at: { history: [...at.history] }, key, lookups: 0 });
    }
    this.history.get(id)!.lookups++;
    return id;
  }

  /** The kernel dropped `count` lookups of `id`: a history node with none left is freed. */
  forget(id: number, count: number): void {
    const node = this.history.get(id);
    if (!node) return;
    node.lookups -= count;
    if (node.lookups <= 0) {
      this.history.delete(id);
      this.idsByKey.delete(node.key);
    }
  }

  /** History nodes the kernel holds now (for tests and the memory bound). */
  get historyNodes(): number {
    return this.history.size;
  }
}
