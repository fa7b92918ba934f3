/**
 * A live, writable view of a repository: the base snapshot loaded into inodes, the journal
 * replayed over it (what a crashed mount left), staging for new writes, a flusher committing
 * them, and snapshots of the whole tree. The FUSE adapter drives `fs`; nothing here knows FUSE.
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { CairnError } from '../errors/errors.js';
import { forgetByPolicy } from '../repository/forget.js';
import type { Repository, StoredSnapshot } from '../repository/repository.js';
import type { RetentionPolicy } from '../repository/retention.js';
import { SnapshotView } from '../timetravel/view.js';
import { FileData } from './file-data.js';
import type { TreeActivity } from './auto-snapshot.js';
import { Barrier } from './barrier.js';
import { Filesystem } from './filesystem.js';
import { Flusher } from './flusher.js';
import { InodeTable, ROOT_INO } from './inode-table.js';
import { Journal } from './journal.js';
import { reviveRecord } from './records.js';
import { StagingArea } from './staging.js';
import { countTree, isTransientName, loadTree, rootAttributesOf, writeTree } from './tree-sync.js';

export interface SessionOptions {
  /** Per-repository local state: journal and staging. */
  readonly stateDir: string;
  readonly uid: number;
  readonly gid: number;
  readonly quietMs?: number;
  readonly onError?: (error: unknown) => void;
  /** List `.snapshots` in the root folder (it is always reachable by path). */
  readonly showSnapshots?: boolean;
  /** Applied after every snapshot this session takes (`cairn mount --forget-policy`). */
  readonly retention?: RetentionPolicy;
  /** Told which snapshots the retention policy forgot. */
  readonly onForgotten?: (forgotten: StoredSnapshot[]) => void;
  /**
   * A read-only view of the newest snapshot beside a writer: nothing is journaled or
   * snapshotted (stateDir is then a private scratch folder; the writer's is not touched).
   */
  readonly readOnly?: boolean;
  /**
   * Local disk for written data not yet on the store: staging plus `queuedBytes()` (the
   * upload queue). Past it, writes wait while commits and uploads catch up.
   */
  readonly writeBudget?: { readonly limitBytes: number; readonly queuedBytes: () => number };
}

export interface OpenReport {
  readonly base: StoredSnapshot | null;
  /** Journal records replayed (left by a mount that did not finish). */
  readonly replayed: number;
  readonly files: number;
  readonly dirs: number;
}

export class LiveSession {
  private base: StoredSnapshot | null;
  /** The snapshot in progress, if any: snapshots run one after another. */
  private snapshotting: Promise<void> = Promise.resolve();
  /** When the last snapshot of this session was taken (the mount time until then), ms. */
  private lastSnapshotAt = Date.now();
  /** Tree blobs the last snapshot encoded (the rest were unchanged and reused). */
  lastSnapshotTreesWritten = 0;

  private constructor(
    readonly repo: Repository,
    readonly fs: Filesystem,
    readonly table: InodeTable,
    readonly flusher: Flusher,
    private readonly journal: Journal,
    private readonly staging: StagingArea,
    readonly barrier: Barrier,
    base: StoredSnapshot | null,
    private readonly options: SessionOptions,
  ) {
    this.base = base;
  }

