/**
 * Journal records: every change to the live tree, as data. The filesystem validates an
 * operation, appends its record to the journal, then applies it; replay after a crash
 * applies the same records to the base snapshot. Times are nanoseconds (BigInt).
 */
import type { NodeType } from '../format/tree.js';

export interface ChunkRef {
  readonly id: string;
  readonly size: number;
}

export type JournalRecord =
  | { op: 'mknod'; parent: number; name: string; ino: number; type: NodeType; mode: number; uid: number; gid: number; rdev: number; target?: string; t: bigint }
  | { op: 'link'; parent: number; name: string; ino: number; t: bigint }
  | { op: 'unlink'; parent: number; name: string; t: bigint }
  | { op: 'rename'; parent: number; name: string; newParent: number; newName: string; t: bigint }
  | { op: 'setattr'; ino: number; mode?: number; uid?: number; gid?: number; atime?: bigint; mtime?: bigint; t: bigint }
  | { op: 'truncate'; ino: number; size: number; t: bigint }
  | { op: 'write'; ino: number; offset: number; length: number; t: bigint }
  | { op: 'xattr'; ino: number; name: string; value: string | null; t: bigint }
  | { op: 'content'; ino: number; content: ChunkRef[]; size: number };

const TIME_FIELDS = ['t', 'atime', 'mtime'] as const;

/** Restores BigInt times in a record read back from the journal. */
export function reviveRecord(raw: unknown): JournalRecord {
  const record = { ...(raw as Record<string, unknown>) };
  for (const field of TIME_FIELDS) {
    const value = record[field];
    if (typeof value === 'string' && value.endsWith('n')) record[field] = BigInt(value.slice(0, -1));
  }
  return record as unknown as JournalRecord;
}
