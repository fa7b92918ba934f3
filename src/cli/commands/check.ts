import type { Command } from 'commander';
import { CairnError } from '../../errors/errors.js';
import { checkRepository } from '../../repository/check.js';
import { openFromCli } from '../open.js';
import { formatBytes, note, out } from '../output.js';
import { secretOptions } from './common.js';

export function registerCheck(program: Command): void {
  secretOptions(program.command('check').description('verify the repository; with --read-data, every byte').argument('<store>', 'the repository'))
    .option('--read-data', 'download and verify every pack, not just the structure')
    .action(async (store: string, opts: { keyfile?: string; passwordFile?: string; readData?: boolean }) => {
      const repo = await openFromCli(store, opts, { skipIndex: true });
      const report = await checkRepository(repo, { readData: opts.readData, onProgress: (m) => note(m) });
      for (const p of report.problems) out(`${p.severity}: ${p.object}: ${p.message}`);
      const c = report.counts;
      out(`${c.snapshots} snapshot(s), ${c.trees} tree(s), ${c.dataBlobs} data blob(s), ${c.packs} pack(s)` + (opts.readData ? `, read ${c.packsRead} pack(s) (${formatBytes(c.bytesRead)})` : ''));
      const errors = report.problems.filter((p) => p.severity === 'error').length;
      if (errors > 0) {
        throw new CairnError('CORRUPT', `check found ${errors} error(s)`, {
          hint: 'the objects named above are damaged or missing; restore them from another copy of the store if you have one',
        });
      }
      out(opts.readData ? 'no errors: every byte verified' : 'no errors in the structure (add --read-data to verify every byte)');
    });
}
