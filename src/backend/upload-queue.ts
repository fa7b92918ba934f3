/**
 * A write-back decorator for a remote store: a put goes straight through while the queue is
 * empty. When the store cannot be reached, the object goes into the queue instead — a local
 * folder, written durably, the only copy until uploaded — and every later put queues behind
 * it, so the store receives objects in the order written (packs before the index naming
 * them, index before the snapshot): whatever part of the queue has arrived, the store is
 * consistent. A background uploader drains the queue with the one backoff policy while the
 * store is away; data packs go several at a time, every other object waits for all before
 * it. When the queue holds the whole budget, writers wait (back-pressure) instead of failing.
 *
 * Locks, keys and config are never queued: they only mean something on the store.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CairnError, isCairnError } from '../errors/errors.js';
import { type Backend, type ByteRange, type ObjectKind, type ObjectRef, objectPath } from './backend.js';
import { Backoff } from './backoff.js';
import { TEMP_SUFFIX, writeFileDurably } from './durable-file.js';
import { type CacheBudget, readFileRange } from './object-cache.js';

export interface UploadStatus {
  readonly connection: 'online' | 'offline';
  readonly queuedObjects: number;
  readonly queuedBytes: number;
  /** Bytes uploaded from the queue since the mount started. */
  readonly uploadedBytes: number;
  /** Upload rate over the last 10 seconds, bytes per second. */
  readonly bytesPerSecond: number;
  readonly lastError: string | null;
  readonly lastErrorAt: number | null;
  readonly cachedBytes: number;
  readonly budgetBytes: number;
}

interface Queued {
  readonly seq: number;
  readonly ref: ObjectRef;
  readonly file: string;
  readonly size: number;
}

const NEVER_QUEUED: ReadonlySet<ObjectKind> = new Set(['locks', 'keys', 'config']);

export class UploadQueue implements Backend {
  readonly location: string;
  readonly remote: boolean | undefined;
  private readonly queue: Queued[] = [];
  private readonly queuedByPath = new Map<string, Queued>();
  private nextSeq = 1;
  private uploading = new Set<Queued>();
  private wake: (() => void) | null = null;
  private waiters: (() => void)[] = [];
  private connection: 'online' | 'offline' = 'online';
  private lastError: string | null = null;
  private lastErrorAt: number | null = null;
  private uploadedBytes = 0;
  private readonly recent: { at: number; bytes: number }[] = [];
  private stopped = false;
  private uploader: Promise<void> | null = null;

  private constructor(
    private readonly inner: Backend,
    private readonly dir: string,
    private readonly budget: CacheBudget,
    private readonly parallel: number,
  ) {
    this.location = inner.location;
    this.remote = inner.remote;
  }

  /** Opens the queue folder, resumes what the last run left in it, and starts uploading. */
  static async open(inner: Backend, dir: string, budget: CacheBudget, parallelUploads = 4): Promise<UploadQueue> {
    const queue = new UploadQueue(inner, dir, budget, parallelUploads);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const names = (await fs.readdir(dir)).filter((n) => /^\d{12}\.[a-z]+\.[0-9a-f]{64}$/.test(n)).sort();
    for (const name of names) {
      const [seq, kind, id] = name.split('.') as [string, ObjectKind, string];
      const file = path.join(dir, name);
      const item: Queued = { seq: Number(seq), ref: { kind, name: id }, file, size: (await fs.stat(file)).size };
      queue.enqueued(item);
      queue.nextSeq = Math.max(queue.nextSeq, item.seq + 1);
    }
    for (const name of await fs.readdir(dir)) if (name.endsWith(TEMP_SUFFIX)) await fs.rm(path.join(dir, name), { force: true });
    queue.uploader = queue.runUploader();
    return queue;
  }

  private enqueued(item: Queued): void {
    // In sequence order, even when a later put finished writing its file first.
    let at = this.queue.length;
    while (at > 0 && this.queue[at - 1]!.seq > item.seq) at--;
    this.queue.splice(at, 0, item);
    this.queuedByPath.set(objectPath(item.ref), item);
    this.budget.queuedBytes += item.size;
  }

  /** Bytes waiting in the upload queue (cheap: called on every write for back-pressure). */
  get queuedBytesNow(): number {
    return this.budget.queuedBytes;
  }

  get budgetBytes(): number {
    return this.budget.limitBytes;
  }

  status(): UploadStatus {
    const now = Date.now();
    this.trimRecent(now);
    const window = this.recent.length > 0 ? Math.max(1, (now - this.recent[0]!.at) / 1000) : 1;
    return {
      connection: this.connection,
      queuedObjects: this.queue.length,
      queuedBytes: this.budget.queuedBytes,
      uploadedBytes: this.uploadedBytes,
      bytesPerSecond: this.recent.reduce((s, r) => s + r.bytes, 0) / window,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      cachedBytes: this.budget.cachedBytes,
      budgetBytes: this.budget.limitBytes,
    };
  }

  // ---- Backend ----

  create(): Promise<void> {
    return this.inner.create();
  }

  async put(ref: ObjectRef, data: Uint8Array): Promise<void> {
    if (NEVER_QUEUED.has(ref.kind)) return this.inner.put(ref, data);
    if (this.queue.length === 0) {
      try {
        await this.inner.put(ref, data);
        this.connected();
        return;
      } catch (e) {
        if (!isCairnError(e, 'UNREACHABLE')) throw e;
        this.noteFailure(e);
      }
    }
    await this.enqueue(ref, data);
  }

