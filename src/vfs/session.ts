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
import { FolderLoader } from './folder-loader.js';
import type { TreeActivity } from './auto-snapshot.js';
import { Barrier } from './barrier.js';
import { Filesystem } from './filesystem.js';
import { Flusher } from './flusher.js';
import { firstParent, InodeTable, isLoaded, isTransientName, ROOT_INO, UnappliableRecord } from './inode-table.js';
import { Journal, JournalDamage, type OpenedJournal } from './journal.js';
import { MalformedRecord, parseRecord } from './records.js';
import { StagingArea } from './staging.js';
import { loadTree, rootAttributesOf, writeTree } from './tree-sync.js';

export interface SessionOptions {
  /** Per-repository local state: journal and staging. */
  readonly stateDir: string;
  readonly uid: number;
  readonly gid: number;
  readonly quietMs?: number;
  readonly onError?: (error: unknown) => void;
  /** List `.snapshots` in the root folder (it is always reachable by path). */
  readonly showSnapshots?: boolean;
  /**
   * When the journal cannot be replayed whole: set it aside (a copy stays in the state
   * folder), keep the complete records before the first one that cannot be applied, and go on.
   */
  readonly salvage?: boolean;
  /** Set by open() itself after a salvage, for the report. */
  readonly salvaged?: { readonly copy: string; readonly kept: number };
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
  /** Streaming commit step (src/vfs/file-data.ts STREAM_STEP); tests make it small. */
  readonly streamStepBytes?: number;
  /** A stream's chunks are journaled every this many bytes (src/vfs/file-data.ts STREAM_JOURNAL_BYTES); tests make it small. */
  readonly streamJournalBytes?: number;
  /** Inodes kept in memory before clean folders drop (src/vfs/folder-loader.ts KEEP_INODES); tests make it small. */
  readonly keepInodes?: number;
  /** Folders used last that never drop (src/vfs/folder-loader.ts KEEP_RECENT_FOLDERS); the crash model makes it 0. */
  readonly keepRecentFolders?: number;
}

export interface OpenReport {
  readonly base: StoredSnapshot | null;
  /** Journal records replayed (left by a mount that did not finish). */
  readonly replayed: number;
  readonly files: number;
  readonly dirs: number;
  /** Bytes of a torn last record (never acknowledged) cut from the journal. */
  readonly cutBytes: number;
  /** After --salvage: where the old journal was set aside, and how many records were kept. */
  readonly salvaged?: { readonly copy: string; readonly kept: number };
  /** Files whose replayed changes name staged bytes that are gone (they read as zeros), by path. */
  readonly lostStagedBytes: { readonly path: string; readonly bytes: number }[];
}

/** A path naming file `ino` in the live tree (its first name), for messages. */
function pathOf(table: InodeTable, ino: number): string {
  const parts: string[] = [];
  for (let at = table.get(ino); at && at.ino !== ROOT_INO; ) {
    const parentIno = firstParent(at);
    const parent = parentIno === undefined ? undefined : table.get(parentIno);
    const name = parent && [...parent.children!].find(([, child]) => child === at!.ino)?.[0];
    if (!name) return `(file id ${ino}, unlinked)`;
    parts.unshift(name);
    at = parent;
  }
  return `/${parts.join('/')}`;
}

/** Checks and applies a crashed session's records; throws JournalDamage naming the first that does not fit. */
function replayJournal(table: InodeTable, rawRecords: readonly unknown[], stateDir: string): void {
  for (const [i, raw] of rawRecords.entries()) {
    try {
      table.replay([parseRecord(raw)]);
    } catch (e) {
      if (!(e instanceof MalformedRecord) && !(e instanceof UnappliableRecord)) throw e;
      throw new JournalDamage(
        `record ${i + 1} of ${rawRecords.length} in the journal in ${stateDir} does not fit the snapshot it continues: ${e.message}`,
        `mount with --salvage to keep the ${i} change(s) before it (a copy of the journal stays in ${stateDir}), or move ${stateDir} away to mount the last snapshot`,
        null,
        rawRecords.slice(0, i),
      );
    }
  }
}

/**
 * Whether `latest`, the only snapshot after `base`, is the one a crashed mount of this state
 * folder was saving (its snapshot mark names that base and that time).
 */
