/**
 * A blob's way into and out of its box (docs/FORMAT.md "Blob encodings"): compressed with
 * zstd when that makes it smaller, stored as it is otherwise, then sealed. zstd is the
 * system's libzstd through cairn's own addon (native/zstd.c), called synchronously on the
 * calling thread: most blobs are small, and a call costs zstd's work and about a µs more,
 * where a task on libuv's pool cost 100-130 µs. Big blobs of the mount go to its blob
 * thread for that reason (blob-thread.ts).
 */
import { corrupt } from '../errors/errors.js';
import { loadAddon } from '../native/addon.js';
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

interface ZstdAddon {
  /** One frame at `level`, or null when it would not be shorter than `src`. */
  compress(src: Uint8Array, level: number): Buffer | null;
  /** Order-0 entropy (bits per byte) of `src`, or of `slices` slices of `sliceBytes` spread across it. */
  sampleEntropy(src: Uint8Array, slices: number, sliceBytes: number): number;
  /** The frame's content, which must be exactly `length` bytes; throws zstd's reason otherwise. */
  decompress(frame: Uint8Array, length: number): Buffer;
}

let zstd: ZstdAddon | undefined;
function zstdAddon(): ZstdAddon {
  zstd ??= loadAddon<ZstdAddon>('cairn_zstd', "cairn's zstd binding");
  return zstd;
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
export function encodeBlob(key: Uint8Array, type: BlobType, id: Uint8Array, plaintext: Uint8Array): EncodedBlob {
  const frame = worthCompressing(plaintext) ? zstdAddon().compress(plaintext, ZSTD_LEVEL) : null;
  if (frame) return { sealed: sealBlob(key, type, id, frame, 'zstd'), encoding: 'zstd', plainLength: plaintext.length };
  return { sealed: sealBlob(key, type, id, plaintext), encoding: 'raw', plainLength: plaintext.length };
}

function worthCompressing(plaintext: Uint8Array): boolean {
  if (looksRandom(plaintext)) return false;
  if (plaintext.length <= SAMPLE_ABOVE) return true;
  const sample = Buffer.allocUnsafe(SAMPLE_SLICES * SAMPLE_SLICE_BYTES);
  const step = Math.floor((plaintext.length - SAMPLE_SLICE_BYTES) / (SAMPLE_SLICES - 1));
  for (let i = 0; i < SAMPLE_SLICES; i++) sample.set(plaintext.subarray(i * step, i * step + SAMPLE_SLICE_BYTES), i * SAMPLE_SLICE_BYTES);
  const frame = zstdAddon().compress(sample, ZSTD_LEVEL);
  return frame !== null && frame.length < sample.length * SAMPLE_WORTHWHILE;
}

/** Blobs shorter than this are always compressed: the byte counts say too little. */
const RANDOMNESS_MIN_BYTES = 1024;
/** The byte counts are taken over at most ENTROPY_SLICES slices of ENTROPY_SLICE_BYTES. */
const ENTROPY_SLICES = 4;
const ENTROPY_SLICE_BYTES = 4096;
/** How far below the entropy of random bytes (bits per byte) a sample may be and still count as random. */
const ENTROPY_MARGIN = 0.1;

/**
 * True when the blob's bytes are as evenly spread as random bytes: what gzip, zstd, JPEG,
 * video and encrypted files look like. Such a blob is stored without trying zstd, which
 * would spend a full compression pass for nothing. The test is the order-0 entropy of up to
 * 16 KiB taken across the blob (counted in the addon: native/zstd.c sampleEntropy), against
 * what random bytes give for a sample that size (8 bits less the Miller-Madow bias,
 * 255 / (2 n ln 2)). Measured on the benchmark corpus (22,759 files): it skipped 1,607 blobs,
 * almost all .gz files, and lost 144 KiB of zstd's 187 MiB gain (docs/BENCHMARKS.md). A
 * wrong guess costs space only.
 */
export function looksRandom(plaintext: Uint8Array): boolean {
  const n = plaintext.length;
  if (n < RANDOMNESS_MIN_BYTES) return false;
  const counted = Math.min(n, ENTROPY_SLICES * ENTROPY_SLICE_BYTES);
  const randomEntropy = 8 - 255 / (2 * counted * Math.LN2);
  return zstdAddon().sampleEntropy(plaintext, ENTROPY_SLICES, ENTROPY_SLICE_BYTES) >= randomEntropy - ENTROPY_MARGIN;
}

/** What decoding a box needs to know of it, from its pack header or index entry. */
export interface BlobForm {
  readonly type: BlobType;
  readonly encoding: BlobEncoding;
  readonly plainLength: number;
}

/** The blob in `box`; throws CORRUPT naming `what` when it does not open or decode to its length. */
export function decodeBlob(key: Uint8Array, form: BlobForm, id: Uint8Array, box: Uint8Array, what: string): Buffer {
  return decodePayload(openBlob(key, form.type, id, box, what, form.encoding), form, what);
}

/** An opened box's payload as the blob itself (decompressed); throws CORRUPT naming `what`. */
export function decodePayload(payload: Uint8Array, form: Omit<BlobForm, 'type'>, what: string): Buffer {
  if (form.encoding === 'raw') return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  try {
    // Exactly the entry's length, or an error: a frame never makes more memory than that.
    return zstdAddon().decompress(payload, form.plainLength);
  } catch (e) {
    throw corrupt(what, `it authenticated but its zstd frame does not decompress to its ${form.plainLength} bytes (${(e as Error).message})`, e);
  }
}
