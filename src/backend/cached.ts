/**
 * A remote store behind a local folder, as a mount uses it: the upload queue
 * (upload-queue.ts, `queue/`) over the object cache (object-cache.ts, `objects/`) over the
 * store, both within one disk budget. docs/LOCAL_STATE.md describes the folder.
 */
import * as path from 'node:path';
import type { Backend } from './backend.js';
import { CacheBudget, ObjectCache } from './object-cache.js';
import { UploadQueue } from './upload-queue.js';

export type { UploadStatus } from './upload-queue.js';

export interface CachedBackendOptions {
  /** This store's cache folder (objects/ and queue/ inside). */
  readonly dir: string;
  /** Budget for cached objects plus queued uploads, bytes. */
  readonly budgetBytes: number;
  /** Data packs uploaded at once from the queue. */
  readonly parallelUploads?: number;
}

/** The decorated store: a Backend with the queue's status and drain. */
export type CachedBackend = UploadQueue;

export const CachedBackend = {
  /** Opens the cache folder: indexes what is cached and resumes a queue left by the last run. */
  async open(inner: Backend, options: CachedBackendOptions): Promise<CachedBackend> {
    const budget = new CacheBudget(options.budgetBytes);
    const cache = await ObjectCache.open(inner, path.join(options.dir, 'objects'), budget);
    return UploadQueue.open(cache, path.join(options.dir, 'queue'), budget, options.parallelUploads);
  },
};