function ownSnapshot(stateDir: string, base: StoredSnapshot, latest: StoredSnapshot, snapshots: readonly StoredSnapshot[]): boolean {
  const mark = Journal.snapshotMark(stateDir);
  return mark !== null && mark.base === base.id && mark.timeNs === latest.snapshot.timeNs && snapshots.indexOf(latest) === snapshots.indexOf(base) + 1;
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
    /** Loads folders of the live tree on first use. */
    readonly loader: FolderLoader,
    base: StoredSnapshot | null,
    private readonly options: SessionOptions,
  ) {
    this.base = base;
  }

  static async open(repo: Repository, options: SessionOptions): Promise<{ session: LiveSession; report: OpenReport }> {
    mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
    const snapshots = await repo.listSnapshots();
    const latest = snapshots[snapshots.length - 1] ?? null;
    let opened: OpenedJournal;
    try {
      opened = Journal.open(options.stateDir, latest?.id ?? null);
    } catch (e) {
      if (!(e instanceof JournalDamage) || !options.salvage) throw e;
      const copy = Journal.rewrite(options.stateDir, e.base, e.validRecords);
      return LiveSession.open(repo, { ...options, salvage: false, salvaged: { copy, kept: e.validRecords.length } });
    }
    const { journal, header, records: rawRecords } = opened;
    const base = header.base === null ? null : (snapshots.find((s) => s.id === header.base) ?? null);
    const missing = header.base !== null && !base;
    const forgotten = missing && (await repo.listForgotten()).ids.has(header.base!);
    if (missing && !forgotten) {
      journal.close();
      throw new CairnError('CORRUPT', `the local journal continues snapshot ${header.base!.slice(0, 12)}, which is not in the repository`, {
        hint: `the store lost that snapshot, or ${options.stateDir} belongs to another copy; move that folder away to mount the latest snapshot (its unsaved changes stay in it)`,
      });
    }
    if (rawRecords.length === 0 && header.base !== (latest?.id ?? null)) {
      // Nothing pending: start from the newest snapshot (another writer moved on, or
      // `cairn forget` removed the one this machine last saw).
      journal.reset(latest?.id ?? null);
      journal.close();
      return LiveSession.open(repo, options);
    }
    if (forgotten) {
      journal.close();
      throw new CairnError('CORRUPT', `the local journal holds ${rawRecords.length} unsaved change(s) to snapshot ${header.base!.slice(0, 12)}, which was forgotten since`, {
        hint: `they cannot be applied to another snapshot; move ${options.stateDir} away to mount the latest snapshot (the journal stays readable in it)`,
      });
    }
    if (rawRecords.length > 0 && base && latest && base.id !== latest.id && !options.salvaged && !ownSnapshot(options.stateDir, base, latest, snapshots)) {
      // Someone saved a snapshot after the one these changes continue (`cairn backup`, or
      // another machine once this one's lock was broken). Replaying them and going on would
      // make the next snapshot silently leave out what the newer ones changed. (The crashed
      // mount's own last snapshot, saved just before its journal could name it, holds every
      // record: replaying onto the old base gives the same tree, as always.)
      journal.close();
      const newer = snapshots.length - 1 - snapshots.indexOf(base);
      const damage = new JournalDamage(
        `the local journal holds ${rawRecords.length} unsaved change(s) to snapshot ${base.id.slice(0, 12)}, but ${newer} newer snapshot(s) were saved since (the newest is ${latest.id.slice(0, 12)}, by ${latest.snapshot.user}@${latest.snapshot.host})`,
        `mount with --salvage to save them as a snapshot made from ${base.id.slice(0, 12)} (tagged salvaged; it becomes the newest, and what the newer snapshots changed stays in .snapshots/ to copy back), or move ${options.stateDir} away to mount the newest snapshot without them (the journal stays readable there)`,
        header.base,
        rawRecords,
      );
      if (!options.salvage) throw damage;
      const copy = Journal.rewrite(options.stateDir, header.base, rawRecords);
      return LiveSession.open(repo, { ...options, salvage: false, salvaged: { copy, kept: rawRecords.length } });
    }
    const staging = new StagingArea(path.join(options.stateDir, 'staging'), () => journal.position);
    const table = new InodeTable(staging, (id) => repo.blobPlainSize(id));
    // New files are numbered above every id the repository has used (ids are never reused).
    table.raiseNextIno(await repo.nextFileIdFloor());
    const now = BigInt(Date.now()) * 1_000_000n;
    const root = base?.snapshot.root ?? { mode: 0o755, uid: options.uid, gid: options.gid, atimeNs: now, mtimeNs: now, ctimeNs: now };
    const loader = new FolderLoader(repo, table, options.keepInodes, options.keepRecentFolders);
    let legacyBase = false;
    if (base && (base.snapshot.nextFileId === undefined || (await repo.loadTree(base.snapshot.tree)).version === 1)) {
      // Before format 2 nothing says which file ids are free, and version-1 trees are
      // numbered afresh: the whole tree loads at once.
      legacyBase = (await loadTree(repo, table, base.snapshot.tree, root)).legacy;
    } else {
      await loader.openRoot(base?.snapshot.tree ?? null, root, base?.snapshot.stats ?? { files: 0, dirs: 1, bytes: 0 });
      if (rawRecords.length > 0) {
        // Records name files by id anywhere in the tree; recovery is rare, so load it all.
        await loader.loadAll();
        table.recount();
      }
    }
    try {
      if (legacyBase && rawRecords.length > 0) {
        // Only possible with a journal from before format 2: file ids given out now need not match.
        throw new JournalDamage(`the journal in ${options.stateDir} holds changes to a format-1 snapshot, whose files have no stable ids`, `move ${options.stateDir} away to mount the last snapshot`, header.base, []);
      }
      replayJournal(table, rawRecords, options.stateDir);
    } catch (e) {
      journal.close();
      staging.close();
      if (!(e instanceof JournalDamage) || !options.salvage) throw e;
      const copy = Journal.rewrite(options.stateDir, header.base, e.validRecords);
      return LiveSession.open(repo, { ...options, salvage: false, salvaged: { copy, kept: e.validRecords.length } });
    }
    const data = new FileData(repo, staging, options.streamStepBytes, options.streamJournalBytes);
    const barrier = new Barrier();
    const flusher = new Flusher(table, data, repo, journal, { quietMs: options.quietMs, onError: options.onError, barrier });
    data.journalChunks = (inode, record) => flusher.journalChunks(inode, record);
    const budget = options.writeBudget;
    let space: Promise<void> | null = null;
    const overBudget = () => budget !== undefined && staging.bytes + budget.queuedBytes() > budget.limitBytes;
    const waitForSpace = (): Promise<void> | null => {
      if (!overBudget()) return null;
      if (space) return space;
      // Every file with staged bytes, open or not (the writer's own too): staging segments are
      // shared, so one file's bytes alone may keep a segment, and its disk space, in use.
      flusher.commitStagedSoon();
      space = (async () => {
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
      loader,
    });
    const session = new LiveSession(repo, fs, table, flusher, journal, staging, barrier, loader, base, options);
    session.dropTransientNames();
    // Staged bytes the replayed journal does not use (of files deleted or committed before
    // the crash, whose segment's deletion was what the crash cut) go now; later ones as the
    // journal becomes durable past the records that make them obsolete.
    staging.reclaim(journal.durable);
    journal.onDurable = (durable) => staging.reclaim(durable);
    fs.changedSinceSnapshot = rawRecords.length > 0;
    if (options.salvaged && !options.readOnly) {
      // What could be saved from a damaged or overtaken journal goes into a snapshot at once.
      await session.snapshot(['salvaged']);
    } else if (legacyBase && !options.readOnly) {
      // A version-1 tree has no stable file ids: store it again as version 2 before any
      // change is journaled against the ids just given out (docs/FORMAT.md "Versions").
      await session.snapshot(['format-upgrade']);
    }
    const counts = table.counts();
    const lostStagedBytes = staging.missing().map(({ ino, bytes }) => ({ path: pathOf(table, ino), bytes }));
    return {
      session,
      report: { base, replayed: rawRecords.length, files: counts.files, dirs: counts.dirs, cutBytes: opened.cutBytes, lostStagedBytes, ...(options.salvaged ? { salvaged: options.salvaged } : {}) },
    };
  }

  /** Unlinked-but-open files of a mount that died stay unlinked (libfuse would have removed them). */
  private dropTransientNames(): void {
    for (const inode of [...this.table.all()]) {
      if (!inode.children || !isLoaded(inode)) continue;
      for (const name of [...inode.children.keys()]) {
        // Not journaled: no snapshot holds the name, and a replay ends here again.
        if (isTransientName(name)) this.table.apply({ op: 'unlink', parent: inode.ino, name, t: BigInt(Date.now()) * 1_000_000n });
      }
    }
  }

  /** The snapshot the live tree continues (the last one this session took or started from). */
  get lastSnapshot(): StoredSnapshot | null {
    return this.base;
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
        const counts = this.table.counts();
        const timeNs = BigInt(Date.now()) * 1_000_000n;
        this.journal.markSnapshot({ base: this.base?.id ?? null, timeNs });
        const stored = await this.repo.saveSnapshot({
          tree,
          root: rootAttributesOf(root),
          timeNs,
          tags,
          parent: this.base?.id ?? null,
          stats: { ...counts, addedBytes: this.flusher.addedBytes + stats.addedBytes },
          nextFileId: this.table.nextFileId,
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
