/**
 * A file's bytes, seen through its layers: staged ranges (written, not yet committed) over
 * committed chunks (valid up to baseLimit) over zeros (holes and growth by truncate).
 *
 * commit() turns a file back into chunks doing only the work its changes need: unchanged
 * chunks are reused as they are; from the chunk holding a change it re-chunks until a cut
 * falls on an old chunk boundary whose chunk is unchanged, and reuses the rest. Because the
 * chunker is deterministic from any chunk start, the result equals chunking the whole file
 * again, at the cost of about one chunk per changed region.
 */
import type { Repository } from '../repository/repository.js';
import { ChunkSaver } from './chunk-saver.js';
import { ContentStream } from './content-stream.js';
import { StepBuffers } from './step-buffers.js';
import { continuesCommitted, type Inode, storedLinks } from './inode-table.js';
import type { ChunkRef, JournalRecord } from './records.js';
import { committedChunks } from './tree-sync.js';
import type { StagingArea } from './staging.js';

const READ_PIECE = 1024 * 1024;
/**
 * Chunks fetched ahead of a read, so sequential readers rarely wait for the store: up to
 * this many, and at least one but no more than PREFETCH_BYTES (the blob cache holds 64 MiB
 * by default). Eight measured faster than two or four on a cold 1 GiB read once blobs were
 * opened on a worker thread (docs/BENCHMARKS.md).
 */
export const PREFETCH_CHUNKS = 8;
export const PREFETCH_BYTES = 8 * 1024 * 1024;
/**
 * A file with nothing committed is streamed (chunked while it is written) once this much
 * of it is written, in steps of this size; what remains at close is under about one step
 * plus one chunk.
 */
export const STREAM_STEP = 4 * 1024 * 1024;
/**
 * A writer more than this many steps ahead of its file's stream waits for it (the stream's
 * steps run on the blob thread and would otherwise fall behind a fast writer, leaving the
 * backlog to the commit at close). A stream that makes no step for STREAM_STALL_MS (the
 * store away, say) stops holding its writer back: staging takes the bytes as before.
 */
const STREAM_BACKLOG_STEPS = 4;
const STREAM_STALL_MS = 2000;
/**
 * A stream journals its chunks (a `chunks` record, after a store flush) each time this many
 * bytes more are chunked, so the staged bytes they replace are reclaimed while the file is
 * still being written: a big file needs about this much staging, not its own size, and its
 * bytes leave the page cache instead of piling up as dirty pages the kernel throttles.
 */
export const STREAM_JOURNAL_BYTES = 128 * 1024 * 1024;

/** Journals a stream's chunks: false when it cannot now (a snapshot holds the tree, the file has no name). */
export type JournalChunks = (inode: Inode, record: Extract<JournalRecord, { op: 'chunks' }>) => boolean;

export interface CommitResult {
  readonly content: ChunkRef[];
  readonly size: number;
  readonly addedBytes: number;
  /** Bytes passed through the chunker (the work done). */
  readonly rechunkedBytes: number;
}

/** Chunk start offsets, computed once per content list (a new list replaces it on commit). */
const startsCache = new WeakMap<readonly ChunkRef[], number[]>();

function chunkStarts(content: readonly ChunkRef[]): number[] {
  let starts = startsCache.get(content);
  if (!starts) {
    starts = [0];
    for (const c of content) starts.push(starts[starts.length - 1]! + c.size);
    startsCache.set(content, starts);
  }
  return starts;
}

export class FileData {
  /** Bytes passed through the chunker by commits so far, counted as they go (for progress). */
  chunkedBytes = 0;
  private readonly stepBuffers = new StepBuffers();
  /** Set by the session (the flusher journals); without it streams journal nothing until the commit. */
  journalChunks: JournalChunks | undefined;

  constructor(
    private readonly repo: Repository,
    private readonly staging: StagingArea,
    /** Tests make this small so that the crash model streams its small files too. */
    private readonly streamStep = STREAM_STEP,
    private readonly streamJournalBytes = STREAM_JOURNAL_BYTES,
  ) {}

