/**
 * The mount's worker thread for the CPU work on big blobs: opening (authenticate, decrypt,
 * decompress) what it reads, and sealing (blob id, compress, encrypt) what it writes. The
 * mount's one JS thread also answers every FUSE request; on a cold sequential read,
 * decryption was a third of its time, and on a sequential write the HMAC and sealing of
 * the streamed chunks were as much (docs/BENCHMARKS.md). Here bytes move to the worker and
 * back (transferred, not copied, where the buffer is the caller's whole), while the main
 * thread answers the kernel. Small blobs stay on the calling thread: two messages cost
 * more than the work.
 *
 * Without the compiled worker (running from the TypeScript sources, as unit tests do), or
 * after the worker died, the same work runs on the calling thread: the same bytes, slower.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { blobIdOf } from '../crypto/keys.js';
import { CairnError, type ErrorCode } from '../errors/errors.js';
import { type BlobForm, decodeBlob, type EncodedBlob, encodeBlob } from '../format/blob-codec.js';
import { blobEncodingFromCode, type BlobType } from '../format/sealed.js';
import { digestHere } from './packer.js';
import { chunksOfStep, type CutStep, neededOf, type SealedChunk, type SealedStep, type SealingKeys, sealStep } from './seal-file.js';

/** Blobs (boxes to open, plaintext to seal) at least this big go to the worker. */
export const ON_THREAD_BYTES = 64 * 1024;
/** Shared buffers kept for boxes the worker opens (see openRead), at most this many bytes of them. */
const BOX_BUFFER_BYTES = 16 * 1024 * 1024;
/** A box buffer's size is its first box's rounded up to this. */
const BOX_BUFFER_STEP = 1024 * 1024;
/** Packs from this size start the worker to be hashed there; smaller ones go to it only once it runs. */
const START_FOR_DIGEST_BYTES = 4 * 1024 * 1024;
const WORKER_SCRIPT = new URL('./blob-thread-worker.js', import.meta.url);

export interface BlobThreadData {
  readonly keys: SealingKeys;
}
export type BlobThreadRequest =
  | { readonly job: number; readonly open: { readonly form: BlobForm; readonly id: Uint8Array; readonly box: Uint8Array; readonly what: string } }
  | { readonly job: number; readonly seal: { readonly type: BlobType; readonly plaintext: Uint8Array } }
  | { readonly job: number; readonly cut: { readonly parts: Uint8Array[]; readonly final: boolean } }
  | { readonly job: number; readonly sealCut: { readonly of: number; readonly needed: Uint8Array } }
  | { readonly job: number; readonly digest: { readonly buffer: Uint8Array; readonly length: number } };
export type BlobThreadReply =
  | { readonly job: number; readonly plaintext: Uint8Array }
  | { readonly job: number; readonly id: Uint8Array; readonly sealed: Uint8Array; readonly encoding: number; readonly plainLength: number }
  | { readonly job: number; readonly cut: Omit<CutStep, 'chunks'> }
  | { readonly job: number; readonly step: SealedStep }
  | { readonly job: number; readonly digest: Uint8Array }
  | { readonly job: number; readonly error: { readonly code?: ErrorCode; readonly message: string; readonly hint?: string } };

/** A blob sealed with its id. */
export interface SealedBlob extends EncodedBlob {
  readonly id: Uint8Array;
}

interface Waiting {
  readonly resolve: (reply: BlobThreadReply) => void;
  readonly reject: (e: Error) => void;
}

/** The bytes of `data` in a buffer that can move to another thread: itself when it owns its whole buffer, else a copy. */
export function movable(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
}

/** Bytes in shared memory: the worker reads them where they are; nothing moves. */
function isShared(data: Uint8Array): boolean {
  return data.buffer instanceof SharedArrayBuffer;
}

export class BlobThread {
  private worker: Worker | null = null;
  /**
   * The worker's script until the worker starts: at the first big blob, so a mount that only
   * lists and reads small files never pays for the worker's isolate (about 30 MB). Null
   * once started, without a worker, or after it died.
   */
  private script: string | null;
  private readonly waiting = new Map<number, Waiting>();
  private nextJob = 1;
  /** Bytes of streamed chunks sealed (those the store held are not), for tests and profiles. */
  streamedBytesSealed = 0;
  /** Shared buffers boxes are read into and not in use (see openRead), and the bytes of all there are. */
  private readonly freeBoxBuffers: Uint8Array[] = [];
  private boxBufferBytes = 0;

