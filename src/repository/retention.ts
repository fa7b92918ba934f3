/**
 * Which snapshots a retention policy keeps (`cairn forget --keep-*`). Pure: snapshots and
 * a policy in, a decision with reasons out, so it is tested without a store.
 *
 * Semantics (as restic's, which users of backup tools know): going from newest to oldest,
 * --keep-within D keeps every snapshot younger than D; --keep-last N keeps the N newest; --keep-hourly N keeps the newest snapshot of each of
 * the N most recent hours that have one, and likewise for days, ISO weeks (Monday first)
 * and months, all in local time. --keep-tag T keeps every snapshot tagged T. A snapshot
 * kept by any rule is kept. The newest snapshot is always kept: the chain's end cannot be
 * forgotten without looking like a rollback (see check).
 */
import type { StoredSnapshot } from './repository.js';

export interface RetentionPolicy {
  /** Keep every snapshot younger than this many milliseconds. */
  readonly withinMs?: number;
  readonly last?: number;
  readonly hourly?: number;
  readonly daily?: number;
  readonly weekly?: number;
  readonly monthly?: number;
  readonly tags?: readonly string[];
  /** Keep every snapshot with a tag other than `auto` (made on purpose by a user). */
  readonly keepNamed?: boolean;
}

/** The tag automatic snapshots of a mount carry. */
export const AUTO_TAG = 'auto';

/**
 * Like Time Machine: every snapshot of the last 24 hours (hourly ones, with the default
 * --snapshot-interval), one a day for the last 30 days that have one, one a week beyond.
 * Snapshots carrying a tag other than `auto` are kept (a named snapshot is a user's
 * intention; `cairn forget STORE ID` removes one explicitly). Counting days that have a
 * snapshot rather than calendar days keeps more, never less, when the machine was off.
 */
export const TIME_MACHINE_POLICY: RetentionPolicy = { withinMs: 24 * 3600 * 1000, daily: 30, weekly: Infinity, keepNamed: true };

export interface RetentionDecision {
  readonly snapshot: StoredSnapshot;
  readonly keep: boolean;
  /** Why it is kept (empty when forgotten). */
  readonly reasons: string[];
}

type Bucket = 'hourly' | 'daily' | 'weekly' | 'monthly';
const BUCKETS: readonly Bucket[] = ['hourly', 'daily', 'weekly', 'monthly'];

export function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return !policy.withinMs && !policy.last && BUCKETS.every((b) => !policy[b]) && !(policy.tags && policy.tags.length > 0) && !policy.keepNamed;
}

/** Decides for every snapshot; the result is in the order given (oldest first). */
export function applyRetention(snapshots: readonly StoredSnapshot[], policy: RetentionPolicy, nowMs = Date.now()): RetentionDecision[] {
  const newestFirst = [...snapshots].sort((a, b) => Number(b.snapshot.timeNs - a.snapshot.timeNs) || b.snapshot.seq - a.snapshot.seq);
  const newestSeq = Math.max(...snapshots.map((s) => s.snapshot.seq));
  const reasons = new Map<string, string[]>(snapshots.map((s) => [s.id, []]));
  const used = new Map<Bucket, Set<string>>(BUCKETS.map((b) => [b, new Set()]));
  newestFirst.forEach((s, position) => {
    const why = reasons.get(s.id)!;
    if (s.snapshot.seq === newestSeq) why.push('newest');
    if (policy.last && position < policy.last) why.push('last');
    if (policy.withinMs && nowMs - Number(s.snapshot.timeNs / 1_000_000n) < policy.withinMs) why.push('recent');
    for (const bucket of BUCKETS) {
      const limit = policy[bucket] ?? 0;
      const seen = used.get(bucket)!;
      const key = bucketKey(bucket, s.snapshot.timeNs);
      // Only the newest snapshot of a period counts for it; older ones in it do not.
      if (seen.size < limit && !seen.has(key)) {
        seen.add(key);
        why.push(bucket);
      }
    }
    for (const tag of policy.tags ?? []) if (s.snapshot.tags.includes(tag)) why.push(`tag ${tag}`);
    if (policy.keepNamed && s.snapshot.tags.some((t) => t !== AUTO_TAG)) why.push('named');
  });
  return snapshots.map((snapshot) => {
    const why = reasons.get(snapshot.id)!;
    return { snapshot, keep: why.length > 0, reasons: why };
  });
}

function bucketKey(bucket: Bucket, timeNs: bigint): string {
  const t = new Date(Number(timeNs / 1_000_000n));
  switch (bucket) {
    case 'hourly':
      return `${t.getFullYear()}-${t.getMonth()}-${t.getDate()}-${t.getHours()}`;
    case 'daily':
      return `${t.getFullYear()}-${t.getMonth()}-${t.getDate()}`;
    case 'weekly': {
      const { year, week } = isoWeek(t);
      return `${year}-W${week}`;
    }
    case 'monthly':
      return `${t.getFullYear()}-${t.getMonth()}`;
  }
}

/** ISO 8601 week of a local date: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(t: Date): { year: number; week: number } {
  const day = new Date(t.getFullYear(), t.getMonth(), t.getDate());
  const weekday = (day.getDay() + 6) % 7; // Monday = 0
  day.setDate(day.getDate() - weekday + 3); // the Thursday of this week decides the year
  const year = day.getFullYear();
  const firstThursday = new Date(year, 0, 4);
  firstThursday.setDate(firstThursday.getDate() - ((firstThursday.getDay() + 6) % 7) + 3);
  const week = 1 + Math.round((day.getTime() - firstThursday.getTime()) / (7 * 24 * 3600 * 1000));
  return { year, week };
}
