import type { Command } from 'commander';
import { openFromCli } from '../open.js';
import { EXIT } from '../exit-codes.js';
import { formatBytes, formatLocalTime, out, reportSkipped, table } from '../output.js';
import { secretOptions } from './common.js';

export function registerSnapshots(program: Command): void {
  secretOptions(program.command('snapshots').description('list the backup points in a repository').argument('<store>', 'the repository'))
    .option('--json', 'print JSON for scripts')
    .action(async (store: string, opts: { keyfile?: string; passwordFile?: string; json?: boolean }) => {
      // A listing reads past a damaged snapshot, naming it, and exits 6 (restic and borg do too).
      const repo = await openFromCli(store, opts, { skipDamaged: true });
      const snapshots = await repo.listSnapshots();
      if (reportSkipped(repo.skipped) > 0) process.exitCode = EXIT.corrupt;
      if (opts.json) {
        out(JSON.stringify(snapshots.map(({ id, snapshot: s }) => ({ id, seq: s.seq, time: new Date(Number(s.timeNs / 1_000_000n)).toISOString(), host: s.host, user: s.user, tags: s.tags, tree: s.tree, stats: s.stats })), null, 2));
        return;
      }
      if (snapshots.length === 0) {
        out('no snapshots yet');
        return;
      }
      const rows = [['ID', 'TIME', 'HOST', 'TAGS', 'FILES', 'SIZE', 'ADDED']];
      for (const { id, snapshot: s } of snapshots) {
        rows.push([id.slice(0, 12), formatLocalTime(s.timeNs), s.host, s.tags.join(','), String(s.stats.files), formatBytes(s.stats.bytes), formatBytes(s.stats.addedBytes)]);
      }
      out(table(rows));
      out(`${snapshots.length} snapshot(s)`);
    });
}
