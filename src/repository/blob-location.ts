/** Where a blob is on the store, as an index (in memory or on local disk) answers it. */
import type { BlobEntryFields } from '../format/blob-entry.js';
import { visitIndexFile } from '../format/index-file.js';
import { BLOB_ENCODING_CODE, BLOB_TYPE_CODE, type BlobEncoding, blobEncodingFromCode, type BlobType, blobTypeFromCode } from '../format/sealed.js';

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

/** A blob's type and encoding in one byte: the format's type code × 16 + encoding code (FORMAT.md). */
export const kindOf = (type: BlobType, encoding: BlobEncoding): number => BLOB_TYPE_CODE[type] * 16 + BLOB_ENCODING_CODE[encoding];

export function locationOf(kind: number, packId: string, offset: number, length: number, plainLength: number): BlobLocation {
  return { type: blobTypeFromCode(kind >> 4)!, encoding: blobEncodingFromCode(kind & 15)!, packId, offset, length, plainLength };
}

const PACK_ID_BYTES = 32;

/** Pack ids numbered in the order met, so an index entry holds 4 bytes instead of the id. */
export class PackNumbers {
  private readonly ids: string[] = [];
  private readonly numbers = new Map<string, number>();

  numberOf(packId: string): number {
    let n = this.numbers.get(packId);
    if (n === undefined) {
      n = this.ids.push(packId) - 1;
      this.numbers.set(packId, n);
    }
    return n;
  }

  idOf(n: number): string {
    return this.ids[n]!;
  }
}

/**
 * Visits an index file's entries in place with the number of their pack; `bytes` is the
 * plaintext as a Buffer (the id is at `entry.idAt`). DecodeError for a damaged file, before
 * any entry is visited (visitIndexFile checks the whole file first).
 */
export function visitIndexEntries(plaintext: Uint8Array, packs: PackNumbers, onBlob: (bytes: Buffer, pack: number, entry: Readonly<BlobEntryFields>) => void): void {
  const bytes = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  let pack = 0;
  visitIndexFile(
    plaintext,
    (packIdAt) => void (pack = packs.numberOf(bytes.toString('hex', packIdAt, packIdAt + PACK_ID_BYTES))),
    (entry) => onBlob(bytes, pack, entry),
  );
}