  private async enqueue(ref: ObjectRef, data: Uint8Array): Promise<void> {
    // Back-pressure: wait while the queue holds the whole budget (but never refuse an object
    // larger than the budget when nothing else waits).
    while (this.budget.queuedBytes > 0 && this.budget.queuedBytes + data.length > this.budget.limitBytes) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    // Reserve the bytes before the first await, so concurrent puts see each other.
    this.budget.queuedBytes += data.length;
    const seq = this.nextSeq++;
    const file = path.join(this.dir, `${String(seq).padStart(12, '0')}.${ref.kind}.${ref.name}`);
    try {
      // The queue holds the only copy until uploaded: written durably.
      await writeFileDurably(file, data);
    } catch (e) {
      this.budget.queuedBytes -= data.length;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw new CairnError('NO_SPACE', `the local disk is full: cannot queue an upload in ${this.dir}`, {
          hint: 'free space on this machine; nothing was lost', cause: e,
        });
      }
      throw e;
    }
    this.budget.queuedBytes -= data.length; // enqueued() counts it for good
    this.enqueued({ seq, ref, file, size: data.length });
    await this.budget.evict();
    this.wake?.();
  }

  async get(ref: ObjectRef, range?: ByteRange): Promise<Uint8Array> {
    const queued = this.queuedByPath.get(objectPath(ref));
    if (queued) {
      try {
        return await readFileRange(queued.file, range, objectPath(ref));
      } catch (e) {
        // Uploaded and dequeued while we read: it is in the cache or on the store now.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || this.queuedByPath.get(objectPath(ref)) === queued) throw e;
      }
    }
    return this.inner.get(ref, range);
  }

  async size(ref: ObjectRef): Promise<number | null> {
    const queued = this.queuedByPath.get(objectPath(ref));
    if (queued) return queued.size;
    return this.inner.size(ref);
  }

  async list(kind: Exclude<ObjectKind, 'config'>): Promise<string[]> {
    const names = new Set(await this.inner.list(kind));
    this.connected();
    for (const item of this.queue) if (item.ref.kind === kind) names.add(item.ref.name);
    return [...names];
  }

  async delete(ref: ObjectRef): Promise<void> {
    const key = objectPath(ref);
    const queued = this.queuedByPath.get(key);
    // An upload in progress finishes first, or it would put the object back after the delete.
    while (queued && this.uploading.has(queued)) await new Promise((r) => setTimeout(r, 50));
    if (queued) this.dequeue(queued);
    if (this.queue.length > 0 && !NEVER_QUEUED.has(ref.kind)) {
      // A delete must not overtake the uploads before it (say, a snapshot deleted before the
      // forget record naming it arrives): refuse until the queue is empty; the caller retries.
      throw new CairnError('UNREACHABLE', `deleting ${key} waits until ${this.queue.length} queued upload(s) are on the store`, {
        hint: 'it is retried once the queue has drained',
      });
    }
    await this.inner.delete(ref);
  }

  /** Waits until every queued object is on the store, reporting progress every half second. */
  async drain(onProgress?: (status: UploadStatus) => void): Promise<void> {
    while (this.queue.length > 0) {
      onProgress?.(this.status());
      await new Promise<void>((resolve) => {
        const waiter = () => {
          clearTimeout(timer);
          resolve();
        };
        // A waiter that timed out leaves the list: months offline must not grow it.
        const timer = setTimeout(() => {
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) this.waiters.splice(at, 1);
          resolve();
        }, 500);
        this.waiters.push(waiter);
      });
    }
  }

  /** Stops the uploader; what is still queued stays on disk for the next run. */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.uploader;
    await this.inner.close();
  }

  // ---- the uploader ----

  private async runUploader(): Promise<void> {
    const backoff = new Backoff();
    while (!this.stopped) {
      const batch = this.nextBatch();
      if (batch.length === 0) {
        if (this.stopped) break;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      const results = await Promise.allSettled(batch.map((item) => this.upload(item)));
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (!failure) {
        backoff.reset();
        continue;
      }
      this.noteFailure(failure.reason);
      if (this.stopped) break; // close() came while uploading: do not sleep through a backoff
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff.next());
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** The queue's head: consecutive data packs (up to `parallel`), or one other object. */
  private nextBatch(): Queued[] {
    const head = this.queue[0];
    if (!head) return [];
    if (head.ref.kind !== 'data') return [head];
    const batch: Queued[] = [];
    for (const item of this.queue) {
      if (item.ref.kind !== 'data' || batch.length >= this.parallel) break;
      batch.push(item);
    }
    return batch;
  }

  private async upload(item: Queued): Promise<void> {
    this.uploading.add(item);
    try {
      const data = await fs.readFile(item.file);
      await this.inner.put(item.ref, data);
      this.connected();
      this.uploadedBytes += item.size;
      this.recent.push({ at: Date.now(), bytes: item.size });
      this.trimRecent(Date.now());
      this.dequeue(item);
    } finally {
      this.uploading.delete(item);
    }
  }

  private dequeue(item: Queued): void {
    const at = this.queue.indexOf(item);
    if (at < 0) return;
    this.queue.splice(at, 1);
    this.queuedByPath.delete(objectPath(item.ref));
    this.budget.queuedBytes -= item.size;
    void fs.rm(item.file, { force: true });
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Keeps the last 10 s of uploads (the rate window), whether or not status() is asked. */
  private trimRecent(now: number): void {
    while (this.recent.length > 0 && now - this.recent[0]!.at > 10_000) this.recent.shift();
  }

  private connected(): void {
    this.connection = 'online';
  }

  /** Records a failure; only an unreachable store counts as offline (a full server disk or a
   *  damaged queue file is shown as the last error, not as a lost connection). */
  private noteFailure(e: unknown): void {
    if (isCairnError(e, 'UNREACHABLE')) this.connection = 'offline';
    this.lastError = (e as Error)?.message ?? String(e);
    this.lastErrorAt = Date.now();
  }
}
