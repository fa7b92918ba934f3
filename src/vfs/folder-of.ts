/**
 * Which folder named a file id when that folder's entries were dropped from memory
 * (src/vfs/folder-loader.ts), so the kernel may still name the file by id after its inode
 * is gone: loading that folder (its own folder first, when it was dropped too) brings it
 * back. A million ids cost about 16 MB here, where a Map cost about 80.
 *
 * Open addressing in two Uint32Arrays (key 0 is the empty slot: file ids start at 2), at
 * most half full. Ids at or above 2^32 go to a Map beside it, and so do folders at or above
 * 2^32 (the slot's value is then 0, which no folder is).
 */
const EMPTY = 0;
const LIMIT = 2 ** 32;

export class FolderOfIds {
  private keys = new Uint32Array(1024);
  private values = new Uint32Array(1024);
  private count = 0;
  private readonly large = new Map<number, number>();

  /** Ids remembered. */
  get size(): number {
    let large = 0;
    for (const id of this.large.keys()) if (id >= LIMIT) large++;
    return this.count + large;
  }

  /** Remembers that `folder` names `id` (replacing what was known). */
  set(id: number, folder: number): void {
    if (id >= LIMIT) {
      this.large.set(id, folder);
      return;
    }
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    const slot = this.slotOf(this.keys, id);
    if (this.keys[slot] === EMPTY) {
      this.keys[slot] = id;
      this.count++;
    }
    if (folder >= LIMIT) this.large.set(id, folder);
    this.values[slot] = folder >= LIMIT ? 0 : folder;
  }

  /** The folder that last named `id`, or undefined. */
  get(id: number): number | undefined {
    if (id >= LIMIT) return this.large.get(id);
    const slot = this.slotOf(this.keys, id);
    if (this.keys[slot] === EMPTY) return undefined;
    return this.values[slot] === 0 ? this.large.get(id) : this.values[slot];
  }

  /** The slot holding `id`, or the empty slot where it would go. */
  private slotOf(keys: Uint32Array, id: number): number {
    const mask = keys.length - 1;
    // Fibonacci hashing spreads consecutive ids (they are handed out in order).
    let slot = Math.imul(id, 0x9e3779b1) >>> 0 & mask;
    while (keys[slot] !== EMPTY && keys[slot] !== id) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Uint32Array(oldKeys.length * 2);
    this.values = new Uint32Array(oldKeys.length * 2);
    for (let i = 0; i < oldKeys.length; i++) {
      const id = oldKeys[i]!;
      if (id === EMPTY) continue;
      const slot = this.slotOf(this.keys, id);
      this.keys[slot] = id;
      this.values[slot] = oldValues[i]!;
    }
  }
}
