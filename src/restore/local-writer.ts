/**
 * Restore's local file operations, carried out on a worker thread in the order they are
 * asked for: folders, files (open, chunks at offsets, close with size and metadata), links,
 * symlinks, special files, metadata. Each is a short synchronous syscall there, as it was
 * on the main thread; chunks arrive as opened boxes and are decompressed there too. The
 * main thread keeps walking, reading and decrypting (a restore of 25,000 files spent about
 * 4 s of the main thread's 9 in these calls, and 1.6 s in decompression calls).
 *
 * One thread, one queue: an operation sees the effects of every one asked for before it
 * (a link after its file's open, a folder's metadata after its entries). The first failure
 * stops the queue, and the restore fails with it at its next call, as the calls themselves
 * failed before. Problems that do not stop a restore (metadata that could not be set) come
 * back as they happen.
 */
import { Worker } from 'node:worker_threads';
import { CairnError } from '../errors/errors.js';
import type { BlobEncoding } from '../format/sealed.js';
import type { NodeMetadata, Problem } from '../localfs/metadata.js';

export type WriterOp =
  | { readonly op: 'mkdir'; readonly full: string }
  /** With --overwrite: remove what stands at `full`, except a folder where a folder goes. */
  | { readonly op: 'clear'; readonly full: string; readonly keepFolder: boolean }
  | { readonly op: 'open'; readonly file: number; readonly full: string }
  /**
   * A chunk of an open file as its opened box holds it (decoded there; all-zero chunks are
   * skipped, leaving holes). `where` names its bytes if it does not decode.
   */
  | { readonly op: 'write'; readonly file: number; readonly offset: number; readonly data: Uint8Array } & ChunkForm
  /**
   * Sizes the file (holes up to `size`), closes it, sets its metadata, and reports it if
   * any of its bytes could not be restored (`damaged` here, or chunks that did not decode).
   */
  | { readonly op: 'close'; readonly file: number; readonly full: string; readonly size: number; readonly shown: string; readonly meta: NodeMetadata; readonly damaged: readonly string[] }
  | { readonly op: 'link'; readonly existing: string; readonly full: string }
  | { readonly op: 'symlink'; readonly target: string; readonly full: string; readonly shown: string; readonly meta: NodeMetadata }
  | { readonly op: 'special'; readonly full: string; readonly shown: string; readonly meta: NodeMetadata }
  | { readonly op: 'metadata'; readonly full: string; readonly shown: string; readonly meta: NodeMetadata }
  | { readonly op: 'end' };

export interface ChunkForm {
  readonly encoding: BlobEncoding;
  readonly plainLength: number;
  readonly where: string;
}

export interface WriterEvents {
  /** Metadata that could not be set (the restore goes on). */
  readonly problem: (problem: Problem) => void;
  /** A file restored with zeros where these byte ranges could not be read. */
  readonly damaged: (shown: string, ranges: readonly string[]) => void;
}

export type WriterReply =
  | { readonly problem: Problem }
  | { readonly damaged: { readonly shown: string; readonly ranges: readonly string[] } }
  | { readonly failed: { readonly message: string; readonly code?: string } }
  | { readonly ended: true };

export interface WriterWorkerData {
  /** Int32 [operations done, KiB of data written]: the worker counts, the main thread waits on them. */
  readonly done: SharedArrayBuffer;
  readonly owner: boolean;
}

/** Operations and bytes the main thread may have queued ahead of the worker. */
const MAX_QUEUED_OPS = 4096;
const MAX_QUEUED_KIB = 64 * 1024;
/** Operations and KiB sent in one message at most; a batch also goes once the event loop turns. */
const BATCH_OPS = 256;
const BATCH_KIB = 4 * 1024;
const WORKER_SCRIPT = new URL('./local-writer-worker.js', import.meta.url);

/** Atomics.waitAsync (Node 16 and later; not yet in TypeScript's ES2022 library). */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { value: Promise<string> | string };
}).waitAsync;

export class LocalWriter {
  private readonly worker: Worker;
  private readonly done: Int32Array;
  private postedOps = 0;
  private postedKib = 0;
  private nextFile = 1;
  private failure: Error | undefined;
  private batch: WriterOp[] = [];
  private transfer: ArrayBuffer[] = [];
  private batchKib = 0;
  private flushScheduled = false;
  private ended!: () => void;
  private readonly whenEnded = new Promise<void>((resolve) => (this.ended = resolve));

