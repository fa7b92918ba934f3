/** The Backend contract (src/backend/backend.ts), run against every implementation. */
import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Backend } from '../../src/backend/backend.js';
import { isCairnError } from '../../src/errors/errors.js';

const id = () => randomBytes(32).toString('hex');

export function backendConformance(name: string, make: () => Promise<{ backend: Backend; cleanup: () => Promise<void> }>) {
  describe(`Backend contract: ${name}`, () => {
    let backend: Backend;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ backend, cleanup } = await make());
      await backend.create();
    });
    afterEach(async () => {
      await backend.close();
      await cleanup();
    });

    it('refuses to create a store twice', async () => {
      await backend.put({ kind: 'config', name: '' }, Buffer.from('x'));
      await expect(backend.create()).rejects.toSatisfy((e) => isCairnError(e, 'EXISTS'));
    });

    it('stores, lists, sizes, reads ranges and deletes every kind', async () => {
      for (const kind of ['keys', 'data', 'index', 'snapshots', 'locks', 'forgotten'] as const) {
        const name = id();
        const data = randomBytes(1000 + Math.floor(Math.random() * 5000));
        await backend.put({ kind, name }, data);
        expect(await backend.list(kind)).toEqual([name]);
        expect(await backend.size({ kind, name })).toBe(data.length);
        expect(Buffer.from(await backend.get({ kind, name })).equals(data)).toBe(true);
        expect(Buffer.from(await backend.get({ kind, name }, { offset: 10, length: 100 })).equals(data.subarray(10, 110))).toBe(true);
        await backend.delete({ kind, name });
        expect(await backend.list(kind)).toEqual([]);
        expect(await backend.size({ kind, name })).toBeNull();
      }
    });

    it('reads a range into a buffer it is given, or into its own, with the same bytes either way', async () => {
      const name = id();
      const data = randomBytes(5000);
      await backend.put({ kind: 'data', name }, data);
      for (const into of [new Uint8Array(new SharedArrayBuffer(4096)), Buffer.alloc(100), Buffer.alloc(10)]) {
        into.fill(7);
        const got = await backend.get({ kind: 'data', name }, { offset: 123, length: 100 }, into);
        expect(got.length).toBe(100);
        expect(Buffer.from(got).equals(data.subarray(123, 223))).toBe(true);
        // When used, the range starts at the front of `into`.
        if (got.buffer === into.buffer) expect(got.byteOffset).toBe(into.byteOffset);
        if (into.length < 100) expect(got.buffer).not.toBe(into.buffer); // too small: not used
      }
    });

    it('replaces an object on put and keeps config apart', async () => {
      await backend.put({ kind: 'config', name: '' }, Buffer.from('one'));
      await backend.put({ kind: 'config', name: '' }, Buffer.from('two'));
      expect(Buffer.from(await backend.get({ kind: 'config', name: '' })).toString()).toBe('two');
    });

    it('reports a missing object as NOT_FOUND and a short range as CORRUPT', async () => {
      await expect(backend.get({ kind: 'data', name: id() })).rejects.toSatisfy((e) => isCairnError(e, 'NOT_FOUND'));
      const name = id();
      await backend.put({ kind: 'data', name }, Buffer.alloc(50));
      await expect(backend.get({ kind: 'data', name }, { offset: 40, length: 20 })).rejects.toSatisfy((e) => isCairnError(e, 'CORRUPT'));
    });

    it('deletes idempotently', async () => {
      await backend.delete({ kind: 'index', name: id() });
    });

    it('lists many data objects across fan-out folders', async () => {
      const names = Array.from({ length: 300 }, id);
      await Promise.all(names.map((name) => backend.put({ kind: 'data', name }, Buffer.from(name))));
      expect((await backend.list('data')).sort()).toEqual(names.sort());
    });
  });
}