  /**
   * Called after each write is applied: starts or continues the file's streaming commit
   * (src/vfs/content-stream.ts) when a step's worth of it is written past what the stream
   * has read. A stream starts on a file whose staged bytes all lie past its committed ones
   * (a new file, one truncated to 0, or one being appended to) and continues from there;
   * its own `chunks` records commit bytes as it goes.
   */
  noteWrite(inode: Inode): void {
    if (inode.stream === null) return;
    if (!inode.stream) {
      if (inode.size - inode.baseLimit < this.streamStep || inode.dirty.intersects(0, inode.baseLimit)) return;
      // Appending to committed chunks that are all still valid: the stream continues them.
      const committed = inode.baseLimit === 0 ? [] : committedChunks(this.repo, inode);
      if (!continuesCommitted(inode, inode.baseLimit)) return;
      inode.stream = new ContentStream(this.repo, committed, inode.baseLimit);
    }
    const stream = inode.stream;
    if (stream.running || inode.size - stream.fed < this.streamStep) return;
    stream.running = this.advance(inode, stream)
      .catch(() => {
        // A save failed (the store is away, say): the commit at close does all the work.
        if (inode.stream === stream) inode.stream = null;
      })
      .finally(() => {
        stream.running = undefined;
        stream.stepped();
      });
  }

  /**
   * Waits while the file's writer is more than STREAM_BACKLOG_STEPS steps ahead of its
   * stream, so that a file closed after a fast sequential write leaves about one step of
   * work, as when the stream ran on this thread. The bytes are in staging and the journal
   * already; only the reply to the writer waits.
   */
  throttle(inode: Inode): Promise<void> | undefined {
    const stream = inode.stream;
    if (!stream?.throttles) return undefined;
    const behind = () => inode.stream === stream && stream.running !== undefined && inode.size - stream.fed > STREAM_BACKLOG_STEPS * this.streamStep;
    if (!behind()) return undefined; // the usual case: no promise per write
    return (async () => {
      while (behind()) {
        if (!(await stream.nextStep(STREAM_STALL_MS))) {
          stream.throttles = false;
          return;
        }
      }
    })();
  }

