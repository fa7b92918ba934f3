/**
 * The in-memory index: every blob's pack, offset, sealed length, encoding and length, merged from all index
 * files on the store plus the packs written in this session.
 *
 * Held in flat typed arrays, not an object per blob: a store of a million small files has
 * a million blobs, and a Map of hex strings to objects cost about 200 bytes each where
 * this costs about 60 (32 for the id, 17 for the fields, slots at most half full). Blob ids
 * are HMAC-SHA256 outputs, so their first four bytes are a uniform hash already.
 *
 * A big store's index files can be kept on local disk instead (sorted-index.ts, `useSorted`):
 * then this table holds only what was added since, and a lookup asks it first.
 */
import { toHex } from '../format/bytes.js';
import type { BlobEntry } from '../format/blob-entry.js';
import type { IndexFile, IndexedPack } from '../format/index-file.js';
import { type BlobLocation, kindOf, locationOf, PackNumbers, visitIndexEntries } from './blob-location.js';
import type { SortedIndex } from './sorted-index.js';

export type { BlobLocation } from './blob-location.js';

const ID_BYTES = 32;
const EMPTY = -1;

export class MasterIndex {
  private count = 0;
  private capacity = 0;
  private ids = Buffer.alloc(0);
  private packOf = new Uint32Array(0);
  private offsets = new Uint32Array(0);
  private lengths = new Uint32Array(0);
  private plainLengths = new Uint32Array(0);
  /** type index × 16 + encoding index. */
  private kinds = new Uint8Array(0);
  /** Open addressing: entry number or EMPTY; length a power of two, at least twice `count`. */
  private slots = new Int32Array(0).fill(EMPTY);
  private readonly packNumbers = new PackNumbers();
  /** Where a looked-up hex id is decoded to, so a lookup allocates nothing. */
  private readonly probe = Buffer.alloc(ID_BYTES);
  /** The index files loaded at the start, when kept on local disk. */
  private sorted: SortedIndex | null = null;

  /** Blobs in the index (a blob added again after the start may count twice). */
  get blobCount(): number {
    return this.count + (this.sorted?.count ?? 0);
  }

  /** Whether the index files loaded at the start are kept on local disk. */
  get onDisk(): boolean {
    return this.sorted !== null;
  }

  has(id: string): boolean {
    if (!this.setProbe(id)) return false;
    return this.findProbe() !== EMPTY || (this.sorted?.has(this.probe) ?? false);
  }

  lookup(id: string): BlobLocation | undefined {
    if (!this.setProbe(id)) return undefined;
    const entry = this.findProbe();
    return entry !== EMPTY ? this.location(entry) : this.sorted?.lookup(this.probe);
  }

  /**
   * Takes the index files loaded at the start from `sorted`: kept on disk (`keepOnDisk`,
   * for a big store), or copied into this table and the file closed. Only before anything
   * else was added.
   */
  useSorted(sorted: SortedIndex, keepOnDisk: boolean): void {
    if (this.count > 0 || this.sorted) throw new Error('internal error: the index on disk comes first');
    if (keepOnDisk) {
      this.sorted = sorted;
      return;
    }
    this.reserve(sorted.count);
    for (const { id, location } of sorted.entries()) {
      id.copy(this.probe);
      this.putProbe(this.packNumbers.numberOf(location.packId), location);
    }
    sorted.close();
  }

  /** Closes the index file on disk, if any (the index answers only from memory after). */
  close(): void {
    this.sorted?.close();
    this.sorted = null;
  }

  addPack(pack: IndexedPack): void {
    const packNumber = this.packNumbers.numberOf(toHex(pack.packId));
    for (const blob of pack.blobs) {
      this.probe.set(blob.id);
      this.putProbe(packNumber, blob);
    }
  }

  addIndexFile(file: IndexFile): void {
    for (const pack of file.packs) this.addPack(pack);
  }

  /**
   * Adds an index file's entries straight from its plaintext (visitIndexFile), without an
   * object per entry: at a million blobs decodeIndexFile's objects were about 200 MB of
   * garbage on the heap at mount. Throws DecodeError for a damaged file, adding nothing.
   */
  addIndexFileBytes(plaintext: Uint8Array): void {
    visitIndexEntries(plaintext, this.packNumbers, (bytes, pack, entry) => {
      bytes.copy(this.probe, 0, entry.idAt, entry.idAt + ID_BYTES);
      this.putProbe(pack, entry);
    });
  }



