/**
 * The object cache and upload queue over a store that can be switched off: order of
 * arrival, reads served locally, back-pressure at the budget, a queue that survives a
 * restart, deletes that never overtake queued uploads.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { ByteRange, ObjectKind, ObjectRef } from '../../src/backend/backend.js';
import { CachedBackend } from '../../src/backend/cached.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { CairnError, isCairnError } from '../../src/errors/errors.js';
import { tempDir } from '../helpers/store.js';

/** A memory store that can go away, and records what reached it, in order. */
class SwitchableStore extends MemoryBackend {
  online = true;
  readonly arrived: string[] = [];
  gets = 0;
  private check(): void {
    if (!this.online) throw new CairnError('UNREACHABLE', 'the test store is away');
  }
  override async put(ref: ObjectRef, data: Uint8Array): Promise<void> {
    this.check();
    this.arrived.push(`${ref.kind}/${ref.name.slice(0, 4)}`);
    await super.put(ref, data);
  }
  override async get(ref: ObjectRef, range?: ByteRange): Promise<Uint8Array> {
    this.check();
    this.gets++;
    return super.get(ref, range);
  }
  override async list(kind: Exclude<ObjectKind, 'config'>): Promise<string[]> {
    this.check();
    return [...this.objects.keys()].filter((k) => k.startsWith(`${kind}/`)).map((k) => k.split('/').pop()!);
  }
  override async delete(ref: ObjectRef): Promise<void> {
    this.check();
    await super.delete(ref);
  }
}

const ref = (kind: ObjectKind, tag: string): ObjectRef => ({ kind, name: tag.repeat(64 / tag.length) });
const until = async (test: () => boolean) => {
  for (let i = 0; i < 300 && !test(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(test()).toBe(true);
};

describe('CachedBackend', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: SwitchableStore;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    store = new SwitchableStore();
  });
  afterEach(async () => cleanup());

  it('serves a second read from local disk, even with the store away', async () => {
    const cached = await CachedBackend.open(store, { dir: path.join(dir, 'c'), budgetBytes: 1 << 20 });
    const data = randomBytes(5000);
    await store.put(ref('data', 'ab'), data);
    await cached.get(ref('data', 'ab'), { offset: 100, length: 1000 });
    store.online = false;
    const again = await cached.get(ref('data', 'ab'), { offset: 100, length: 1000 });
    expect(Buffer.from(again).equals(data.subarray(100, 1100))).toBe(true);
    expect(store.gets).toBe(1);
    await cached.close();
  });

  it('keeps the cache within its budget, dropping the least recently used first, also across a restart', async () => {
    const options = { dir: path.join(dir, 'c'), budgetBytes: 40_000 }; // objects up to 10,000 bytes are cached
    let cached = await CachedBackend.open(store, options);
    for (const tag of ['a1', 'a2', 'a3', 'a4']) await store.put(ref('index', tag), randomBytes(9000));
    for (const tag of ['a1', 'a2', 'a3', 'a4']) await cached.get(ref('index', tag)); // 36,000 bytes cached
    const tick = () => new Promise((r) => setTimeout(r, 20)); // distinct file times
    await tick();
    await cached.get(ref('index', 'a1')); // a1 is now the most recently used
    await tick();
    await store.put(ref('index', 'a5'), randomBytes(9000));
    await cached.get(ref('index', 'a5')); // over budget: a2 goes
    expect(cached.status().cachedBytes).toBeLessThanOrEqual(40_000);
    await cached.close();
    // The order survives a restart (file times): a1, used last before a5, outlives a3 and a4.
    cached = await CachedBackend.open(store, options);
    await store.put(ref('index', 'a6'), randomBytes(9000));
    await cached.get(ref('index', 'a6')); // over budget: a3 goes
    store.online = false;
    for (const tag of ['a1', 'a4', 'a5', 'a6']) expect((await cached.get(ref('index', tag))).length).toBe(9000);
    for (const gone of ['a2', 'a3']) await expect(cached.get(ref('index', gone))).rejects.toSatisfy((e) => isCairnError(e, 'UNREACHABLE'));
    await cached.close();
  });

  it('queues while the store is away and delivers in the order written, after a restart too', async () => {
    const options = { dir: path.join(dir, 'c'), budgetBytes: 1 << 20 };
    let cached = await CachedBackend.open(store, options);
    store.online = false;
    await cached.put(ref('data', 'a1'), randomBytes(1000));
    await cached.put(ref('data', 'a2'), randomBytes(1000));
    await cached.put(ref('index', 'b1'), randomBytes(100));
    await cached.put(ref('snapshots', 'c1'), randomBytes(100));
    expect(cached.status()).toMatchObject({ connection: 'offline', queuedObjects: 4 });
    // Readable while queued, listed as present.
    expect((await cached.get(ref('index', 'b1'))).length).toBe(100);
    await expect(cached.delete(ref('snapshots', 'c0'))).rejects.toSatisfy((e) => isCairnError(e, 'UNREACHABLE'));
    await cached.close(); // the queue stays on disk

    store.online = true;
    cached = await CachedBackend.open(store, options);
    await cached.drain();
    expect(store.arrived.slice(0, 2).sort()).toEqual(['data/a1a1', 'data/a2a2']);
    expect(store.arrived.slice(2)).toEqual(['index/b1b1', 'snapshots/c1c1']);
    expect(cached.status().queuedObjects).toBe(0);
    await cached.delete(ref('snapshots', 'c1')); // allowed again once the queue is empty
    await cached.close();
  });

  it('makes puts wait while the queue holds the whole budget', async () => {
    const cached = await CachedBackend.open(store, { dir: path.join(dir, 'c'), budgetBytes: 10_000 });
    store.online = false;
    await cached.put(ref('data', 'd1'), randomBytes(6000));
    let second = false;
    const waiting = cached.put(ref('data', 'd2'), randomBytes(6000)).then(() => (second = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(second).toBe(false);
    expect(cached.status().queuedBytes).toBe(6000);
    store.online = true;
    await waiting;
    await cached.drain();
    expect(store.arrived).toEqual(['data/d1d1', 'data/d2d2']);
    await until(() => cached.status().connection === 'online');
    await cached.close();
  });
});
