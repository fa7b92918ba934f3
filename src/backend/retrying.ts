/**
 * Retries a store operation that failed because the store could not be reached (a dropped or
 * stalled connection, a server restarting), with the one backoff policy (backoff.ts). Every
 * Backend operation may be repeated: put replaces whole objects under a temporary name,
 * delete of a missing object succeeds, create accepts its own half-made layout. Anything
 * else (missing or damaged objects, a full disk, a refused login) goes to the caller at once.
 */
import { CairnError, isCairnError } from '../errors/errors.js';
import type { Backend, ByteRange, ObjectKind, ObjectRef } from './backend.js';
import { Backoff } from './backoff.js';

export interface RetryOptions {
  /** Attempts per operation (default 5: waits of 0.5 + 1 + 2 + 4 s in between, about 8 s). */
  readonly attempts?: number;
  /** Told about each failed attempt that will be retried (for debugging output). */
  readonly onRetry?: (attempt: number, error: unknown) => void;
}

export class RetryingBackend implements Backend {
  readonly location: string;
  readonly remote: boolean | undefined;
  private readonly attempts: number;
  private closed = false;

  constructor(
    private readonly inner: Backend,
    private readonly options: RetryOptions = {},
  ) {
    this.location = inner.location;
    this.remote = inner.remote;
    this.attempts = options.attempts ?? 5;
  }

  create(): Promise<void> {
    return this.retry(() => this.inner.create());
  }

  put(ref: ObjectRef, data: Uint8Array): Promise<void> {
    return this.retry(() => this.inner.put(ref, data));
  }

  get(ref: ObjectRef, range?: ByteRange): Promise<Uint8Array> {
    return this.retry(() => this.inner.get(ref, range));
  }

  size(ref: ObjectRef): Promise<number | null> {
    return this.retry(() => this.inner.size(ref));
  }

  list(kind: Exclude<ObjectKind, 'config'>): Promise<string[]> {
    return this.retry(() => this.inner.list(kind));
  }

  delete(ref: ObjectRef): Promise<void> {
    return this.retry(() => this.inner.delete(ref));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inner.close();
  }

  private async retry<T>(op: () => Promise<T>): Promise<T> {
    const backoff = new Backoff();
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (e) {
        if (!worthRetrying(e) || attempt >= this.attempts || this.closed) throw e;
        this.options.onRetry?.(attempt, e);
        await new Promise((resolve) => setTimeout(resolve, backoff.next()));
      }
    }
  }
}

/** Only an unreachable store may answer differently next time, and not a refused login. */
export function worthRetrying(e: unknown): boolean {
  return isCairnError(e, 'UNREACHABLE') && !(e as CairnError).permanent;
}
