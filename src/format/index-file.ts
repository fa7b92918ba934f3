/**
 * Index files (docs/FORMAT.md "Index files"): which pack holds each blob, at which offset.
 * Plaintext layout, sealed as kind "index":
 *
 *   version u8 = 2
 *   superseded count u32, then that many index ids (32 bytes each)
 *   pack count u32, then per pack: pack id (32), blob count u32,
 *     per blob: type u8, encoding u8, blob id (32), offset u32, sealed length u32, blob length u32
 *
 * "superseded" lists index files this one replaces (written by prune before it deletes them).
 * Version-1 files (no encoding, no blob length) are still read.
 */
import { type BlobEntry, type BlobEntryFields, emptyFields, readBlobEntry, readBlobEntryInto, writeBlobEntry } from './blob-entry.js';
import { ByteReader, ByteWriter, DecodeError } from './bytes.js';

export const INDEX_VERSION = 2;

export type IndexedBlob = BlobEntry;

export interface IndexedPack {
  readonly packId: Uint8Array;
  readonly blobs: readonly IndexedBlob[];
}

export interface IndexFile {
  readonly superseded: readonly Uint8Array[];
  readonly packs: readonly IndexedPack[];
}

export function encodeIndexFile(index: IndexFile): Buffer {
  const writer = new ByteWriter();
  writer.u8(INDEX_VERSION).u32(index.superseded.length);
  for (const id of index.superseded) writer.bytes(id);
  writer.u32(index.packs.length);
  for (const pack of index.packs) {
    writer.bytes(pack.packId).u32(pack.blobs.length);
    for (const blob of pack.blobs) writeBlobEntry(writer, blob, true);
  }
  return writer.finish();
}

/** The version and the superseded list at a file's start. */
function readHeader(reader: ByteReader): { version: number; superseded: Uint8Array[] } {
  const version = reader.u8();
  if (version !== 1 && version !== INDEX_VERSION) throw new DecodeError(`index version ${version} is not supported`);
  const superseded: Uint8Array[] = [];
  for (let n = reader.u32(); n > 0; n--) superseded.push(Uint8Array.from(reader.bytes(32)));
  return { version, superseded };
}

/**
 * Only the index files a file supersedes (read from its start, nothing else decoded): a
 * reader loading many decides which to load before decoding any whole.
 */
export function decodeSupersededList(plaintext: Uint8Array): Uint8Array[] {
  return readHeader(new ByteReader(plaintext)).superseded;
}

/** How many blob entries a file holds (its packs' counts; the entries themselves are not decoded). */
export function countIndexedBlobs(plaintext: Uint8Array): number {
  const reader = new ByteReader(plaintext);
  const { version } = readHeader(reader);
  // type, (encoding), id, offset, sealed length, (blob length): see the layout above.
  const entryBytes = version >= 2 ? 1 + 1 + 32 + 4 + 4 + 4 : 1 + 32 + 4 + 4;
  let blobs = 0;
  for (let p = reader.u32(); p > 0; p--) {
    reader.bytes(32);
    const count = reader.u32();
    reader.bytes(count * entryBytes);
    blobs += count;
  }
  return blobs;
}

export function decodeIndexFile(plaintext: Uint8Array): IndexFile {
  const reader = new ByteReader(plaintext);
  const { version, superseded } = readHeader(reader);
  const packs: IndexedPack[] = [];
  for (let p = reader.u32(); p > 0; p--) {
    const packId = Uint8Array.from(reader.bytes(32));
    const blobs: IndexedBlob[] = [];
    for (let b = reader.u32(); b > 0; b--) blobs.push(readBlobEntry(reader, version, true));
    packs.push({ packId, blobs });
  }
  reader.end();
  return { superseded, packs };
}

/**
 * Every entry of an index file, handed on without an object per entry: `onPack` with where
 * each pack's 32-byte id starts in `plaintext`, then `onBlob` with each of its entries (the
 * same fields object each time, refilled). The whole file is checked first, so a damaged one
 * throws DecodeError as decodeIndexFile does before anything is handed on.
 */
export function visitIndexFile(plaintext: Uint8Array, onPack: (packIdAt: number) => void, onBlob: (entry: Readonly<BlobEntryFields>) => void): void {
  walkIndexFile(plaintext);
  walkIndexFile(plaintext, onPack, onBlob);
}

function walkIndexFile(plaintext: Uint8Array, onPack?: (packIdAt: number) => void, onBlob?: (entry: Readonly<BlobEntryFields>) => void): void {
  const reader = new ByteReader(plaintext);
  const { version } = readHeader(reader);
  const fields = emptyFields();
  for (let p = reader.u32(); p > 0; p--) {
    const packIdAt = reader.skip(32);
    onPack?.(packIdAt);
    for (let b = reader.u32(); b > 0; b--) {
      readBlobEntryInto(reader, version, true, fields);
      onBlob?.(fields);
    }
  }
  reader.end();
}
