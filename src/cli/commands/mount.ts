import { type Command, Option } from 'commander';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { getHeapSpaceStatistics } from 'node:v8';
import * as path from 'node:path';
import type { Backend } from '../../backend/backend.js';
import { CachedBackend, type UploadStatus } from '../../backend/cached.js';
import { startControlServer } from '../../control/server.js';
import type { MountStatus } from '../../control/protocol.js';
import { CairnError, isCairnError } from '../../errors/errors.js';
import { assertPatchedBinding, createFuse } from '../../fuse/adapter.js';
import { RepositoryLock } from '../../repository/lock.js';
import type { Repository } from '../../repository/repository.js';
import { TIME_MACHINE_POLICY } from '../../repository/retention.js';
import { readEveryTree } from '../../repository/tree-walk.js';
import { folderName, snapshotFolders } from '../../timetravel/names.js';
import { AutoSnapshotter } from '../../vfs/auto-snapshot.js';
import { KEEP_INODES } from '../../vfs/folder-loader.js';
import { LiveSession } from '../../vfs/session.js';
import { parseDuration, parseSize } from '../duration.js';
import { mountInBackground } from '../daemon.js';
import { controlSocketPath, defaultCacheDir, defaultMountLog, defaultStateDir, mountRecordPath, savedSnapshotPath } from '../local-paths.js';
import { isMounted, lazyUnmount, mountpointState } from '../mount-table.js';
import { openFromCli } from '../open.js';
import { formatBytes, formatLocalTime, logTo, note, reportSkipped } from '../output.js';
import { secretOptions } from './common.js';

interface MountOpts {
  snapshots: string;
  snapshotInterval: string;
  snapshotQuiet: string;
  keyfile?: string;
  passwordFile?: string;
  sshKey?: string;
  knownHosts?: string;
  stateDir?: string;
  cacheDir?: string;
  cacheSize: string;
  allowOther?: boolean;
  attrTimeout?: string;
  treeCache: string;
  forgetPolicy: string;
  readOnly?: boolean;
  salvage?: boolean;
  daemon?: boolean;
  logFile?: string;
}