  /** `workerScript` null: no worker, everything in place (a repository outside the mount). */
  constructor(
    private readonly keys: SealingKeys,
    workerScript: string | null = fileURLToPath(WORKER_SCRIPT),
  ) {
    this.script = workerScript !== null && existsSync(workerScript) ? workerScript : null;
  }

  /** Whether big blobs go to a worker (false: all work runs on the calling thread). */
  get threaded(): boolean {
    return this.worker !== null || this.script !== null;
  }

  /** Whether the worker thread runs now (for tests). */
  get workerRunning(): boolean {
    return this.worker !== null;
  }

  /** The worker, started now if it has not been; null when the work runs here. */
  private started(): Worker | null {
    if (!this.worker && this.script) {
      const data: BlobThreadData = { keys: this.keys };
      this.worker = new Worker(this.script, { workerData: data });
      this.script = null;
      this.worker.unref(); // a mount ends when it unmounts, whatever is in flight here
      this.worker.on('message', (reply: BlobThreadReply) => this.receive(reply));
      this.worker.on('error', (e) => this.died(e));
    }
    return this.worker;
  }

  /**
   * The worker for a blob of `bytes` of this type, or null to do the work here: small blobs
   * stay here, and a folder's tree starts no worker (a snapshot after one change encodes a
   * few; starting the worker for one of a big folder took that snapshot past 0.2 s). File
   * data does: reads and writes of big files are what the worker is for.
   */
  private threadFor(type: BlobType, bytes: number): Worker | null {
    if (bytes < ON_THREAD_BYTES) return null;
    return type === 'tree' ? this.worker : this.started();
  }

  /**
   * The blob in `box` (see decodeBlob). `box` must be the caller's own: when it spans its
   * whole buffer, that buffer moves to the worker and is unusable here afterwards; a box in
   * shared memory is opened where it is.
   */
  async open(form: BlobForm, id: Uint8Array, box: Uint8Array, what: string): Promise<Buffer> {
    if (!this.threadFor(form.type, box.length)) return decodeBlob(this.keys.encryption, form, id, box, what);
    const owned = isShared(box) ? box : movable(box);
    const reply = await this.ask({ job: this.nextJob++, open: { form, id, box: owned, what } }, isShared(owned) ? [] : [owned.buffer as ArrayBuffer]);
    const { plaintext } = reply as { plaintext: Uint8Array };
    return Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  }

  /**
   * The blob of a box of `length` bytes that `read` fetches, opened as `open` does. A box
   * the worker will open is read into one of a few shared buffers, kept for the next: a box
   * read into a new buffer and moved to the worker brought the mount's isolate an ArrayBuffer
   * per chunk, and their external memory asked for a mark-compact every ~17 MiB of a cold
   * read (docs/BENCHMARKS.md, session 18). The plaintext is always a buffer of its own
   * (decryption writes it elsewhere), so a shared buffer is free again once the box is opened.
   */
  async openRead(form: BlobForm, id: Uint8Array, length: number, read: (into?: Uint8Array) => Promise<Uint8Array>, what: string): Promise<Buffer> {
    const into = this.threadFor(form.type, length) ? this.takeBoxBuffer(length) : undefined;
    try {
      return await this.open(form, id, await read(into), what);
    } finally {
      if (into) this.freeBoxBuffers.push(new Uint8Array(into.buffer));
    }
  }

  /** A shared buffer of `length` bytes not in use, or undefined when there are too many. */
  private takeBoxBuffer(length: number): Uint8Array | undefined {
    const free = this.freeBoxBuffers.findIndex((b) => b.byteLength >= length);
    if (free >= 0) return this.freeBoxBuffers.splice(free, 1)[0]!.subarray(0, length);
    const size = Math.ceil(length / BOX_BUFFER_STEP) * BOX_BUFFER_STEP;
    if (this.boxBufferBytes + size > BOX_BUFFER_BYTES) return undefined;
    this.boxBufferBytes += size;
    return new Uint8Array(new SharedArrayBuffer(size), 0, length);
  }

