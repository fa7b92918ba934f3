/**
 * Pack files (docs/FORMAT.md "Pack files"):
 *
 *   sealed blob 1 || ... || sealed blob n || sealed header || header length (u32 LE)
 *
 * The header lists each blob's type, id and sealed length in order, so a pack describes
 * itself and the index can be rebuilt from packs alone. Pure: bytes in, bytes out.
 */
import { ByteReader, ByteWriter, DecodeError } from './bytes.js';
import { type BlobType, BLOB_TYPE_CODE, blobTypeFromCode } from './sealed.js';

export const PACK_HEADER_VERSION = 1;
export const PACK_TRAILER_SIZE = 4;
const ENTRY_SIZE = 1 + 32 + 4;

export interface PackEntry {
  readonly type: BlobType;
  readonly id: Uint8Array;
  /** Offset of the sealed blob in the pack file. */
  readonly offset: number;
  /** Length of the sealed blob (plaintext + 40). */
  readonly length: number;
}

export function encodePackHeader(entries: readonly PackEntry[]): Buffer {
  const writer = new ByteWriter(5 + entries.length * ENTRY_SIZE);
  writer.u8(PACK_HEADER_VERSION).u32(entries.length);
  let expectedOffset = 0;
  for (const entry of entries) {
    if (entry.offset !== expectedOffset) throw new RangeError('pack entries must be contiguous and in order');
    writer.u8(BLOB_TYPE_CODE[entry.type]).bytes(entry.id).u32(entry.length);
    expectedOffset += entry.length;
  }
  return writer.finish();
}

export function decodePackHeader(plaintext: Uint8Array): PackEntry[] {
  const reader = new ByteReader(plaintext);
  const version = reader.u8();
  if (version !== PACK_HEADER_VERSION) throw new DecodeError(`pack header version ${version} is not supported`);
  const count = reader.u32();
  if (count * ENTRY_SIZE > plaintext.length) throw new DecodeError('pack header count exceeds its size');
  const entries: PackEntry[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const typeCode = reader.u8();
    const type = blobTypeFromCode(typeCode);
    if (!type) throw new DecodeError(`unknown blob type ${typeCode}`);
    const id = Uint8Array.from(reader.bytes(32));
    const length = reader.u32();
    entries.push({ type, id, offset, length });
    offset += length;
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
