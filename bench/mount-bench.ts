/**
 * Mount benchmarks: the same operations on plain local disk, on a cairn mount, and on a
 * gocryptfs mount when installed (Debian: gocryptfs), all on the same disk in one run.
 * "Until saved" for cairn includes unmount: committing staged data and taking the snapshot.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { dropCaches, haveCommand } from './common.js';

export interface MountRow {
  readonly what: string;
  /** Value per target name, in `unit`. */
  readonly values: Record<string, number | undefined>;
  readonly unit: string;
}

interface Target {
  readonly name: string;
  readonly dir: string;
  /** Remount (cold caches); returns the daemon's pid when there is one. */
  mount(): Promise<number | undefined>;
  /** Unmount and wait until everything is saved. */
  unmount(): Promise<void>;
}


async function time(fn: () => void | Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function peakRssMiB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : undefined;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/**
 * The CPU seconds (user + system) a filesystem process uses until it exits. The bench's
 * steps block this thread (execFileSync), so a small shell loop copies /proc/PID/stat every
 * 50 ms into a file; the last copy before the process ends is the total (at most 50 ms short).
 * Wall times on these shared machines wander; the CPU a process spent on the same work
 * wanders much less, so builds compare better by it.
 */
function sampleCpu(pid: number | undefined, file: string): () => number | undefined {
  if (!pid) return () => undefined;
  const sampler = spawn('sh', ['-c', `while [ -e /proc/${pid} ]; do cat /proc/${pid}/stat > "$1.tmp" 2>/dev/null && mv "$1.tmp" "$1"; sleep 0.05; done`, 'sh', file], { stdio: 'ignore' });
  return () => {
    // Called after the unmount: the process ends on its own (gocryptfs shortly after fusermount).
    spawnSync('sh', ['-c', `for i in $(seq 200); do [ -e /proc/${pid} ] || exit 0; sleep 0.05; done`]);
    sampler.kill();
    try {
      const stat = readFileSync(file, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      return undefined;
    }
  };
}

/** `attrTimeout` undefined: the mount's default (names and attributes cached 1 s). */
function cairnTarget(root: string, cli: string, attrTimeout?: number): Target {
  const tag = attrTimeout === undefined ? 'cairn' : `cairn-attr${attrTimeout}`;
  const store = path.join(root, `${tag}-store`);
  const mnt = path.join(root, `${tag}-mnt`);
  const env = { ...process.env, CAIRN_PASSWORD: 'bench' };
  mkdirSync(mnt, { recursive: true });
  execFileSync(cli, ['init', store], { env, stdio: 'ignore' });
  return {
    name: attrTimeout === undefined ? 'cairn' : `cairn --attr-timeout ${attrTimeout}`,
    dir: mnt,
    mount: async () => {
      const args = ['mount', store, mnt, '--state-dir', path.join(root, `${tag}-state`), ...(attrTimeout === undefined ? [] : ['--attr-timeout', String(attrTimeout)])];
      const child = spawn(cli, args, { env, stdio: ['ignore', 'ignore', 'pipe'], detached: false });
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stderr!.on('data', (d) => {
          out += d;
          if (out.includes('mounted at')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`cairn mount exited ${code}: ${out}`)));
      });
      child.stderr!.resume();
      return child.pid;
    },
    unmount: async () => {
      execFileSync(cli, ['unmount', mnt], { stdio: 'ignore' });
    },
  };
}

function gocryptfsTarget(root: string): Target | null {
  if (!haveCommand('gocryptfs')) return null;
  const cipher = path.join(root, 'gocryptfs-cipher');
  const mnt = path.join(root, 'gocryptfs-mnt');
  const pass = path.join(root, 'gocryptfs-pass');
  mkdirSync(cipher, { recursive: true });
  mkdirSync(mnt, { recursive: true });
  writeFileSync(pass, 'bench\n');
  execFileSync('gocryptfs', ['-init', '-q', '-passfile', pass, cipher], { stdio: 'ignore' });
  let pid: number | undefined;
  return {
    name: 'gocryptfs',
    dir: mnt,
    mount: async () => {
      execFileSync('gocryptfs', ['-q', '-passfile', pass, cipher, mnt], { stdio: 'ignore' });
      pid = Number(execFileSync('pgrep', ['-n', 'gocryptfs']).toString().trim()) || undefined;
      return pid;
    },
    unmount: async () => {
      spawnSync('sync');
      execFileSync('fusermount', ['-u', mnt]);
    },
  };
}

