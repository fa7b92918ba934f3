/**
 * The in-memory index: every blob's pack, offset, sealed length, encoding and length, merged from all index
 * files on the store plus the packs written in this session.
 *
 * Held in flat typed arrays, not an object per blob: a store of a million small files has
 * a million blobs, and a Map of hex strings to objects cost about 200 bytes each where
 * this costs about 60 (32 for the id, 17 for the fields, slots at most half full). Blob ids
 * are HMAC-SHA256 outputs, so their first four bytes are a uniform hash already.
 */
import { toHex } from '../format/bytes.js';
import type { BlobEntry } from '../format/blob-entry.js';
import { type IndexFile, type IndexedPack, visitIndexFile } from '../format/index-file.js';
import type { BlobEncoding, BlobType } from '../format/sealed.js';

export interface BlobLocation {
  readonly type: BlobType;
  readonly encoding: BlobEncoding;
  readonly packId: string;
  readonly offset: number;
  /** Sealed length in the pack. */
  readonly length: number;
  /** The blob's own length. */
  readonly plainLength: number;
}

const ID_BYTES = 32;
const EMPTY = -1;
const TYPES: readonly BlobType[] = ['data', 'tree'];
const ENCODINGS: readonly BlobEncoding[] = ['raw', 'zstd'];

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
  private readonly packIds: string[] = [];
  private readonly packNumbers = new Map<string, number>();
  /** Where a looked-up hex id is decoded to, so a lookup allocates nothing. */
  private readonly probe = Buffer.alloc(ID_BYTES);

  get blobCount(): number {
    return this.count;
  }

  has(id: string): boolean {
    return this.find(id) !== EMPTY;
  }

  lookup(id: string): BlobLocation | undefined {
    const entry = this.find(id);
    return entry === EMPTY ? undefined : this.location(entry);
  }

  addPack(pack: IndexedPack): void {
    const packNumber = this.packNumberOf(toHex(pack.packId));
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
    const bytes = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
    let packNumber = 0;
    visitIndexFile(
      plaintext,
      (packIdAt) => void (packNumber = this.packNumberOf(bytes.toString('hex', packIdAt, packIdAt + ID_BYTES))),
      (entry) => {
        bytes.copy(this.probe, 0, entry.idAt, entry.idAt + ID_BYTES);
        this.putProbe(packNumber, entry);
      },
    );
  }

  private packNumberOf(packId: string): number {
    let packNumber = this.packNumbers.get(packId);
    if (packNumber === undefined) {
      packNumber = this.packIds.push(packId) - 1;
      this.packNumbers.set(packId, packNumber);
    }
    return packNumber;
  }

  /** The blob whose id is in `probe`, in pack `packNumber`. */
  private putProbe(packNumber: number, blob: Omit<BlobEntry, 'id'>): void {
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
    this.kinds[entry] = TYPES.indexOf(blob.type) * 16 + ENCODINGS.indexOf(blob.encoding);
  }

  /** Every pack any index names, with the blobs it holds. */
  packs(): Map<string, { id: string; location: BlobLocation }[]> {
    const packs = new Map<string, { id: string; location: BlobLocation }[]>();
    for (let entry = 0; entry < this.count; entry++) {
      const location = this.location(entry);
      let list = packs.get(location.packId);
      if (!list) packs.set(location.packId, (list = []));
      list.push({ id: this.ids.toString('hex', entry * ID_BYTES, (entry + 1) * ID_BYTES), location });
    }
    return packs;
  }

  private location(entry: number): BlobLocation {
    const kind = this.kinds[entry]!;
    return {
      type: TYPES[kind >> 4]!,
      encoding: ENCODINGS[kind & 15]!,
      packId: this.packIds[this.packOf[entry]!]!,
      offset: this.offsets[entry]!,
      length: this.lengths[entry]!,
      plainLength: this.plainLengths[entry]!,
    };
  }

  /** The entry of a hex id, or EMPTY (also for a string that is not a 32-byte hex id). */
  private find(id: string): number {
    if (id.length !== 2 * ID_BYTES || this.count === 0) return EMPTY;
    if (this.probe.write(id, 'hex') !== ID_BYTES) return EMPTY;
    return this.findProbe();
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
