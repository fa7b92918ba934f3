import { describe, expect, it } from 'vitest';
import { CairnError } from '../../src/errors/errors.js';
import type { StoredSnapshot } from '../../src/repository/repository.js';
import { findSnapshot, nameSnapshots, parseTime, snapshotAt } from '../../src/timetravel/snapshot-ref.js';

const at = (iso: string) => BigInt(new Date(iso).getTime()) * 1_000_000n;
const stored = (id: string, time: string): StoredSnapshot => ({ id, snapshot: { seq: 1, timeNs: at(time), host: 'h', user: 'u', tags: [], tree: '0'.repeat(64), parent: null, previous: null, stats: { files: 0, dirs: 0, bytes: 0, addedBytes: 0 } } });

describe('snapshot references', () => {
  const list = nameSnapshots([
    stored('abcd1111' + '0'.repeat(56), '2026-11-20T22:00:00'),
    stored('abcd2222' + '0'.repeat(56), '2026-11-20T22:00:00'),
    stored('ef990000' + '0'.repeat(56), '2026-11-25T08:30:00'),
  ]);

  it('finds by folder name, unique id prefix and latest; lists the candidates of an ambiguous prefix', () => {
    expect(list.map((s) => s.name)).toEqual(['2026-11-20_220000', '2026-11-20_220000_2', '2026-11-25_083000']);
    expect(findSnapshot(list, '2026-11-20_220000_2').stored.id.slice(0, 8)).toBe('abcd2222');
    expect(findSnapshot(list, 'ef99').stored.id.slice(0, 8)).toBe('ef990000');
    expect(findSnapshot(list, undefined).name).toBe('2026-11-25_083000');
    expect(findSnapshot(list, 'latest').name).toBe('2026-11-25_083000');
    expect(() => findSnapshot(list, 'abcd')).toThrow(/ambiguous: abcd11110000 \(2026-11-20_220000\), abcd22220000 \(2026-11-20_220000_2\)/);
    expect(() => findSnapshot(list, 'abc')).toThrow(CairnError); // too short to be a prefix
    expect(() => findSnapshot([], undefined)).toThrow(/no snapshots yet/);
  });

  it('picks the newest snapshot at or before a time', () => {
    expect(snapshotAt(list, '2026-11-20T22:00').name).toBe('2026-11-20_220000_2');
    expect(snapshotAt(list, '2026-11-24').name).toBe('2026-11-20_220000_2');
    expect(snapshotAt(list, '2026-11-25').name).toBe('2026-11-25_083000'); // the end of that day
    expect(() => snapshotAt(list, '2026-11-19')).toThrow(/no snapshot is as old as/);
    const now = new Date('2026-11-26T08:30:00').getTime();
    expect(snapshotAt(list, '1D', now).name).toBe('2026-11-25_083000');
    expect(snapshotAt(list, '2D', now).name).toBe('2026-11-20_220000_2');
  });

  it('reads ages and dates like duplicity', () => {
    const now = Date.UTC(2026, 0, 31);
    expect(parseTime('90s', now)).toBe(now - 90_000);
    expect(parseTime('3h', now)).toBe(now - 3 * 3_600_000);
    expect(parseTime('2W', now)).toBe(now - 14 * 86_400_000);
    expect(parseTime('2026-11-20T22:00:05')).toBe(new Date(2026, 10, 20, 22, 0, 5, 999).getTime());
    for (const bad of ['yesterday', '3d', '2026-02-30', '2026-11-20T25']) expect(() => parseTime(bad), bad).toThrow(/--time takes/);
  });
});