  /**
   * `plaintext`'s blob id and its sealed box (see encodeBlob). The caller keeps `plaintext`:
   * a big one is copied to the worker (chunks are views into the chunker's buffer).
   */
  async seal(type: BlobType, plaintext: Uint8Array): Promise<SealedBlob> {
    if (!this.threadFor(type, plaintext.length)) {
      const id = blobIdOf(this.keys.blobId, plaintext);
      return { id, ...encodeBlob(this.keys.encryption, type, id, plaintext) };
    }
    const copy = new Uint8Array(plaintext);
    const reply = await this.ask({ job: this.nextJob++, seal: { type, plaintext: copy } }, [copy.buffer as ArrayBuffer]);
    const { id, sealed, encoding, plainLength } = reply as Extract<BlobThreadReply, { sealed: Uint8Array }>;
    return { id, sealed: Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength), encoding: blobEncodingFromCode(encoding)!, plainLength };
  }

  /**
   * One step of a streamed file (seal-file.ts cutStep): its complete chunks, in order, and
   * the bytes after the last cut. Chunks `stored` says the store holds come with an empty
   * box: the worker cuts and ids the step, this thread asks the index, and only the missing
   * chunks are compressed and encrypted (a file written again with the same bytes costs the
   * chunking and the ids, not the sealing). `parts` are the caller's own: those in shared
   * memory are read there until this settles, others that span their whole buffer move to the worker.
   */
  async sealStep(parts: readonly Uint8Array[], final: boolean, stored: (id: string) => boolean): Promise<{ chunks: SealedChunk[]; rest: Uint8Array }> {
    let step: SealedStep;
    if (!this.started()) {
      step = await sealStep(parts, this.keys, final, stored);
    } else {
      // Shared memory is read in place (the caller leaves it alone until this settles); other parts move.
      const owned = parts.map((p) => (isShared(p) ? p : movable(p)));
      const job = this.nextJob++;
      const moved = owned.filter((p) => !isShared(p)).map((p) => p.buffer as ArrayBuffer);
      const reply = await this.ask({ job, cut: { parts: owned, final } }, moved);
      const { cut } = reply as { cut: Omit<CutStep, 'chunks'> };
      const needed = neededOf(cut, stored);
      // The worker keeps the step's chunks until told which to seal (none, too).
      const sealed = await this.ask({ job: this.nextJob++, sealCut: { of: job, needed } }, [needed.buffer as ArrayBuffer]);
      step = { ...(sealed as { step: SealedStep }).step, ids: cut.ids, plainLengths: cut.plainLengths, rest: cut.rest };
    }
    step.boxes.forEach((box, i) => (this.streamedBytesSealed += box.byteLength > 0 ? step.plainLengths[i]! : 0));
    return { chunks: chunksOfStep(step), rest: step.rest };
  }

  /**
   * The SHA-256 of buffer[0, length) (a pack file: its name), on the worker when the buffer
   * is shared memory (the packer's are): the caller leaves it alone until this settles.
   */
  async digestPack(buffer: Buffer, length: number): Promise<Buffer> {
    // A pack of a few trees (a snapshot's) is hashed here rather than start the worker for
    // it: starting it (about 0.1 s) took a first snapshot after the mount past 0.2 s.
    const here = length < ON_THREAD_BYTES || !isShared(buffer) || (!this.worker && length < START_FOR_DIGEST_BYTES);
    if (here || !this.started()) return digestHere(buffer, length);
    const reply = await this.ask({ job: this.nextJob++, digest: { buffer, length } }, []);
    const { digest } = reply as Extract<BlobThreadReply, { digest: Uint8Array }>;
    return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.script = null;
    await worker?.terminate();
  }

  private ask(request: BlobThreadRequest, transfer: ArrayBuffer[]): Promise<BlobThreadReply> {
    return new Promise((resolve, reject) => {
      this.waiting.set(request.job, { resolve, reject });
      this.worker!.postMessage(request, transfer);
    });
  }

  private receive(reply: BlobThreadReply): void {
    const waiting = this.waiting.get(reply.job);
    if (!waiting) return;
    this.waiting.delete(reply.job);
    if (!('error' in reply)) return waiting.resolve(reply);
    const { code, message, hint } = reply.error;
    waiting.reject(code ? new CairnError(code, message, { hint }) : new Error(message));
  }

  /** A worker that died fails what it held (reads answer EIO, saves fail like a full disk would); later blobs are done here. */
  private died(error: Error): void {
    this.worker = null;
    this.script = null;
    for (const { reject } of this.waiting.values()) reject(new Error(`the thread opening and sealing blobs failed: ${error.message}`));
    this.waiting.clear();
  }
}