  static async open(repo: Repository, options: SessionOptions): Promise<{ session: LiveSession; report: OpenReport }> {
    mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
    const staging = new StagingArea(path.join(options.stateDir, 'staging'));
    const snapshots = await repo.listSnapshots();
    const latest = snapshots[snapshots.length - 1] ?? null;
    const { journal, header, records } = Journal.open(options.stateDir, latest?.id ?? null);
    const base = header.base === null ? null : (snapshots.find((s) => s.id === header.base) ?? null);
    const missing = header.base !== null && !base;
    const forgotten = missing && (await repo.listForgotten()).ids.has(header.base!);
    if (missing && !forgotten) {
      throw new CairnError('CORRUPT', `the local journal continues snapshot ${header.base!.slice(0, 12)}, which is not in the repository`, {
        hint: `the store lost that snapshot, or ${options.stateDir} belongs to another copy; move that folder away to mount the latest snapshot (its unsaved changes stay in it)`,
      });
    }
    if (records.length === 0 && header.base !== (latest?.id ?? null)) {
      // Nothing pending: start from the newest snapshot (another writer moved on, or
      // `cairn forget` removed the one this machine last saw).
      journal.reset(latest?.id ?? null);
      journal.close();
      return LiveSession.open(repo, options);
    }
    if (forgotten) {
      throw new CairnError('CORRUPT', `the local journal holds ${records.length} unsaved change(s) to snapshot ${header.base!.slice(0, 12)}, which was forgotten since`, {
        hint: `they cannot be applied to another snapshot; move ${options.stateDir} away to mount the latest snapshot (the journal stays readable in it)`,
      });
    }
    const table = new InodeTable({ truncate: (ino, size) => staging.truncate(ino, size), remove: (ino) => staging.remove(ino) });
    const now = BigInt(Date.now()) * 1_000_000n;
    await loadTree(repo, table, base?.snapshot.tree ?? null, base?.snapshot.root ?? {
      mode: 0o755, uid: options.uid, gid: options.gid, atimeNs: now, mtimeNs: now, ctimeNs: now,
    });
    for (const raw of records) table.apply(reviveRecord(raw));
    const data = new FileData(repo, staging);
    const flusher = new Flusher(table, data, repo, journal, { quietMs: options.quietMs, onError: options.onError });
    const barrier = new Barrier();
    const budget = options.writeBudget;
    let space: Promise<void> | null = null;
    const overBudget = () => budget !== undefined && staging.bytes + budget.queuedBytes() > budget.limitBytes;
    const waitForSpace = (ino: number): Promise<void> | null => {
      if (!overBudget()) return null;
      flusher.commitSoon(ino); // the writer's own file too, open or not: its bytes are the ones waiting
      space ??= (async () => {
        while (overBudget()) await new Promise((r) => setTimeout(r, 100));
        space = null;
      })();
      return space;
    };
    const fs = new Filesystem(table, journal, staging, data, flusher, {
      ...(budget ? { waitForSpace } : {}),
      barrier,
      uid: options.uid,
      gid: options.gid,
      stagingDir: path.join(options.stateDir, 'staging'),
      view: new SnapshotView(repo),
      showSnapshots: options.showSnapshots ?? false,
    });
    const session = new LiveSession(repo, fs, table, flusher, journal, staging, barrier, base, options);
    session.dropTransientNames();
    fs.changedSinceSnapshot = records.length > 0;
    const counts = countTree(table);
    return { session, report: { base, replayed: records.length, files: counts.files, dirs: counts.dirs } };
  }

  /** Unlinked-but-open files of a mount that died stay unlinked. */
  private dropTransientNames(): void {
    for (const inode of [...this.table.all()]) {
      if (!inode.children) continue;
      for (const name of [...inode.children.keys()]) {
        if (!isTransientName(name)) continue;
        const record = { op: 'unlink', parent: inode.ino, name, t: BigInt(Date.now()) * 1_000_000n } as const;
        this.journal.append(record);
        this.table.apply(record);
      }
    }
  }

  /** For automatic snapshots: whether and when the tree last changed, and the last snapshot. */
  activity(): TreeActivity {
    return {
      changed: this.fs.changedSinceSnapshot,
      lastChangeAt: this.fs.lastChangeAt,
      lastSnapshotAt: this.lastSnapshotAt,
    };
  }

  /**
   * Takes a snapshot of the whole tree as it is now, while programs keep working: most
   * staged data is committed first; then changes wait at the barrier while the rest is
   * committed and the changed directories are written, so the snapshot is one point in
   * time. Snapshots run one at a time.
   */
  async snapshot(tags: readonly string[] = []): Promise<StoredSnapshot> {
    const previous = this.snapshotting;
    let done!: () => void;
    this.snapshotting = new Promise<void>((resolve) => (done = resolve));
    await previous;
    try {
      await this.flusher.commitAll();
      this.barrier.freeze();
      try {
        await this.flusher.commitAll();
        const stats = { addedBytes: 0, treesWritten: 0 };
        const root = this.table.get(ROOT_INO)!;
        const tree = await writeTree(this.repo, this.table, root, stats);
        const counts = countTree(this.table);
        const stored = await this.repo.saveSnapshot({
          tree,
          root: rootAttributesOf(root),
          tags,
          parent: this.base?.id ?? null,
          stats: { ...counts, addedBytes: this.flusher.addedBytes + stats.addedBytes },
        });
        this.journal.reset(stored.id);
        this.flusher.addedBytes = 0;
        this.base = stored;
        this.fs.changedSinceSnapshot = false;
        this.lastSnapshotAt = Date.now();
        this.lastSnapshotTreesWritten = stats.treesWritten;
      } finally {
        this.barrier.thaw();
      }
      // Still inside the one-at-a-time section: no snapshot is saved while forget runs.
      // The snapshot is saved either way; a failed forget is reported and retried next time.
      if (this.options.retention) {
        try {
          const forgotten = await forgetByPolicy(this.repo, this.options.retention);
          if (forgotten.length > 0) this.options.onForgotten?.(forgotten);
        } catch (e) {
          this.options.onError?.(e);
        }
      }
      return this.base!;
    } finally {
      done();
    }
  }

  /** Commits everything, snapshots if anything changed, and closes local state. */
  async close(): Promise<StoredSnapshot | null> {
    await this.flusher.stop();
    const taken = this.fs.changedSinceSnapshot && !this.options.readOnly ? await this.snapshot() : null;
    await this.repo.flush();
    this.journal.close();
    this.staging.close();
    return taken;
  }
}
