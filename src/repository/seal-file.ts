/**
 * Turns one local file into sealed data blobs: read, chunk, blob id, compress, seal. The CPU and
 * read-side work of a backup, kept free of repository state so it can run on a worker
 * thread (source-reader.ts) beside the thread that walks the tree and packs. Whether a blob
 * is already stored is decided by the caller, which alone has the index; but chunks of the
 * file's previous version that the caller says are stored are not sealed again (a big file
 * changed in one place would otherwise be encrypted and handed over whole).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { Chunker, cutInPlace } from '../chunker/fastcdc.js';
import { BLOB_ID_SIZE, blobIdOf } from '../crypto/keys.js';
import { toHex } from '../format/bytes.js';
import { encodeBlob, type EncodedBlob } from '../format/blob-codec.js';
import { BLOB_ENCODING_CODE, blobEncodingFromCode } from '../format/sealed.js';

/** What sealing needs of the repository's keys (docs/FORMAT.md "Keys"). */
export interface SealingKeys {
  readonly encryption: Uint8Array;
  readonly blobId: Uint8Array;
  readonly gear: Uint32Array;
}

/**
 * Consecutive chunks of one file, sealed. Flat buffers so a batch crosses threads as two
 * transferred buffers instead of one object per chunk.
 */
export interface SealedBatch {
  /** n × 32 bytes: the chunks' blob ids, in file order. */
  readonly ids: Uint8Array;
  /** n plaintext lengths. */
  readonly plainLengths: readonly number[];
  /** n encoding codes (docs/FORMAT.md "Blob encodings"). */
  readonly encodings: readonly number[];
  /** The sealed boxes one after another, in the same order. */
  readonly sealed: Uint8Array;
  /** n sealed lengths; 0 for a chunk left unsealed because it is stored already. */
  readonly sealedLengths: readonly number[];
}

/** Reads in pieces of this size. */
const READ_PIECE = 1024 * 1024;
/** A batch is handed over once its sealed bytes reach this (and at the end of the file). */
const BATCH_BYTES = 4 * 1024 * 1024;
const NOT_SEALED: EncodedBlob = { sealed: Buffer.alloc(0), encoding: 'raw', plainLength: 0 };

class BatchBuilder {
  private ids: Uint8Array[] = [];
  private plainLengths: number[] = [];
  private encodings: number[] = [];
  private boxes: Buffer[] = [];
  private bytes = 0;

  add(id: Uint8Array, plainLength: number, blob: EncodedBlob): void {
    this.ids.push(id);
    this.plainLengths.push(plainLength);
    this.encodings.push(BLOB_ENCODING_CODE[blob.encoding]);
    this.boxes.push(blob.sealed);
    this.bytes += blob.sealed.length;
  }

  get full(): boolean {
    return this.bytes >= BATCH_BYTES;
  }

  get empty(): boolean {
    return this.ids.length === 0;
  }

  /** The batch so far in buffers that own their memory (transferable), then starts anew. */
  take(): SealedBatch {
    const ids = new Uint8Array(this.ids.length * BLOB_ID_SIZE);
    this.ids.forEach((id, i) => ids.set(id, i * BLOB_ID_SIZE));
    const sealed = new Uint8Array(this.bytes);
    let at = 0;
    for (const box of this.boxes) {
      sealed.set(box, at);
      at += box.length;
    }
    const batch = { ids, plainLengths: this.plainLengths, encodings: this.encodings, sealed, sealedLengths: this.boxes.map((b) => b.length) };
    this.ids = [];
    this.plainLengths = [];
    this.encodings = [];
    this.boxes = [];
    this.bytes = 0;
    return batch;
  }
}

/** Chunks, ids and seals a stream of bytes, handing out batches as they fill. */
class StreamSealer {
  private readonly chunker: Chunker;
  private readonly batch = new BatchBuilder();

  constructor(
    private readonly keys: SealingKeys,
    private readonly stored: ReadonlySet<string>,
  ) {
    this.chunker = new Chunker(keys.gear);
  }

