import { describe, expect, it } from 'vitest';
import { decodeForgetRecord, encodeForgetRecord } from '../../src/format/forget-record.js';
import { DecodeError } from '../../src/format/bytes.js';
import type { StoredSnapshot } from '../../src/repository/repository.js';
import { applyRetention, isoWeek, TIME_MACHINE_POLICY } from '../../src/repository/retention.js';

/** A snapshot at a local time (year, month 1-12, day, hour, minute). */
function at(seq: number, y: number, mo: number, d: number, h = 12, mi = 0, tags: string[] = []): StoredSnapshot {
  const ms = new Date(y, mo - 1, d, h, mi).getTime();
  return {
    id: seq.toString(16).padStart(64, '0'),
    snapshot: {
      seq, timeNs: BigInt(ms) * 1_000_000n, host: 'h', user: 'u', tags, tree: '0'.repeat(64), parent: null, previous: null,
      stats: { files: 0, dirs: 0, bytes: 0, addedBytes: 0 },
    },
  };
}

const kept = (snapshots: StoredSnapshot[], policy: Parameters<typeof applyRetention>[1]) =>
  applyRetention(snapshots, policy).filter((d) => d.keep).map((d) => d.snapshot.snapshot.seq);

describe('retention policy', () => {
  it('keep-last keeps the n newest, and the newest is always kept', () => {
    const s = [1, 2, 3, 4, 5].map((n) => at(n, 2026, 1, n));
    expect(kept(s, { last: 2 })).toEqual([4, 5]);
    expect(kept(s, { tags: ['none'] })).toEqual([5]);
  });

  it('keep-daily keeps the newest snapshot of each of the last n days that have one', () => {
    const s = [at(1, 2026, 3, 1, 9), at(2, 2026, 3, 1, 18), at(3, 2026, 3, 2, 8), at(4, 2026, 3, 4, 7), at(5, 2026, 3, 4, 23)];
    expect(kept(s, { daily: 2 })).toEqual([3, 5]);
    expect(kept(s, { daily: 10 })).toEqual([2, 3, 5]);
  });

  it('keep-hourly, weekly (ISO weeks), monthly, and tags combine: kept by any rule is kept', () => {
    const s = [
      at(1, 2025, 11, 3), // Monday, week 45
      at(2, 2025, 11, 9), // Sunday, still week 45
      at(3, 2025, 12, 1, 10, 0, ['before-upgrade']),
      at(4, 2026, 1, 10, 9, 5),
      at(5, 2026, 1, 10, 9, 50),
      at(6, 2026, 1, 10, 10, 1),
    ];
    expect(kept(s, { hourly: 2 })).toEqual([5, 6]);
    expect(kept(s, { weekly: 3 })).toEqual([2, 3, 6]);
    expect(kept(s, { monthly: 2 })).toEqual([3, 6]);
    expect(kept(s, { tags: ['before-upgrade'], last: 1 })).toEqual([3, 6]);
    const why = applyRetention(s, { hourly: 2, monthly: 2 }).find((d) => d.snapshot.snapshot.seq === 6)!.reasons;
    expect(why).toEqual(['newest', 'hourly', 'monthly']);
  });

  it('the Time Machine policy keeps everything of the last day, daily for a month, weekly beyond, and named snapshots', () => {
    const hourly = Array.from({ length: 48 }, (_, i) => at(100 + i, 2026, 6, 1 + Math.floor(i / 24), i % 24, 30, ['auto']));
    const daily = Array.from({ length: 60 }, (_, i) => at(i + 1, 2026, 3, 1 + i, 12, 0, i === 7 ? ['before-upgrade'] : ['auto']));
    const now = new Date(2026, 5, 2, 23, 45).getTime();
    const decisions = applyRetention([...daily, ...hourly], TIME_MACHINE_POLICY, now);
    const keptSeqs = decisions.filter((d) => d.keep).map((d) => d.snapshot.snapshot.seq);
    // The 24 newest hours are kept whole.
    for (let i = 24; i < 48; i++) expect(keptSeqs).toContain(100 + i);
    // The named one survives though its week is represented by a newer snapshot.
    expect(keptSeqs).toContain(8);
    // Of March's daily snapshots beyond 30 days only one per ISO week remains.
    const march = decisions.filter((d) => d.snapshot.snapshot.seq <= 20 && d.snapshot.snapshot.seq !== 8);
    const weeks = new Set(march.filter((d) => d.keep).map((d) => isoWeek(new Date(Number(d.snapshot.snapshot.timeNs / 1_000_000n))).week));
    expect(march.filter((d) => d.keep).length).toBe(weeks.size);
    expect(march.some((d) => !d.keep)).toBe(true);
  });

  it('ISO weeks: Monday starts a week; the first week holds the year\'s first Thursday', () => {
    expect(isoWeek(new Date(2026, 0, 1))).toEqual({ year: 2026, week: 1 }); // Thursday
    expect(isoWeek(new Date(2027, 0, 1))).toEqual({ year: 2026, week: 53 }); // Friday
    expect(isoWeek(new Date(2024, 11, 30))).toEqual({ year: 2025, week: 1 }); // Monday
    expect(isoWeek(new Date(2026, 10, 22))).toEqual({ year: 2026, week: 47 }); // Sunday
  });
});

describe('forget record codec', () => {
  it('round-trips and sorts entries by sequence number', () => {
    const record = { timeNs: 1_700_000_000_000_000_123n, forgotten: [{ id: 'b'.repeat(64), seq: 7 }, { id: 'a'.repeat(64), seq: 2 }] };
    const bytes = encodeForgetRecord(record);
    expect(bytes.toString()).toBe(`{"version":1,"time":"1700000000000000123","forgotten":[{"id":"${'a'.repeat(64)}","seq":2},{"id":"${'b'.repeat(64)}","seq":7}]}`);
    expect(decodeForgetRecord(bytes)).toEqual({ timeNs: record.timeNs, forgotten: [record.forgotten[1], record.forgotten[0]] });
  });

  it('refuses malformed records', () => {
    for (const bad of ['x', '{"version":2,"time":"1","forgotten":[]}', '{"version":1,"time":"1","forgotten":[{"id":"zz","seq":1}]}', '{"version":1,"time":"1","forgotten":[{"id":"' + 'a'.repeat(64) + '","seq":0}]}']) {
      expect(() => decodeForgetRecord(Buffer.from(bad))).toThrow(DecodeError);
    }
  });
});
