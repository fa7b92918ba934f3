/**
 * Streaming commit: a file written front to back is chunked, compressed, sealed and packed
 * while it is being written, so that closing it leaves about one chunk of work instead of
 * the whole file (docs/ARCHITECTURE.md, "Streaming commit"). In the mount the chunking and
 * sealing of each step run on the blob thread (src/repository/blob-thread.ts).
 *
 * A stream only runs ahead of what is durable elsewhere: every byte it reads is already in
 * staging and the journal, and its chunks become part of the file only through a journal
 * record: a `chunks` record every STREAM_JOURNAL_BYTES once the store holds them and an index
 * file names them (then the staged bytes they replace are reclaimed while the file is still
 * written), and the `content` record of the commit that takes the stream over. A crash loses
 * nothing but work; at worst the packs it uploaded are named by no snapshot (prune removes
 * them).
 *
 * Validity rests on one rule, enforced where every content change is applied
 * (InodeTable.apply): a write below `fed`, or any truncate, while a stream exists ends it
 * for good (`inode.stream = null` until the file's next commit), since the bytes it chunked
 * are no longer the file's. Writes at or past `fed` are read later, as they are then.
 */
import type { Repository } from '../repository/repository.js';
import { ChunkSaver } from './chunk-saver.js';
import type { ChunkRef } from './records.js';

export class ContentStream {
  /** Bytes [0, fed) of the file have been chunked or were committed before the stream (up to `rest`, whose chunk is not complete yet). */
  fed = 0;
  /**
   * The bytes after the last cut: the next step is chunked from here. Steps keep no other
   * state (Repository.sealStreamStep), so they can run on the mount's blob thread.
   */
  rest: Uint8Array = new Uint8Array(0);
  readonly saver: ChunkSaver;
  /** The step in progress (reading staged bytes and saving chunks), if any. */
  running: Promise<void> | undefined;
  /** Bytes in the chunks handed to `saver` so far: [0, chunked) of the file. */
  chunked = 0;
  /** The first chunks of `saver`'s list, and their bytes, that `chunks` records already commit. */
  journaled = { chunks: 0, bytes: 0 };
  /** The `chunks` record in progress (FileData.journalStream), if any. */
  journaling: Promise<void> | undefined;
  /** Whether writes wait for this stream when they run too far ahead (FileData.throttle). */
  throttles = true;
  private readonly waiting: (() => void)[] = [];

  /**
   * `committed`: the file's committed chunks, holding bytes [0, from), when the stream
   * continues them (a file appended to); the chunker starts afresh at `from`.
   */
  constructor(repo: Repository, committed: readonly ChunkRef[] = [], from = 0) {
    this.saver = new ChunkSaver(repo);
    for (const chunk of committed) this.saver.reuse(chunk);
    this.fed = this.chunked = from;
    this.journaled = { chunks: committed.length, bytes: from };
  }

  /** A step is done, or the stream stopped: whoever waits for it looks again. */
  stepped(): void {
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** Resolves true at the next step, or false if none comes within `timeoutMs`. */
  nextStep(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(wake);
        if (at >= 0) this.waiting.splice(at, 1);
        resolve(false);
      }, timeoutMs);
      this.waiting.push(wake);
    });
  }
}
