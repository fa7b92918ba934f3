/**
 * The index of a big store on local disk: every blob's location in one file of fixed-size
 * records sorted by blob id, read a block at a time; only the first 8 bytes of each block's
 * first id stay in memory (8 bytes per 64 blobs). The hash table in memory (master-index.ts)
 * costs about 57 bytes a blob, 60 MB at a million; this about 130 KB, and the kernel's page
 * cache holds what is read often. Layout in docs/LOCAL_STATE.md "The index on disk".
 *
 * Built once as the repository opens, from the index files as they are read: each entry is
 * appended to one of 256 partitions (by its id's first byte) in a scratch file, a block at a
 * time; then each partition is read back, sorted and written out on its own, so building
 * never holds more than one partition. Both files are unlinked as soon as they are opened:
 * nothing is left on disk after a crash, and nothing has to match the store at the next start.
 */
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { type BlobLocation, kindOf, locationOf, PackNumbers, visitIndexEntries } from './blob-location.js';

const ID_BYTES = 32;
/** A record: id, pack number, offset, sealed length, plain length (u32 LE), kind (u8), 3 zero bytes, index file number (u32 LE). */
export const RECORD_BYTES = 56;
const AT_PACK = 32;
const AT_OFFSET = 36;
const AT_LENGTH = 40;
const AT_PLAIN = 44;
const AT_KIND = 48;
const AT_FILE = 52;
/** Records per block: the unit of the fence in memory, of one lookup's read and of the scratch file. */
export const BLOCK_RECORDS = 64;
const BLOCK_BYTES = BLOCK_RECORDS * RECORD_BYTES;
const PARTITIONS = 256;

/** Writing or reading the index on local disk failed (a full or read-only disk): the caller may keep the index in memory instead. */
export class LocalIndexError extends Error {
  constructor(
    readonly dir: string,
    cause: unknown,
  ) {
    super(`could not keep the index in ${dir}: ${(cause as Error).message}`, { cause });
  }
}

/** A file in `dir` with no name: open for reading and writing, gone when closed (or the process dies). */
function openUnnamed(dir: string): number {
  const name = path.join(dir, `.cairn-index-${randomBytes(8).toString('hex')}`);
  const fd = openSync(name, 'wx+', 0o600);
  unlinkSync(name);
  return fd;
}

function writeAll(fd: number, bytes: Buffer, length: number, position: number): void {
  for (let done = 0; done < length; ) done += writeSync(fd, bytes, done, length - done, position + done);
}

function readAll(fd: number, into: Buffer, length: number, position: number): void {
  for (let done = 0; done < length; ) {
    const got = readSync(fd, into, done, length - done, position + done);
    if (got === 0) throw new Error(`the index file ends at ${position + done}, ${length - done} bytes early`);
    done += got;
  }
}

export class SortedIndexBuilder {
  private readonly scratch: number;
  private scratchEnd = 0;
  /** Per partition: the block being filled, how many records it holds, and where its full blocks went in the scratch file. */
  private readonly filling: (Buffer | undefined)[] = new Array(PARTITIONS);
  private readonly filled = new Uint8Array(PARTITIONS);
  private readonly written: number[][] = Array.from({ length: PARTITIONS }, () => []);
  private readonly packs = new PackNumbers();
  private closed = false;

  constructor(private readonly dir: string) {
    try {
      this.scratch = openUnnamed(dir);
    } catch (e) {
      throw new LocalIndexError(dir, e);
    }
  }

  /**
   * Adds an index file's entries as file number `file` (a later number wins where two files
   * name the same blob). Throws DecodeError for a damaged file, adding nothing.
   */
  addIndexFile(file: number, plaintext: Uint8Array): void {
    visitIndexEntries(plaintext, this.packs, (bytes, pack, entry) => {
      const partition = bytes[entry.idAt]!;
      const block = (this.filling[partition] ??= Buffer.alloc(BLOCK_BYTES));
      const at = this.filled[partition]! * RECORD_BYTES;
      bytes.copy(block, at, entry.idAt, entry.idAt + ID_BYTES);
      block.writeUInt32LE(pack, at + AT_PACK);
      block.writeUInt32LE(entry.offset, at + AT_OFFSET);
      block.writeUInt32LE(entry.length, at + AT_LENGTH);
      block.writeUInt32LE(entry.plainLength, at + AT_PLAIN);
      block[at + AT_KIND] = kindOf(entry.type, entry.encoding);
      block.writeUInt32LE(file, at + AT_FILE);
      if (++this.filled[partition]! === BLOCK_RECORDS) this.spill(partition);
    });
  }

