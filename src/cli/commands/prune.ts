import type { Command } from 'commander';
import { CairnError } from '../../errors/errors.js';
import { RepositoryLock } from '../../repository/lock.js';
import { type PruneStep, pruneRepository } from '../../repository/prune.js';
import type { Repository } from '../../repository/repository.js';
import { Journal } from '../../vfs/journal.js';
import { defaultStateDir } from '../local-paths.js';
import { openFromCli } from '../open.js';
import { formatBytes, note, out } from '../output.js';
import { ProgressLine } from '../progress.js';
import { secretOptions } from './common.js';

export interface PruneCliOptions {
  dryRun?: boolean;
  repackUnused?: number;
  stateDir?: string;
  /** Report as one JSON object (the caller prints it) instead of lines. */
  json?: boolean;
}

export function registerPrune(program: Command): void {
  secretOptions(
    program
      .command('prune')
      .description('delete data no snapshot uses any more and repack mostly-empty packs (safe to interrupt and re-run)')
      .argument('<store>', 'the repository'),
  )
    .option('--dry-run', 'show what would be deleted and repacked; change nothing')
    .option('--repack-unused <percent>', 'repack a pack when at least this much of it is unused', percent, 20)
    .option('--state-dir <dir>', 'the local state folder a mount of this repository uses, if not the default')
    .option('--json', 'print one object for scripts: {dryRun, usedBlobs, unusedBlobs, packs: {total, kept, repacked, written, deleted, unindexed}, packBytesBefore, packBytesAfter, freedBytes}')
    .action(async (store: string, opts: PruneCliOptions & { keyfile?: string; passwordFile?: string }) => {
      const repo = await openFromCli(store, opts);
      const lock = opts.dryRun ? null : await RepositoryLock.acquire(repo, 'prune');
      try {
        const report = await runPrune(repo, opts);
        if (opts.json) out(JSON.stringify(report, null, 2));
      } finally {
        await lock?.release().catch(() => undefined);
      }
    });
}

/** What `prune --json` prints (and `forget --prune --json` under `prune`). */
export interface PruneJson {
  readonly dryRun: boolean;
  readonly usedBlobs: number;
  readonly unusedBlobs: number;
  readonly packs: { readonly total: number; readonly kept: number; readonly repacked: number; readonly written: number; readonly deleted: number; readonly unindexed: number };
  readonly packBytesBefore: number;
  readonly packBytesAfter: number;
  readonly freedBytes: number;
}

/** Runs prune on a repository whose exclusive lock the caller holds; reports in words unless `json`. */
export async function runPrune(repo: Repository, opts: PruneCliOptions): Promise<PruneJson> {
  // Changes a killed mount left in this machine's journal reference blobs no snapshot has
  // yet: pruning now would delete them.
  const stateDir = opts.stateDir ?? defaultStateDir(repo.id);
  const pending = Journal.pendingRecords(stateDir);
  if (pending > 0) {
    throw new CairnError('LOCKED', `a mount of this repository stopped with ${pending} unsaved change(s) in ${stateDir}`, {
      hint: 'mount the store and unmount it again to save them into a snapshot, then prune',
    });
  }
  const line = opts.json ? null : new ProgressLine('repacking', 'packs');
  const report = await pruneRepository(repo, {
    dryRun: opts.dryRun,
    repackUnused: (opts.repackUnused ?? 20) / 100,
    onProgress: (m) => note(m),
    onStep: faultInjection(),
    onRepack: (r) => line?.update({ entries: r.packs, totalEntries: r.totalPacks, bytes: r.bytes, totalBytes: r.totalBytes }),
  }).finally(() => line?.stop());
  const p = report.packs;
  const freedBytes = Math.max(0, report.packBytesBefore - report.packBytesAfter);
  const result: PruneJson = {
    dryRun: opts.dryRun ?? false, usedBlobs: report.usedBlobs, unusedBlobs: report.unusedBlobs,
    packs: { total: p.total, kept: p.kept, repacked: p.repacked, written: p.written, deleted: p.deleted, unindexed: p.unindexed },
    packBytesBefore: report.packBytesBefore, packBytesAfter: report.packBytesAfter, freedBytes,
  };
  if (opts.json) return result;
  out(`${report.usedBlobs} blob(s) in use, ${report.unusedBlobs} unused`);
  out(`packs: ${p.total} on the store; ${p.kept} kept, ${p.repacked} repacked into ${p.written}, ${p.deleted} deleted, ${p.unindexed} unindexed removed`);
  const freed = report.packBytesBefore - report.packBytesAfter;
  out(`${opts.dryRun ? 'would free' : 'freed'} ${formatBytes(Math.max(0, freed))} (packs: ${formatBytes(report.packBytesBefore)} → ${formatBytes(report.packBytesAfter)})`);
  if (freed <= 0 && report.unusedBlobs > 0) {
    out(`the unused blobs sit in packs that are still mostly in use (less than ${opts.repackUnused ?? 20} % unused), which are kept whole; they go once more of such a pack is unused, or now with --repack-unused 1`);
  }
  if (opts.dryRun) out('dry run: nothing changed');
  return result;
}

/**
 * Test hook: CAIRN_TEST_KILL_AT=<step>:<n> kills this process with SIGKILL right after the
 * n-th occurrence of a prune step, so tests can prove an interrupted prune is harmless.
 */
function faultInjection(): ((step: PruneStep) => void) | undefined {
  const spec = process.env.CAIRN_TEST_KILL_AT;
  if (!spec) return undefined;
  const [target, nth] = spec.split(':');
  let seen = 0;
  return (step) => {
    if (step === target && ++seen === Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
  };
}

function percent(value: string): number {
  const n = Number(value.replace(/%$/, ''));
  if (!Number.isFinite(n) || n <= 0 || n > 100) throw new CairnError('USAGE', `--repack-unused takes a percentage between 0 and 100, not ${value}`);
  return n;
}