export function registerMount(program: Command): void {
  secretOptions(
    program
      .command('mount')
      .description('mount the repository as a writable folder (in the foreground until unmounted, or --daemon)')
      .argument('<store>', 'the repository: a local folder, sftp://user@host/path or user@host:path')
      .argument('<mountpoint>', 'an existing empty folder'),
  )
    .option('--read-only', 'show the newest snapshot read-only, beside a writer elsewhere (takes a shared lock)')
    .option('--salvage', 'when the local journal of a crashed mount cannot be replayed as it is (damaged, or newer snapshots were saved since): keep what it holds (up to any damage; a copy stays in the state folder) and save it as a snapshot at once')
    .option('--state-dir <dir>', 'local journal and write-back staging (default: $XDG_STATE_HOME/cairn/<repository id>)')
    .option('--cache-dir <dir>', 'SFTP stores: object cache and upload queue (default: $XDG_CACHE_HOME/cairn/<repository id>)')
    .option('--cache-size <size>', 'SFTP stores: local disk for cached objects plus uploads waiting while the server is away (like 500M, 2G)', '2G')
    .option('--allow-other', 'let other users use the mount (needs user_allow_other in /etc/fuse.conf unless root)')
    .addOption(new Option('--snapshots <mode>', 'list .snapshots/ in the root folder (visible) or only reach it by path (hidden)').choices(['hidden', 'visible']).default('hidden'))
    .option('--snapshot-interval <duration>', 'take a snapshot automatically at most this often after changes (like 30s, 15m, 1h; 0 = only on unmount and request)', '1h')
    .option('--snapshot-quiet <duration>', 'wait until writes have been quiet this long before an automatic snapshot', '60s')
    .addOption(new Option('--forget-policy <name>', 'after each snapshot, forget old ones: timemachine = all of the last 24 hours, daily for 30 days, weekly beyond (tagged snapshots kept); `cairn prune` gives back the space').choices(['none', 'timemachine']).default('none'))
    .option('--daemon', 'run in the background: return once the folder is mounted (non-zero, with the cause, if it could not be); log to --log-file')
    .option('--log-file <file>', 'write what the mount reports to this file, each line with its time (default with --daemon: $XDG_STATE_HOME/cairn/mount-<mountpoint>.log)')
    .option('--attr-timeout <seconds>', 'let the kernel cache names and attributes of the live tree this long (default 1; 10 for --read-only); every change passes through the kernel, so what it caches stays true')
    .option('--tree-cache <entries>', 'files and folders of the live tree kept in memory (about 1 KB each); past it, folders unchanged since the last snapshot and not used lately are dropped and read again from their trees when needed', String(KEEP_INODES))
    .action(async (store: string, mountpoint: string, opts: MountOpts) => {
      if (!/^\d+$/.test(opts.treeCache) || Number(opts.treeCache) < 1) throw new CairnError('USAGE', `--tree-cache takes a number of entries, not ${opts.treeCache}`);
      // Nothing changes under a read-only mount, so cached attributes are never stale there.
      opts.attrTimeout ??= opts.readOnly ? '10' : '1';
      if (!/^\d+(\.\d+)?$/.test(opts.attrTimeout)) throw new CairnError('USAGE', `--attr-timeout takes seconds, not ${opts.attrTimeout}`);
      parseDuration(opts.snapshotInterval, '--snapshot-interval');
      parseDuration(opts.snapshotQuiet, '--snapshot-quiet');
      const budget = parseSize(opts.cacheSize, '--cache-size');
      assertPatchedBinding();
      await checkMountpoint(mountpoint);
      if (opts.daemon) {
        process.exitCode = await mountInBackground(mountpoint, opts, path.resolve(opts.logFile ?? defaultMountLog(mountpoint)));
        return;
      }
      if (opts.logFile) logTo(opts.logFile);
      mountRecordPath(mountpoint); // the runtime folder must be ours before anything starts
      // Set once the repository id is known (the cache folder is named by it).
      const remote: { cache: CachedBackend | null } = { cache: null };
      // A read-only mount shows what is readable past a damaged snapshot or index file; a
      // writer refuses (it must see the newest snapshot to continue the chain).
      const refuseDamage = (e: unknown): never => {
        if (!opts.readOnly && isCairnError(e, 'CORRUPT')) throw damagedForWriting(e);
        throw e;
      };
      // A big store's index is kept on local disk, beside the journal (a read-only mount: in
      // the temporary folder, as its scratch state).
      const localIndexDir = (id: string) => (opts.readOnly ? tmpdir() : (opts.stateDir ?? defaultStateDir(id)));
      const indexOnDiskFrom = Number(process.env.CAIRN_INDEX_ON_DISK_FROM) || undefined; // tests use few
      const repo = await openFromCli(store, opts, { skipDamaged: opts.readOnly ?? false, blobThread: true, localIndexDir, indexOnDiskFrom }, async (backend: Backend, config) => {
        if (!backend.remote) return backend;
        const dir = opts.cacheDir ?? defaultCacheDir(Buffer.from(config.id).toString('hex'));
        // A read-only mount never touches the writer's upload queue: its own cache folder.
        remote.cache = await CachedBackend.open(backend, { dir: opts.readOnly ? path.join(dir, 'read-only') : dir, budgetBytes: budget });
        return remote.cache;
      }).catch(refuseDamage);
      if (repo.indexOnDiskFailure) note(`cairn: ${repo.indexOnDiskFailure}; keeping it in memory instead (free space there, or pass --state-dir)`);
      const lock = await RepositoryLock.acquire(repo, opts.readOnly ? 'read' : 'write');
      let keepLock = false;
      try {
        keepLock = await runMount(repo, remote.cache, mountpoint, opts).catch(refuseDamage);
      } finally {
        // The lock goes before the connection closes (it is an object on the store).
        if (!keepLock) await lock.release().catch(() => undefined);
        else lock.abandon();
        await repo.backend.close().catch(() => undefined);
      }
    });
}

/** A writer cannot go on past damage; say how to reach everything that is still readable. */
function damagedForWriting(e: CairnError): CairnError {
  return new CairnError('CORRUPT', e.message, {
    hint: 'a read-write mount must read every snapshot and index file to continue the chain safely. A damaged index file: `cairn repair index STORE` rebuilds the index from the packs (nothing else changes). For the rest, `cairn mount --read-only STORE DIR` shows everything still readable (copy it off), and `cairn check STORE` lists all damage',
    cause: e,
  });
}

/** The state folder could not be written at the start (a full or read-only disk): say which and what to do. */
function stateFolderError(e: unknown, stateDir: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new CairnError('NO_SPACE', `the disk of the state folder ${stateDir} is full: the journal of unsaved changes cannot start`, {
      hint: 'free some space there, or mount with --state-dir on another disk',
      cause: e,
    });
  }
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return new CairnError('USAGE', `cannot write the state folder ${stateDir} (${code})`, { hint: 'mount with --state-dir on a writable disk', cause: e });
  }
  return e;
}

