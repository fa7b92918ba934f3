/**
 * A blob's way into and out of its box (docs/FORMAT.md "Blob encodings"): compressed with
 * zstd when that makes it smaller, stored as it is otherwise, then sealed. Compression runs
 * on libuv's thread pool (the binding is asynchronous only), so it does not hold up the
 * calling thread and several blobs compress at once.
 */
import { compress, decompress } from '@mongodb-js/zstd';
import { corrupt } from '../errors/errors.js';
import { type BlobEncoding, type BlobType, openBlob, sealBlob } from './sealed.js';

/** zstd's default level: restic's "auto" compresses at about the same level. */
export const ZSTD_LEVEL = 3;

export interface EncodedBlob {
  /** The box as it goes into a pack. */
  readonly sealed: Buffer;
  readonly encoding: BlobEncoding;
  /** The blob's own length. */
  readonly plainLength: number;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Seals `plaintext` as blob `id`, as a zstd frame when that is smaller than the blob. */
export async function encodeBlob(key: Uint8Array, type: BlobType, id: Uint8Array, plaintext: Uint8Array): Promise<EncodedBlob> {
  const frame = await compress(asBuffer(plaintext), ZSTD_LEVEL);
  if (frame.length < plaintext.length) return { sealed: sealBlob(key, type, id, frame, 'zstd'), encoding: 'zstd', plainLength: plaintext.length };
  return { sealed: sealBlob(key, type, id, plaintext), encoding: 'raw', plainLength: plaintext.length };
}

/** What decoding a box needs to know of it, from its pack header or index entry. */
export interface BlobForm {
  readonly type: BlobType;
  readonly encoding: BlobEncoding;
  readonly plainLength: number;
}

/** The blob in `box`; throws CORRUPT naming `what` when it does not open or decode to its length. */
export async function decodeBlob(key: Uint8Array, form: BlobForm, id: Uint8Array, box: Uint8Array, what: string): Promise<Buffer> {
  const payload = openBlob(key, form.type, id, box, what, form.encoding);
  if (form.encoding === 'raw') return payload;
  let plaintext: Buffer;
  try {
    plaintext = await decompress(payload);
  } catch (e) {
    throw corrupt(what, `it authenticated but its zstd frame does not decompress (${(e as Error).message})`, e);
  }
  if (plaintext.length !== form.plainLength) throw corrupt(what, `it decompresses to ${plaintext.length} bytes where its entry says ${form.plainLength}`);
  return plaintext;
}
