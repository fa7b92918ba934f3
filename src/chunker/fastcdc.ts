/**
 * Content-defined chunking, FastCDC style (Xia et al., 2016) with normalized chunking.
 *
 * A rolling "gear" hash h = (h << 1) + gear[byte] runs over the data; a chunk ends where the
 * hash's high bits are all zero. Before the average size a stricter mask (more bits) applies,
 * after it a looser one, which pulls sizes toward the average. Cut points depend only on the
 * last 32 bytes, so an insertion moves at most the chunk boundaries next to it.
 *
 * The gear table comes from the repository key (docs/FORMAT.md "Chunking"), so chunk sizes,
 * which the store sees, cannot be used to test guesses about content. Pure: bytes in, cuts out.
 */

export interface ChunkerParams {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
}

/** Format v1 parameters. Changing them changes every blob id's dedup, so they are fixed. */
export const CHUNKER_V1: ChunkerParams = { minSize: 256 * 1024, avgSize: 1024 * 1024, maxSize: 4 * 1024 * 1024 };

/** A mask of `bits` ones in the high end of a 32-bit word (high bits see the most bytes). */
function highMask(bits: number): number {
  return (0xffffffff << (32 - bits)) >>> 0;
}

export function gearTableFrom(bytes: Uint8Array): Uint32Array {
  if (bytes.length !== 1024) throw new RangeError('gear table needs 1024 bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) table[i] = view.getUint32(i * 4, true);
  return table;
}

/**
 * A streaming chunker: push() any amount of data, get back the chunks that are complete;
 * finish() returns the rest. Memory stays bounded by maxSize whatever the input size.
 */
export class Chunker {
  private readonly gear: Uint32Array;
  private readonly params: ChunkerParams;
  private readonly maskStrict: number;
  private readonly maskLoose: number;
  /** Grows on demand up to maxSize: most files are small, and a 4 MiB buffer per file is costly. */
  private buffer: Buffer;
  private filled = 0; // bytes of the current (unfinished) chunk held in buffer
  private scanned = 0; // bytes of the current chunk the hash has already seen
  private hash = 0;

  constructor(gear: Uint32Array, params: ChunkerParams = CHUNKER_V1) {
    if (!(params.minSize > 0 && params.minSize <= params.avgSize && params.avgSize <= params.maxSize)) {
      throw new RangeError('chunker sizes must satisfy 0 < min <= avg <= max');
    }
    this.gear = gear;
    this.params = params;
    const avgBits = Math.round(Math.log2(params.avgSize));
    this.maskStrict = highMask(avgBits + 2);
    this.maskLoose = highMask(avgBits - 2);
    this.buffer = Buffer.allocUnsafe(0);
  }

  private ensureRoom(wanted: number): void {
    if (this.buffer.length - this.filled >= wanted || this.buffer.length === this.params.maxSize) return;
    const size = Math.min(this.params.maxSize, Math.max(this.filled + wanted, this.buffer.length * 2, 64 * 1024));
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.filled);
    this.buffer = grown;
  }

  /** Feeds data; returns every chunk completed by it (fresh buffers the caller owns). */
  push(data: Uint8Array): Buffer[] {
    const chunks: Buffer[] = [];
    let offset = 0;
    while (offset < data.length) {
      this.ensureRoom(data.length - offset);
      const take = Math.min(data.length - offset, this.buffer.length - this.filled);
      this.buffer.set(data.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      for (;;) {
        const cut = this.findCut();
        if (cut < 0) break;
        chunks.push(this.emit(cut));
      }
    }
    return chunks;
  }

  /** Ends the stream: the remaining bytes (if any) form the last chunk. */
  finish(): Buffer[] {
    if (this.filled === 0) return [];
    return [this.emit(this.filled)];
  }

  private emit(length: number): Buffer {
    const chunk = Buffer.from(this.buffer.subarray(0, length));
    this.buffer.copyWithin(0, length, this.filled);
    this.filled -= length;
    this.scanned = 0;
    this.hash = 0;
    return chunk;
  }

  /** The cut position in the buffered chunk, or -1 when more data is needed. Resumable. */
  private findCut(): number {
    const { minSize, avgSize, maxSize } = this.params;
    const end = this.filled;
    if (end <= minSize) return -1;
    const gear = this.gear;
    const buf = this.buffer;
    let h = this.hash;
    // The first minSize bytes are never a cut point; the hash only needs the last 32 of them.
    let i = Math.max(this.scanned, minSize - 32);
    const strictEnd = Math.min(end, avgSize);
    for (; i < strictEnd; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if (i >= minSize && (h & this.maskStrict) === 0) return this.cutAt(i + 1);
    }
    const looseEnd = Math.min(end, maxSize);
    for (; i < looseEnd; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if ((h & this.maskLoose) === 0) return this.cutAt(i + 1);
    }
    if (end >= maxSize) return this.cutAt(maxSize);
    this.hash = h;
    this.scanned = i;
    return -1;
  }

  private cutAt(position: number): number {
    this.hash = 0;
    this.scanned = 0;
    return position;
  }
}
