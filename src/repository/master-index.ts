/**
 * The in-memory index: every blob's pack, offset, sealed length, encoding and length, merged from all index
 * files on the store plus the packs written in this session.
 */
import { toHex } from '../format/bytes.js';
import type { IndexFile, IndexedPack } from '../format/index-file.js';
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

export class MasterIndex {
  private readonly blobs = new Map<string, BlobLocation>();

  get blobCount(): number {
    return this.blobs.size;
  }

  has(id: string): boolean {
    return this.blobs.has(id);
  }

  lookup(id: string): BlobLocation | undefined {
    return this.blobs.get(id);
  }

  addPack(pack: IndexedPack): void {
    const packId = toHex(pack.packId);
    for (const blob of pack.blobs) {
      const { type, encoding, offset, length, plainLength } = blob;
      this.blobs.set(toHex(blob.id), { type, encoding, packId, offset, length, plainLength });
    }
  }

  addIndexFile(file: IndexFile): void {
    for (const pack of file.packs) this.addPack(pack);
  }

  /** Every pack any index names, with the blobs it holds. */
  packs(): Map<string, { id: string; location: BlobLocation }[]> {
    const packs = new Map<string, { id: string; location: BlobLocation }[]>();
    for (const [id, location] of this.blobs) {
      let list = packs.get(location.packId);
      if (!list) packs.set(location.packId, (list = []));
      list.push({ id, location });
    }
    return packs;
  }
}
