/** Commands that talk to a running mount: snapshot, status, unmount. */
import type { Command } from 'commander';
import * as path from 'node:path';
import { controlRequest } from '../../control/client.js';
import type { MountStatus } from '../../control/protocol.js';
import { CairnError, type ErrorCode } from '../../errors/errors.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import { controlSocketPath } from '../local-paths.js';
import { isMounted } from '../mount-table.js';
import { formatBytes, note, out } from '../output.js';
import { unmountAndWait } from '../unmount.js';

function requireMounted(mountpoint: string): void {
  if (!isMounted(mountpoint)) throw new CairnError('USAGE', `${mountpoint} is not mounted`, { hint: 'start it with `cairn mount STORE MOUNTPOINT`' });
}

export function registerControl(program: Command): void {
  program
    .command('snapshot')
    .description('take a snapshot of a running mount now; prints its folder name in .snapshots/ and its id')
    .argument('<mountpoint>', 'where the repository is mounted')
    .option('--tag <tag...>', 'label the snapshot (repeatable)')
    .action(async (mountpoint: string, opts: { tag?: string[] }) => {
      requireMounted(mountpoint);
      const reply = await controlRequest(controlSocketPath(mountpoint), { op: 'snapshot', tags: opts.tag ?? [] });
      if (!('snapshot' in reply)) throw new CairnError('USAGE', 'the mount gave an unexpected answer');
      out(`${reply.snapshot.name} ${reply.snapshot.id}`);
      note(`cairn: ${reply.snapshot.files} files, ${formatBytes(reply.snapshot.addedBytes)} added; browse it in ${path.join(mountpoint, '.snapshots', reply.snapshot.name)}`);
    });

  program
    .command('status')
    .description('show a running mount\'s state: last snapshot, staged data, uploads, and whether it can save now (exit code as for the error when it cannot)')
    .argument('<mountpoint>', 'where the repository is mounted')
    .option('--json', 'print JSON for scripts')
    .action(async (mountpoint: string, opts: { json?: boolean }) => {
      requireMounted(mountpoint);
      const s = await mountStatus(mountpoint);
      // Monitoring and cron alert on the exit code: non-zero while the mount cannot save.
      if (s.problem) process.exitCode = exitCodeFor(s.problem.code as ErrorCode) ?? EXIT.failure;
      if (opts.json) {
        out(JSON.stringify(s, null, 2));
        return;
      }
      out(`store:      ${s.store}${s.readOnly ? ' (read-only mount)' : ''}`);
      out(`snapshot:   ${s.lastSnapshot ? `${s.lastSnapshot.time} ${s.lastSnapshot.id.slice(0, 12)}` : 'none yet'}`);
      out(`staged:     ${s.stagedFiles} file(s) with data not yet committed`);
      out(`memory:     ${formatBytes(s.memory.rss)} resident (JavaScript heap ${formatBytes(s.memory.heapUsed)} of ${formatBytes(s.memory.heapTotal)}, buffers ${formatBytes(s.memory.external)})`);
      out(`index:      ${s.index.blobs} blob(s), ${s.index.onDisk ? 'on local disk (beside the journal)' : 'in memory'}`);
      out(`tree:       ${s.tree.inMemory} file(s) and folder(s) in memory (--tree-cache ${s.tree.limit}); ${s.tree.loadedFolders} folder(s) read, ${s.tree.droppedFolders} dropped since the mount`);
      out(`saving:     ${s.problem ? `cannot save now: ${s.problem.message} (since ${new Date(s.problem.at).toLocaleString()}); it retries by itself` : 'ok'}`);
      if (!s.uploads) {
        out('uploads:    none queued (a local-folder store is written directly)');
        return;
      }
      const u = s.uploads;
      out(`connection: ${u.connection}`);
      out(`queued:     ${u.queuedObjects} object(s), ${formatBytes(u.queuedBytes)}`);
      out(`uploaded:   ${formatBytes(u.uploadedBytes)} from the queue, now ${formatBytes(u.bytesPerSecond)}/s`);
      out(`cache:      ${formatBytes(u.cachedBytes)} cached + ${formatBytes(u.queuedBytes)} queued of ${formatBytes(u.budgetBytes)}`);
      out(`last error: ${u.lastError ? `${u.lastError} (${new Date(u.lastErrorAt!).toLocaleString()})` : 'none'}`);
    });

  program
    .command('unmount')
    .alias('umount')
    .description('unmount: the mount commits, takes a snapshot if anything changed, finishes uploads, and exits')
    .argument('<mountpoint>', 'where it is mounted')
    .option('--no-wait', 'do not wait for queued uploads: they stay queued and the next mount on this machine sends them')
    .option('--json', 'print {mountpoint, snapshot: {name, id} or null when nothing changed} for scripts')
    .action(async (mountpoint: string, opts: { wait: boolean; json?: boolean }) => {
      const saved = await unmountAndWait(mountpoint, { wait: opts.wait, status: () => mountStatus(mountpoint) });
      if (opts.json) out(JSON.stringify({ mountpoint: path.resolve(mountpoint), snapshot: saved ? { name: saved.name, id: saved.id } : null }));
      // Like `cairn snapshot`: the folder name in .snapshots/ and the id, for scripts.
      else if (saved) out(`${saved.name} ${saved.id}`);
      else if (saved === null) note('cairn: nothing changed since the last snapshot; none taken');
      note('cairn: done');
    });
}

async function mountStatus(mountpoint: string): Promise<MountStatus> {
  const reply = await controlRequest(controlSocketPath(mountpoint), { op: 'status' });
  if (!('status' in reply)) throw new CairnError('USAGE', 'the mount gave an unexpected answer');
  return reply.status;
}
