/**
 * Browsing and restoring history: `ls -R` and `cp -a` of a whole snapshot of the corpus
 * tree, freshly mounted after dropping the page cache (cold), out of cairn's .snapshots/,
 * `restic mount` and `borg mount` when installed, against the same on plain local disk.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { dropCaches, haveCommand } from './common.js';

interface HistorySource {
  readonly name: string;
  /** Mounts and returns the folder holding the snapshot's copy of the tree. */
  mount(): Promise<string>;
  unmount(): Promise<void>;
}



/** Starts a FUSE daemon in the foreground and waits until `ready()` says it serves. */
async function startDaemon(cmd: string, args: string[], env: NodeJS.ProcessEnv, ready: () => boolean): Promise<ChildProcess> {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited ${child.exitCode}: ${err}`);
    try {
      if (ready()) return child;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${cmd} did not become ready: ${err}`);
}

async function stopDaemon(child: ChildProcess, mnt: string): Promise<void> {
  spawnSync('fusermount', ['-u', mnt]);
  if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
}

/** `mode` undefined: a read-write mount with its defaults. */
function cairnSource(root: string, cli: string, tree: string, mode?: 'read-only'): HistorySource {
  const store = path.join(root, 'hist-cairn-store');
  const mnt = path.join(root, 'hist-cairn-mnt');
  const env = { ...process.env, CAIRN_PASSWORD: 'bench' };
  mkdirSync(mnt, { recursive: true });
  if (!existsSync(store)) {
    execFileSync(cli, ['init', store], { env, stdio: 'ignore' });
    execFileSync(process.execPath, [path.join(path.dirname(cli), '../dist/bench/step.js'), 'archive', store, tree], { env, stdio: 'ignore' });
  }
  let child: ChildProcess | undefined;
  return {
    name: `cairn .snapshots/${mode === 'read-only' ? ' of a --read-only mount' : ' of a read-write mount'}`,
    mount: async () => {
      const args = ['mount', store, mnt, '--state-dir', path.join(root, 'hist-cairn-state'), ...(mode === 'read-only' ? ['--read-only'] : [])];
      child = await startDaemon(cli, args, env, () => readdirSync(path.join(mnt, '.snapshots')).length > 1);
      const name = readdirSync(path.join(mnt, '.snapshots')).find((n) => n !== 'latest')!;
      return path.join(mnt, '.snapshots', name);
    },
    unmount: async () => stopDaemon(child!, mnt),
  };
}

function resticSource(root: string, tree: string): HistorySource | null {
  if (!haveCommand('restic')) return null;
  const repo = path.join(root, 'hist-restic');
  const mnt = path.join(root, 'hist-restic-mnt');
  const env = { ...process.env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: path.join(root, 'hist-restic-cache') };
  mkdirSync(mnt, { recursive: true });
  execFileSync('restic', ['init', '-q', '-r', repo], { env });
  execFileSync('restic', ['backup', '-q', '-r', repo, tree], { env });
  let child: ChildProcess | undefined;
  const inside = path.join(mnt, 'snapshots', 'latest', tree);
  return {
    name: 'restic mount',
    mount: async () => {
      child = await startDaemon('restic', ['mount', '-q', '-r', repo, mnt], env, () => existsSync(inside));
      return inside;
    },
    unmount: async () => stopDaemon(child!, mnt),
  };
}

function borgSource(root: string, tree: string): HistorySource | null {
  if (!haveCommand('borg')) return null;
  const repo = path.join(root, 'hist-borg');
  const mnt = path.join(root, 'hist-borg-mnt');
  const env = { ...process.env, BORG_PASSPHRASE: 'bench', BORG_BASE_DIR: path.join(root, 'hist-borg-home') };
  mkdirSync(mnt, { recursive: true });
  execFileSync('borg', ['init', '-e', 'repokey-blake2', repo], { env, stdio: 'ignore' });
  // borg stores paths without the leading slash, relative to where it ran.
  execFileSync('borg', ['create', `${repo}::bench`, '.'], { env, cwd: tree, stdio: 'ignore' });
  let child: ChildProcess | undefined;
  return {
    name: 'borg mount',
    mount: async () => {
      child = await startDaemon('borg', ['mount', '-f', `${repo}::bench`, mnt], env, () => readdirSync(mnt).length > 0);
      return mnt;
    },
    unmount: async () => stopDaemon(child!, mnt),
  };
}

export async function historyBenchmarks(root: string, corpus: string, cli: string, progress: (m: string) => void): Promise<string> {
  const tree = path.join(corpus, 'tree');
  const rows: string[] = [];
  const measure = async (name: string, mount: () => Promise<string>, unmount: () => Promise<void>) => {
    const cells: number[] = [];
    for (const op of ['ls', 'cp'] as const) {
      dropCaches();
      const dir = await mount();
      const target = path.join(root, 'hist-restored');
      rmSync(target, { recursive: true, force: true });
      const start = process.hrtime.bigint();
      if (op === 'ls') execFileSync('ls', ['-lR', dir], { stdio: 'ignore', maxBuffer: 1 << 30 });
      else execFileSync('cp', ['-a', dir, target]);
      cells.push(Number(process.hrtime.bigint() - start) / 1e9);
      await unmount();
    }
    rows.push(`| ${name} | ${cells[0]!.toFixed(2)} | ${cells[1]!.toFixed(2)} |`);
  };
  progress('history: plain local disk');
  await measure('local disk (the corpus itself)', async () => tree, async () => undefined);
  for (const make of [() => cairnSource(root, cli, tree), () => cairnSource(root, cli, tree, 'read-only'), () => resticSource(root, tree), () => borgSource(root, tree)]) {
    const source = make();
    if (!source) continue;
    progress(`history: ${source.name}`);
    await measure(source.name, () => source.mount(), () => source.unmount());
  }
  rmSync(path.join(root, 'hist-restored'), { recursive: true, force: true });
  return [
    '### Browsing and restoring a whole snapshot, cold (remounted, page cache dropped)',
    '',
    '| source | ls -lR (s) | cp -a out (s) |',
    '|---|---|---|',
    ...rows,
  ].join('\n');
}
