import type { Command } from 'commander';
import { RepositoryLock } from '../../repository/lock.js';
import { repairIndex } from '../../repository/repair.js';
import { EXIT } from '../exit-codes.js';
import { openFromCli } from '../open.js';
import { note, out } from '../output.js';
import { secretOptions } from './common.js';

export function registerRepair(program: Command): void {
  const repair = program.command('repair').description('rebuild what can be rebuilt from the store after damage');
  secretOptions(
    repair
      .command('index')
      .description('rebuild the index from the readable index files and the packs\' own headers (packs and snapshots are not changed)')
      .argument('<store>', 'the repository'),
  )
    .option('--dry-run', 'say what is damaged or missing; change nothing')
    .option('--json', 'print one object for scripts: {dryRun, complete, indexFiles, damagedIndexFiles, packs, packsReindexed, unreadablePacks, missingPacks, indexFilesWritten, indexFilesDeleted}')
    .action(async (store: string, opts: { dryRun?: boolean; json?: boolean; keyfile?: string; passwordFile?: string }) => {
      // The index is what is damaged: do not load it.
      const repo = await openFromCli(store, opts, { skipIndex: true });
      const lock = opts.dryRun ? null : await RepositoryLock.acquire(repo, 'write');
      try {
        const report = await repairIndex(repo, { dryRun: opts.dryRun, onProgress: (m) => note(m) });
        if (report.unreadablePacks.length > 0) process.exitCode = EXIT.corrupt;
        if (opts.json) {
          out(JSON.stringify({ dryRun: opts.dryRun ?? false, ...report }, null, 2));
          return;
        }
        out(`${report.indexFiles} index file(s), ${report.damagedIndexFiles.length} damaged; ${report.packs} pack(s) on the store`);
        for (const file of report.damagedIndexFiles) out(`  damaged: ${file}`);
        if (report.packsReindexed > 0) out(`${report.packsReindexed} pack(s) no readable index named: indexed from their own headers`);
        if (report.missingPacks.length > 0) {
          out(`${report.missingPacks.length} pack(s) the index named are not on the store: their entries are dropped (\`cairn check STORE\` names the snapshots that needed them)`);
          for (const pack of report.missingPacks) out(`  missing: ${pack}`);
        }
        for (const { pack, reason } of report.unreadablePacks) out(`  unreadable, left as it is: ${pack}: ${reason}`);
        if (report.complete) out('the index is complete: nothing to repair');
        else if (opts.dryRun) out('dry run: nothing changed');
        else out(`wrote ${report.indexFilesWritten} index file(s), deleted ${report.indexFilesDeleted} old one(s)`);
      } finally {
        await lock?.release().catch(() => undefined);
        await repo.backend.close().catch(() => undefined);
      }
    });
}