  constructor(owner: boolean, events: WriterEvents) {
    const done = new SharedArrayBuffer(8);
    this.done = new Int32Array(done);
    const data: WriterWorkerData = { done, owner };
    this.worker = new Worker(WORKER_SCRIPT, { workerData: data });
    this.worker.on('message', (reply: WriterReply) => {
      if ('problem' in reply) events.problem(reply.problem);
      else if ('damaged' in reply) events.damaged(reply.damaged.shown, reply.damaged.ranges);
      else {
        if ('failed' in reply) this.failure ??= localWriteError(reply.failed);
        this.ended(); // a failed queue ends there too
      }
    });
    this.worker.on('error', (e) => {
      this.failure ??= e;
      this.ended();
    });
  }

  mkdir(full: string): Promise<void> {
    return this.post({ op: 'mkdir', full });
  }

  clear(full: string, keepFolder: boolean): Promise<void> {
    return this.post({ op: 'clear', full, keepFolder });
  }

  /** Creates the file (it must not exist); returns its number for write and close. */
  async open(full: string): Promise<number> {
    const file = this.nextFile++;
    await this.post({ op: 'open', file, full });
    return file;
  }

  /**
   * Queues a chunk's opened payload for the file. It moves to the worker without a copy
   * when `data` spans its whole ArrayBuffer, which the caller must then not use again
   * (Repository.loadBlobPayload gives such buffers); a view into a larger buffer (Node's
   * pool) is copied.
   */
  write(file: number, offset: number, data: Uint8Array, form: ChunkForm): Promise<void> {
    const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    const owned = whole ? data : new Uint8Array(data);
    return this.post({ op: 'write', file, offset, data: owned, ...form }, [owned.buffer as ArrayBuffer]);
  }

  close(file: number, full: string, size: number, shown: string, meta: NodeMetadata, damaged: readonly string[]): Promise<void> {
    return this.post({ op: 'close', file, full, size, shown, meta, damaged });
  }

  link(existing: string, full: string): Promise<void> {
    return this.post({ op: 'link', existing, full });
  }

  symlink(target: string, full: string, shown: string, meta: NodeMetadata): Promise<void> {
    return this.post({ op: 'symlink', target, full, shown, meta });
  }

  special(full: string, shown: string, meta: NodeMetadata): Promise<void> {
    return this.post({ op: 'special', full, shown, meta });
  }

  metadata(full: string, shown: string, meta: NodeMetadata): Promise<void> {
    return this.post({ op: 'metadata', full, shown, meta });
  }

  /** Waits until every operation is done; throws the first failure. Stops the thread. */
  async finish(): Promise<void> {
    this.throwIfFailed();
    this.batch.push({ op: 'end' });
    this.flush();
    await this.whenEnded;
    await this.worker.terminate();
    this.throwIfFailed();
  }

  /** Stops the thread without waiting for its queue (the restore failed elsewhere). */
  async abandon(): Promise<void> {
    await this.worker.terminate();
  }

  private async post(op: WriterOp, transfer: ArrayBuffer[] = []): Promise<void> {
    this.throwIfFailed();
    const kib = op.op === 'write' ? Math.ceil(op.data.length / 1024) : 0;
    // Room first: the worker counts what it has done; differences are taken modulo 2^32.
    for (;;) {
      const opsDone = Atomics.load(this.done, 0);
      const behindOps = (this.postedOps - opsDone) | 0;
      const behindKib = (this.postedKib - Atomics.load(this.done, 1)) | 0;
      if (behindOps < MAX_QUEUED_OPS && behindKib < MAX_QUEUED_KIB) break;
      this.flush();
      // Woken by the worker's progress; the timeout re-checks for a thread that died.
      await waitAsync(this.done, 0, opsDone, 1000).value;
      this.throwIfFailed();
    }
    this.postedOps = (this.postedOps + 1) | 0;
    this.postedKib = (this.postedKib + kib) | 0;
    this.batch.push(op);
    this.transfer.push(...transfer);
    this.batchKib += kib;
    if (this.batch.length >= BATCH_OPS || this.batchKib >= BATCH_KIB) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends the operations queued so far as one message (a message each cost more than most operations). */
  private flush(): void {
    this.flushScheduled = false;
    if (this.batch.length === 0) return;
    this.worker.postMessage(this.batch, this.transfer);
    this.batch = [];
    this.transfer = [];
    this.batchKib = 0;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

/** A local call that failed, said as what the user can do about it (the message names the path). */
function localWriteError(failed: { readonly message: string; readonly code?: string }): CairnError {
  if (failed.code === 'ENOSPC' || failed.code === 'EDQUOT') {
    return new CairnError('NO_SPACE', `the target disk is full: ${failed.message}`, { hint: 'free space, or restore into a folder on another disk' });
  }
  return new CairnError('USAGE', `cannot write the restored files: ${failed.message}`, { hint: 'restore into a folder you may write to' });
}
