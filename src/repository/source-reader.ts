/**
 * Reads and seals the files a backup stores, on worker threads, while the calling thread
 * walks the folders, decides what changed and packs. A backup's time goes to the kernel
 * (readdir, lstat, xattrs, reading files) and to chunking, hashing, compressing and sealing;
 * on one thread all of that queues behind the tree walk and the pack writes. Here each worker
 * reads and seals whole files (seal-file.ts), handing back sealed batches in file order; the
 * caller decides what is new and packs it. Measured in docs/BENCHMARKS.md ("Without a mount").
 *
 * The folders are listed on the calling thread (scan-folder.ts, by the archiver): on two
 * cores the worker is the busier thread, and the walk then stays ahead of it by itself
 * (session 14: 5-8 % faster first backups, the same for a backup of few changes).
 *
 * Scheduling is ours, not the workers' message queues: a worker gets at most 32 tasks at a
 * time, so the files in flight stay bounded.
 *
 * With no workers (threads 0, or when the worker script is not there: running from the
 * TypeScript sources, as the unit tests do) the same code runs on the calling thread.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { adviseWillNeed } from '../localfs/read-ahead.js';
import { chunksOf, type SealedBatch, type SealedChunk, type SealingKeys, sealFile } from './seal-file.js';

export type { SealedChunk } from './seal-file.js';

/** Called with each batch of a file's chunks in order; the next waits for it to finish. */
export type BatchHandler = (chunks: SealedChunk[]) => Promise<void>;

export interface ReaderWorkerData {
  /** One Int32: messages posted and not yet handled by the main thread. */
  readonly credit: SharedArrayBuffer;
  readonly maxOutstanding: number;
  /** A folder whose metadata the worker reads ahead at start (warm-metadata.ts), until `walking` is set. */
  readonly warm?: string;
  /** One Int32, set when the main thread's walk begins. */
  readonly walking: SharedArrayBuffer;
}
export type ReaderRequest =
  /** Always the first message: a worker starts before the repository is open (see warmUp). */
  | { readonly keys: SealingKeys }
  /** `stored`: ids (hex) of the file's previous chunks that the store holds: not sealed again. */
  | { readonly job: number; readonly seal: string; readonly stored: readonly string[] };
export interface ReaderFailure {
  readonly message: string;
  readonly code?: string;
}
export type ReaderReply =
  /** A file's next batch; the last one (or a reply without a batch) carries the size read. */
  | { readonly job: number; readonly batch: SealedBatch; readonly size?: number }
  | { readonly job: number; readonly size: number }
  | { readonly job: number; readonly error: ReaderFailure };

/** Messages (of up to about 4 MiB of sealed batches each) a worker may have waiting for the main thread. */
export const MAX_OUTSTANDING = 4;
/** Tasks handed to one worker at once: enough queued that it never waits for the main thread between small files. */
const TASKS_PER_WORKER = 32;
const WORKER_SCRIPT = new URL('./source-reader-worker.js', import.meta.url);

type TaskRequest = Exclude<ReaderRequest, { keys: SealingKeys }>;

interface Task {
  readonly request: TaskRequest;
  readonly onBatch: BatchHandler;
  readonly resolve: (size: number) => void;
  readonly reject: (error: Error) => void;
  /** Batches are handled one after another, in order. */
  chain: Promise<void>;
  failure?: Error;
}

class ReaderThread {
  readonly worker: Worker;
  private readonly outstanding: Int32Array;
  readonly tasks = new Map<number, Task>();
  /** Tasks started since the last send(): they go to the worker in one message. */
  private unsent: TaskRequest[] = [];

  constructor(script: string, onCrash: (error: Error) => void, private readonly onTaskDone: () => void, walking: SharedArrayBuffer, warm?: string) {
    const credit = new SharedArrayBuffer(4);
    this.outstanding = new Int32Array(credit);
    const data: ReaderWorkerData = { credit, maxOutstanding: MAX_OUTSTANDING, walking, ...(warm !== undefined ? { warm } : {}) };
    this.worker = new Worker(script, { workerData: data });
    this.worker.unref();
    this.worker.on('message', (replies: ReaderReply[]) => this.receive(replies));
    this.worker.on('error', onCrash);
  }

  get messagesWaiting(): number {
    return Atomics.load(this.outstanding, 0);
  }

  unlock(keys: SealingKeys): void {
    this.worker.postMessage({ keys } satisfies ReaderRequest);
  }

  start(task: Task): void {
    this.tasks.set(task.request.job, task);
    this.unsent.push(task.request);
  }

  send(): void {
    if (this.unsent.length === 0) return;
    this.worker.postMessage(this.unsent);
    this.unsent = [];
  }

  /** A handled message gives its credit back and wakes the worker if it waits for one. */
  private release(): void {
    Atomics.sub(this.outstanding, 0, 1);
    Atomics.notify(this.outstanding, 0);
  }

  private receive(replies: ReaderReply[]): void {
    const handled: Promise<void>[] = [];
    for (const reply of replies) {
      const task = this.tasks.get(reply.job);
      if (!task) continue;
      if ('batch' in reply) {
        task.chain = task.chain
          .then(() => (task.failure ? undefined : task.onBatch(chunksOf(reply.batch))))
          .catch((e: unknown) => void (task.failure ??= e as Error));
        handled.push(task.chain);
        if (reply.size === undefined) continue;
      }
      this.tasks.delete(reply.job);
      void task.chain.then(() => {
        if (task.failure) task.reject(task.failure);
        else if ('error' in reply) task.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
        else task.resolve(reply.size!);
      });
    }
    // The message's batches are handled (packed): its credit goes back.
    void Promise.all(handled).finally(() => this.release());
    this.onTaskDone();
  }
}