  private async advance(inode: Inode, stream: ContentStream): Promise<void> {
    // A file with no stored name left is never committed: its stream stops.
    while (inode.stream === stream && storedLinks(inode) > 0 && inode.size - stream.fed >= this.streamStep) {
      const from = stream.fed;
      // Raised before reading: from here on a write below it ends the stream (InodeTable.apply),
      // so bytes read while the stream is still attached afterwards are the file's.
      stream.fed = from + this.streamStep;
      const step = await this.sealStep(inode, from, this.streamStep, stream.rest, false, () => inode.stream === stream);
      if (!step || inode.stream !== stream) return;
      const { chunks, rest, length } = step;
      stream.rest = rest;
      this.chunkedBytes += length;
      for (const chunk of chunks) await stream.saver.saveSealed(chunk);
      stream.chunked += chunks.reduce((sum, c) => sum + c.plainLength, 0);
      stream.stepped();
      this.journalIfDue(inode, stream);
      // Let FUSE requests in between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Starts journaling the stream's chunks when STREAM_JOURNAL_BYTES more are chunked; the steps go on meanwhile. */
  private journalIfDue(inode: Inode, stream: ContentStream): void {
    if (!this.journalChunks || stream.journaling || stream.chunked - stream.journaled.bytes < this.streamJournalBytes) return;
    stream.journaling = this.journalStream(inode, stream)
      .catch(() => undefined) // the store is away, say: the chunks wait for the next try or the commit
      .finally(() => (stream.journaling = undefined));
  }

  /**
   * Journals the chunks the stream has saved since its last `chunks` record. Their blobs must
   * be on the store and named by an index file there first (the flush), so that the record,
   * once durable, never names a chunk a crash could lose; only then may the staged bytes go.
   */
  private async journalStream(inode: Inode, stream: ContentStream): Promise<void> {
    const saved = await stream.saver.savedSoFar();
    const { chunks: journaled, bytes: from } = stream.journaled;
    const content = saved.slice(journaled);
    if (content.length === 0) return;
    await this.repo.flush();
    // Checked in the same synchronous step as the record is written: a stream still attached
    // means no write below `fed` and no truncate came since the bytes were read.
    if (inode.stream !== stream) return;
    if (this.journalChunks!(inode, { op: 'chunks', ino: inode.ino, from, content })) {
      stream.journaled = { chunks: saved.length, bytes: from + content.reduce((sum, c) => sum + c.size, 0) };
    }
  }

  /**
   * One step of a stream: `rest`, then the file's bytes [from, from + length), read into a
   * step buffer and cut and sealed there (on the blob thread in the mount). Null when
   * `valid` says, once the bytes are read, that the stream ended meanwhile. `length`: the
   * file bytes the step took.
   */
  private async sealStep(inode: Inode, from: number, length: number, rest: Uint8Array, final: boolean, valid = () => true) {
    const buffer = this.stepBuffers.take(rest.length + length);
    try {
      const bytes = await this.read(inode, from, length, rest, buffer);
      if (!valid()) return null;
      const taken = bytes.length - rest.length;
      return { ...(await this.repo.sealStreamStep([bytes], final)), length: taken };
    } finally {
      this.stepBuffers.give(buffer); // nothing returned is a view of it: boxes are new, rest a copy
    }
  }

  /**
   * Up to `length` bytes at `offset` (fewer only at end of file), after a copy of `prefix`
   * when one is given: a stream's step is its rest and its next piece in one buffer, which
   * the chunker then cuts in place. Into the start of `into` when it is big enough.
   */
  async read(inode: Inode, offset: number, length: number, prefix?: Uint8Array, into?: Buffer): Promise<Buffer> {
    const end = Math.min(inode.size, offset + length);
    const before = prefix?.length ?? 0;
    const size = before + Math.max(0, end - offset);
    // Not zeroed here: staging.read zeroes what it fills, and other pieces are zeroed below
    // (a streamed file is all staged; zeroing it twice cost 0.36 s per GiB written).
    const out = into && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
    if (before > 0) out.set(prefix!, 0);
    if (offset >= end) return out;
    const at = before - offset; // out[at + x] holds the file's byte x
    // The pieces are looked at again after each wait: a commit meanwhile (a stream's `chunks`
    // record, say) moves staged bytes into chunks, and staging no longer has them.
    for (let pos = offset; pos < end; ) {
      const piece = inode.dirty.split(pos, end)[0]!;
      if (piece.inside) {
        this.staging.read(inode.ino, piece.start, piece.end - piece.start, out, at + piece.start);
      } else {
        out.fill(0, at + piece.start, at + piece.end);
        const baseEnd = Math.min(piece.end, inode.baseLimit);
        if (piece.start < baseEnd) await this.readBase(committedChunks(this.repo, inode), piece.start, baseEnd, out, at + piece.start);
        // Beyond baseLimit: the zeros just written.
      }
      pos = piece.end;
    }
    return out;
  }

  /**
   * Like read, for answering a read request: a range inside one committed chunk, with no
   * staged bytes over it, comes back as a view of the cached chunk instead of a copy (a
   * sequential reader asks for 128 KiB at a time; allocating, zeroing and filling a buffer
   * for each cost more than the reply). The caller must not write into it.
   */
  async readShared(inode: Inode, offset: number, length: number): Promise<Buffer> {
    const end = Math.min(inode.size, offset + length);
    const content = committedChunks(this.repo, inode);
    if (offset < end && end <= inode.baseLimit && (inode.dirty.isEmpty || inode.dirty.split(offset, end).every((p) => !p.inside))) {
      const starts = chunkStarts(content);
      const i = upperBound(starts, offset) - 1;
      if (i < content.length && end <= starts[i + 1]!) {
        this.prefetchAfter(content, i);
        const plaintext = await this.repo.loadBlob('data', content[i]!.id);
        return plaintext.subarray(offset - starts[i]!, end - starts[i]!);
      }
    }
    return this.read(inode, offset, length);
  }

  /** Warms the cache with the chunks after chunk `last`; a failure surfaces when that chunk is really read. */
  private prefetchAfter(content: readonly ChunkRef[], last: number): void {
    let bytes = 0;
    for (let ahead = last + 1; ahead <= last + PREFETCH_CHUNKS && ahead < content.length && bytes < PREFETCH_BYTES; ahead++) {
      this.repo.loadBlob('data', content[ahead]!.id).catch(() => undefined);
      bytes += content[ahead]!.size;
    }
  }

  private async readBase(content: readonly ChunkRef[], start: number, end: number, out: Buffer, outOffset: number): Promise<void> {
    const starts = chunkStarts(content);
    let i = upperBound(starts, start) - 1;
    const last = upperBound(starts, end - 1) - 1;
    this.prefetchAfter(content, last);
    let pos = start;
    while (pos < end && i < content.length) {
      const plaintext = await this.repo.loadBlob('data', content[i]!.id);
      const from = pos - starts[i]!;
      const to = Math.min(plaintext.length, end - starts[i]!);
      plaintext.copy(out, outOffset + (pos - start), from, to);
      pos = starts[i]! + to;
      i++;
    }
  }

  /**
   * The file's new chunk list. The caller holds the file's commit lock: no write or
   * truncate changes it meanwhile.
   */
  async commit(inode: Inode): Promise<CommitResult> {
    const stream = inode.stream;
    if (stream) {
      await stream.running;
      await stream.journaling;
      const intact = inode.stream === stream && !stream.saver.failed;
      // A stream is used by one commit at most, whatever becomes of it; the file streams
      // again only after its `content` record (InodeTable.apply).
      inode.stream = null;
      if (intact) return this.finishStream(inode, stream);
    }
    return this.rechunk(inode);
  }

  /** Chunks what the stream has not read yet, continuing its chunker: the same cuts as chunking the whole file. */
  private async finishStream(inode: Inode, stream: ContentStream): Promise<CommitResult> {
    const size = inode.size;
    let rechunkedBytes = 0;
    let rest = stream.rest;
    for (let at = stream.fed; ; at += READ_PIECE) {
      const length = Math.max(0, Math.min(READ_PIECE, size - at));
      const final = at + length >= size;
      const step = (await this.sealStep(inode, at, length, rest, final))!;
      rest = step.rest;
      rechunkedBytes += length;
      this.chunkedBytes += length;
      for (const chunk of step.chunks) await stream.saver.saveSealed(chunk);
      if (final) break;
    }
    const content = await stream.saver.finish();
    return { content, size, addedBytes: stream.saver.addedBytes, rechunkedBytes };
  }

  private async rechunk(inode: Inode): Promise<CommitResult> {
    const old = committedChunks(this.repo, inode);
    const starts = chunkStarts(old);
    const oldSize = starts[starts.length - 1]!;
    const boundary = new Map<number, number>();
    starts.slice(0, -1).forEach((s, i) => boundary.set(s, i));
    const size = inode.size;
    const reusable = (i: number): boolean => {
      const end = starts[i + 1]!;
      if (end > inode.baseLimit || inode.dirty.intersects(starts[i]!, end)) return false;
      // The old last chunk ended at end of file, not at a content cut: reusable only if the file still ends there.
      return i < old.length - 1 || (size === oldSize && inode.baseLimit === oldSize);
    };

    const saver = new ChunkSaver(this.repo);
    let rechunkedBytes = 0;
    let pos = 0;
    const store = async (chunk: Buffer) => {
      pos += chunk.length;
      await saver.save(chunk);
    };

    while (pos < size) {
      const i = boundary.get(pos);
      if (i !== undefined && reusable(i)) {
        saver.reuse(old[i]!);
        pos = starts[i + 1]!;
        continue;
      }
      const chunker = this.repo.newChunker();
      let cursor = pos;
      let resynced = false;
      feed: while (cursor < size) {
        // Let the event loop in between pieces: chunking and sealing a big file would
        // otherwise hold every FUSE request (and `cairn status`) until the file is done.
        if (cursor > pos) await new Promise((resolve) => setImmediate(resolve));
        const piece = await this.read(inode, cursor, Math.min(READ_PIECE, size - cursor));
        cursor += piece.length;
        rechunkedBytes += piece.length;
        this.chunkedBytes += piece.length;
        for (const chunk of chunker.push(piece)) {
          await store(chunk);
          const j = boundary.get(pos);
          if (j !== undefined && reusable(j)) {
            resynced = true;
            break feed;
          }
        }
      }
      if (!resynced) for (const chunk of chunker.finish()) await store(chunk);
    }
    const content = await saver.finish();
    return { content, size, addedBytes: saver.addedBytes, rechunkedBytes };
  }
}

/** First index whose value is greater than `value` in a sorted array. */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
