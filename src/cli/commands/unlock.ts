import type { Command } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { read } from 'read';
import { CairnError } from '../../errors/errors.js';
import { breakableReason, describeLock, listLocks, removeLock } from '../../repository/lock.js';
import { defaultCacheDir } from '../local-paths.js';
import { openFromCli } from '../open.js';
import { out } from '../output.js';
import { secretOptions } from './common.js';

export function registerUnlock(program: Command): void {
  secretOptions(
    program
      .command('unlock')
      .description('remove stale locks (of processes that are gone or stopped refreshing); --all removes every lock')
      .argument('<store>', 'the repository'),
  )
    .option('--all', 'also remove locks that look alive (only when you know their holder is gone)')
    .option('--yes', 'do not ask for confirmation (needed without a terminal)')
    .action(async (store: string, opts: { keyfile?: string; passwordFile?: string; all?: boolean; yes?: boolean }) => {
      const repo = await openFromCli(store, opts, { skipIndex: true });
      const locks = await listLocks(repo);
      if (locks.length === 0) {
        out('the repository is not locked');
        return;
      }
      const chosen: string[] = [];
      for (const lock of locks) {
        const reason = breakableReason(lock);
        const who = lock.info ? describeLock(lock.info) : `locks/${lock.name.slice(0, 12)}`;
        if (reason || opts.all) {
          chosen.push(lock.name);
          out(`remove: ${who}${reason ? ` (${reason})` : ' (looks alive; --all)'}`);
        } else {
          out(`keep:   ${who} (alive; remove it only with --all once you are sure it is gone)`);
        }
      }
      if (chosen.length === 0) return;
      const queue = path.join(defaultCacheDir(repo.id), 'queue');
      const queued = existsSync(queue) ? readdirSync(queue).filter((n) => !n.endsWith('.tmp')).length : 0;
      if (queued > 0) {
        out(`note: this machine has ${queued} upload(s) queued for this repository (an unmount --no-wait, or a mount that stopped);`);
        out('      the lock keeps other writers out until a mount here sends them. Mount here instead of unlocking if you can.');
      }
      const writers = locks.filter((l) => chosen.includes(l.name) && l.info?.exclusive && l.info.host !== hostname());
      for (const w of writers) {
        out(`note: the read-write mount on ${w.info!.host} may have left unsaved changes in that machine's journal;`);
        out('      mount the store there once to save them before you run `cairn prune` (prune would delete their data)');
      }
      if (!opts.yes) {
        if (!process.stdin.isTTY) throw new CairnError('USAGE', 'not removing locks without confirmation', { hint: 'run it on a terminal, or add --yes' });
        const answer = await read({ prompt: `Remove ${chosen.length} lock(s)? [y/N] `, output: process.stderr });
        if (!/^y(es)?$/i.test(answer.trim())) {
          out('nothing removed');
          return;
        }
      }
      for (const name of chosen) await removeLock(repo, name);
      out(`removed ${chosen.length} lock(s)`);
    });
}