  /** Writes a partition's full block to the scratch file. */
  private spill(partition: number): void {
    try {
      writeAll(this.scratch, this.filling[partition]!, BLOCK_BYTES, this.scratchEnd);
    } catch (e) {
      throw new LocalIndexError(this.dir, e);
    }
    this.written[partition]!.push(this.scratchEnd);
    this.scratchEnd += BLOCK_BYTES;
    this.filled[partition] = 0;
  }

  /** Sorts what was added into the index file, leaving out the entries of index files `skipFiles` (superseded ones). */
  finish(skipFiles: ReadonlySet<number>): SortedIndex {
    const out = this.openOutput();
    const fences: number[] = [];
    let count = 0;
    try {
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const records = this.readPartition(partition);
        const kept = keepOnePerId(records, sortById(records), skipFiles);
        const length = kept.length / RECORD_BYTES;
        for (let i = -count & (BLOCK_RECORDS - 1); i < length; i += BLOCK_RECORDS) {
          fences.push(kept.readUInt32BE(i * RECORD_BYTES), kept.readUInt32BE(i * RECORD_BYTES + 4));
        }
        writeAll(out, kept, kept.length, count * RECORD_BYTES);
        count += length;
      }
    } catch (e) {
      closeSync(out);
      throw e instanceof LocalIndexError ? e : new LocalIndexError(this.dir, e);
    } finally {
      this.close();
    }
    return new SortedIndex(out, count, Uint32Array.from(fences), this.packs);
  }

  private openOutput(): number {
    try {
      return openUnnamed(this.dir);
    } catch (e) {
      this.close();
      throw new LocalIndexError(this.dir, e);
    }
  }

  /** Every record of a partition, in the order added. */
  private readPartition(partition: number): Buffer {
    const blocks = this.written[partition]!;
    const tail = this.filled[partition]!;
    const all = Buffer.allocUnsafe(blocks.length * BLOCK_BYTES + tail * RECORD_BYTES);
    let at = 0;
    for (const offset of blocks) {
      readAll(this.scratch, all.subarray(at), BLOCK_BYTES, offset);
      at += BLOCK_BYTES;
    }
    this.filling[partition]?.copy(all, at, 0, tail * RECORD_BYTES);
    this.filling[partition] = undefined;
    return all;
  }

  /** Drops the scratch file (also when the build is abandoned). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.scratch);
  }
}

/**
 * Record numbers of `records` ordered by id, records of one id in the order added: a
 * stable radix sort on id bytes 1–4 (byte 0 is the partition's), then runs that share
 * those bytes (rare: ids are uniform hashes) ordered by their whole id.
 */
export function sortById(records: Buffer): Uint32Array {
  const n = records.length / RECORD_BYTES;
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let next = new Uint32Array(n);
  const starts = new Uint32Array(257);
  for (let byte = 4; byte >= 1; byte--) {
    starts.fill(0);
    for (let i = 0; i < n; i++) starts[records[order[i]! * RECORD_BYTES + byte]! + 1]!++;
    for (let d = 1; d <= 256; d++) starts[d]! += starts[d - 1]!;
    for (let i = 0; i < n; i++) next[starts[records[order[i]! * RECORD_BYTES + byte]!]!++] = order[i]!;
    [order, next] = [next, order];
  }
  const prefixAt = (i: number) => records.readUInt32BE(order[i]! * RECORD_BYTES + 1);
  for (let i = 0; i < n; ) {
    let end = i + 1;
    while (end < n && prefixAt(end) === prefixAt(i)) end++;
    if (end - i > 1) {
      // Array sort is stable: equal ids keep the order added.
      const run = Array.from(order.subarray(i, end)).sort((a, b) => compareIds(records, a, b));
      order.set(run, i);
    }
    i = end;
  }
  return order;
}

const compareIds = (records: Buffer, a: number, b: number): number =>
  records.compare(records, b * RECORD_BYTES, b * RECORD_BYTES + ID_BYTES, a * RECORD_BYTES, a * RECORD_BYTES + ID_BYTES);

/**
 * The records in `order` without those of `skipFiles`, one per id: of several, the one from
 * the highest file number, and of those the last added (as the hash table keeps the last).
 */
