/**
 * The two drivers of the POSIX suite: steps as Filesystem calls with a Caller (no FUSE),
 * and steps as real system calls through a mount (test/posix/posix_steps.py, run as root or
 * as a second user via setpriv). Both answer in the same shape (test/posix/steps.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { FsError } from '../../src/vfs/errors.js';
import type { Filesystem, Stat } from '../../src/vfs/filesystem.js';
import type { Caller } from '../../src/vfs/permissions.js';
import { type Answer, type Step, type StatAnswer, type User, USERS } from './steps.js';

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;
const S_IFIFO = 0o010000;

function callerOf(user: User): Caller {
  const u = USERS[user];
  return { uid: u.uid, gid: u.gid, groups: () => u.groups };
}

function statAnswer(s: Stat): StatAnswer {
  const types: Record<number, StatAnswer['type']> = { 0o100000: 'file', 0o040000: 'dir', 0o120000: 'symlink', 0o010000: 'fifo' };
  return {
    type: types[s.mode & 0o170000] ?? 'other', mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, nlink: s.nlink, size: s.size,
    ino: String(s.ino), atimeNs: String(s.atimeNs), mtimeNs: String(s.mtimeNs),
  };
}

/** Runs steps in folder `dir` (absolute in the Filesystem) directly against the layer. */
export async function runDirect(fs: Filesystem, dir: string, steps: readonly Step[]): Promise<Answer[]> {
  const handles = new Map<string, number>();
  const at = (p: string) => (p === '.' ? dir : `${dir}/${p}`);
  const answers: Answer[] = [];
  for (const step of steps) {
    const c = callerOf(step.as ?? 'root');
    try {
      answers.push({ value: await runOne(fs, step, c, at, handles) });
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      answers.push({ errno: e.errno });
    }
  }
  return answers;
}

async function runOne(fs: Filesystem, s: Step, c: Caller, at: (p: string) => string, handles: Map<string, number>): Promise<unknown> {
  switch (s.op) {
    case 'mkdir':
      return void (await fs.mkdir(at(s.path), s.mode ?? 0o755, c));
    case 'create': {
      const fh = await fs.create(at(s.path), s.mode ?? 0o644, c);
      if (s.data) await fs.write(fh, 0, Buffer.from(s.data), c);
      return void fs.release(fh);
    }
    case 'write': {
      const fh = await fs.open(at(s.path), O_WRONLY | (s.trunc ? O_TRUNC : 0) | (s.append ? O_APPEND : 0), c);
      try {
        if (s.trunc) await fs.ftruncate(fh, 0); // the kernel truncates an O_TRUNC open this way
        // An append handle writes at the end whatever offset comes (the kernel's may be stale).
        const offset = s.offset ?? 0;
        await fs.write(fh, offset, Buffer.from(s.data), c);
      } finally {
        fs.release(fh);
      }
      return undefined;
    }
    case 'read': {
      const fh = await fs.open(at(s.path), O_RDONLY, c);
      try {
        return { data: (await fs.read(fh, 0, fs.fgetattr(fh).size + 1)).toString() };
      } finally {
        fs.release(fh);
      }
    }
    case 'stat':
      return statAnswer(await fs.getattr(at(s.path), c));
    case 'chmod':
      return void (await fs.chmod(at(s.path), s.mode, c));
    case 'chown':
      return void (await fs.chown(at(s.path), s.uid, s.gid, c));
    case 'utime':
      return void (await fs.utimens(at(s.path), s.atimeNs ? BigInt(s.atimeNs) : 'now', s.mtimeNs ? BigInt(s.mtimeNs) : 'now', c));
    case 'rename':
      return void (await fs.rename(at(s.from), at(s.to), c));
    case 'unlink':
      return void (await fs.unlink(at(s.path), c));
    case 'rmdir':
      return void (await fs.rmdir(at(s.path), c));
    case 'link':
      return void (await fs.link(at(s.from), at(s.to), c));
    case 'symlink':
      return void (await fs.symlink(s.target, at(s.path), c));
    case 'readlink':
      return { target: await fs.readlink(at(s.path), c) };
    case 'truncate':
      return void (await fs.truncate(at(s.path), s.size, c));
    case 'access':
      return void (await fs.access(at(s.path), s.mode, c));
    case 'setxattr':
      return void (await fs.setxattr(at(s.path), s.name, Buffer.from(s.value), s.flags === 'create' ? 1 : s.flags === 'replace' ? 2 : 0, c));
    case 'getxattr':
      return { value: (await fs.getxattr(at(s.path), s.name, c)).toString() };
    case 'mkfifo':
      return void (await fs.mknod(at(s.path), S_IFIFO | (s.mode ?? 0o644), 0, c));
    case 'readdir':
      return { names: (await fs.readdir(at(s.path), c)).names.sort() };
    case 'open':
      return void handles.set(s.handle, await fs.open(at(s.path), s.flags === 'r' ? O_RDONLY : s.flags === 'w' ? O_WRONLY : O_RDWR, c));
    case 'pread':
      return { data: (await fs.read(handles.get(s.handle)!, s.offset, s.size)).toString() };
    case 'pwrite':
      return void (await fs.write(handles.get(s.handle)!, s.offset, Buffer.from(s.data), c));
    case 'close':
      fs.release(handles.get(s.handle)!);
      return void handles.delete(s.handle);
  }
}

/** Passed with -c: the second users may not be able to read the checkout's folder. */
const STEPS_SCRIPT = readFileSync(path.resolve(__dirname, 'posix_steps.py'), 'utf8');
/** Debian's python3: a python under root's home (pyenv) cannot be run by the second users. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * Runs steps in `folder` of a mount with real system calls: consecutive steps of one user
 * in one process (so handles live across them), as that user via setpriv.
 */
export async function runThroughMount(folder: string, steps: readonly Step[]): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < steps.length; ) {
    const user = steps[i]!.as ?? 'root';
    let j = i;
    while (j < steps.length && (steps[j]!.as ?? 'root') === user) j++;
    const u = USERS[user];
    const args = ['-c', STEPS_SCRIPT, folder, JSON.stringify(steps.slice(i, j))];
    const command = user === 'root' ? [PYTHON, ...args] : ['setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, u.groups.length ? `--groups=${u.groups.join(',')}` : '--clear-groups', PYTHON, ...args];
    answers.push(...(await runJson(command)));
    i = j;
  }
  return answers;
}

function runJson(command: string[]): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Answer[]) : reject(new Error(`${command.join(' ')} exited ${code}: ${err}`))));
  });
}
