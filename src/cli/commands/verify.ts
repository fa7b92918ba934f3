import type { Command } from 'commander';
import { verifySnapshot, type Difference } from '../../restore/verify.js';
import { EXIT } from '../exit-codes.js';
import { openFromCli } from '../open.js';
import { out, reportSkipped } from '../output.js';
import { ProgressLine } from '../progress.js';
import { withReadLock } from '../read-lock.js';
import { chooseSnapshot, describeSnapshot } from '../snapshot-choice.js';
import { collect, secretOptions } from './common.js';

interface VerifyCliOptions {
  keyfile?: string;
  passwordFile?: string;
  path?: string[];
  time?: string;
  readData?: boolean;
  json?: boolean;
}

export function registerVerify(program: Command): void {
  secretOptions(
    program
      .command('verify')
      .description('compare a snapshot with a local folder and name every difference')
      .usage('[options] <store> [snapshot] <dir>')
      .argument('<store>', 'the repository')
      .argument('<snapshot>', 'id prefix, .snapshots/ folder name, or latest (the default when only a folder is given)')
      .argument('[dir]', 'the local folder to compare'),
  )
    .option('--path <path>', 'compare only this path of the snapshot (repeatable)', collect, [])
    .option('--time <time>', 'the newest snapshot at or before this time (like restore)')
    .option('--read-data', 'compare with the stored bytes (decrypts every chunk) instead of chunk ids')
    .option('--json', 'print JSON for scripts')
    .action(async (store: string, first: string, second: string | undefined, opts: VerifyCliOptions) => {
      const [snapshotArg, dir] = second === undefined ? [undefined, first] : [first, second];
      const repo = await openFromCli(store, { ...opts, bulkReads: true }, { skipDamaged: true });
      reportSkipped(repo.skipped);
      await withReadLock(repo, async () => {
        const chosen = await chooseSnapshot(repo, snapshotArg, opts.time);
        const differences: Difference[] = [];
        const progress = opts.readData && !opts.json ? new ProgressLine('verifying') : null;
        const result = await verifySnapshot(repo, chosen.stored.snapshot, dir, {
          paths: opts.path,
          readData: opts.readData,
          onProgress: (p) => progress?.update(p),
          onDifference: (d) => {
            if (opts.json) return void differences.push(d);
            progress?.stop();
            out(`${d.kind.padEnd(8)} ${d.path}${d.snapshot !== undefined ? `  (snapshot: ${d.snapshot}, local: ${d.local})` : ''}`);
          },
        }).finally(() => progress?.stop());
        if (opts.json) out(JSON.stringify({ snapshot: chosen.stored.id, name: chosen.name, compared: result.compared, differences }, null, 2));
        else out(`snapshot ${describeSnapshot(chosen)} and ${dir}: ${result.compared} files compared, ${result.differences} differences found`);
        if (result.differences > 0) process.exitCode = EXIT.differences;
        else if (repo.skipped.length > 0) process.exitCode = EXIT.corrupt;
      });
    });
}
