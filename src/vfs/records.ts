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
  /** `seg`/`at`: where the bytes are staged (staging/log.<seg> from byte at); absent in version-2 journals. */
  | { op: 'write'; ino: number; offset: number; length: number; seg?: number; at?: number; t: bigint }
  | { op: 'xattr'; ino: number; name: string; value: string | null; t: bigint }
  | { op: 'content'; ino: number; content: ChunkRef[]; size: number }
  /**
   * A streamed file's next committed bytes while it is still being written: bytes
   * [from, from + Σ sizes) are these chunks (on the store), after its committed chunks.
   */
  | { op: 'chunks'; ino: number; from: number; content: ChunkRef[] };

const NODE_TYPES = new Set(['file', 'dir', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev']);
const OPTIONAL_TIMES = ['atime', 'mtime'] as const;

/** A record read back that is complete (checksummed) but not a record this code can apply. */
export class MalformedRecord extends Error {}

/**
 * Checks and revives one record read back from the journal: every field of its kind present
 * with the right type, times as BigInt. Throws MalformedRecord otherwise, so replay never
 * applies half of a record it misunderstands.
 */
export function parseRecord(raw: unknown): JournalRecord {
  if (typeof raw !== 'object' || raw === null) throw new MalformedRecord('not an object');
  const r = raw as Record<string, unknown>;
  const bad = (field: string): never => {
    throw new MalformedRecord(`${String(r.op)} record has a malformed ${field}`);
  };
  const id = (field: string) => (Number.isSafeInteger(r[field]) && (r[field] as number) > 0 ? (r[field] as number) : bad(field));
  const count = (field: string) => (Number.isSafeInteger(r[field]) && (r[field] as number) >= 0 ? (r[field] as number) : bad(field));
  const name = (field: string) => (typeof r[field] === 'string' && r[field] !== '' && !(r[field] as string).includes('/') ? (r[field] as string) : bad(field));
  const time = (field: string) => {
    const v = r[field];
    return typeof v === 'string' && /^-?\d{1,20}n$/.test(v) ? BigInt(v.slice(0, -1)) : bad(field);
  };
  const t = () => ({ t: time('t') });
  switch (r.op) {
    case 'mknod': {
      if (!NODE_TYPES.has(r.type as string)) bad('type');
      if (r.target !== undefined && typeof r.target !== 'string') bad('target');
      return {
        op: 'mknod', parent: id('parent'), name: name('name'), ino: id('ino'), type: r.type as NodeType,
        mode: count('mode'), uid: count('uid'), gid: count('gid'), rdev: count('rdev'),
        ...(r.target !== undefined ? { target: r.target as string } : {}), ...t(),
      };
    }
    case 'link':
      return { op: 'link', parent: id('parent'), name: name('name'), ino: id('ino'), ...t() };
    case 'unlink':
      return { op: 'unlink', parent: id('parent'), name: name('name'), ...t() };
    case 'rename':
      return { op: 'rename', parent: id('parent'), name: name('name'), newParent: id('newParent'), newName: name('newName'), ...t() };
    case 'setattr': {
      const record: { -readonly [K in keyof Extract<JournalRecord, { op: 'setattr' }>]: Extract<JournalRecord, { op: 'setattr' }>[K] } = { op: 'setattr', ino: id('ino'), ...t() };
      if (r.mode !== undefined) record.mode = count('mode');
      if (r.uid !== undefined) record.uid = count('uid');
      if (r.gid !== undefined) record.gid = count('gid');
      for (const field of OPTIONAL_TIMES) if (r[field] !== undefined) record[field] = time(field);
      return record;
    }
    case 'truncate':
      return { op: 'truncate', ino: id('ino'), size: count('size'), ...t() };
    case 'write': {
      if ((r.seg === undefined) !== (r.at === undefined)) bad('seg');
      const staged = r.seg === undefined ? {} : { seg: id('seg'), at: count('at') };
      return { op: 'write', ino: id('ino'), offset: count('offset'), length: count('length'), ...staged, ...t() };
    }
    case 'xattr':
      if (r.value !== null && typeof r.value !== 'string') bad('value');
      return { op: 'xattr', ino: id('ino'), name: typeof r.name === 'string' ? r.name : bad('name'), value: r.value as string | null, ...t() };
    case 'content':
      return { op: 'content', ino: id('ino'), content: chunkList(r.content, bad), size: count('size') };
    case 'chunks': {
      const content = chunkList(r.content, bad);
      if (content.length === 0) bad('content');
      return { op: 'chunks', ino: id('ino'), from: count('from'), content };
    }
    default:
      throw new MalformedRecord(`unknown record kind ${JSON.stringify(r.op)}`);
  }
}

function chunkList(raw: unknown, bad: (field: string) => never): ChunkRef[] {
  if (!Array.isArray(raw)) bad('content');
  return (raw as unknown[]).map((c) => {
    const chunk = c as { id?: unknown; size?: unknown };
    if (typeof chunk?.id !== 'string' || !/^[0-9a-f]{64}$/.test(chunk.id) || !Number.isSafeInteger(chunk.size) || (chunk.size as number) <= 0) bad('chunk');
    return { id: chunk.id as string, size: chunk.size as number };
  });
}

/** BigInt times travel as decimal strings with an 'n' suffix. */
export function recordJson(record: JournalRecord): string {
  return JSON.stringify(record, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value));
}
