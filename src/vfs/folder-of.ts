/**
 * Which folder named a file id when that folder's entries were dropped from memory
 * (src/vfs/folder-loader.ts), so the kernel may still name the file by id after its inode
 * is gone: loading that folder (its own folder first, when it was dropped too) brings it
 * back.
 *
 * Kept as runs of consecutive ids named by one folder: file ids are handed out as files
 * are created, so a folder's files mostly hold a few runs (a backup or an rsync makes a
 * folder's files one after another). A million files in a thousand folders are about a
 * thousand runs, not the 16 MB of a hash table of every id. Ids scattered enough to make
 * more than MAX_RUNS runs move to the hash table (IdHashMap), which has no such bound.
 */
const MAX_RUNS = 1 << 16;

export class FolderOfIds {
  /** Disjoint runs [start, end) sorted by start, each named by `folders[i]`. */
  private starts = new Float64Array(64);
  private ends = new Float64Array(64);
  private folders = new Float64Array(64);
  private runs = 0;
  private hash: IdHashMap | null = null;

  /** Ids remembered. */
  get size(): number {
    if (this.hash) return this.hash.size;
    let ids = 0;
    for (let i = 0; i < this.runs; i++) ids += this.ends[i]! - this.starts[i]!;
    return ids;
  }

  /** Runs kept (for tests); 0 once the ids moved to the hash table. */
  get runCount(): number {
    return this.hash ? 0 : this.runs;
  }

  /** Remembers that `folder` names `id` (replacing what was known). */
  set(id: number, folder: number): void {
    if (this.hash) return this.hash.set(id, folder);
    const last = this.runs - 1;
    if (last >= 0 && id >= this.ends[last]!) {
      // Past every run (ids are handed out in order): extend the last run or add one.
      if (id === this.ends[last] && folder === this.folders[last]) this.ends[last] = id + 1;
      else this.append(id, id + 1, folder);
      return;
    }
    this.setAll([id], folder);
  }

  private append(start: number, end: number, folder: number): void {
    if (this.runs === this.starts.length) {
      const grow = (old: Float64Array) => {
        const next = new Float64Array(old.length * 2);
        next.set(old);
        return next;
      };
      this.starts = grow(this.starts);
      this.ends = grow(this.ends);
      this.folders = grow(this.folders);
    }
    this.starts[this.runs] = start;
    this.ends[this.runs] = end;
    this.folders[this.runs] = folder;
    this.runs++;
    if (this.runs > MAX_RUNS) this.moveToHash();
  }

  /** Remembers that `folder` names each of `ids` (replacing what was known of them). */
  setAll(ids: Iterable<number>, folder: number): void {
    if (this.hash) {
      for (const id of ids) this.hash.set(id, folder);
      return;
    }
    const sorted = Float64Array.from(ids).sort();
    if (sorted.length === 0) return;
    // The new runs, then laid over the old ones: where they overlap, the new folder wins.
    const add: number[] = [];
    for (let i = 0; i < sorted.length; ) {
      let j = i + 1;
      while (j < sorted.length && sorted[j]! <= sorted[j - 1]! + 1) j++;
      add.push(sorted[i]!, sorted[j - 1]! + 1);
      i = j;
    }
    this.overlay(add, folder);
    if (this.runs > MAX_RUNS) this.moveToHash();
  }

  /** The folder that last named `id`, or undefined. */
  get(id: number): number | undefined {
    if (this.hash) return this.hash.get(id);
    // The last run starting at or before `id`.
    let low = 0;
    let high = this.runs;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.starts[mid]! <= id) low = mid + 1;
      else high = mid;
    }
    const i = low - 1;
    return i >= 0 && id < this.ends[i]! ? this.folders[i] : undefined;
  }

  /** Lays the runs `add` ([start, end) pairs, sorted, disjoint) over the kept ones, all named by `folder`. */
  private overlay(add: readonly number[], folder: number): void {
    const out = { starts: [] as number[], ends: [] as number[], folders: [] as number[] };
    const push = (start: number, end: number, by: number) => {
      if (start >= end) return;
      const last = out.starts.length - 1;
      // Runs that touch and share a folder become one.
      if (last >= 0 && out.ends[last] === start && out.folders[last] === by) out.ends[last] = end;
      else {
        out.starts.push(start);
        out.ends.push(end);
        out.folders.push(by);
      }
    };
    let a = 0;
    /** Where the last new run emitted ends: old ids below it are replaced. */
    let covered = -Infinity;
    for (let i = 0; i < this.runs; i++) {
      let start = Math.max(this.starts[i]!, covered);
      const end = this.ends[i]!;
      const by = this.folders[i]!;
      // New runs that begin before this old one ends: emitted in order, cutting it.
      while (a < add.length && add[a]! < end) {
        const addStart = add[a]!;
        const addEnd = add[a + 1]!;
        push(start, Math.min(addStart, end), by);
        push(addStart, addEnd, folder);
        covered = addEnd;
        start = Math.max(start, addEnd);
        a += 2;
      }
      push(start, end, by);
    }
    for (; a < add.length; a += 2) push(add[a]!, add[a + 1]!, folder);
    this.runs = out.starts.length;
    if (this.starts.length < this.runs) {
      const capacity = 2 ** Math.ceil(Math.log2(this.runs));
      this.starts = new Float64Array(capacity);
      this.ends = new Float64Array(capacity);
      this.folders = new Float64Array(capacity);
    }
    this.starts.set(out.starts);
    this.ends.set(out.ends);
    this.folders.set(out.folders);
  }

  private moveToHash(): void {
    const hash = new IdHashMap();
    for (let i = 0; i < this.runs; i++) for (let id = this.starts[i]!; id < this.ends[i]!; id++) hash.set(id, this.folders[i]!);
    this.hash = hash;
    this.starts = this.ends = this.folders = new Float64Array(0);
    this.runs = 0;
  }
}

/**
 * Any ids to folders (FolderOfIds when its runs are too many): open addressing in two
 * Uint32Arrays (key 0 is the empty slot: file ids start at 2), at most half full, about 16
 * MB for a million ids where a Map cost about 80. Ids at or above 2^32 go to a Map beside
 * it, and so do folders at or above 2^32 (the slot's value is then 0, which no folder is).
 */
const EMPTY = 0;
const LIMIT = 2 ** 32;

export class IdHashMap {
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
