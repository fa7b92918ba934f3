/**
 * A fault-injecting backend decorator for tests: with a seeded random source it drops
 * requests before they reach the store, loses answers after the store carried them out,
 * answers slowly, and on demand fails puts as a full disk would or returns short reads.
 * What the layers above must do with each: retry the dropped and lost ones (every operation
 * is idempotent), pass a full disk on at once, and never take a short read for data.
 */
import type { Backend, ByteRange, ObjectKind, ObjectRef } from '../../src/backend/backend.js';
import { CairnError } from '../../src/errors/errors.js';
import { Random } from './random.js';

export interface Faults {
  /** Chance that a request fails before it reaches the store. */
  readonly dropBefore?: number;
  /** Chance that the store carries a request out but its answer is lost. */
  readonly dropAfter?: number;
  /** Each answer comes after up to this many milliseconds. */
  readonly maxDelayMs?: number;
  /** Every put fails as a full store would (nothing is written). */
  readonly full?: boolean;
  /** Chance that a read returns fewer bytes than asked for. */
  readonly shortRead?: number;
}

export class FaultyBackend implements Backend {
  readonly location: string;
  readonly remote = true;
  /** What was injected, for the test to check that faults really happened. */
  readonly injected = { dropBefore: 0, dropAfter: 0, full: 0, shortRead: 0 };
  faults: Faults;
  private readonly random: Random;

  constructor(
    private readonly inner: Backend,
    faults: Faults,
    seed = 1,
  ) {
    this.location = `faulty(${inner.location})`;
    this.faults = faults;
    this.random = new Random(seed);
  }

  create(): Promise<void> {
    return this.request(() => this.inner.create());
  }

  put(ref: ObjectRef, data: Uint8Array): Promise<void> {
    if (this.faults.full) {
      this.injected.full++;
      return Promise.reject(new CairnError('NO_SPACE', `the store is full (injected) writing ${ref.kind}/${ref.name}`));
    }
    return this.request(() => this.inner.put(ref, data));
  }

  async get(ref: ObjectRef, range?: ByteRange): Promise<Uint8Array> {
    const data = await this.request(() => this.inner.get(ref, range));
    if (data.length > 1 && this.random.chance(this.faults.shortRead ?? 0)) {
      this.injected.shortRead++;
      return data.subarray(0, this.random.int(data.length));
    }
    return data;
  }

  size(ref: ObjectRef): Promise<number | null> {
    return this.request(() => this.inner.size(ref));
  }

  list(kind: Exclude<ObjectKind, 'config'>): Promise<string[]> {
    return this.request(() => this.inner.list(kind));
  }

  delete(ref: ObjectRef): Promise<void> {
    return this.request(() => this.inner.delete(ref));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async request<T>(op: () => Promise<T>): Promise<T> {
    await this.delay();
    if (this.random.chance(this.faults.dropBefore ?? 0)) {
      this.injected.dropBefore++;
      throw new CairnError('UNREACHABLE', 'connection lost (injected, before the request)');
    }
    const result = await op();
    await this.delay();
    if (this.random.chance(this.faults.dropAfter ?? 0)) {
      this.injected.dropAfter++;
      throw new CairnError('UNREACHABLE', 'connection lost (injected, after the store carried the request out)');
    }
    return result;
  }

  private async delay(): Promise<void> {
    const max = this.faults.maxDelayMs ?? 0;
    if (max > 0) await new Promise((r) => setTimeout(r, this.random.int(max + 1)));
  }
}