async function checkMountpoint(mountpoint: string): Promise<void> {
  switch (await mountpointState(mountpoint)) {
    case 'missing':
      throw new CairnError('USAGE', `the mountpoint ${mountpoint} does not exist`, { hint: `create it first: mkdir -p ${mountpoint}` });
    case 'not-a-folder':
      throw new CairnError('USAGE', `the mountpoint ${mountpoint} is not a folder`);
    case 'stale':
      // A mount whose daemon died (kill -9, crash): nothing serves it, so clearing it is safe.
      note(`cairn: ${mountpoint} held a dead mount (Transport endpoint is not connected); clearing it`);
      if (!lazyUnmount(mountpoint)) throw new CairnError('USAGE', `cannot clear the dead mount at ${mountpoint}`, { hint: `run: fusermount -u -z ${mountpoint}` });
      return;
    case 'ok':
      if (isMounted(mountpoint)) throw new CairnError('USAGE', `${mountpoint} is already a mountpoint`, { hint: 'unmount it first, or choose another folder' });
      if (readdirSync(mountpoint).length > 0) {
        throw new CairnError('USAGE', `the mountpoint ${mountpoint} is not empty; mounting over it would hide its files`, {
          hint: 'choose an empty folder (mkdir a new one), or move its files away first',
        });
      }
  }
}

