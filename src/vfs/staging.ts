/**
 * Write-back staging on local disk (docs/LOCAL_STATE.md "Staging"): bytes written through the
 * mount and not yet packed into the repository. They are appended to a staging log, a few
 * large segment files, and each `write` journal record says where its bytes went. A write()
 * is in the page cache of a segment when it returns, so killing the daemon loses nothing;
 * fsync() makes it durable.
 *
 * Why a log and not a file per file: creating and deleting a file per written file cost
 * 100–500 µs each on ext4 while packs are fsync'd (a file creation waits for the disk
 * journal's commit), on the path of every write an rsync waits for. An append does not.
 *
 * Which staged bytes are current is known from the journal's records alone (the extents
 * below are rebuilt by replaying them); a segment is deleted only when no current byte lives
 * in it *and* the records that made its bytes obsolete are durable in the journal, so power
 * lost at any moment never leaves a record pointing at a deleted segment.
 */
import { closeSync, constants, fsyncSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import * as path from 'node:path';

/** A segment grows to about this size before the next one starts (reclaimed one at a time). */
export const SEGMENT_BYTES = 64 * 1024 * 1024;

/** Where a write's bytes were staged: segment `log.<seg>` at byte `at`. */
export interface StagedAt {
  readonly seg: number;
  readonly at: number;
}

interface Segment {
  readonly name: string;
  /** Open descriptor (closed when the segment is deleted). */
  fd: number | undefined;
  /** Bytes in the file. */
  size: number;
  /** Bytes of it that are some file's current staged data. */
  live: number;
  /** Journal position at which `live` last fell to 0 (undefined while live or current). */
  deadAt: number | undefined;
  /** Written since its last fsync. */
  unsynced: boolean;
  /** Its folder entry is not yet known to be on disk. */
  nameUnsynced: boolean;
}

/** File bytes [start, end) are staged in `seg` from byte `at`. */
interface Extent {
  start: number;
  end: number;
  readonly seg: Segment;
  at: number;
}

const LOG_NAME = /^log\.(\d{1,15})$/;
/** Staging files of journal version 2: `staging/<file id>`, bytes at the file's own offsets. */
const LEGACY_NAME = /^\d{1,15}$/;

export class StagingArea {
  private readonly segments = new Map<string, Segment>();
  /** Per file id: its staged extents, sorted by file offset, not overlapping. */
  private readonly extents = new Map<number, Extent[]>();
  /** Per file id: staged bytes replaced by later writes since its last commit (garbage it made). */
  private readonly overwrittenBytes = new Map<number, number>();
  private current: Segment | undefined;
  private nextSeg: number;
  /** Bytes on disk in all segments: what the write budget (back-pressure) counts. */
  bytes = 0;

  /**
   * `position`: the journal's position now (grows with every record appended, never goes
   * back); a segment that dies is deleted once the journal is durable past that position.
   */
  constructor(
    private readonly dir: string,
    private readonly position: () => number,
    private readonly segmentBytes = SEGMENT_BYTES,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let highest = 0;
    for (const name of readdirSync(dir)) {
      const log = LOG_NAME.exec(name);
      if (!log && !LEGACY_NAME.test(name)) continue;
      if (log) highest = Math.max(highest, Number(log[1]));
      // What a killed mount left: dead until a replayed record places bytes in it.
      const size = statSync(path.join(dir, name)).size;
      this.segments.set(name, { name, fd: undefined, size, live: 0, deadAt: 0, unsynced: false, nameUnsynced: false });
      this.bytes += size;
    }
    // Never append to a segment a crashed process left: start a new one.
    this.nextSeg = highest + 1;
  }

  /** Appends `data` to the log; the caller's journal record must name the place returned. */
  append(data: Uint8Array): StagedAt {
    let segment = this.current;
    if (!segment || (segment.size > 0 && segment.size + data.length > this.segmentBytes)) segment = this.startSegment();
    const fd = segment.fd!; // the current segment was created open
    const at = segment.size;
    let done = 0;
    try {
      while (done < data.length) done += writeSync(fd, data, done, data.length - done, at + done);
    } finally {
      // Even a partial write occupies the space; the next append goes after it.
      segment.size += done;
      this.bytes += done;
      segment.unsynced = true;
    }
    return { seg: Number(LOG_NAME.exec(segment.name)![1]), at };
  }

  private startSegment(): Segment {
    this.retireCurrent();
    const name = `log.${this.nextSeg++}`;
    const fd = openSync(path.join(this.dir, name), constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    const segment: Segment = { name, fd, size: 0, live: 0, deadAt: undefined, unsynced: true, nameUnsynced: true };
    this.segments.set(name, segment);
    this.current = segment;
    return segment;
  }

  /** The current segment takes no more appends; if nothing in it is current it may go. */
  private retireCurrent(): void {
    const old = this.current;
    this.current = undefined;
    if (old && old.live === 0) old.deadAt ??= this.position();
  }

  /**
   * A record was applied: file `ino`'s bytes [offset, offset + length) are the ones staged at
   * `where` (undefined: a version-2 journal's record, bytes in `staging/<ino>` at `offset`).
   */
  place(ino: number, offset: number, length: number, where: StagedAt | undefined): void {
    if (length === 0) return;
    const name = where ? `log.${where.seg}` : String(ino);
    let seg = this.segments.get(name);
    if (!seg) {
      // A record naming a segment that is not there (deleted by hand): its bytes read as
      // zeros, as a missing staging file always did; nothing is created for it.
      seg = { name, fd: undefined, size: 0, live: 0, deadAt: 0, unsynced: false, nameUnsynced: false };
      this.segments.set(name, seg);
    }
    this.cut(ino, offset, offset + length, true);
    const list = this.extents.get(ino) ?? [];
    const at = where ? where.at : offset;
    const i = lowerBound(list, offset);
    const before = list[i - 1];
    if (before && before.end === offset && before.seg === seg && before.at + (before.end - before.start) === at) {
      before.end += length; // a sequential writer: one extent, not one per write
    } else {
      list.splice(i, 0, { start: offset, end: offset + length, seg, at });
    }
    this.extents.set(ino, list);
    seg.live += length;
    seg.deadAt = undefined;
  }

  /** Reads exactly `length` staged bytes at `offset` into `out` at `outOffset` (zeros where none are). */
  read(ino: number, offset: number, length: number, out: Buffer, outOffset: number): void {
    // Zeros only where no staged byte lands (gaps, a segment cut short): filling the whole
    // range first cost 0.4 s of the JS thread per GiB streamed.
    const end = offset + length;
    let filled = offset; // out holds the file's bytes up to here
    const list = this.extents.get(ino) ?? [];
    for (let i = Math.max(0, lowerBound(list, offset) - 1); i < list.length && list[i]!.start < end; i++) {
      const e = list[i]!;
      const from = Math.max(e.start, offset);
      const to = Math.min(e.end, end);
      if (from >= to) continue;
      const fd = this.fdOf(e.seg);
      if (fd === undefined) continue;
      if (from > filled) out.fill(0, outOffset + (filled - offset), outOffset + (from - offset));
      let done = 0;
      while (done < to - from) {
        const n = readSync(fd, out, outOffset + (from - offset) + done, to - from - done, e.at + (from - e.start) + done);
        if (n === 0) break; // past the segment's end (bytes lost with a power cut before fsync): zeros
        done += n;
      }
      if (done < to - from) out.fill(0, outOffset + (from - offset) + done, outOffset + (to - offset));
      filled = to;
    }
    if (filled < end) out.fill(0, outOffset + (filled - offset), outOffset + length);
  }

  /** The file was truncated to `size`: its staged bytes beyond are no longer current. */
  truncate(ino: number, size: number): void {
    this.cut(ino, size, Number.MAX_SAFE_INTEGER, false);
  }

  /** The file's staged bytes in [start, end) are no longer current (a stream committed them). */
  committed(ino: number, start: number, end: number): void {
    this.cut(ino, start, end, false);
  }

  /** The file's staged bytes are no longer current (committed, or the file is gone). */
  remove(ino: number): void {
    this.cut(ino, 0, Number.MAX_SAFE_INTEGER, false);
    this.extents.delete(ino);
    this.overwrittenBytes.delete(ino);
  }

  /** Staged bytes of `ino` that later writes replaced since it was last committed. */
  overwritten(ino: number): number {
    return this.overwrittenBytes.get(ino) ?? 0;
  }

  /** Drops [start, end) from ino's extents; `overwrite`: a write replaces them (counted as garbage). */
  private cut(ino: number, start: number, end: number, overwrite: boolean): void {
    const list = this.extents.get(ino);
    if (!list) return;
    // Only the extents overlapping [start, end) change (a write calls this every time: no
    // walk over a big file's other extents). The one before `first` may reach into it.
    let first = lowerBound(list, start);
    if (first > 0 && list[first - 1]!.end > start) first--;
    let last = first;
    while (last < list.length && list[last]!.start < end) last++;
    if (first === last) return;
    const replacement: Extent[] = [];
    let dropped = 0;
    for (const e of list.slice(first, last)) {
      if (e.start < start) replacement.push({ start: e.start, end: start, seg: e.seg, at: e.at });
      if (e.end > end) replacement.push({ start: end, end: e.end, seg: e.seg, at: e.at + (end - e.start) });
      const gone = Math.min(e.end, end) - Math.max(e.start, start);
      dropped += gone;
      e.seg.live -= gone;
      if (e.seg.live === 0 && e.seg !== this.current) e.seg.deadAt = this.position();
    }
    list.splice(first, last - first, ...replacement);
    if (list.length === 0) this.extents.delete(ino);
    if (overwrite) this.overwrittenBytes.set(ino, this.overwritten(ino) + dropped);
  }

  /** Makes every staged byte durable (the segments written since, and new segments' names). */
  sync(): void {
    let names = false;
    for (const seg of this.segments.values()) {
      if (seg.unsynced && seg.fd !== undefined) fsyncSync(seg.fd);
      seg.unsynced = false;
      names ||= seg.nameUnsynced;
    }
    if (!names) return;
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    for (const seg of this.segments.values()) seg.nameUnsynced = false;
  }

  /**
   * The journal is durable up to `durable`: deletes the segments no current byte lives in
   * whose bytes became obsolete at or before it. A current segment with nothing current in
   * it is retired first, so its space comes back too.
   */
  reclaim(durable: number): void {
    if (this.current && this.current.live === 0 && this.current.size > 0) this.retireCurrent();
    for (const seg of [...this.segments.values()]) {
      if (seg === this.current || seg.live > 0 || seg.deadAt === undefined || seg.deadAt > durable) continue;
      if (seg.fd !== undefined) closeSync(seg.fd);
      rmSync(path.join(this.dir, seg.name), { force: true });
      this.segments.delete(seg.name);
      this.bytes -= seg.size;
    }
  }

  /**
   * Files whose current staged bytes are not all on disk (a segment deleted by hand, or
   * bytes lost with a power cut before any fsync): those bytes read as zeros.
   */
  missing(): { ino: number; bytes: number }[] {
    const found: { ino: number; bytes: number }[] = [];
    for (const [ino, list] of this.extents) {
      let bytes = 0;
      for (const e of list) {
        // A segment's size is what is on disk (0 for one a record names that is not there).
        const available = Math.max(0, Math.min(e.end - e.start, e.seg.size - e.at));
        bytes += e.end - e.start - available;
      }
      if (bytes > 0) found.push({ ino, bytes });
    }
    return found;
  }

  /** File ids with staged bytes (for tests and checks). */
  inodes(): number[] {
    return [...this.extents.keys()];
  }

  /** Segment files now on disk (for tests). */
  segmentNames(): string[] {
    return [...this.segments.values()].filter((s) => s.fd !== undefined || s.size > 0).map((s) => s.name);
  }

  /** The segment's descriptor, opened on first use; undefined when its file is gone. */
  private fdOf(seg: Segment): number | undefined {
    if (seg.fd === undefined) {
      try {
        seg.fd = openSync(path.join(this.dir, seg.name), constants.O_RDWR);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    }
    return seg.fd;
  }

  close(): void {
    for (const seg of this.segments.values()) {
      if (seg.fd !== undefined) closeSync(seg.fd);
      seg.fd = undefined;
    }
  }
}

/** First index whose extent starts at or after `offset`. */
function lowerBound(list: readonly Extent[], offset: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.start < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
