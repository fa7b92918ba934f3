/**
 * Pack files (docs/FORMAT.md "Pack files"):
 *
 *   sealed blob 1 || ... || sealed blob n || sealed header || header length (u32 LE)
 *
 * The header lists each blob's type, encoding, id, sealed length and blob length in order,
 * so a pack describes itself and the index can be rebuilt from packs alone. Version-1
 * headers (no encoding, no blob length) are still read. Pure: bytes in, bytes out.
 */
import { type BlobEntry, readBlobEntry, writeBlobEntry } from './blob-entry.js';
import { ByteReader, ByteWriter, DecodeError } from './bytes.js';

export const PACK_HEADER_VERSION = 2;
export const PACK_TRAILER_SIZE = 4;
const ENTRY_SIZE: Record<number, number> = { 1: 1 + 32 + 4, 2: 1 + 1 + 32 + 4 + 4 };

/** A blob in a pack; `offset` is where its box starts in the pack file. */
export type PackEntry = BlobEntry;

export function encodePackHeader(entries: readonly PackEntry[]): Buffer {
  const writer = new ByteWriter(5 + entries.length * ENTRY_SIZE[PACK_HEADER_VERSION]!);
  writer.u8(PACK_HEADER_VERSION).u32(entries.length);
  let expectedOffset = 0;
  for (const entry of entries) {
    if (entry.offset !== expectedOffset) throw new RangeError('pack entries must be contiguous and in order');
    writeBlobEntry(writer, entry, false);
    expectedOffset += entry.length;
  }
  return writer.finish();
}

export function decodePackHeader(plaintext: Uint8Array): PackEntry[] {
  const reader = new ByteReader(plaintext);
  const version = reader.u8();
  const entrySize = ENTRY_SIZE[version];
  if (entrySize === undefined) throw new DecodeError(`pack header version ${version} is not supported`);
  const count = reader.u32();
  if (count * entrySize > plaintext.length) throw new DecodeError('pack header count exceeds its size');
  const entries: PackEntry[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const entry = readBlobEntry(reader, version, false, offset);
    entries.push(entry);
    offset += entry.length;
  }
  reader.end();
  return entries;
}

/** Where the sealed header sits in a pack of `packSize` bytes, from the pack's last 4 bytes. */
export function locatePackHeader(trailer: Uint8Array, packSize: number): { offset: number; length: number } {
  if (trailer.length !== PACK_TRAILER_SIZE || packSize < PACK_TRAILER_SIZE) throw new DecodeError('pack too short');
  const length = Buffer.from(trailer.buffer, trailer.byteOffset, 4).readUInt32LE(0);
  const offset = packSize - PACK_TRAILER_SIZE - length;
  if (offset < 0) throw new DecodeError('pack header length exceeds the pack');
  return { offset, length };
}

export function packTrailer(sealedHeaderLength: number): Buffer {
  const trailer = Buffer.allocUnsafe(PACK_TRAILER_SIZE);
  trailer.writeUInt32LE(sealedHeaderLength, 0);
  return trailer;
}
