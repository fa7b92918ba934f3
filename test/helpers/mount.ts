/**
 * Real mounts for tests: `cairn mount` runs as a child process (so a test can kill -9 it),
 * and every mount is unmounted when the test ends, whatever happened.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { expect } from 'vitest';
import { CLI, run, type RunResult } from './cli.js';

export interface RunningMount {
  readonly mountpoint: string;
  readonly child: ChildProcess;
  /** Everything the daemon printed so far. */
  log(): string;
  /** `cairn unmount`, then waits for the daemon to exit; returns its exit code. */
  unmount(): Promise<number>;
  /** What the last `cairn unmount` printed (stdout: the saved snapshot's name and id). */
  unmountOutput?: RunResult;
  /** SIGKILL: the daemon dies without saving; the mount is left stale. */
  kill(): Promise<void>;
}

const live = new Set<RunningMount>();

export async function mount(store: string, mountpoint: string, stateDir: string, env: Record<string, string>, extraArgs: string[] = []): Promise<RunningMount> {
  mkdirSync(mountpoint, { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_')));
  // The daemon writes to a file, not a pipe: a test blocked in spawnSync must never be able
  // to stall the daemon (and with it the FUSE request the test is waiting for).
  const logFile = `${stateDir}.mount.log`;
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0; // earlier mounts' lines are not ours
  const logFd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [CLI, 'mount', store, mountpoint, '--state-dir', stateDir, ...extraArgs], {
    env: { ...inherited, ...env },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const output = () => readFileSync(logFile).subarray(logStart).toString('utf8');
  let exitCode: number | undefined;
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve((exitCode = code ?? (signal ? 128 : -1)))));
  const deadline = Date.now() + 30_000;
  while (!output().includes(`mounted at ${mountpoint}`)) {
    if (exitCode !== undefined) throw new Error(`cairn mount exited with ${exitCode}:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`mount did not come up:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const running: RunningMount = {
    mountpoint,
    child,
    log: output,
    unmount: async () => {
      // Asynchronously: this process must stay free to reap the daemon when it exits.
      const r = await run(process.execPath, [CLI, 'unmount', mountpoint]);
      running.unmountOutput = r;
      if (r.code !== 0) throw new Error(`cairn unmount failed: ${r.stderr}\n${output()}`);
      const code = await exited;
      live.delete(running);
      return code;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
      spawnSync('fusermount', ['-u', '-z', mountpoint]);
      live.delete(running);
    },
  };
  live.add(running);
  return running;
}

/** For afterAll/afterEach: whatever is still mounted goes, daemons are killed. */
export async function unmountAll(): Promise<void> {
  for (const m of [...live]) {
    spawnSync('fusermount', ['-u', '-z', m.mountpoint]);
    m.child.kill('SIGKILL');
    live.delete(m);
  }
}

/**
 * A stable listing of a tree's metadata: path, type, mode, owner, size, mtime (ns), link
 * count. A directory's size, and with `ignoreDirLinks` its link count, are filesystem-specific.
 */
export function metadataListing(root: string, ignoreDirLinks = false): string {
  const r = spawnSync('find', ['.', '-mindepth', '1', '-printf', '%P\\t%y\\t%m\\t%U:%G\\t%s\\t%T@\\t%n\\n'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`find failed in ${root}: ${r.stderr}`);
  // A directory's size is filesystem-specific; blank it.
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split('\t');
      if (f[1] === 'd') f[4] = '-';
      if (f[1] === 'd' && ignoreDirLinks) f[6] = '-';
      return f.join('\t');
    })
    .sort()
    .join('\n');
}

/** Groups of paths that are hard links of one another (by inode), as sorted lists. */
export function hardLinkGroups(root: string): string[][] {
  const r = spawnSync('find', ['.', '-type', 'f', '-links', '+1', '-printf', '%i %P\\n'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  const groups = new Map<string, string[]>();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [ino, ...rest] = line.split(' ');
    groups.set(ino!, [...(groups.get(ino!) ?? []), rest.join(' ')]);
  }
  return [...groups.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** Every xattr of a tree, one block per file, in path order (readdir order varies by filesystem). */
export function xattrDump(root: string): string {
  const r = spawnSync('getfattr', ['-R', '-d', '-m', '-', '-h', '.'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  return r.stdout.split('\n\n').map((block) => block.trim()).filter(Boolean).sort().join('\n\n');
}

/** Two trees are equal as users see them: content (diff -r), metadata, hard links, xattrs. */
export function expectEqualTrees(expected: string, actual: string): void {
  const diff = spawnSync('diff', ['-r', '--no-dereference', expected, actual], { encoding: 'utf8' });
  // diff cannot compare fifos and devices ("File a is a fifo while file b is a fifo"); the
  // metadata listing below compares their type, mode and owner.
  const sameKind = /^File .* is a (.+) while file .* is a \1$/;
  expect((diff.stdout + diff.stderr).split('\n').filter((l) => l && !sameKind.test(l)).join('\n')).toBe('');
  expect(metadataListing(actual, true)).toBe(metadataListing(expected, true));
  expect(hardLinkGroups(actual)).toEqual(hardLinkGroups(expected));
  expect(xattrDump(actual)).toBe(xattrDump(expected));
}

/** Runs shell commands with $R set to the mount's root; fails the test if they fail. */
export async function inMount(mountpoint: string, script: string): Promise<void> {
  const r = await run('bash', ['-c', `set -e; R="${mountpoint}"; ${script}`]);
  expect(r.code, r.stderr).toBe(0);
}

/** `cp -a` of a tree (as it is now in the mount) to `target`: a reference for later. */
export function copyTree(source: string, target: string): string {
  expect(spawnSync('cp', ['-a', source, target]).status).toBe(0);
  return target;
}