  /** The batches this data completes (push copies what it keeps: `data` is free afterwards). */
  async *push(data: Uint8Array): AsyncGenerator<SealedBatch> {
    yield* this.seal(this.chunker.push(data));
  }

  async *finish(): AsyncGenerator<SealedBatch> {
    yield* this.seal(this.chunker.finish());
    if (!this.batch.empty) yield this.batch.take();
  }

  /** The chunks of one read, sealed in order into the batch. */
  private *seal(chunks: Buffer[]): Generator<SealedBatch> {
    for (const chunk of chunks) {
      const id = blobIdOf(this.keys.blobId, chunk);
      this.batch.add(id, chunk.length, this.stored.has(toHex(id)) ? NOT_SEALED : encodeBlob(this.keys.encryption, 'data', id, chunk));
      if (this.batch.full) yield this.batch.take();
    }
  }
}

/**
 * Seals the file at `path`, yielding each batch as it fills and the last at the end of the
 * file; returns the bytes read. Chunks whose id is in `stored` (hex) come with an empty box.
 * Throws the file system's error (ENOENT, EACCES, EISDIR, EIO) as it comes. Memory: one
 * batch and one chunk, whatever the file's size.
 */
export async function* sealFile(path: string, keys: SealingKeys, stored: ReadonlySet<string> = new Set()): AsyncGenerator<SealedBatch, number> {
  const sealer = new StreamSealer(keys, stored);
  // Each file in progress has its own read buffer (without a worker, the archiver seals
  // several files at once on its thread); finished files' buffers are reused.
  const readBuffer = freeReadBuffers.pop() ?? Buffer.allocUnsafe(READ_PIECE);
  let size = 0;
  try {
    const fd = openSync(path, 'r');
    try {
      for (;;) {
        const got = readSync(fd, readBuffer, 0, READ_PIECE, null);
        if (got === 0) break;
        size += got;
        yield* sealer.push(readBuffer.subarray(0, got));
      }
    } finally {
      closeSync(fd);
    }
  } finally {
    freeReadBuffers.push(readBuffer);
  }
  yield* sealer.finish();
  return size;
}

/** Read buffers of finished files, for the next ones (a thread seals a few files at a time). */
const freeReadBuffers: Buffer[] = [];

/** One chunk, sealed (its box empty for a chunk whose id the caller named as stored). */
export interface SealedChunk extends EncodedBlob {
  readonly id: string;
}

/** A batch's chunks as objects, their bytes still views of the batch's two buffers. */
export function chunksOf(batch: SealedBatch): SealedChunk[] {
  const sealed = Buffer.from(batch.sealed.buffer, batch.sealed.byteOffset, batch.sealed.byteLength);
  let at = 0;
  return sealedChunks(batch, batch.sealedLengths.map((length) => sealed.subarray(at, (at += length))));
}

/** The chunks of a batch or a step, given their boxes. */
function sealedChunks(form: Pick<SealedBatch, 'ids' | 'plainLengths' | 'encodings'>, boxes: readonly Uint8Array[]): SealedChunk[] {
  const ids = Buffer.from(form.ids.buffer, form.ids.byteOffset, form.ids.byteLength);
  return boxes.map((box, i) => ({
    id: toHex(ids.subarray(i * BLOB_ID_SIZE, (i + 1) * BLOB_ID_SIZE)),
    plainLength: form.plainLengths[i]!,
    encoding: blobEncodingFromCode(form.encodings[i]!)!,
    sealed: Buffer.from(box.buffer, box.byteOffset, box.byteLength),
  }));
}

/** What one step of a stream gives: its complete chunks sealed, and the bytes after the last cut. */
export interface SealedStep {
  /** n × 32 bytes: the chunks' blob ids, in order. */
  readonly ids: Uint8Array;
  readonly plainLengths: readonly number[];
  readonly encodings: readonly number[];
  /** The boxes, each in a buffer of its own where it is big enough (they move between threads without a copy). */
  readonly boxes: Uint8Array[];
  /** A buffer of its own (it may move between threads): the next step starts with it. */
  readonly rest: Uint8Array;
}