export class SourceReader {
  private readonly threads: ReaderThread[] = [];
  /** Set when the walk begins: the first worker stops reading metadata ahead (warmUp). */
  private readonly walking = new Int32Array(new SharedArrayBuffer(4));
  private readonly seals: Task[] = [];
  private nextJob = 1;
  private crash: Error | undefined;

  private readonly threadCount: number;
  private readonly workerScript: string;

  /**
   * `threads` workers; 0 does all on the calling thread. The default leaves one core to the
   * calling thread (walk, dedup, packing): on 2 cores one worker was as fast as two, with
   * 50 MB less memory and a faster start on small trees (docs/BENCHMARKS.md).
   * `workerScript` is for tests that run from the sources: the compiled worker to start.
   */
  constructor(
    private keys: SealingKeys | null,
    threads = Math.max(1, Math.min(4, availableParallelism() - 1)),
    workerScript = fileURLToPath(WORKER_SCRIPT),
  ) {
    this.workerScript = workerScript;
    this.threadCount = existsSync(workerScript) ? threads : 0;
  }

  /**
   * Starts every worker now. A backup calls this before it opens the repository, so the
   * workers load their code (0.1-0.2 s) while the key slot's KDF runs; made without keys,
   * the reader takes them by `unlock` before its first task. With `source`, the first
   * worker then reads that folder's metadata ahead (warm-metadata.ts) until `unlock`.
   */
  warmUp(source?: string): void {
    while (this.threads.length < this.threadCount) this.addThread(this.threads.length === 0 ? source : undefined);
  }

  /** The repository's keys, for a reader made before it was open; the walk begins right after. */
  unlock(keys: SealingKeys): void {
    Atomics.store(this.walking, 0, 1);
    if (this.keys) return;
    this.keys = keys;
    for (const thread of this.threads) thread.unlock(keys);
  }

  private addThread(warm?: string): ReaderThread {
    const thread = new ReaderThread(this.workerScript, (e) => this.crashed(e), () => this.dispatch(), this.walking.buffer as SharedArrayBuffer, warm);
    if (this.keys) thread.unlock(this.keys);
    this.threads.push(thread);
    return thread;
  }

  /**
   * Reads and seals the file at `path`, calling `onBatch` with its chunks in file order;
   * resolves to the bytes read. Chunks whose id is in `stored` (hex ids the store holds,
   * typically the file's previous version) are not sealed again. Rejects with the file
   * system's error (with its `code`) or the first error `onBatch` threw (the file's later
   * batches are then dropped). `expectedSize` (lstat's) lets the kernel start reading the
   * file into the page cache at once, while earlier files are sealed.
   */
  sealFile(path: string, stored: readonly string[], onBatch: BatchHandler, expectedSize = 0): Promise<number> {
    // The kernel starts reading the file now; a worker gets to it a few dozen files later.
    adviseWillNeed(path, expectedSize);
    if (this.threadCount === 0) return this.sealHere(path, stored, onBatch);
    return this.submit({ job: this.nextJob++, seal: path, stored }, onBatch);
  }

  private submit(request: TaskRequest, onBatch: BatchHandler): Promise<number> {
    if (this.crash) return Promise.reject(this.crash);
    if (!this.keys) return Promise.reject(new Error('SourceReader: unlock() must come before the first task'));
    return new Promise((resolve, reject) => {
      this.seals.push({ request, onBatch, resolve, reject, chain: Promise.resolve() });
      this.dispatch();
    });
  }

  /** Hands queued tasks to workers with room; starts workers as needed. */
  private dispatch(): void {
    for (;;) {
      if (this.seals.length === 0) break;
      let thread = this.threads.reduce<ReaderThread | undefined>((best, t) => (t.tasks.size < (best?.tasks.size ?? TASKS_PER_WORKER) ? t : best), undefined);
      if ((!thread || thread.tasks.size > 0) && this.threads.length < this.threadCount) thread = this.addThread();
      if (!thread) break;
      thread.start(this.seals.shift()!);
    }
    for (const thread of this.threads) thread.send();
  }

  private async sealHere(path: string, stored: readonly string[], onBatch: BatchHandler): Promise<number> {
    if (!this.keys) throw new Error('SourceReader: unlock() must come before the first task');
    const batches = sealFile(path, this.keys, new Set(stored));
    for (let step = await batches.next(); ; step = await batches.next()) {
      if (step.done) return step.value;
      await onBatch(chunksOf(step.value));
    }
  }

  /** A worker that died takes its tasks with it: they fail, and so does every later one. */
  private crashed(error: Error): void {
    this.crash ??= new Error(`a thread reading the source folder failed: ${error.message}`);
    for (const thread of this.threads) {
      for (const task of thread.tasks.values()) task.reject(this.crash);
      thread.tasks.clear();
    }
    for (const task of this.seals.splice(0)) task.reject(this.crash);
  }

  /** Messages of sealed batches posted by workers and not yet handled: never more than MAX_OUTSTANDING each. */
  get messagesWaiting(): number {
    return this.threads.reduce((sum, t) => sum + t.messagesWaiting, 0);
  }

  /** Workers started so far (they start as tasks come). */
  get threadsStarted(): number {
    return this.threads.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.splice(0).map((t) => t.worker.terminate()));
  }
}
