import { type Command, Option } from 'commander';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CairnError } from '../../errors/errors.js';
import { createFuse } from '../../fuse/adapter.js';
import { RepositoryLock } from '../../repository/lock.js';
import { TIME_MACHINE_POLICY } from '../../repository/retention.js';
import { AutoSnapshotter } from '../../vfs/auto-snapshot.js';
import { LiveSession } from '../../vfs/session.js';
import { startControlServer } from '../../control/server.js';
import { controlRequest } from '../../control/client.js';
import { snapshotFolders } from '../../timetravel/names.js';
import { controlSocketPath, defaultStateDir, mountRecordPath } from '../local-paths.js';
import { isMounted, lazyUnmount, mountpointState } from '../mount-table.js';
import { openFromCli } from '../open.js';
import { unmountAndWait } from '../unmount.js';
import { formatBytes, formatLocalTime, note, out } from '../output.js';
import { secretOptions } from './common.js';
import { parseDuration } from '../duration.js';

interface MountOpts {
  snapshots: string;
  snapshotInterval: string;
  snapshotQuiet: string;
  keyfile?: string;
  passwordFile?: string;
  stateDir?: string;
  allowOther?: boolean;
  attrTimeout: string;
  forgetPolicy: string;
}

export function registerMount(program: Command): void {
  secretOptions(
    program
      .command('mount')
      .description('mount the repository as a writable folder (runs in the foreground until unmounted)')
      .argument('<store>', 'the repository')
      .argument('<mountpoint>', 'an existing empty folder'),
  )
    .option('--state-dir <dir>', 'local journal and write-back staging (default: $XDG_STATE_HOME/cairn/<repository id>)')
    .option('--allow-other', 'let other users use the mount (needs user_allow_other in /etc/fuse.conf unless root)')
    .addOption(new Option('--snapshots <mode>', 'list .snapshots/ in the root folder (visible) or only reach it by path (hidden)').choices(['hidden', 'visible']).default('hidden'))
    .option('--snapshot-interval <duration>', 'take a snapshot automatically at most this often after changes (like 30s, 15m, 1h; 0 = only on unmount and request)', '1h')
    .option('--snapshot-quiet <duration>', 'wait until writes have been quiet this long before an automatic snapshot', '60s')
    .addOption(new Option('--forget-policy <name>', 'after each snapshot, forget old ones: timemachine = all of the last 24 hours, daily for 30 days, weekly beyond (tagged snapshots kept); `cairn prune` gives back the space').choices(['none', 'timemachine']).default('none'))
    .option('--attr-timeout <seconds>', 'let the kernel cache file attributes this long: faster stat, but metadata seen through a second hard-link name may be that old', '0')
    .action(async (store: string, mountpoint: string, opts: MountOpts) => {
      if (!/^\d+(\.\d+)?$/.test(opts.attrTimeout)) throw new CairnError('USAGE', `--attr-timeout takes seconds, not ${opts.attrTimeout}`);
      parseDuration(opts.snapshotInterval, '--snapshot-interval');
      parseDuration(opts.snapshotQuiet, '--snapshot-quiet');
      await checkMountpoint(mountpoint);
      const repo = await openFromCli(store, opts);
      const lock = await RepositoryLock.acquire(repo, true);
      try {
        await runMount(repo, lock, mountpoint, opts);
      } finally {
        await lock.release().catch(() => undefined);
      }
    });

  program
    .command('snapshot')
    .description('take a snapshot of a running mount now; prints its folder name in .snapshots/ and its id')
    .argument('<mountpoint>', 'where the repository is mounted')
    .option('--tag <tag...>', 'label the snapshot (repeatable)')
    .action(async (mountpoint: string, opts: { tag?: string[] }) => {
      if (!isMounted(mountpoint)) throw new CairnError('USAGE', `${mountpoint} is not mounted`, { hint: 'start it with `cairn mount STORE MOUNTPOINT`' });
      const reply = await controlRequest(controlSocketPath(mountpoint), { op: 'snapshot', tags: opts.tag ?? [] });
      out(`${reply.snapshot.name} ${reply.snapshot.id}`);
      note(`cairn: ${reply.snapshot.files} files, ${formatBytes(reply.snapshot.addedBytes)} added; browse it in ${path.join(mountpoint, '.snapshots', reply.snapshot.name)}`);
    });

  program
    .command('unmount')
    .alias('umount')
    .description('unmount: the mount finishes uploads, takes a snapshot if anything changed, and exits')
    .argument('<mountpoint>', 'where it is mounted')
    .action(async (mountpoint: string) => {
      await unmountAndWait(mountpoint);
    });
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
  }
}

