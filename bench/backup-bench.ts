/**
 * Backup, restore and diff without a mount, against restic (when installed) in the same run,
 * on the same disk: `cairn backup` / `restic backup` of the small-file tree (/usr/share/doc)
 * and of the corpus tree, first run and after 1 % of files changed in place; a restore of the
 * whole corpus snapshot; a diff of the corpus's two snapshots. Page cache dropped before each.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { duBytes, haveCommand, timedCold } from './common.js';

interface Row {
  readonly what: string;
  readonly cairn: number;
  readonly restic?: number;
  readonly note?: string;
}


/** Appends to every 100th file (sorted), in place: what the corpus's tree-mod does, here on a copy. */
function changeOnePercent(dir: string): number {
  const files = execFileSync('find', [dir, '-type', 'f'], { maxBuffer: 1 << 26 }).toString().trim().split('\n').sort();
  let changed = 0;
  for (let i = 50; i < files.length; i += 100) {
    execFileSync('sh', ['-c', 'printf "bench change\\n" >> "$1"', 'sh', files[i]!]);
    changed++;
  }
  return changed;
}

export async function backupBenchmarks(work: string, corpus: string, cli: string, log: (m: string) => void): Promise<string> {
  const root = path.join(work, 'backup');
  mkdirSync(root, { recursive: true });
  const env = { ...process.env, CAIRN_PASSWORD: 'bench', XDG_STATE_HOME: path.join(root, 'state'), RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: path.join(root, 'restic-cache') };
  const cairn = (...args: string[]) => execFileSync(cli, [...args], { env, maxBuffer: 1 << 26 }).toString();
  const restic = haveCommand('restic') ? (...args: string[]) => execFileSync('restic', ['-q', ...args], { env, maxBuffer: 1 << 26 }).toString() : null;
  const rows: Row[] = [];

  for (const [label, source] of [['small-file tree (/usr/share/doc)', '/usr/share/doc'], ['corpus tree', path.join(corpus, 'tree')]] as const) {
    const name = label.startsWith('small') ? 'small' : 'corpus';
    const copy = path.join(root, `${name}-src`);
    cpSync(source, copy, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    const store = path.join(root, `${name}-cairn`);
    const repo = path.join(root, `${name}-restic`);
    cairn('init', store);
    restic?.('init', '-r', repo);
    log(`backup: ${label}, first run`);
    let report = '';
    const c1 = timedCold(() => (report = cairn('backup', store, copy, '/', '--json')));
    const first = JSON.parse(report) as { newFiles: number; addedBytes: number };
    const r1 = restic ? timedCold(() => void restic('backup', '-r', repo, copy, '--host', 'bench')) : undefined;
    rows.push({ what: `backup ${label}, first (${first.newFiles} files)`, cairn: c1, restic: r1, note: `cairn stored ${(first.addedBytes / 1048576).toFixed(1)} MiB` });
    const changed = changeOnePercent(copy);
    log(`backup: ${label}, after ${changed} files changed`);
    const c2 = timedCold(() => (report = cairn('backup', store, copy, '/', '--json')));
    const second = JSON.parse(report) as { changedFiles: number; bytesRead: number; addedBytes: number };
    // restic picks its parent snapshot by host and paths: the same absolute path both times.
    const r2 = restic ? timedCold(() => void restic('backup', '-r', repo, copy, '--host', 'bench')) : undefined;
    rows.push({ what: `backup ${label}, 1 % changed (${changed} files)`, cairn: c2, restic: r2, note: `cairn read ${second.changedFiles} files, ${(second.bytesRead / 1048576).toFixed(2)} MiB; added ${(second.addedBytes / 1048576).toFixed(2)} MiB` });

    if (name === 'corpus') {
      log('restore: the corpus snapshot');
      const cTarget = path.join(root, 'restore-cairn');
      const rTarget = path.join(root, 'restore-restic');
      const c3 = timedCold(() => void cairn('restore', store, 'latest', cTarget));
      const r3 = restic ? timedCold(() => void restic('restore', 'latest', '-r', repo, '--target', rTarget)) : undefined;
      const same = spawnSync('diff', ['-r', '-q', copy, cTarget]).status === 0;
      rows.push({ what: 'restore the whole corpus snapshot', cairn: c3, restic: r3, note: same ? 'cairn restore equals the source (diff -r)' : 'DIFFERS from the source' });
      rmSync(cTarget, { recursive: true, force: true });
      rmSync(rTarget, { recursive: true, force: true });
      log('diff: the two corpus snapshots');
      const ids = (JSON.parse(cairn('snapshots', store, '--json')) as { id: string }[]).map((s) => s.id);
      const rIds = restic ? (JSON.parse(restic('snapshots', '-r', repo, '--json')) as { id: string }[]).map((s) => s.id) : [];
      const c4 = timedCold(() => void cairn('diff', store, ids[0]!, ids[1]!));
      const r4 = restic ? timedCold(() => void restic('diff', '-r', repo, rIds[0]!, rIds[1]!)) : undefined;
      rows.push({ what: 'diff of the two corpus snapshots', cairn: c4, restic: r4 });
      rows.push({ what: 'store size after both corpus backups (MiB)', cairn: duBytes(store) / 1048576, restic: restic ? duBytes(repo) / 1048576 : undefined, note: 'both compress with zstd (restic: auto; cairn: level 3, per blob when it shrinks)' });
    }
    rmSync(copy, { recursive: true, force: true });
  }
  const version = restic ? execFileSync('restic', ['version']).toString().trim() : 'restic not installed (apt-get install restic to compare)';
  const cell = (v: number | undefined) => (v === undefined ? '' : v.toFixed(2));
  return [
    '### Without a mount: backup, restore, diff (seconds unless noted; same disk, same run)',
    '',
    version,
    '',
    '| operation | cairn | restic | cairn / restic | note |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.what} | ${cell(r.cairn)} | ${cell(r.restic)} | ${r.restic ? `${(r.cairn / r.restic).toFixed(2)}×` : ''} | ${r.note ?? ''} |`),
  ].join('\n');
}