function keepOnePerId(records: Buffer, order: Uint32Array, skipFiles: ReadonlySet<number>): Buffer {
  const kept = Buffer.allocUnsafe(records.length);
  let length = 0;
  let last = -1;
  for (const record of order) {
    const at = record * RECORD_BYTES;
    const file = records.readUInt32LE(at + AT_FILE);
    if (skipFiles.has(file)) continue;
    if (last >= 0 && compareIds(records, last, record) === 0) {
      if (file < records.readUInt32LE(last * RECORD_BYTES + AT_FILE)) continue;
      length -= RECORD_BYTES; // replaces the one kept for this id
    }
    records.copy(kept, length, at, at + RECORD_BYTES);
    length += RECORD_BYTES;
    last = record;
  }
  return kept.subarray(0, length);
}

/** The built index: lookups read the block an id can be in. Close it when done. */
export class SortedIndex {
  private buffer = Buffer.allocUnsafe(2 * BLOCK_BYTES);
  private closed = false;

  constructor(
    private readonly fd: number,
    /** Blobs in the file, one record each. */
    readonly count: number,
    /** Per block: the first 8 bytes of its first id as two big-endian u32s. */
    private readonly fences: Uint32Array,
    private readonly packs: PackNumbers,
  ) {}

  /** Where the blob whose id is in `probe` (32 bytes) is, or undefined. */
  lookup(probe: Buffer): BlobLocation | undefined {
    const at = this.find(probe);
    return at < 0 ? undefined : this.locationAt(this.buffer, at);
  }

  has(probe: Buffer): boolean {
    return this.find(probe) >= 0;
  }

  /** The record's offset in `buffer` after reading the blocks the id can be in, or -1. */
  private find(probe: Buffer): number {
    if (this.count === 0) return -1;
    const hi = probe.readUInt32BE(0);
    const lo = probe.readUInt32BE(4);
    // Blocks whose first id starts below the probe's 8 bytes, and up to them: the id is in
    // the last of the first kind or in one of the second (several when 8 bytes tie).
    const below = this.blocksBefore(hi, lo, false);
    const upTo = this.blocksBefore(hi, lo, true);
    if (upTo === 0) return -1;
    const from = Math.max(below - 1, 0) * BLOCK_RECORDS;
    const records = Math.min(upTo * BLOCK_RECORDS, this.count) - from;
    if (this.buffer.length < records * RECORD_BYTES) this.buffer = Buffer.allocUnsafe(records * RECORD_BYTES);
    try {
      readAll(this.fd, this.buffer, records * RECORD_BYTES, from * RECORD_BYTES);
    } catch (e) {
      throw new Error(`could not read the index on local disk: ${(e as Error).message}`);
    }
    let low = 0;
    let high = records - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const order = this.buffer.compare(probe, 0, ID_BYTES, mid * RECORD_BYTES, mid * RECORD_BYTES + ID_BYTES);
      if (order === 0) return mid * RECORD_BYTES;
      if (order < 0) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /** How many blocks start below (or, `inclusive`, at or below) the 8-byte key hi:lo. */
  private blocksBefore(hi: number, lo: number, inclusive: boolean): number {
    let low = 0;
    let high = this.fences.length / 2;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const fenceHi = this.fences[2 * mid]!;
      const fenceLo = this.fences[2 * mid + 1]!;
      const before = fenceHi < hi || (fenceHi === hi && (fenceLo < lo || (inclusive && fenceLo === lo)));
      if (before) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private locationAt(bytes: Buffer, at: number): BlobLocation {
    return locationOf(
      bytes[at + AT_KIND]!,
      this.packs.idOf(bytes.readUInt32LE(at + AT_PACK)),
      bytes.readUInt32LE(at + AT_OFFSET),
      bytes.readUInt32LE(at + AT_LENGTH),
      bytes.readUInt32LE(at + AT_PLAIN),
    );
  }

  /** Every blob in id order, read 1,024 at a time; `id` is a view, valid until the next step. */
  *entries(): Generator<{ id: Buffer; location: BlobLocation }> {
    const chunk = Buffer.allocUnsafe(1024 * RECORD_BYTES);
    for (let first = 0; first < this.count; first += 1024) {
      const records = Math.min(1024, this.count - first);
      readAll(this.fd, chunk, records * RECORD_BYTES, first * RECORD_BYTES);
      for (let i = 0; i < records; i++) {
        const at = i * RECORD_BYTES;
        yield { id: chunk.subarray(at, at + ID_BYTES), location: this.locationAt(chunk, at) };
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