/** Serves the mount until it is unmounted; returns true when the lock must stay (uploads left queued). */
async function runMount(repo: Repository, cached: CachedBackend | null, mountpoint: string, opts: MountOpts): Promise<boolean> {
  const readOnly = opts.readOnly ?? false;
  // A read-only mount must not touch the writer's journal on this machine: private scratch.
  const stateDir = readOnly ? mkdtempSync(path.join(tmpdir(), 'cairn-ro-')) : (opts.stateDir ?? defaultStateDir(repo.id));
  const { session, report } = await LiveSession.open(repo, {
    stateDir,
    readOnly,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    onError: (e) => note(`cairn: background work failed, will retry: ${(e as Error).message}`),
    showSnapshots: opts.snapshots === 'visible',
    ...(opts.forgetPolicy === 'timemachine' && !readOnly ? { retention: TIME_MACHINE_POLICY } : {}),
    onForgotten: (gone) => note(`cairn: forgot ${gone.length} old snapshot(s) by the ${opts.forgetPolicy} policy`),
    ...(cached ? { writeBudget: { limitBytes: cached.budgetBytes, queuedBytes: () => cached.queuedBytesNow } } : {}),
    salvage: opts.salvage ?? false,
    keepInodes: Number(opts.treeCache),
  }).catch((e: unknown) => {
    throw stateFolderError(e, stateDir);
  });
  reportSkipped(repo.skipped);
  const base = report.base;
  note(base ? `cairn: snapshot ${base.id.slice(0, 12)} of ${formatLocalTime(base.snapshot.timeNs)}: ${report.files} files, ${report.dirs} folders` : 'cairn: empty repository');
  if (report.salvaged) note(`cairn: salvaged ${report.salvaged.kept} change(s) of a crashed mount into a snapshot tagged salvaged; the old journal is kept as ${report.salvaged.copy}`);
  if (report.cutBytes > 0) note(`cairn: cut ${report.cutBytes} byte(s) of an incomplete last journal record (a change the killed mount never acknowledged)`);
  if (report.replayed > 0) note(`cairn: replayed ${report.replayed} change(s) a previous mount left in ${stateDir}`);
  if (report.lostStagedBytes.length > 0) {
    note(`cairn: warning: ${report.lostStagedBytes.length} file(s) changed before the last crash lost written bytes that were never fsync'd (a power cut, or ${stateDir}/staging was changed); those bytes read as zeros:`);
    for (const lost of report.lostStagedBytes.slice(0, 20)) note(`  ${lost.path} (${formatBytes(lost.bytes)})`);
    if (report.lostStagedBytes.length > 20) note(`  … and ${report.lostStagedBytes.length - 20} more`);
  }
  const queuedAtStart = cached?.status().queuedObjects ?? 0;
  if (queuedAtStart > 0) note(`cairn: resuming ${queuedAtStart} upload(s) a previous mount left queued`);

  const fuse = createFuse(session.fs, mountpoint, {
    allowOther: opts.allowOther,
    attrTimeoutSeconds: Number(opts.attrTimeout),
    readOnly,
    log: (m) => note(`cairn: ${m}`),
  });
  await new Promise<void>((resolve, reject) =>
    fuse.mount((err) => (err ? reject(new CairnError('USAGE', `mounting at ${mountpoint} failed: ${err.message}`, { hint: 'is /dev/fuse available and fusermount installed (Debian: fuse3)?' })) : resolve())),
  );
  const record = mountRecordPath(mountpoint);
  rmSync(savedSnapshotPath(record), { force: true }); // an earlier mount's answer
  writeFileSync(record, JSON.stringify({ pid: process.pid, mountpoint: path.resolve(mountpoint), repository: repo.id }));

  let unmounting = false;
  let waitForUploads = true;
  let snapshotFailure: { readonly error: unknown; readonly at: number } | undefined;
  const status = (): MountStatus => {
    const uploads = cached?.status() ?? null;
    const last = session.lastSnapshot;
    let stagedFiles = 0;
    let stagedBytes = 0;
    for (const inode of session.table.uncommittedFiles()) {
      if (inode.dirty.isEmpty) continue;
      stagedFiles++;
      // Bytes a streaming commit has already chunked (src/vfs/content-stream.ts) are no work left.
      const streamed = inode.stream?.fed ?? 0;
      for (const range of inode.dirty.list()) stagedBytes += Math.max(0, range.end - Math.max(range.start, streamed));
    }
    return {
      store: repo.backend.location,
      readOnly,
      uploads,
      stagedFiles,
      stagedBytes,
      committedBytes: session.flusher.chunkedBytes,
      committedFiles: session.flusher.committedFiles,
      unmounting,
      writeBuffers: fuse.writeBuffers(),
      index: { blobs: repo.index.blobCount, onDisk: repo.index.onDisk },
      memory: {
        ...(({ rss, heapUsed, heapTotal, external }) => ({ rss, heapUsed, heapTotal, external }))(process.memoryUsage()),
        heapSpaces: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }])),
      },
      tree: { inMemory: session.table.size, limit: session.loader.keepInodes, loadedFolders: session.loader.loadedFolders, droppedFolders: session.loader.droppedFolders },
      lastSnapshot: last ? { id: last.id, time: formatLocalTime(last.snapshot.timeNs) } : null,
      problem: saveProblem(session.flusher.lastFailure, snapshotFailure, uploads),
    };
  };
  const control = await startControlServer(controlSocketPath(mountpoint), async (request) => {
    switch (request.op) {
      case 'status':
        return { ok: true, status: status() };
      case 'no-wait':
        waitForUploads = false;
        return { ok: true };
      case 'snapshot': {
        if (readOnly) throw new CairnError('USAGE', 'this mount is read-only: snapshots are taken by the writer');
        const stored = await session.snapshot(request.tags);
        const names = snapshotFolders((await repo.listSnapshots()).map((s) => ({ id: s.id, timeNs: s.snapshot.timeNs })));
        note(`cairn: snapshot ${stored.id.slice(0, 12)} taken on request`);
        return { ok: true, snapshot: { id: stored.id, name: names.find((n) => n.id === stored.id)!.name, files: stored.snapshot.stats.files, addedBytes: stored.snapshot.stats.addedBytes } };
      }
      default:
        throw new CairnError('USAGE', `unknown request ${String((request as { op: unknown }).op)}`);
    }
  });
  const auto = new AutoSnapshotter(session, { intervalMs: readOnly ? 0 : parseDuration(opts.snapshotInterval, '--snapshot-interval'), quietMs: parseDuration(opts.snapshotQuiet, '--snapshot-quiet') }, {
    taken: (s) => {
      snapshotFailure = undefined;
      note(`cairn: automatic snapshot ${s.id.slice(0, 12)} (${s.snapshot.stats.files} files, ${formatBytes(s.snapshot.stats.addedBytes)} added)`);
    },
    failed: (e) => {
      snapshotFailure = { error: e, at: Date.now() };
      note(`cairn: automatic snapshot failed, will retry: ${(e as Error).message}`);
    },
  });
  auto.start();
  // A read-only mount follows the writer: new snapshots appear in .snapshots/.
  const follow = readOnly ? setInterval(() => void repo.refresh().catch((e) => note(`cairn: could not look for new snapshots, will retry: ${(e as Error).message}`)), 30_000) : undefined;
  follow?.unref();
  note(`cairn: mounted at ${mountpoint}${readOnly ? ' (read-only)' : ''}`);
  if (cached && base) {
    // Folders load on first use: every tree goes to the local cache now, so they stay
    // browsable while the server is away (within --cache-size).
    readEveryTree(repo, base.snapshot.tree).then(
      (trees) => note(`cairn: ${trees} folder tree(s) cached locally, browsable while the server is away`),
      (e: unknown) => note(`cairn: could not cache every folder tree ahead (${(e as Error).message}); folders not opened yet need the server`),
    );
  }

  // Until a signal, `cairn unmount`, or `fusermount -u` from anywhere.
  await new Promise<void>((resolve) => {
    const done = () => {
      clearInterval(poll);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    const poll = setInterval(() => {
      if (!isMounted(mountpoint)) done();
    }, 500);
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });

  unmounting = true;
  auto.stop();
  if (follow) clearInterval(follow);
  if (isMounted(mountpoint)) await new Promise<void>((resolve) => fuse.unmount(() => resolve()));
  note('cairn: unmounted; saving changes');
  const staged = status().stagedFiles;
  if (staged > 0) note(`cairn: committing ${staged} file(s) with unsaved data`);
  let snapshot;
  let queuedLeft = 0;
  try {
    snapshot = await session.close();
    await repo.flush();
    if (cached) {
      const c = cached;
      let lastNote = 0;
      if (waitForUploads) {
        await c.drain((s) => {
          if (Date.now() - lastNote < 5000) return;
          lastNote = Date.now();
          note(`cairn: uploading: ${s.queuedObjects} object(s), ${formatBytes(s.queuedBytes)} left (${s.connection}${s.lastError && s.connection === 'offline' ? `: ${s.lastError}` : ''})`);
        });
      }
      queuedLeft = c.status().queuedObjects;
    }
  } catch (e) {
    // Tell a waiting `cairn unmount` what went wrong; staged data stays in the journal.
    const code = e instanceof CairnError ? e.code : 'UNREACHABLE';
    writeFileSync(record, JSON.stringify({ pid: process.pid, mountpoint: path.resolve(mountpoint), repository: repo.id, failed: { code, message: (e as Error).message } }));
    control.close();
    throw e;
  } finally {
    if (readOnly) rmSync(stateDir, { recursive: true, force: true });
  }
  control.close();
  rmSync(controlSocketPath(mountpoint), { force: true });
  // For a waiting `cairn unmount`: which snapshot was saved (read and removed by it; a new
  // mount of this folder replaces it). Written before the record goes, which says "saved".
  const savedName = snapshot ? snapshotFolders((await repo.listSnapshots()).map((s) => ({ id: s.id, timeNs: s.snapshot.timeNs }))).find((n) => n.id === snapshot.id)?.name : undefined;
  writeFileSync(savedSnapshotPath(record), JSON.stringify({ snapshot: snapshot ? { id: snapshot.id, name: savedName ?? folderName(snapshot.snapshot.timeNs) } : null }));
  rmSync(record, { force: true });
  note(snapshot ? `cairn: snapshot ${snapshot.id.slice(0, 12)} saved (${snapshot.snapshot.stats.files} files, ${formatBytes(snapshot.snapshot.stats.bytes)}, ${formatBytes(snapshot.snapshot.stats.addedBytes)} added)` : 'cairn: nothing changed');
  if (queuedLeft > 0) {
    note(`cairn: ${queuedLeft} upload(s) stay queued in the cache folder; the next mount on this machine sends them`);
    note('cairn: the repository stays locked for this machine until then, so no other writer can fork the history');
    return true;
  }
  return false;
}

/**
 * Why the mount cannot save now, as `cairn status` reports it (and exits with its code):
 * the newest of a failed background commit and a failed automatic snapshot, or an
 * unreachable server (the upload queue holds the data meanwhile).
 */
function saveProblem(
  commit: { readonly error: unknown; readonly at: number } | undefined,
  snapshot: { readonly error: unknown; readonly at: number } | undefined,
  uploads: UploadStatus | null,
): MountStatus['problem'] {
  const failure = [commit, snapshot].filter((f) => f !== undefined).sort((a, b) => b.at - a.at)[0];
  if (failure) {
    const e = failure.error;
    const code = e instanceof CairnError ? e.code : (e as { errno?: unknown })?.errno === 'ENOSPC' ? 'NO_SPACE' : 'UNREACHABLE';
    return { code, message: (e as Error)?.message ?? String(e), at: failure.at };
  }
  if (uploads?.connection === 'offline') return { code: 'UNREACHABLE', message: `the store is unreachable${uploads.lastError ? `: ${uploads.lastError}` : ''}; writes wait in the upload queue`, at: uploads.lastErrorAt ?? Date.now() };
  return null;
}

