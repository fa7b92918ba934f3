/**
 * One blob's entry as pack headers and index files list it (docs/FORMAT.md "Pack files",
 * "Index files"): its type, encoding, id, where its box sits and the blob's own length.
 * Version-1 entries have no encoding or blob length: their boxes hold the raw blob, so
 * the length is the box's less the 40 bytes of nonce and tag.
 */
import { SEAL_OVERHEAD } from '../crypto/aead.js';
import { type ByteReader, type ByteWriter, DecodeError } from './bytes.js';
import { BLOB_ENCODING_CODE, BLOB_TYPE_CODE, type BlobEncoding, type BlobType, blobEncodingFromCode, blobTypeFromCode } from './sealed.js';

export interface BlobEntry {
  readonly type: BlobType;
  readonly encoding: BlobEncoding;
  readonly id: Uint8Array;
  /** Offset of the box in its pack file. */
  readonly offset: number;
  /** Length of the box (its stored bytes + 40). */
  readonly length: number;
  /** Length of the blob itself, after decoding. */
  readonly plainLength: number;
}

/** The entry's fields in a version-2 pack header (`withOffset` false) or index file (true). */
export function writeBlobEntry(writer: ByteWriter, entry: BlobEntry, withOffset: boolean): void {
  writer.u8(BLOB_TYPE_CODE[entry.type]).u8(BLOB_ENCODING_CODE[entry.encoding]).bytes(entry.id);
  if (withOffset) writer.u32(entry.offset);
  writer.u32(entry.length).u32(entry.plainLength);
}

/** An entry's fields as readBlobEntryInto fills them in place; `idAt`: where the 32-byte id starts in the reader's data. */
export interface BlobEntryFields {
  type: BlobType;
  encoding: BlobEncoding;
  idAt: number;
  offset: number;
  length: number;
  plainLength: number;
}

/**
 * Reads one entry of a pack header or index file of `version` 1 or 2 into `into` (no object
 * per entry: a million of them were 200 MB of garbage at mount); `offset` is used when the
 * layout carries none (pack headers, where boxes follow one another).
 */
export function readBlobEntryInto(reader: ByteReader, version: number, withOffset: boolean, into: BlobEntryFields, offset = 0): void {
  const typeCode = reader.u8();
  const type = blobTypeFromCode(typeCode);
  if (!type) throw new DecodeError(`unknown blob type ${typeCode}`);
  let encoding: BlobEncoding = 'raw';
  if (version >= 2) {
    const code = reader.u8();
    const known = blobEncodingFromCode(code);
    if (!known) throw new DecodeError(`unknown blob encoding ${code}`);
    encoding = known;
  }
  into.idAt = reader.skip(32);
  if (withOffset) offset = reader.u32();
  const length = reader.u32();
  if (length < SEAL_OVERHEAD) throw new DecodeError(`a blob box of ${length} bytes is shorter than nonce and tag`);
  const plainLength = version >= 2 ? reader.u32() : length - SEAL_OVERHEAD;
  if (encoding === 'raw' && plainLength !== length - SEAL_OVERHEAD) throw new DecodeError(`a raw blob of ${plainLength} bytes in a box of ${length}`);
  into.type = type;
  into.encoding = encoding;
  into.offset = offset;
  into.length = length;
  into.plainLength = plainLength;
}

/** readBlobEntryInto, as an entry of its own (the id copied out). */
export function readBlobEntry(reader: ByteReader, version: number, withOffset: boolean, offset = 0): BlobEntry {
  const fields = emptyFields();
  readBlobEntryInto(reader, version, withOffset, fields, offset);
  const { type, encoding, idAt, length, plainLength } = fields;
  return { type, encoding, id: Uint8Array.from(reader.at(idAt, 32)), offset: fields.offset, length, plainLength };
}

export function emptyFields(): BlobEntryFields {
  return { type: 'data', encoding: 'raw', idAt: 0, offset: 0, length: 0, plainLength: 0 };
}
