/**
 * Turns staged file data into chunks in the background. A file closed with staged bytes is
 * committed once writes have been quiet for a moment; a snapshot commits everything.
 *
 * Order per batch, so that no crash loses data: (1) chunk, seal and pack each file while
 * holding its commit lock (writes to it wait); (2) one repository flush puts the packs and
 * an index file on the store; (3) a `content` journal record per file, fsync'd, makes the
 * new chunk lists part of the live tree; only then (4) the staged bytes' space is reclaimed.
 * A background batch starts only while no snapshot holds the tree (its records change it).
 */
import { Backoff } from '../backend/backoff.js';
import type { Barrier } from './barrier.js';
import type { Repository } from '../repository/repository.js';
import type { FileData } from './file-data.js';
import type { CommitGate } from './filesystem.js';
import { continuesCommitted, type Inode, type InodeTable, needsCommit, storedLinks } from './inode-table.js';
import type { Journal } from './journal.js';
import type { JournalRecord } from './records.js';

export interface FlusherOptions {
  /** Quiet time after the last close before a background commit starts. */
  readonly quietMs?: number;
  /** Longest a closed file waits while closes keep coming (an rsync never pauses). */
  readonly maxDelayMs?: number;
  /** Called with background errors (the CLI logs them); the data stays staged and is retried. */
  readonly onError?: (error: unknown) => void;
  /** The session's barrier: background batches wait while a snapshot holds the tree. */
  readonly barrier?: Barrier;
}


export class Flusher implements CommitGate {
  private readonly closed = new Set<number>();
  private readonly locks = new Map<number, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  /** When the oldest file waiting for a background commit was closed. */
  private waitingSince: number | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly backoff = new Backoff();
  /** The last background commit that failed, until one succeeds again (for `cairn status`). */
  lastFailure: { readonly error: unknown; readonly at: number } | undefined;
  /** Bytes chunked by commits (for tests and stats: the work done). */
  rechunkedBytes = 0;
  /** Files whose data commits turned into chunks (for progress). */
  committedFiles = 0;
  addedBytes = 0;

  constructor(
    private readonly table: InodeTable,
    private readonly data: FileData,
    private readonly repo: Repository,
    private readonly journal: Journal,
    private readonly options: FlusherOptions = {},
  ) {}

  /** Bytes chunked by commits so far, also in the middle of a file (for progress). */
  get chunkedBytes(): number {
    return this.data.chunkedBytes;
  }

  isCommitting(ino: number): boolean {
    return this.locks.has(ino);
  }

  async idle(ino: number): Promise<void> {
    for (let lock = this.locks.get(ino); lock; lock = this.locks.get(ino)) await lock;
  }

  fileClosed(inode: Inode): void {
    this.closed.add(inode.ino);
    this.waitingSince ??= Date.now();
    const quiet = this.options.quietMs ?? 1000;
    const latest = this.waitingSince + (this.options.maxDelayMs ?? 5000) - Date.now();
    this.schedule(Math.max(0, Math.min(quiet, latest)));
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.waitingSince = undefined;
      const inos = [...this.closed];
      this.closed.clear();
      void this.commit(inos, true).catch((e) => {
        for (const ino of inos) this.closed.add(ino);
        this.lastFailure = { error: e, at: Date.now() };
        this.options.onError?.(e);
        this.schedule(this.backoff.next());
      });
    }, delayMs);
    this.timer.unref();
  }

  /** Commits this file at once, even while it is open (it replaced much of its staged data). */
  commitSoon(ino: number): void {
    if (this.closed.has(ino) && this.timer) return;
    this.closed.add(ino);
    this.schedule(0);
  }

  /** Commits every file with staged data at once, open or not (the write budget is used up). */
  commitStagedSoon(): void {
    let added = false;
    for (const inode of this.table.uncommittedFiles()) {
      if (inode.dirty.isEmpty || storedLinks(inode) === 0 || this.closed.has(inode.ino)) continue;
      this.closed.add(inode.ino);
      added = true;
    }
    if (added || !this.timer) this.schedule(0);
  }

  /**
   * Commits every named file that has staged or truncated data, open or not (a file with no
   * name left is never stored). A snapshot calls it, also while it holds the barrier.
   */
  async commitAll(): Promise<void> {
    const inos = [...this.table.uncommittedFiles()].filter((i) => storedLinks(i) > 0).map((i) => i.ino);
    this.closed.clear();
    await this.commit(inos, false);
  }

  /** Batches run one at a time; background ones wait while a snapshot holds the tree. */
  private commit(inos: number[], background: boolean): Promise<void> {
    const barrier = this.options.barrier;
    const next = this.running.then(async () => {
      if (background) while (barrier?.isFrozen()) await barrier.thawed();
      return this.commitBatch(inos);
    });
    this.running = next.catch(() => undefined);
    return next;
  }

  private async commitBatch(inos: number[]): Promise<void> {
    const done: Extract<JournalRecord, { op: 'content' }>[] = [];
    let failure: unknown;
    const pinned: Inode[] = [];
    const releases: (() => void)[] = [];
    try {
      for (const ino of inos) {
        const inode = this.table.get(ino);
        if (!inode || !needsCommit(inode) || storedLinks(inode) === 0) continue;
        await this.idle(ino);
        let release!: () => void;
        this.locks.set(ino, new Promise<void>((resolve) => (release = resolve)));
        releases.push(() => {
          this.locks.delete(ino);
          release();
        });
        inode.openCount++; // pinned: an unlink now must not drop its staging file under us
        pinned.push(inode);
        try {
          const result = await this.data.commit(inode);
          this.rechunkedBytes += result.rechunkedBytes;
          this.committedFiles++;
          this.addedBytes += result.addedBytes;
          done.push({ op: 'content', ino, content: result.content, size: result.size });
        } catch (e) {
          // One file that cannot be committed now (say it needs old chunks from a store that
          // is away) must not hold back the others: they go on; it is retried later.
          failure ??= e;
        }
      }
      if (done.length === 0) {
        if (failure !== undefined) throw failure;
        return;
      }
      await this.repo.flush();
      // Records, then the sync that makes them durable: only then does the staging log
      // delete the segments they made obsolete (src/vfs/staging.ts), so power lost at any
      // point leaves the record or the staged bytes, never neither.
      for (const record of done) {
        const inode = this.table.get(record.ino);
        if (!inode) continue;
        if (storedLinks(inode) > 0) this.journal.append(record);
        this.table.apply(record);
      }
      this.journal.sync();
      if (failure !== undefined) throw failure;
      this.backoff.reset();
      this.lastFailure = undefined;
    } finally {
      for (const inode of pinned) {
        inode.openCount--;
        this.table.freeIfUnused(inode);
      }
      for (const release of releases) release();
    }
  }

  /**
   * Journals a streamed file's chunks (FileData.journalStream; their blobs are on the store
   * and indexed), durably, so staging can let go of the bytes they replace. Not while a
   * snapshot holds the tree (the snapshot's own commit takes the stream over then).
   */
  journalChunks(inode: Inode, record: Extract<JournalRecord, { op: 'chunks' }>): boolean {
    if (this.options.barrier?.isFrozen() || storedLinks(inode) === 0 || !continuesCommitted(inode, record.from)) return false;
    this.journal.append(record);
    this.table.apply(record);
    this.journal.sync();
    return true;
  }

  /** Waits for the batch in progress; cancels the quiet-time timer. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
