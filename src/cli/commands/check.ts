import type { Command } from 'commander';
import { CairnError } from '../../errors/errors.js';
import { checkRepository } from '../../repository/check.js';
import { EXIT } from '../exit-codes.js';
import { openFromCli } from '../open.js';
import { formatBytes, note, out } from '../output.js';
import { ProgressLine } from '../progress.js';
import { secretOptions } from './common.js';

export function registerCheck(program: Command): void {
  secretOptions(program.command('check').description('verify the repository; with --read-data, every byte').argument('<store>', 'the repository'))
    .option('--read-data', 'download and verify every pack, not just the structure')
    .option('--json', 'print the result as one JSON object (problems, counts), for scripts and monitoring')
    .action(async (store: string, opts: { keyfile?: string; passwordFile?: string; readData?: boolean; json?: boolean }) => {
      const repo = await openFromCli(store, opts, { skipIndex: true });
      // --read-data: one progress line (packs, bytes, rate, ETA) on a terminal, a line every 30 s without.
      const line = opts.json ? null : new ProgressLine('reading data', 'packs');
      const report = await checkRepository(repo, {
        readData: opts.readData,
        onProgress: opts.json ? undefined : (m) => note(m),
        onDataRead: (r) => line?.update({ entries: r.packs, totalEntries: r.totalPacks, bytes: r.bytes, totalBytes: r.totalBytes }),
      });
      line?.stop();
      const errors = report.problems.filter((p) => p.severity === 'error').length;
      if (opts.json) {
        out(JSON.stringify({ ok: errors === 0, readData: opts.readData === true, errors, problems: report.problems, counts: report.counts }, null, 2));
        if (errors > 0) process.exitCode = EXIT.corrupt;
        return;
      }
      for (const p of report.problems) out(`${p.severity}: ${p.object}: ${p.message}`);
      const c = report.counts;
      out(`${c.snapshots} snapshot(s), ${c.trees} tree(s), ${c.dataBlobs} data blob(s), ${c.packs} pack(s)` + (opts.readData ? `, read ${c.packsRead} pack(s) (${formatBytes(c.bytesRead)})` : ''));
      if (errors > 0) {
        throw new CairnError('CORRUPT', `check found ${errors} error(s)`, {
          hint: 'the objects named above are damaged or missing; restore them from another copy of the store if you have one',
        });
      }
      out(opts.readData ? 'no errors: every byte verified' : 'no errors in the structure (add --read-data to verify every byte)');
    });
}
