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

/**
 * A blob bigger than this is first tried on a sample of SAMPLE_SLICES slices spread over
 * it: already-compressed or encrypted data (media, archives) is then stored raw without
 * spending a full compression on it (measured: a 1 GiB random file took 3 s longer to
 * save when every chunk was compressed in vain; docs/BENCHMARKS.md).
 */
const SAMPLE_ABOVE = 256 * 1024;
const SAMPLE_SLICES = 4;
const SAMPLE_SLICE_BYTES = 16 * 1024;
/** A sample that does not shrink below this share of its size marks the blob incompressible. */
const SAMPLE_WORTHWHILE = 0.97;

/** Seals `plaintext` as blob `id`, as a zstd frame when that is smaller than the blob. */
export async function encodeBlob(key: Uint8Array, type: BlobType, id: Uint8Array, plaintext: Uint8Array): Promise<EncodedBlob> {
  if (await worthCompressing(plaintext)) {
    const frame = await compress(asBuffer(plaintext), ZSTD_LEVEL);
    if (frame.length < plaintext.length) return { sealed: sealBlob(key, type, id, frame, 'zstd'), encoding: 'zstd', plainLength: plaintext.length };
  }
  return { sealed: sealBlob(key, type, id, plaintext), encoding: 'raw', plainLength: plaintext.length };
}

async function worthCompressing(plaintext: Uint8Array): Promise<boolean> {
  if (looksRandom(plaintext)) return false;
  if (plaintext.length <= SAMPLE_ABOVE) return true;
  const sample = Buffer.allocUnsafe(SAMPLE_SLICES * SAMPLE_SLICE_BYTES);
  const step = Math.floor((plaintext.length - SAMPLE_SLICE_BYTES) / (SAMPLE_SLICES - 1));
  for (let i = 0; i < SAMPLE_SLICES; i++) sample.set(plaintext.subarray(i * step, i * step + SAMPLE_SLICE_BYTES), i * SAMPLE_SLICE_BYTES);
  return (await compress(sample, ZSTD_LEVEL)).length < sample.length * SAMPLE_WORTHWHILE;
}

/** Blobs shorter than this are always compressed: the byte counts say too little. */
const RANDOMNESS_MIN_BYTES = 1024;
/** The byte counts are taken over at most ENTROPY_SLICES slices of ENTROPY_SLICE_BYTES. */
const ENTROPY_SLICES = 4;
const ENTROPY_SLICE_BYTES = 4096;
/** How far below the entropy of random bytes (bits per byte) a sample may be and still count as random. */
const ENTROPY_MARGIN = 0.1;
const byteCounts = new Uint32Array(256);

/**
 * True when the blob's bytes are as evenly spread as random bytes: what gzip, zstd, JPEG,
 * video and encrypted files look like. Such a blob is stored without trying zstd, which
 * costs a call into the binding (tens of µs) and a full pass for nothing. The test is the
 * order-0 entropy of up to 16 KiB taken across the blob, against what random bytes give
 * for a sample that size (8 bits less the Miller-Madow bias, 255 / (2 n ln 2)). Measured on
 * the benchmark corpus (22,759 files): it skipped 1,607 blobs, almost all .gz files, and
 * lost 144 KiB of zstd's 187 MiB gain (docs/BENCHMARKS.md). A wrong guess costs space only.
 */
export function looksRandom(plaintext: Uint8Array): boolean {
  const n = plaintext.length;
  if (n < RANDOMNESS_MIN_BYTES) return false;
  byteCounts.fill(0);
  let counted = n;
  if (n <= ENTROPY_SLICES * ENTROPY_SLICE_BYTES) {
    for (let i = 0; i < n; i++) byteCounts[plaintext[i]!]!++;
  } else {
    counted = ENTROPY_SLICES * ENTROPY_SLICE_BYTES;
    const step = Math.floor((n - ENTROPY_SLICE_BYTES) / (ENTROPY_SLICES - 1));
    for (let s = 0; s < ENTROPY_SLICES; s++) {
      const end = s * step + ENTROPY_SLICE_BYTES;
      for (let i = s * step; i < end; i++) byteCounts[plaintext[i]!]!++;
    }
  }
  let bits = 0;
  for (let b = 0; b < 256; b++) {
    const c = byteCounts[b]!;
    if (c > 0) bits -= c * Math.log2(c / counted);
  }
  const randomEntropy = 8 - 255 / (2 * counted * Math.LN2);
  return bits / counted >= randomEntropy - ENTROPY_MARGIN;
}

/** What decoding a box needs to know of it, from its pack header or index entry. */
export interface BlobForm {
  readonly type: BlobType;
  readonly encoding: BlobEncoding;
  readonly plainLength: number;
}

/** The blob in `box`; throws CORRUPT naming `what` when it does not open or decode to its length. */
export async function decodeBlob(key: Uint8Array, form: BlobForm, id: Uint8Array, box: Uint8Array, what: string): Promise<Buffer> {
  return decodePayload(openBlob(key, form.type, id, box, what, form.encoding), form, what);
}

/** An opened box's payload as the blob itself (decompressed); throws CORRUPT naming `what`. */
export async function decodePayload(payload: Uint8Array, form: Omit<BlobForm, 'type'>, what: string): Promise<Buffer> {
  if (form.encoding === 'raw') return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  let plaintext: Buffer;
  try {
    plaintext = await decompress(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
  } catch (e) {
    throw corrupt(what, `it authenticated but its zstd frame does not decompress (${(e as Error).message})`, e);
  }
  if (plaintext.length !== form.plainLength) throw corrupt(what, `it decompresses to ${plaintext.length} bytes where its entry says ${form.plainLength}`);
  return plaintext;
}
