/** Plaintext blobs in memory, least recently used first out, within a byte budget. */
import { LRUCache } from 'lru-cache';

export const DEFAULT_BLOB_CACHE_BYTES = 64 * 1024 * 1024;

export class BlobCache {
  private readonly cache: LRUCache<string, Buffer>;

  constructor(maxBytes = DEFAULT_BLOB_CACHE_BYTES) {
    // An entry larger than maxSize is silently not stored (lru-cache 11): fine for a cache.
    this.cache = new LRUCache<string, Buffer>({ maxSize: maxBytes, sizeCalculation: (b) => Math.max(1, b.length) });
  }

  get(id: string): Buffer | undefined {
    return this.cache.get(id);
  }

  set(id: string, plaintext: Buffer): void {
    this.cache.set(id, plaintext);
  }
}