  /** The blob whose id is in `probe`, in pack `packNumber`. */
  private putProbe(packNumber: number, blob: Pick<BlobEntry, 'type' | 'encoding' | 'offset' | 'length' | 'plainLength'>): void {
    let entry = this.findProbe();
    if (entry === EMPTY) {
      if (this.count + 1 > this.capacity) this.grow();
      entry = this.count++;
      this.probe.copy(this.ids, entry * ID_BYTES);
      this.slots[this.freeSlotFor(entry)] = entry;
    }
    // A later copy of the same blob replaces the earlier one (either may be read).
    this.packOf[entry] = packNumber;
    this.offsets[entry] = blob.offset;
    this.lengths[entry] = blob.length;
    this.plainLengths[entry] = blob.plainLength;
    this.kinds[entry] = kindOf(blob.type, blob.encoding);
  }

  /** Every pack any index names, with the blobs it holds (one copy of each blob). */
  packs(): Map<string, { id: string; location: BlobLocation }[]> {
    const packs = new Map<string, { id: string; location: BlobLocation }[]>();
    const add = (id: string, location: BlobLocation) => {
      let list = packs.get(location.packId);
      if (!list) packs.set(location.packId, (list = []));
      list.push({ id, location });
    };
    for (let entry = 0; entry < this.count; entry++) add(this.ids.toString('hex', entry * ID_BYTES, (entry + 1) * ID_BYTES), this.location(entry));
    if (this.sorted) {
      for (const { id, location } of this.sorted.entries()) {
        id.copy(this.probe);
        if (this.findProbe() === EMPTY) add(id.toString('hex'), location); // else the copy added since counts
      }
    }
    return packs;
  }

  private location(entry: number): BlobLocation {
    return locationOf(this.kinds[entry]!, this.packNumbers.idOf(this.packOf[entry]!), this.offsets[entry]!, this.lengths[entry]!, this.plainLengths[entry]!);
  }

  /** Puts a hex id into `probe`; false for a string that is not a 32-byte hex id. */
  private setProbe(id: string): boolean {
    return id.length === 2 * ID_BYTES && this.probe.write(id, 'hex') === ID_BYTES;
  }

  /** The entry whose id is in `probe`, or EMPTY. */
  private findProbe(): number {
    if (this.count === 0) return EMPTY;
    const mask = this.slots.length - 1;
    for (let slot = this.probe.readUInt32LE(0) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry === EMPTY) return EMPTY;
      if (this.ids.compare(this.probe, 0, ID_BYTES, entry * ID_BYTES, (entry + 1) * ID_BYTES) === 0) return entry;
    }
  }

  /** The free slot where `entry`'s id goes (linear probing from its hash). */
  private freeSlotFor(entry: number): number {
    const mask = this.slots.length - 1;
    let slot = this.ids.readUInt32LE(entry * ID_BYTES) & mask;
    while (this.slots[slot] !== EMPTY) slot = (slot + 1) & mask;
    return slot;
  }

  /** Makes room for `blobs` entries in all (the next power of two), so adding them does not grow the arrays. */
  reserve(blobs: number): void {
    if (blobs <= this.capacity) return;
    this.grow(2 ** Math.ceil(Math.log2(Math.max(1024, blobs))));
  }

  /** Doubles the entry arrays and the slots (or makes them `capacity` long), and places every entry again. */
  private grow(capacity = Math.max(1024, this.capacity * 2)): void {
    const widen = <T extends Uint32Array | Uint8Array>(old: T, make: (n: number) => T): T => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    const ids = Buffer.alloc(capacity * ID_BYTES);
    this.ids.copy(ids);
    this.ids = ids;
    this.packOf = widen(this.packOf, (n) => new Uint32Array(n));
    this.offsets = widen(this.offsets, (n) => new Uint32Array(n));
    this.lengths = widen(this.lengths, (n) => new Uint32Array(n));
    this.plainLengths = widen(this.plainLengths, (n) => new Uint32Array(n));
    this.kinds = widen(this.kinds, (n) => new Uint8Array(n));
    this.capacity = capacity;
    this.slots = new Int32Array(capacity * 2).fill(EMPTY);
    for (let entry = 0; entry < this.count; entry++) this.slots[this.freeSlotFor(entry)] = entry;
  }
}