function localTarget(root: string): Target {
  const dir = path.join(root, 'local');
  mkdirSync(dir, { recursive: true });
  return { name: 'local', dir, mount: async () => undefined, unmount: async () => void spawnSync('sync') };
}

export async function mountBenchmarks(root: string, corpus: string, cli: string, progress: (m: string) => void): Promise<{ targets: string[]; rows: MountRow[] }> {
  const targets = [localTarget(root), cairnTarget(root, cli), gocryptfsTarget(root)].filter((t): t is Target => t !== null);
  const results = new Map<string, Record<string, number | undefined>>();
  const put = (what: string, target: string, value: number | undefined) => {
    results.set(what, { ...(results.get(what) ?? {}), [target]: value });
  };
  const tree = path.join(corpus, 'tree');
  const big = path.join(corpus, 'big', 'big.bin');
  for (const t of targets) {
    progress(`${t.name}: rsync of the small-file tree`);
    dropCaches();
    let pid = await t.mount();
    const cpuFile = path.join(root, `${t.name}-cpu`);
    let cpu = sampleCpu(pid, cpuFile);
    let peak = 0;
    const track = () => (peak = Math.max(peak, peakRssMiB(pid) ?? 0));
    put('rsync -a tree (385 MiB, 24,581 files) into the folder', t.name, await time(() => void execFileSync('rsync', ['-a', `${tree}/`, path.join(t.dir, 'tree/')])));
    track();
    put('… until saved (sync / unmount with commit and snapshot)', t.name, await time(() => t.unmount()));
    put('CPU of the filesystem process: the rsync above, until saved (s)', t.name, cpu());

    progress(`${t.name}: second rsync after 1 % of files changed`);
    pid = await t.mount();
    cpu = sampleCpu(pid, cpuFile);
    put('rsync -a of the tree with 1 % of files changed', t.name, await time(() => void execFileSync('rsync', ['-a', `${corpus}/tree-mod/`, path.join(t.dir, 'tree/')])));
    track();

    progress(`${t.name}: 1 GiB sequential write`);
    dropCaches();
    put('sequential write 1 GiB (dd bs=1M)', t.name, await time(() => void execFileSync('dd', [`if=${big}`, `of=${path.join(t.dir, 'big.bin')}`, 'bs=1M', 'status=none'])));
    track();
    put('… until saved', t.name, await time(() => t.unmount()));
    put('CPU of the filesystem process: the 1 % rsync and the 1 GiB write, until saved (s)', t.name, cpu());

    progress(`${t.name}: 1 GiB sequential read, cold`);
    dropCaches();
    pid = await t.mount();
    cpu = sampleCpu(pid, cpuFile);
    put('sequential read 1 GiB, cold cache (remounted)', t.name, await time(() => void execFileSync('dd', [`if=${path.join(t.dir, 'big.bin')}`, 'of=/dev/null', 'bs=1M', 'status=none'])));
    track();

    progress(`${t.name}: 4 KiB random write into the 1 GiB file`);
    put('4 KiB write at a random offset of the 1 GiB file', t.name, await time(() => void execFileSync('dd', ['if=/dev/urandom', `of=${path.join(t.dir, 'big.bin')}`, 'bs=4096', 'count=1', `seek=${123457}`, 'conv=notrunc', 'status=none'])));
    track();
    put('… until saved (cairn: re-chunks about one chunk)', t.name, await time(() => t.unmount()));
    put('CPU of the filesystem process: the cold read and the 4 KiB write, until saved (s)', t.name, cpu());
    put('peak memory of the filesystem process (MiB)', t.name, t.name === 'local' ? undefined : peak);
  }
  return { targets: targets.map((t) => t.name), rows: [...results].map(([what, values]) => ({ what, unit: what.startsWith('peak') ? 'MiB' : 's', values })) };
}