async function runMount(repo: Awaited<ReturnType<typeof openFromCli>>, lock: RepositoryLock, mountpoint: string, opts: MountOpts): Promise<void> {
  const stateDir = opts.stateDir ?? defaultStateDir(repo.id);
  const { session, report } = await LiveSession.open(repo, {
    stateDir,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    onError: (e) => note(`cairn: background work failed, will retry: ${(e as Error).message}`),
    showSnapshots: opts.snapshots === 'visible',
    ...(opts.forgetPolicy === 'timemachine' ? { retention: TIME_MACHINE_POLICY } : {}),
    onForgotten: (gone) => note(`cairn: forgot ${gone.length} old snapshot(s) by the ${opts.forgetPolicy} policy`),
  });
  const base = report.base;
  note(base ? `cairn: snapshot ${base.id.slice(0, 12)} of ${formatLocalTime(base.snapshot.timeNs)}: ${report.files} files, ${report.dirs} folders` : 'cairn: empty repository');
  if (report.replayed > 0) note(`cairn: replayed ${report.replayed} change(s) a previous mount left in ${stateDir}`);

  const fuse = createFuse(session.fs, session.barrier, mountpoint, {
    allowOther: opts.allowOther,
    attrTimeoutSeconds: Number(opts.attrTimeout),
    log: (m) => note(`cairn: ${m}`),
  });
  await new Promise<void>((resolve, reject) =>
    fuse.mount((err) => (err ? reject(new CairnError('USAGE', `mounting at ${mountpoint} failed: ${err.message}`, { hint: 'is /dev/fuse available and fusermount installed (Debian: fuse3)?' })) : resolve())),
  );
  const record = mountRecordPath(mountpoint);
  mkdirSync(path.dirname(record), { recursive: true, mode: 0o700 });
  writeFileSync(record, JSON.stringify({ pid: process.pid, mountpoint: path.resolve(mountpoint), repository: repo.id }));
  const control = await startControlServer(controlSocketPath(mountpoint), async (request) => {
    if (request.op !== 'snapshot') throw new CairnError('USAGE', `unknown request ${String(request.op)}`);
    const stored = await session.snapshot(request.tags);
    const names = snapshotFolders((await repo.listSnapshots()).map((s) => ({ id: s.id, timeNs: s.snapshot.timeNs })));
    note(`cairn: snapshot ${stored.id.slice(0, 12)} taken on request`);
    return { ok: true, snapshot: { id: stored.id, name: names.find((n) => n.id === stored.id)!.name, files: stored.snapshot.stats.files, addedBytes: stored.snapshot.stats.addedBytes } };
  });
  const auto = new AutoSnapshotter(session, { intervalMs: parseDuration(opts.snapshotInterval, '--snapshot-interval'), quietMs: parseDuration(opts.snapshotQuiet, '--snapshot-quiet') }, {
    taken: (s) => note(`cairn: automatic snapshot ${s.id.slice(0, 12)} (${s.snapshot.stats.files} files, ${formatBytes(s.snapshot.stats.addedBytes)} added)`),
    failed: (e) => note(`cairn: automatic snapshot failed, will retry: ${(e as Error).message}`),
  });
  auto.start();
  note(`cairn: mounted at ${mountpoint}`);

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

  auto.stop();
  control.close();
  rmSync(controlSocketPath(mountpoint), { force: true });
  if (isMounted(mountpoint)) await new Promise<void>((resolve) => fuse.unmount(() => resolve()));
  note('cairn: unmounted; saving changes');
  const staged = [...session.table.all()].filter((i) => !i.dirty.isEmpty).length;
  if (staged > 0) note(`cairn: committing ${staged} file(s) with unsaved data`);
  let snapshot;
  try {
    snapshot = await session.close();
    await repo.close();
  } catch (e) {
    // Tell a waiting `cairn unmount` what went wrong; staged data stays in the journal.
    const code = e instanceof CairnError ? e.code : 'UNREACHABLE';
    writeFileSync(record, JSON.stringify({ pid: process.pid, mountpoint: path.resolve(mountpoint), repository: repo.id, failed: { code, message: (e as Error).message } }));
    throw e;
  }
  rmSync(record, { force: true });
  await lock.release();
  note(snapshot ? `cairn: snapshot ${snapshot.id.slice(0, 12)} saved (${snapshot.snapshot.stats.files} files, ${formatBytes(snapshot.snapshot.stats.bytes)}, ${formatBytes(snapshot.snapshot.stats.addedBytes)} added)` : 'cairn: nothing changed');
}
