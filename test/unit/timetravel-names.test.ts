import { describe, expect, it } from 'vitest';
import { folderName, snapshotFolders } from '../../src/timetravel/names.js';

describe('snapshot folder names', () => {
  it('are local time YYYY-MM-DD_HHMMSS, with a suffix for snapshots in the same second', () => {
    const local = new Date(2026, 10, 20, 22, 0, 0); // 2026-11-20 22:00:00 local time
    const base = BigInt(local.getTime()) * 1_000_000n;
    expect(folderName(base)).toBe('2026-11-20_220000');
    const names = snapshotFolders([
      { id: 'a', timeNs: base },
      { id: 'b', timeNs: base + 400_000_000n },
      { id: 'c', timeNs: base + 999_999_999n },
      { id: 'd', timeNs: base + 1_000_000_000n },
    ]).map((f) => f.name);
    expect(names).toEqual(['2026-11-20_220000', '2026-11-20_220000_2', '2026-11-20_220000_3', '2026-11-20_220001']);
    expect(names.every((n) => !n.includes(':'))).toBe(true);
  });
});
