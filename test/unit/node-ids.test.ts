/**
 * Kernel node ids of the low-level adapter: live nodes are their file ids; history nodes get
 * ids from 2^52 up, shared by repeated lookups and freed when the kernel forgets them all.
 * And the attribute layout the binding reads (64-bit inode numbers, times before 1970).
 */
import { describe, expect, it } from 'vitest';
import { FsError } from '../../src/vfs/errors.js';
import { inoHalves, timeFrom, writeStat } from '../../src/fuse/lowlevel-binding.js';
import { FIRST_HISTORY_ID, NodeIds } from '../../src/fuse/node-ids.js';

describe('kernel node ids', () => {
  it('a live node is named by its file id, both ways', () => {
    const ids = new NodeIds();
    expect(ids.lookedUp({ ino: 42 })).toBe(42);
    expect(ids.nodeOf(42)).toEqual({ ino: 42 });
    expect(ids.nodeOf(1)).toEqual({ ino: 1 });
  });

  it('a history node keeps one id while the kernel holds it, and is freed when it forgets every lookup', () => {
    const ids = new NodeIds();
    const a = ids.lookedUp({ history: ['2026-12-01_120000', 'docs'] });
    const b = ids.lookedUp({ history: ['2026-12-01_120000', 'docs'] });
    const c = ids.lookedUp({ history: ['2026-12-01_120000', 'doc'] });
    expect(a).toBeGreaterThanOrEqual(FIRST_HISTORY_ID);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(ids.nodeOf(a)).toEqual({ history: ['2026-12-01_120000', 'docs'] });
    ids.forget(a, 1);
    expect(ids.nodeOf(a)).toEqual({ history: ['2026-12-01_120000', 'docs'] });
    ids.forget(a, 1);
    expect(() => ids.nodeOf(a)).toThrow(FsError);
    expect(ids.historyNodes).toBe(1);
    // Looked up again later: a new id (the kernel's old one is gone for good).
    expect(ids.lookedUp({ history: ['2026-12-01_120000', 'docs'] })).toBeGreaterThan(c);
  });

  it('paths are refused: the adapter works with nodes', () => {
    expect(() => new NodeIds().lookedUp('/a')).toThrow();
  });
});

describe('the attribute layout the binding reads', () => {
  it('splits 64-bit inode numbers into halves and times into seconds and nanoseconds (floor, also before 1970)', () => {
    const target = new Float64Array(16);
    const ino = (1n << 63n) | (5n << 40n) | 123456789n;
    writeStat(target, {
      ino, mode: 0o100644, nlink: 1, uid: 1000, gid: 100, rdev: 0, size: 2 ** 40, blocks: 8, blksize: 4096,
      atimeNs: -1n, mtimeNs: 1_700_000_000_123_456_789n, ctimeNs: 0n,
    });
    expect((BigInt(target[0]!) << 32n) | BigInt(target[1]!)).toBe(ino);
    expect(target[7]).toBe(2 ** 40);
    expect([target[10], target[11]]).toEqual([-1, 999_999_999]);
    expect([target[12], target[13]]).toEqual([1_700_000_000, 123_456_789]);
    expect(timeFrom(target[12]!, target[13]!)).toBe(1_700_000_000_123_456_789n);
    expect(timeFrom(target[10]!, target[11]!)).toBe(-1n);
    const halves = new Float64Array(4);
    inoHalves(ino, halves, 1);
    expect((BigInt(halves[2]!) << 32n) | BigInt(halves[3]!)).toBe(ino);
  });
});
