import { describe, expect, it } from 'vitest';
import { snapshotDue } from '../../src/vfs/auto-snapshot.js';

describe('automatic snapshot policy', () => {
  const policy = { intervalMs: 3_600_000, quietMs: 60_000 };
  const at = (changeAgo: number, snapshotAgo: number, changed = true) => ({ changed, lastChangeAt: 10_000_000 - changeAgo, lastSnapshotAt: 10_000_000 - snapshotAgo });
  it('waits for changes, for quiet, and for the interval', () => {
    expect(snapshotDue(policy, at(120_000, 4_000_000, false), 10_000_000)).toBe(false); // nothing changed
    expect(snapshotDue(policy, at(10_000, 4_000_000), 10_000_000)).toBe(false); // still writing
    expect(snapshotDue(policy, at(120_000, 1_000_000), 10_000_000)).toBe(false); // too soon after the last
    expect(snapshotDue(policy, at(120_000, 4_000_000), 10_000_000)).toBe(true);
    expect(snapshotDue({ intervalMs: 0, quietMs: 0 }, at(120_000, 4_000_000), 10_000_000)).toBe(false); // off
  });
});