/** A step chunked and id'd, not sealed yet: the caller decides which chunks it needs sealed. */
export interface CutStep {
  readonly chunks: Buffer[];
  /** n × 32 bytes: the chunks' blob ids, in order. */
  readonly ids: Uint8Array;
  readonly plainLengths: readonly number[];
  /** A buffer of its own (it may move between threads): the next step starts with it. */
  readonly rest: Uint8Array;
}

/**
 * One step of a stream chunked in steps (the mount's streaming commit): chunks `parts`,
 * which must start at a chunk boundary, and ids every complete chunk. Unless `final`, the
 * bytes after the last cut are not a chunk yet and come back as `rest`, for the next step
 * to start with. Because the chunker depends only on the bytes since the chunk's start,
 * steps give exactly the chunks of chunking the whole stream at once; keeping no state
 * between steps, they can run on any thread.
 */
export function cutStep(parts: readonly Uint8Array[], keys: SealingKeys, final: boolean): CutStep {
  // One part (the mount reads a step's rest and piece into one buffer) is cut where it lies.
  const whole = parts.length === 1 ? Buffer.from(parts[0]!.buffer, parts[0]!.byteOffset, parts[0]!.byteLength) : Buffer.concat(parts);
  const { chunks, tail } = cutInPlace(whole, keys.gear, final);
  const rest = new Uint8Array(tail); // a copy: it owns its buffer
  const ids = new Uint8Array(chunks.length * BLOB_ID_SIZE);
  chunks.forEach((chunk, i) => ids.set(blobIdOf(keys.blobId, chunk), i * BLOB_ID_SIZE));
  return { chunks, ids, plainLengths: chunks.map((c) => c.length), rest };
}

/** A cut step's chunk ids as hex. */
export function idsOf(step: Pick<CutStep, 'ids'>): string[] {
  const ids = Buffer.from(step.ids.buffer, step.ids.byteOffset, step.ids.byteLength);
  return Array.from({ length: ids.length / BLOB_ID_SIZE }, (_, i) => toHex(ids.subarray(i * BLOB_ID_SIZE, (i + 1) * BLOB_ID_SIZE)));
}

/**
 * Seals the chunks of a cut step that `needed` marks (1); the others (the store holds them)
 * get an empty box, as in a backup's batches.
 */
export function sealCut(step: CutStep, keys: SealingKeys, needed: Uint8Array): SealedStep {
  const blobs = step.chunks.map((chunk, i) => (needed[i] ? encodeBlob(keys.encryption, 'data', step.ids.subarray(i * BLOB_ID_SIZE, (i + 1) * BLOB_ID_SIZE), chunk) : NOT_SEALED));
  return {
    ids: step.ids,
    plainLengths: step.plainLengths,
    encodings: blobs.map((b) => BLOB_ENCODING_CODE[b.encoding]),
    boxes: blobs.map((b) => b.sealed),
    rest: step.rest,
  };
}

/** Cuts and seals one step in place: every chunk but those `stored` says the store holds. */
export async function sealStep(parts: readonly Uint8Array[], keys: SealingKeys, final: boolean, stored: (id: string) => boolean = () => false): Promise<SealedStep> {
  const step = cutStep(parts, keys, final);
  return sealCut(step, keys, neededOf(step, stored));
}

/** 1 for each chunk of `step` the store does not hold. */
export function neededOf(step: Pick<CutStep, 'ids'>, stored: (id: string) => boolean): Uint8Array {
  return Uint8Array.from(idsOf(step), (id) => (stored(id) ? 0 : 1));
}

/** A step's chunks as objects (their boxes as they came). */
export function chunksOfStep(step: SealedStep): SealedChunk[] {
  return sealedChunks(step, step.boxes);
}
