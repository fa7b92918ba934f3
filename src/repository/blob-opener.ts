/**
 * Opens (authenticates and decrypts) and decodes big blobs on a worker thread, for the
 * mount. A cold sequential read through the mount kept its one JS thread busy with
 * answering FUSE, reading packs, decrypting and collecting the buffers; decryption alone
 * was a third of it (docs/BENCHMARKS.md). Here a box read from the store moves to the
 * worker (transferred, not copied), and its plaintext comes back the same way, while the
 * main thread answers the kernel. Small blobs stay on the calling thread: two messages
 * cost more than opening them.
 *
 * Without the compiled worker (running from the TypeScript sources, as unit tests do), or
 * after the worker died, blobs are opened on the calling thread: the same bytes, slower.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CairnError, type ErrorCode } from '../errors/errors.js';
import { type BlobForm, decodeBlob } from '../format/blob-codec.js';

/** Boxes at least this big are opened on the worker. */
export const OPEN_ON_THREAD_BYTES = 64 * 1024;
const WORKER_SCRIPT = new URL('./blob-opener-worker.js', import.meta.url);

export interface OpenerWorkerData {
  readonly key: Uint8Array;
}
export interface OpenRequest {
  readonly job: number;
  readonly form: BlobForm;
  readonly id: Uint8Array;
  readonly box: Uint8Array;
  readonly what: string;
}
export type OpenReply =
  | { readonly job: number; readonly plaintext: Uint8Array }
  | { readonly job: number; readonly error: { readonly code?: ErrorCode; readonly message: string; readonly hint?: string } };

interface Waiting {
  readonly resolve: (plaintext: Buffer) => void;
  readonly reject: (e: Error) => void;
}

export class BlobOpener {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, Waiting>();
  private nextJob = 1;

  constructor(
    private readonly key: Uint8Array,
    workerScript = fileURLToPath(WORKER_SCRIPT),
  ) {
    if (!existsSync(workerScript)) return;
    const data: OpenerWorkerData = { key };
    this.worker = new Worker(workerScript, { workerData: data });
    this.worker.unref(); // a mount ends when it unmounts, whatever is in flight here
    this.worker.on('message', (reply: OpenReply) => this.receive(reply));
    this.worker.on('error', (e) => this.died(e));
  }

  /** Whether blobs go to a worker (false: every blob is opened on the calling thread). */
  get threaded(): boolean {
    return this.worker !== null;
  }

  /**
   * The blob in `box` (see decodeBlob). `box` must be the caller's own: when it spans its
   * whole buffer, that buffer moves to the worker and is unusable here afterwards.
   */
  decode(form: BlobForm, id: Uint8Array, box: Uint8Array, what: string): Promise<Buffer> {
    if (!this.worker || box.length < OPEN_ON_THREAD_BYTES) return decodeBlob(this.key, form, id, box, what);
    const whole = box.byteOffset === 0 && box.byteLength === box.buffer.byteLength;
    const owned = whole ? box : new Uint8Array(box);
    const job = this.nextJob++;
    const request: OpenRequest = { job, form, id, box: owned, what };
    return new Promise((resolve, reject) => {
      this.waiting.set(job, { resolve, reject });
      this.worker!.postMessage(request, [owned.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private receive(reply: OpenReply): void {
    const waiting = this.waiting.get(reply.job);
    if (!waiting) return;
    this.waiting.delete(reply.job);
    if ('plaintext' in reply) {
      waiting.resolve(Buffer.from(reply.plaintext.buffer, reply.plaintext.byteOffset, reply.plaintext.byteLength));
    } else {
      const { code, message, hint } = reply.error;
      waiting.reject(code ? new CairnError(code, message, { hint }) : new Error(message));
    }
  }

  /** A worker that died fails what it held (the reads answer EIO); later blobs open here. */
  private died(error: Error): void {
    this.worker = null;
    for (const { reject } of this.waiting.values()) reject(new Error(`the thread opening blobs failed: ${error.message}`));
    this.waiting.clear();
  }
}
