/**
 * Sealing of every encrypted object (docs/FORMAT.md "Sealed box" and "Associated data").
 * The associated data names what an object is, so a box of one kind never opens as another,
 * and a blob's box names its id, so the store cannot swap two blobs.
 */
import { open, seal } from '../crypto/aead.js';
import { corrupt } from '../errors/errors.js';

export type BlobType = 'data' | 'tree';

export const BLOB_TYPE_CODE: Record<BlobType, number> = { data: 0, tree: 1 };

export function blobTypeFromCode(code: number): BlobType | undefined {
  return code === 0 ? 'data' : code === 1 ? 'tree' : undefined;
}

/**
 * How a blob's bytes sit in its box (FORMAT.md "Blob encodings"): as they are, or as one
 * zstd frame. Recorded per blob in pack headers and index files (version 2).
 */
export type BlobEncoding = 'raw' | 'zstd';

export const BLOB_ENCODING_CODE: Record<BlobEncoding, number> = { raw: 0, zstd: 1 };

export function blobEncodingFromCode(code: number): BlobEncoding | undefined {
  return code === 0 ? 'raw' : code === 1 ? 'zstd' : undefined;
}

export type SealedKind = 'pack-header' | 'index' | 'snapshot' | 'lock' | 'forget';

const kindAad = (kind: SealedKind) => Buffer.from(`cairn/${kind}/v1`, 'ascii');
const BLOB_AAD_PREFIX = Buffer.from('cairn/blob/v1', 'ascii');

/**
 * A blob box's associated data: prefix || type || id, and for an encoded (compressed) blob
 * its encoding code after that, so a box cannot be passed off under another encoding. Raw
 * blobs keep the version-2 associated data, so their boxes are the same in every version.
 */
export function blobAad(type: BlobType, id: Uint8Array, encoding: BlobEncoding = 'raw'): Buffer {
  const encoded = encoding !== 'raw';
  const aad = Buffer.allocUnsafe(BLOB_AAD_PREFIX.length + 1 + id.length + (encoded ? 1 : 0));
  BLOB_AAD_PREFIX.copy(aad, 0);
  aad[BLOB_AAD_PREFIX.length] = BLOB_TYPE_CODE[type];
  aad.set(id, BLOB_AAD_PREFIX.length + 1);
  if (encoded) aad[aad.length - 1] = BLOB_ENCODING_CODE[encoding];
  return aad;
}

export function sealObject(key: Uint8Array, kind: SealedKind, plaintext: Uint8Array): Buffer {
  return seal(key, plaintext, kindAad(kind));
}

/** Opens a sealed object or throws CORRUPT naming `what` (for example "index/3fa2…"). */
export function openObject(key: Uint8Array, kind: SealedKind, box: Uint8Array, what: string): Buffer {
  const plaintext = open(key, box, kindAad(kind));
  if (!plaintext) throw corrupt(what, 'authentication failed (changed, truncated or not written by this repository)');
  return plaintext;
}

/** Seals a blob's stored bytes (`payload`: the blob itself, or its zstd frame for 'zstd'). */
export function sealBlob(key: Uint8Array, type: BlobType, id: Uint8Array, payload: Uint8Array, encoding: BlobEncoding = 'raw'): Buffer {
  return seal(key, payload, blobAad(type, id, encoding));
}

/** The stored bytes of a blob box (see sealBlob); throws CORRUPT naming `what`. */
export function openBlob(key: Uint8Array, type: BlobType, id: Uint8Array, box: Uint8Array, what: string, encoding: BlobEncoding = 'raw'): Buffer {
  const plaintext = open(key, box, blobAad(type, id, encoding));
  if (!plaintext) throw corrupt(what, 'authentication failed (changed, truncated, or swapped with another blob)');
  return plaintext;
}
