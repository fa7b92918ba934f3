/**
 * `npm run bench`: cairn's throughput against plain copying on the same disk, in one run.
 *
 * Corpus: ../shared/bench/make-corpus.sh (a real ~26,000-file tree, the same tree with 1 % of
 * files changed, a 1 GiB random file), built into CAIRN_BENCH_CORPUS (default
 * /var/tmp/cairn-corpus) if missing. Work files go next to it, on the same disk.
 * Results: Markdown tables on stdout and in bench-results/latest.md.
 * BENCH_ONLY=repository|snapshot|mount|sftp|backup|history runs one part; BENCH_ONLY=sftp-tune measures
 * SFTP requests in flight.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { backupBenchmarks } from './backup-bench.js';
import { historyBenchmarks } from './history-bench.js';
import { mountBenchmarks } from './mount-bench.js';
import { sftpBenchmarks } from './sftp-bench.js';
import { sftpTuning } from './sftp-tune.js';
import { snapshotBenchmarks } from './snapshot-bench.js';
import { dropCaches, duBytes, haveCommand, timedCold } from './common.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CORPUS = process.env.CAIRN_BENCH_CORPUS ?? '/var/tmp/cairn-corpus';
const WORK = path.join(path.dirname(CORPUS), `cairn-bench-work-${process.pid}`);
const MAKE_CORPUS = path.resolve(ROOT, '../shared/bench/make-corpus.sh');

interface Row {
  readonly what: string;
  readonly seconds: number;
  readonly mibPerSecond?: number;
  readonly ratio?: string;
  readonly cpuSeconds?: number;
  readonly maxRssMiB?: number;
  readonly note?: string;
}




function cairnStep(store: string, source: string, init: boolean) {
  dropCaches();
  const out = execFileSync(process.execPath, [path.join(ROOT, 'dist/bench/step.js'), 'archive', store, source, ...(init ? ['init'] : [])], { maxBuffer: 1 << 20 });
  return JSON.parse(out.toString()) as { seconds: number; cpuSeconds: number; maxRssMiB: number; addedBytes: number; bytes: number; files: number };
}


const MiB = 1024 * 1024;
const rows: Row[] = [];

if (!existsSync(path.join(CORPUS, 'MANIFEST.txt'))) {
  if (!existsSync(MAKE_CORPUS)) throw new Error(`no corpus at ${CORPUS} and no ${MAKE_CORPUS} to build it`);
  process.stderr.write(`building the corpus in ${CORPUS} (once)\n`);
  execFileSync('bash', [MAKE_CORPUS, CORPUS], { stdio: 'inherit' });
}
mkdirSync(WORK, { recursive: true });
const only = process.env.BENCH_ONLY;
const sections: string[] = [];
try {
  if (!only || only === 'repository') sections.push(await repositoryBenchmarks());
  if (!only || only === 'snapshot') sections.push(await snapshotBenchmarks(WORK));
  if (!only || only === 'mount') sections.push(await mountSection());
  if (!only || only === 'sftp') sections.push(await sftpBenchmarks(WORK, CORPUS, path.join(ROOT, 'bin/cairn'), (m) => process.stderr.write(`${m}\n`)));
  if (only === 'sftp-tune') sections.push(await sftpTuning(WORK, (m) => process.stderr.write(`${m}\n`)));
  if (!only || only === 'backup') sections.push(await backupBenchmarks(WORK, CORPUS, path.join(ROOT, 'bin/cairn'), (m) => process.stderr.write(`${m}\n`)));
  if (!only || only === 'history') sections.push(await historyBenchmarks(WORK, CORPUS, path.join(ROOT, 'bin/cairn'), (m) => process.stderr.write(`${m}\n`)));
  const header = `cairn bench, ${new Date().toISOString()}, ${execFileSync('nproc').toString().trim()} cores, node ${process.version}, corpus ${CORPUS}`;
  const report = `${header}\n\n${sections.join('\n\n')}\n`;
  mkdirSync(path.join(ROOT, 'bench-results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench-results/latest.md'), report);
  process.stdout.write(report);
} finally {
  rmSync(WORK, { recursive: true, force: true });
}

async function mountSection(): Promise<string> {
  const { targets, rows } = await mountBenchmarks(path.join(WORK, 'mounts'), CORPUS, path.join(ROOT, 'bin/cairn'), (m) => process.stderr.write(`${m}\n`));
  const cell = (v: number | undefined, unit: string) => (v === undefined ? '' : unit === 'MiB' ? v.toFixed(0) : v.toFixed(2));
  const ratio = (v: number | undefined, base: number | undefined) => (v === undefined || !base ? '' : `${(v / base).toFixed(2)}×`);
  const peer = targets.includes('gocryptfs') ? 'gocryptfs' : undefined;
  return [
    '### Mounted folder (seconds unless noted; same disk, same run)',
    '',
    `| operation | ${targets.join(' | ')} | cairn / local |${peer ? ' cairn / gocryptfs |' : ''}`,
    `|---|${targets.map(() => '---|').join('')}---|${peer ? '---|' : ''}`,
    ...rows.map((r) => `| ${r.what} | ${targets.map((t) => cell(r.values[t], r.unit)).join(' | ')} | ${r.unit === 'MiB' ? '' : ratio(r.values.cairn, r.values.local)} |${peer ? ` ${ratio(r.values.cairn, r.values[peer])} |` : ''}`),
  ].join('\n');
}

async function repositoryBenchmarks(): Promise<string> {
  const big = path.join(CORPUS, 'big');
  const tree = path.join(CORPUS, 'tree');
  const treeMod = path.join(CORPUS, 'tree-mod');
  const bigBytes = duBytes(big);
  const treeBytes = duBytes(tree);

  process.stderr.write('plain copy of the 1 GiB file\n');
  const cpBig = timedCold(() => execFileSync('cp', ['-a', big, path.join(WORK, 'cp-big')]));
  rows.push({ what: 'cp -a 1 GiB file (+sync)', seconds: cpBig, mibPerSecond: bigBytes / MiB / cpBig, ratio: '1.00' });
  process.stderr.write('cairn: 1 GiB file\n');
  const cBig = cairnStep(path.join(WORK, 'store-big'), big, true);
  rows.push({ what: 'cairn chunk+encrypt+pack 1 GiB file', seconds: cBig.seconds, mibPerSecond: bigBytes / MiB / cBig.seconds, ratio: (cBig.seconds / cpBig).toFixed(2), cpuSeconds: cBig.cpuSeconds, maxRssMiB: cBig.maxRssMiB });

  process.stderr.write('plain copy of the small-file tree\n');
  const cpTree = timedCold(() => execFileSync('cp', ['-a', tree, path.join(WORK, 'cp-tree')]));
  rows.push({ what: `cp -a tree (${Math.round(treeBytes / MiB)} MiB) (+sync)`, seconds: cpTree, mibPerSecond: treeBytes / MiB / cpTree, ratio: '1.00' });
  process.stderr.write('cairn: small-file tree\n');
  const treeStore = path.join(WORK, 'store-tree');
  const cTree = cairnStep(treeStore, tree, true);
  rows.push({ what: `cairn tree (${cTree.files} files)`, seconds: cTree.seconds, mibPerSecond: treeBytes / MiB / cTree.seconds, ratio: (cTree.seconds / cpTree).toFixed(2), cpuSeconds: cTree.cpuSeconds, maxRssMiB: cTree.maxRssMiB });
  process.stderr.write('cairn: the tree with 1 % of files changed\n');
  const cMod = cairnStep(treeStore, treeMod, false);
  rows.push({ what: 'cairn tree, 1 % of files changed (2nd snapshot)', seconds: cMod.seconds, ratio: (cMod.seconds / cpTree).toFixed(2), cpuSeconds: cMod.cpuSeconds, maxRssMiB: cMod.maxRssMiB, note: `added ${(cMod.addedBytes / MiB).toFixed(1)} MiB to the store` });

  if (haveCommand('restic')) {
    process.stderr.write('restic: tree\n');
    const repo = path.join(WORK, 'restic');
    const env = { ...process.env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: path.join(WORK, 'restic-cache') };
    execFileSync('restic', ['init', '-q', '-r', repo], { env });
    const rBig = timedCold(() => execFileSync('restic', ['backup', '-q', '-r', repo, big], { env }));
    rows.push({ what: 'restic backup 1 GiB file', seconds: rBig, mibPerSecond: bigBytes / MiB / rBig, ratio: (rBig / cpBig).toFixed(2) });
    const rTree = timedCold(() => execFileSync('restic', ['backup', '-q', '-r', repo, tree], { env }));
    rows.push({ what: 'restic backup tree', seconds: rTree, mibPerSecond: treeBytes / MiB / rTree, ratio: (rTree / cpTree).toFixed(2) });
  } else {
    rows.push({ what: 'restic', seconds: Number.NaN, note: 'not installed (apt-get install restic to compare)' });
  }

  const fmt = (n: number | undefined, digits = 2) => (n === undefined || Number.isNaN(n) ? '' : n.toFixed(digits));
  return [
    '### Repository: chunk + encrypt + pack on a local-folder store',
    '',
    '| step | seconds | MiB/s | time vs plain cp | CPU s | peak RSS MiB | note |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.what} | ${fmt(r.seconds)} | ${fmt(r.mibPerSecond, 0)} | ${r.ratio ?? ''} | ${fmt(r.cpuSeconds, 1)} | ${fmt(r.maxRssMiB, 0)} | ${r.note ?? ''} |`),
  ].join('\n');
}

