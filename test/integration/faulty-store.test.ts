/**
 * The backend decorators under injected faults (test/helpers/faulty-backend.ts): a whole
 * repository round trip over a store that drops requests and loses answers, through the
 * retrying decorator cairn puts around every network store; and what must not be retried
 * or believed: a full store, a refused login, a short read.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Backend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { RetryingBackend } from '../../src/backend/retrying.js';
import { CairnError, isCairnError } from '../../src/errors/errors.js';
import { Repository } from '../../src/repository/repository.js';
import { FaultyBackend } from '../helpers/faulty-backend.js';
import { passphrase } from '../helpers/store.js';

describe('the store layer under injected faults', () => {
  it('stores and reads back a repository while one request in eight is dropped or its answer lost', async () => {
    const store = new MemoryBackend();
    const faulty = new FaultyBackend(store, { dropBefore: 0.06, dropAfter: 0.06, maxDelayMs: 2 }, 42);
    const blobs = Array.from({ length: 60 }, (_, i) => randomBytes(1000 + i * 997));
    const repo = await Repository.init(new RetryingBackend(faulty, { attempts: 8 }), passphrase('faults'));
    const ids: string[] = [];
    for (const blob of blobs) ids.push((await repo.saveBlob('data', blob)).id);
    await repo.flush();
    const tree = await repo.saveTree({ nodes: [] });
    const snap = await repo.saveSnapshot({ tree: tree.id, stats: { files: 0, dirs: 1, bytes: 0, addedBytes: 0 }, tags: ['faults'] });
    await repo.close();

    const again = await Repository.open(new RetryingBackend(faulty, { attempts: 8 }), passphrase('faults'));
    expect((await again.listSnapshots()).map((s) => s.id)).toEqual([snap.id]);
    for (const [i, id] of ids.entries()) expect((await again.loadBlob('data', id)).equals(blobs[i]!)).toBe(true);
    await again.close();
    // The faults really happened, on both sides of the store.
    expect(faulty.injected.dropBefore).toBeGreaterThan(3);
    expect(faulty.injected.dropAfter).toBeGreaterThan(3);
  });

  it('gives up after its attempts when the store stays away, saying it is unreachable', async () => {
    const faulty = new FaultyBackend(new MemoryBackend(), { dropBefore: 1 });
    const started = Date.now();
    await expect(new RetryingBackend(faulty, { attempts: 3 }).put({ kind: 'index', name: 'a'.repeat(64) }, Buffer.from('x')))
      .rejects.toSatisfy((e) => isCairnError(e, 'UNREACHABLE'));
    expect(faulty.injected.dropBefore).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400); // waited 0.5 + 1 s in between
  });

  it('passes a full store on at once, without retrying, and a repository flush names it', async () => {
    const faulty = new FaultyBackend(new MemoryBackend(), {});
    const repo = await Repository.init(new RetryingBackend(faulty), passphrase('full'));
    faulty.faults = { full: true };
    await repo.saveBlob('data', randomBytes(5000));
    await expect(repo.flush()).rejects.toSatisfy((e) => isCairnError(e, 'NO_SPACE'));
    expect(faulty.injected.full).toBe(1);
  });

  it('does not retry a refused login (a permanent failure)', async () => {
    let calls = 0;
    const refusing: Backend = {
      location: 'refusing',
      create: async () => undefined,
      put: async () => {
        calls++;
        throw new CairnError('UNREACHABLE', 'the server refused every way to log in', { permanent: true });
      },
      get: async () => new Uint8Array(),
      size: async () => null,
      list: async () => [],
      delete: async () => undefined,
      close: async () => undefined,
    };
    await expect(new RetryingBackend(refusing).put({ kind: 'index', name: 'b'.repeat(64) }, Buffer.from('x'))).rejects.toThrow(/refused/);
    expect(calls).toBe(1);
  });

  it('never takes a short read for data: every blob read short is refused as damaged', async () => {
    const faulty = new FaultyBackend(new MemoryBackend(), {});
    const repo = await Repository.init(faulty, passphrase('short'));
    const blobs = Array.from({ length: 20 }, () => randomBytes(3000));
    const ids = [];
    for (const blob of blobs) ids.push((await repo.saveBlob('data', blob)).id);
    await repo.flush();
    await repo.close();
    const again = await Repository.open(faulty, passphrase('short'));
    faulty.faults = { shortRead: 1 };
    for (const id of ids) await expect(again.loadBlob('data', id)).rejects.toSatisfy((e) => isCairnError(e, 'CORRUPT'));
    expect(faulty.injected.shortRead).toBeGreaterThanOrEqual(ids.length);
    faulty.faults = {};
    for (const [i, id] of ids.entries()) expect((await again.loadBlob('data', id)).equals(blobs[i]!)).toBe(true);
  });
});
