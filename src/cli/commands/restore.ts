import type { Command } from 'commander';
import { restoreSnapshot } from '../../restore/restore.js';
import { EXIT } from '../exit-codes.js';
import { openFromCli } from '../open.js';
import { formatBytes, note, out, reportSkipped } from '../output.js';
import { ProgressLine } from '../progress.js';
import { withReadLock } from '../read-lock.js';
import { chooseSnapshot, describeSnapshot } from '../snapshot-choice.js';
import { collect, secretOptions } from './common.js';

interface RestoreCliOptions {
  keyfile?: string;
  passwordFile?: string;
  path?: string[];
  time?: string;
  overwrite?: boolean;
  json?: boolean;
}

export function registerRestore(program: Command): void {
  secretOptions(
    program
      .command('restore')
      .description('copy a snapshot, or paths of it, into a local folder with all its metadata')
      .usage('[options] <store> [snapshot] <target>')
      .argument('<store>', 'the repository')
      .argument('<snapshot>', 'id prefix, .snapshots/ folder name, or latest (the default when only a target is given)')
      .argument('[target]', 'the folder to restore into (created if missing)'),
  )
    .option('--path <path>', 'restore only this path of the snapshot (repeatable)', collect, [])
    .option('--time <time>', 'the newest snapshot at or before this time: 3D, 2W, 12h, 2026-11-20, 2026-11-20T22:00')
    .option('--overwrite', 'replace files that already exist in the target (folders are merged)')
    .option('--json', 'print the result as JSON for scripts')
    .action(async (store: string, first: string, second: string | undefined, opts: RestoreCliOptions) => {
      const [snapshotArg, target] = second === undefined ? [undefined, first] : [first, second];
      const repo = await openFromCli(store, { ...opts, bulkReads: true }, { skipDamaged: true });
      reportSkipped(repo.skipped);
      await withReadLock(repo, async () => {
        const chosen = await chooseSnapshot(repo, snapshotArg, opts.time);
        note(`cairn: restoring snapshot ${describeSnapshot(chosen)}${opts.path!.length > 0 ? `, ${opts.path!.join(', ')}` : ''} into ${target}`);
        const progress = opts.json ? null : new ProgressLine('restoring', 'files');
        const result = await restoreSnapshot(repo, chosen.stored.snapshot, target, {
          paths: opts.path,
          overwrite: opts.overwrite,
          owner: process.getuid?.() === 0,
          onProgress: (p) => progress?.update({ entries: p.files, bytes: p.bytes, totalEntries: p.totalFiles, totalBytes: p.totalBytes }),
          onProblem: (p) => {
            progress?.stop();
            note(`cairn: ${p.path}: ${p.message}`);
          },
        }).finally(() => progress?.stop());
        if (opts.json) out(JSON.stringify({ snapshot: chosen.stored.id, name: chosen.name, target, ...result }, null, 2));
        else out(`restored ${result.entries} entries (${result.files} files, ${formatBytes(result.bytes)}) into ${target}`);
        if (result.damagedFiles > 0) {
          note(`cairn: ${result.damagedFiles} file(s) had damaged content (named above); everything else was restored`);
          note('  run `cairn check --read-data STORE` for the full list of damage');
          process.exitCode = EXIT.corrupt;
        } else if (result.otherProblems > 0) {
          note(`cairn: ${result.otherProblems} owner, mode, time or extended attribute(s) could not be set (named above)`);
          process.exitCode = EXIT.incomplete;
        } else if (repo.skipped.length > 0) {
          process.exitCode = EXIT.corrupt;
        }
      });
    });
}
