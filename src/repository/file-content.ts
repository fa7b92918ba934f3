/**
 * File content as a list of chunk blobs: write a byte stream through the chunker, and read
 * any byte range back by fetching only the chunks that overlap it.
 */
import type { BlobIdHex } from '../format/tree.js';
import type { Repository } from './repository.js';

export interface SavedContent {
  readonly content: BlobIdHex[];
  readonly size: number;
  /** Sealed bytes newly added to the store (0 when every chunk already existed). */
  readonly addedBytes: number;
}

export async function saveContent(repo: Repository, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<SavedContent> {
  const chunker = repo.newChunker();
  const content: BlobIdHex[] = [];
  let size = 0;
  let addedBytes = 0;
  const store = async (chunks: Buffer[]) => {
    for (const chunk of chunks) {
      const saved = await repo.saveBlob('data', chunk);
      content.push(saved.id);
      size += chunk.length;
      addedBytes += saved.addedBytes;
    }
  };
  for await (const piece of source) await store(chunker.push(piece));
  await store(chunker.finish());
  return { content, size, addedBytes };
}

/** Chunks fetched ahead of a read: as many as the live tree's reads (src/vfs/file-data.ts PREFETCH_*). */
const READ_AHEAD_CHUNKS = 8;
const READ_AHEAD_BYTES = 8 * 1024 * 1024;

/** Random access to a stored file: reads touch only the chunks they overlap. */
export class ContentReader {
  /** starts[i] is the file offset of chunk i; starts[n] is the file size. */
  private readonly starts: number[];

  constructor(
    private readonly repo: Repository,
    private readonly content: readonly BlobIdHex[],
  ) {
    this.starts = [0];
    for (const id of content) this.starts.push(this.starts[this.starts.length - 1]! + repo.blobPlainSize(id));
  }

  get size(): number {
    return this.starts[this.starts.length - 1]!;
  }

  /**
   * Up to `length` bytes from `offset`; shorter only at the end of the file. A range inside
   * one chunk is a view of the cached chunk, not a copy: callers must not write into it.
   * The next chunks are fetched ahead, so a sequential reader (cp out of .snapshots/, cat)
   * rarely waits for the store.
   */
  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    let chunk = this.chunkAt(offset);
    const last = this.chunkAt(end - 1);
    for (let ahead = last + 1; ahead <= last + READ_AHEAD_CHUNKS && ahead < this.content.length && this.starts[ahead]! - this.starts[last + 1]! < READ_AHEAD_BYTES; ahead++) {
      this.repo.loadBlob('data', this.content[ahead]!).catch(() => undefined); // a failure surfaces when that chunk is read
    }
    if (end <= this.starts[chunk + 1]!) {
      const plaintext = await this.repo.loadBlob('data', this.content[chunk]!);
      return plaintext.subarray(offset - this.starts[chunk]!, end - this.starts[chunk]!);
    }
    const out = Buffer.allocUnsafe(end - offset);
    let position = offset;
    while (position < end) {
      const chunkStart = this.starts[chunk]!;
      const plaintext = await this.repo.loadBlob('data', this.content[chunk]!);
      const from = position - chunkStart;
      const to = Math.min(plaintext.length, end - chunkStart);
      plaintext.copy(out, position - offset, from, to);
      position = chunkStart + to;
      chunk++;
    }
    return out;
  }

  /** Index of the chunk holding byte `offset` (binary search over chunk starts). */
  private chunkAt(offset: number): number {
    let lo = 0;
    let hi = this.content.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
