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

export type SealedKind = 'pack-header' | 'index' | 'snapshot' | 'lock' | 'forget';

const kindAad = (kind: SealedKind) => Buffer.from(`cairn/${kind}/v1`, 'ascii');
const BLOB_AAD_PREFIX = Buffer.from('cairn/blob/v1', 'ascii');

export function blobAad(type: BlobType, id: Uint8Array): Buffer {
  const aad = Buffer.allocUnsafe(BLOB_AAD_PREFIX.length + 1 + id.length);
  BLOB_AAD_PREFIX.copy(aad, 0);
  aad[BLOB_AAD_PREFIX.length] = BLOB_TYPE_CODE[type];
  aad.set(id, BLOB_AAD_PREFIX.length + 1);
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

export function sealBlob(key: Uint8Array, type: BlobType, id: Uint8Array, plaintext: Uint8Array): Buffer {
  return seal(key, plaintext, blobAad(type, id));
}

export function openBlob(key: Uint8Array, type: BlobType, id: Uint8Array, box: Uint8Array, what: string): Buffer {
  const plaintext = open(key, box, blobAad(type, id));
  if (!plaintext) throw corrupt(what, 'authentication failed (changed, truncated, or swapped with another blob)');
  return plaintext;
}
