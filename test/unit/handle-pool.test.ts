/**
 * The read-handle pool both backends use: a handle pushed out of the pool or forgotten
 * (its object deleted) closes only after the last read using it, never under it.
 */
import { describe, expect, it } from 'vitest';
import { HandlePool } from '../../src/backend/handle-pool.js';

interface FakeHandle {
  readonly key: string;
  closed: boolean;
}

function pool(capacity: number) {
  const opened: FakeHandle[] = [];
  const p = new HandlePool<FakeHandle>(
    capacity,
    async (key) => {
      if (key === 'missing') throw new Error('ENOENT');
      const h = { key, closed: false };
      opened.push(h);
      return h;
    },
    async (h) => {
      h.closed = true;
    },
  );
  /** A read that holds its handle until `finish` is called, failing if it was closed meanwhile. */
  const slowRead = (key: string) => {
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    const done = p.use(key, async (h) => {
      await gate;
      if (h.closed) throw new Error(`read on a closed handle of ${key}`);
      return h;
    });
    return { done, finish };
  };
  return { p, opened, slowRead };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('HandlePool', () => {
  it('opens a key once and reuses its handle', async () => {
    const { p, opened } = pool(4);
    await p.use('a', async () => undefined);
    await p.use('a', async () => undefined);
    expect(opened.map((h) => h.key)).toEqual(['a']);
  });

  it('keeps an evicted handle open until the slow read using it is done, then closes it', async () => {
    const { p, opened, slowRead } = pool(2);
    const slow = slowRead('a');
    await tick();
    await p.use('b', async () => undefined);
    await p.use('c', async () => undefined); // pushes 'a' out while it is being read
    await tick();
    expect(opened[0]!.closed).toBe(false);
    slow.finish();
    await slow.done;
    await tick();
    expect(opened[0]!.closed).toBe(true);
    expect(opened.find((h) => h.key === 'c')!.closed).toBe(false);
  });

  it('closes a forgotten handle (its object deleted) after its reader, and opens afresh next time', async () => {
    const { p, opened, slowRead } = pool(4);
    const slow = slowRead('a');
    await tick();
    p.forget('a');
    await tick();
    expect(opened[0]!.closed).toBe(false);
    slow.finish();
    await slow.done;
    await tick();
    expect(opened[0]!.closed).toBe(true);
    await p.use('a', async () => undefined);
    expect(opened.filter((h) => h.key === 'a')).toHaveLength(2);
  });

  it('does not keep a failed open, and clear() closes every idle handle', async () => {
    const { p, opened } = pool(4);
    await expect(p.use('missing', async () => undefined)).rejects.toThrow('ENOENT');
    await expect(p.use('missing', async () => undefined)).rejects.toThrow('ENOENT');
    await p.use('a', async () => undefined);
    await p.use('b', async () => undefined);
    await p.clear();
    expect(opened.every((h) => h.closed)).toBe(true);
  });
});
