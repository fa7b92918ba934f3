import { type Command, Option } from 'commander';
import { CairnError } from '../../errors/errors.js';
import { forgetSnapshots } from '../../repository/forget.js';
import { RepositoryLock } from '../../repository/lock.js';
import type { StoredSnapshot } from '../../repository/repository.js';
import { applyRetention, isEmptyPolicy, type RetentionPolicy, TIME_MACHINE_POLICY } from '../../repository/retention.js';
import { openFromCli } from '../open.js';
import { formatBytes, formatLocalTime, out, table } from '../output.js';
import { secretOptions } from './common.js';
import { parseDuration } from '../duration.js';
import { type PruneJson, runPrune } from './prune.js';

interface ForgetOpts {
  keyfile?: string;
  passwordFile?: string;
  json?: boolean;
  keepWithin?: string;
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepTag: string[];
  policy?: string;
  dryRun?: boolean;
  prune?: boolean;
}

export function registerForget(program: Command): void {
  secretOptions(
    program
      .command('forget')
      .description('remove snapshots by a retention policy, or the ones named; `cairn prune` then gives back their space')
      .argument('<store>', 'the repository')
      .argument('[snapshot...]', 'ids (or unique id prefixes) of snapshots to forget, instead of a policy'),
  )
    .option('--keep-within <duration>', 'keep every snapshot younger than this (like 36h, 14d)')
    .option('--keep-last <n>', 'keep the n newest snapshots', count)
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the last n hours that have one', count)
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the last n days that have one', count)
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the last n weeks that have one', count)
    .option('--keep-monthly <n>', 'keep the newest snapshot of each of the last n months that have one', count)
    .option('--keep-tag <tag>', 'keep every snapshot with this tag (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .addOption(new Option('--policy <name>', 'a named policy: timemachine = all of the last 24 hours, daily for 30 days, weekly beyond; tagged snapshots kept').choices(['timemachine']))
    .option('--dry-run', 'show what would be forgotten; change nothing')
    .option('--prune', 'run `cairn prune` afterwards')
    .option('--json', 'print one object for scripts: {dryRun, forgotten: [{id, time, tags}], kept: [{id, time, tags, reasons}], prune}')
    .action(async (store: string, ids: string[], opts: ForgetOpts) => {
      const policy: RetentionPolicy = {
        ...(opts.policy === 'timemachine' ? TIME_MACHINE_POLICY : {}),
        ...(opts.keepWithin ? { withinMs: parseDuration(opts.keepWithin, '--keep-within') } : {}),
        ...(opts.keepLast ? { last: opts.keepLast } : {}),
        ...(opts.keepHourly ? { hourly: opts.keepHourly } : {}),
        ...(opts.keepDaily ? { daily: opts.keepDaily } : {}),
        ...(opts.keepWeekly ? { weekly: opts.keepWeekly } : {}),
        ...(opts.keepMonthly ? { monthly: opts.keepMonthly } : {}),
        ...(opts.keepTag.length > 0 ? { tags: opts.keepTag } : {}),
      };
      if (ids.length > 0 && !isEmptyPolicy(policy)) throw new CairnError('USAGE', 'give either snapshot ids or --keep-* options, not both');
      if (ids.length === 0 && isEmptyPolicy(policy)) {
        throw new CairnError('USAGE', 'no snapshots named and no policy given: nothing would be kept', {
          hint: 'add --keep-last/--keep-daily/... or --policy timemachine, or name the snapshots to forget; --dry-run shows the result first',
        });
      }
      const repo = await openFromCli(store, opts, { skipIndex: true });
      const lock = opts.dryRun ? null : await RepositoryLock.acquire(repo, opts.prune ? 'prune' : 'write',
        'if a read-write mount holds it: a mount applies retention itself after each snapshot (mount --forget-policy timemachine), or unmount it, then forget; otherwise wait for the other command');
      try {
        const snapshots = await repo.listSnapshots();
        const text = !opts.json;
        const decisions = ids.length > 0 ? null : applyRetention(snapshots, policy);
        const chosen = decisions ? forgetByPolicy(decisions, text) : resolveIds(snapshots, ids, text);
        const report = (pruned: PruneJson | null) => out(JSON.stringify({
          dryRun: opts.dryRun ?? false,
          forgotten: chosen.map((s) => ({ id: s.id, time: formatLocalTime(s.snapshot.timeNs), tags: s.snapshot.tags })),
          kept: snapshots.filter((s) => !chosen.includes(s)).map((s) => ({
            id: s.id, time: formatLocalTime(s.snapshot.timeNs), tags: s.snapshot.tags, reasons: decisions?.find((d) => d.snapshot === s)?.reasons ?? [],
          })),
          prune: pruned,
        }, null, 2));
        if (opts.dryRun) {
          if (text) out(`would forget ${chosen.length} of ${snapshots.length} snapshot(s) (dry run: nothing changed)`);
          else report(null);
          return;
        }
        await forgetSnapshots(repo, chosen);
        if (text) out(`forgot ${chosen.length} snapshot(s); ${snapshots.length - chosen.length} kept`);
        let pruned: PruneJson | null = null;
        if (opts.prune) {
          // Prune needs the index, which forget did not load.
          await repo.loadIndex();
          pruned = await runPrune(repo, { json: !text });
        } else if (chosen.length > 0 && text) {
          out(`their data stays on the store until \`cairn prune ${store}\``);
        }
        if (!text) report(pruned);
      } finally {
        await lock?.release().catch(() => undefined);
      }
    });
}

/** Prints the policy's decision for every snapshot (unless `print` is false); returns the ones to forget. */
function forgetByPolicy(decisions: ReturnType<typeof applyRetention>, print: boolean): StoredSnapshot[] {
  const rows = [['', 'ID', 'TIME', 'TAGS', 'SIZE', 'WHY KEPT']];
  for (const d of decisions) {
    const s = d.snapshot.snapshot;
    rows.push([d.keep ? 'keep' : 'forget', d.snapshot.id.slice(0, 12), formatLocalTime(s.timeNs), s.tags.join(','), formatBytes(s.stats.bytes), d.reasons.join(', ')]);
  }
  if (decisions.length > 0 && print) out(table(rows));
  return decisions.filter((d) => !d.keep).map((d) => d.snapshot);
}

function resolveIds(snapshots: StoredSnapshot[], ids: string[], print: boolean): StoredSnapshot[] {
  return ids.map((prefix) => {
    const matches = snapshots.filter((s) => s.id.startsWith(prefix.toLowerCase()));
    if (prefix.length < 4 || matches.length !== 1) {
      throw new CairnError('USAGE', matches.length === 0 ? `no snapshot has an id starting with ${prefix}` : `${prefix} names ${matches.length} snapshots; give more of the id`, {
        hint: 'see the ids with `cairn snapshots STORE`',
      });
    }
    if (print) out(`forget ${matches[0]!.id.slice(0, 12)}  ${formatLocalTime(matches[0]!.snapshot.timeNs)}`);
    return matches[0]!;
  });
}

function count(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new CairnError('USAGE', `expected a positive whole number, not ${value}`);
  return Number(value);
}
