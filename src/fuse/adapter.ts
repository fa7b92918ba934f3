/**
 * The FUSE adapter: fuse-native callbacks in, Filesystem calls out. Thin on purpose: no
 * filesystem logic here, only argument and result shapes and the errno mapping. (Changes
 * wait for a snapshot in progress inside the Filesystem, where every caller passes.)
 */
import Fuse from 'fuse-native';
import { CairnError } from '../errors/errors.js';
import type { Filesystem, Stat, TimeSpec } from '../vfs/filesystem.js';
import { currentCaller } from './caller.js';
import { toFuseErrno } from './errno.js';

/** The binding patch this adapter needs (patches/fuse-native+2.2.6.patch): ns times, 64-bit st_ino, the caller. */
const NEEDED_PATCH_LEVEL = 4;

/**
 * Refuses to mount with a stock fuse-native build: it would store every time wrongly (an
 * rsync -a once saved mtimes in the year 56,918,116) and cut inode numbers to 32 bits.
 */
export function assertPatchedBinding(binding: { readonly NATIVE_PATCH_LEVEL?: number } = Fuse): void {
  if (binding.NATIVE_PATCH_LEVEL !== NEEDED_PATCH_LEVEL) {
    throw new CairnError('USAGE', `the FUSE binding loaded is not cairn's patched build (patch level ${binding.NATIVE_PATCH_LEVEL ?? 0}, needed ${NEEDED_PATCH_LEVEL}); mounting with it would store wrong file times`, {
      hint: 'rebuild it: `bash scripts/build-fuse-binding.sh` in the cairn folder (needs g++, make and python3; it prints why a build fails)',
    });
  }
}

export interface MountOptions {
  readonly allowOther?: boolean;
  /**
   * Seconds the kernel may cache attributes. 0 (default) is always correct. More saves a
   * request per stat, but a file changed through one hard-link name can show old metadata
   * through another name for that long (libfuse2's path API gives each name its own node).
   */
  readonly attrTimeoutSeconds?: number;
  /** Mount read-only: the kernel refuses every change with EROFS before it reaches us. */
  readonly readOnly?: boolean;
  readonly log: (message: string) => void;
}

function fuseStat(s: Stat): Record<string, unknown> {
  return { mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, dev: 0, nlink: s.nlink, ino: s.ino, rdev: s.rdev, blksize: s.blksize, blocks: s.blocks, atimeNs: s.atimeNs, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs };
}

function timeSpec(t: bigint): TimeSpec {
  return t === Fuse.UTIME_NOW ? 'now' : t === Fuse.UTIME_OMIT ? 'omit' : t;
}

type Cb = Fuse.Reply;

export function createFuse(fs: Filesystem, mountpoint: string, options: MountOptions): Fuse {
  assertPatchedBinding();
  const fail = (cb: Cb, e: unknown) => cb(toFuseErrno(e, options.log));
  /** Reads: answer with cb(0, ...result); live answers are synchronous, history ones async. */
  const query = (cb: Cb, fn: () => unknown[] | Promise<unknown[]>) => {
    let result: unknown[] | Promise<unknown[]>;
    try {
      result = fn();
    } catch (e) {
      return fail(cb, e);
    }
    if (result instanceof Promise) result.then((r) => cb(0, ...r), (e) => fail(cb, e));
    else cb(0, ...result);
  };
  /** Applies `map` to a value that may be a promise, keeping synchronous values synchronous. */
  const then = <T, R>(value: T | Promise<T>, map: (v: T) => R): R | Promise<R> => (value instanceof Promise ? value.then(map) : map(value));
  /** Changes: answer with cb(0) or cb(0, fh), now or when the Filesystem's promise settles. */
  const change = (cb: Cb, fn: () => unknown) => {
    const answer = (result: unknown) => (result === undefined ? cb(0) : cb(0, result));
    let result: unknown;
    try {
      result = fn();
    } catch (e) {
      return fail(cb, e);
    }
    if (result instanceof Promise) result.then(answer, (e) => fail(cb, e));
    else answer(result);
  };

  // Every request names its caller (read first, before anything can await): the
  // Filesystem checks permissions with it and gives new nodes to it.
  const ops: Fuse.Operations = {
    init: (cb: Cb) => cb(0),
    access: (path: string, mode: number, cb: Cb) => change(cb, () => fs.access(path, mode, currentCaller())),
    statfs: (_path: string, cb: Cb) => query(cb, () => [fs.statfs()]),
    getattr: (path: string, cb: Cb) => query(cb, () => then(fs.getattr(path, currentCaller()), (s) => [fuseStat(s)])),
    fgetattr: (_path: string, fh: number, cb: Cb) => query(cb, () => [fuseStat(fs.fgetattr(fh))]),
    readdir: (path: string, cb: Cb) => query(cb, () => then(fs.readdir(path, currentCaller()), ({ names, stats }) => [names, stats.map(fuseStat)])),
    readlink: (path: string, cb: Cb) => query(cb, () => then(fs.readlink(path, currentCaller()), (t) => [t])),
    open: (path: string, flags: number, cb: Cb) => query(cb, () => then(fs.open(path, flags, currentCaller()), (fh) => [fh])),
    opendir: (path: string, _flags: number, cb: Cb) => query(cb, () => then(fs.opendir(path, currentCaller()), () => [0])),
    releasedir: (_path: string, _fh: number, cb: Cb) => cb(0),
    release: (_path: string, fh: number, cb: Cb) => query(cb, () => (fs.release(fh), [])),
    flush: (_path: string, _fh: number, cb: Cb) => cb(0),
    fsync: (_path: string, _datasync: number, fh: number, cb: Cb) => query(cb, () => (fs.fsync(fh), [])),
    fsyncdir: (_path: string, _datasync: number, _fh: number, cb: Cb) => cb(0),
    read: (_path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Cb) => {
      fs.read(fh, pos, len).then(
        (data) => cb(data.copy(buf, 0, 0, Math.min(len, data.length))),
        (e) => fail(cb, e),
      );
    },
    write: (_path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Cb) => {
      // fuse-native reuses `buf` once we answer; the staging write copies it before that.
      // Filesystem.write waits for a snapshot or commit itself.
      fs.write(fh, pos, buf.subarray(0, len), currentCaller()).then((n) => cb(n), (e) => fail(cb, e));
    },
    create: (path: string, mode: number, cb: Cb) => change(cb, () => fs.create(path, mode, currentCaller())),
    mknod: (path: string, mode: number, dev: number, cb: Cb) => change(cb, () => fs.mknod(path, mode, dev, currentCaller())),
    mkdir: (path: string, mode: number, cb: Cb) => change(cb, () => fs.mkdir(path, mode, currentCaller())),
    symlink: (target: string, path: string, cb: Cb) => change(cb, () => fs.symlink(target, path, currentCaller())),
    link: (existing: string, path: string, cb: Cb) => change(cb, () => fs.link(existing, path, currentCaller())),
    unlink: (path: string, cb: Cb) => change(cb, () => fs.unlink(path, currentCaller())),
    rmdir: (path: string, cb: Cb) => change(cb, () => fs.rmdir(path, currentCaller())),
    rename: (from: string, to: string, cb: Cb) => change(cb, () => fs.rename(from, to, currentCaller())),
    truncate: (path: string, size: number, cb: Cb) => change(cb, () => fs.truncate(path, size, currentCaller())),
    ftruncate: (_path: string, fh: number, size: number, cb: Cb) => change(cb, () => fs.ftruncate(fh, size)),
    chmod: (path: string, mode: number, cb: Cb) => change(cb, () => fs.chmod(path, mode, currentCaller())),
    chown: (path: string, uid: number, gid: number, cb: Cb) => change(cb, () => fs.chown(path, uid, gid, currentCaller())),
    utimens: (path: string, atime: bigint, mtime: bigint, cb: Cb) => change(cb, () => fs.utimens(path, timeSpec(atime), timeSpec(mtime), currentCaller())),
    setxattr: (path: string, name: string, value: Buffer, _position: number, flags: number, cb: Cb) =>
      change(cb, () => fs.setxattr(path, name, Buffer.from(value), flags, currentCaller())),
    getxattr: (path: string, name: string, _position: number, cb: Cb) => query(cb, () => then(fs.getxattr(path, name, currentCaller()), (v) => [v])),
    listxattr: (path: string, cb: Cb) => query(cb, () => then(fs.listxattr(path, currentCaller()), (l) => [l])),
    removexattr: (path: string, name: string, cb: Cb) => change(cb, () => fs.removexattr(path, name, currentCaller())),
  };

  if (process.env.CAIRN_DEBUG_OPS) countOperations(ops, options.log);
  const attrTimeout = options.attrTimeoutSeconds ?? 0;
  // fuse-native joins its options with commas, so options it lacks ride along in fsname:
  // big_writes for 128 KiB writes, use_ino so stat shows our inode numbers (hard links),
  // attr_timeout (fuse-native drops a 0), negative_timeout (every create passes through
  // this mount, so a cached "no such name" is dropped by the kernel when it stops being true),
  // auto_cache (keep a file's cached pages across opens only while its mtime and size are
  // unchanged: libfuse2 gives each hard-link name its own kernel node, so with kernel_cache a
  // write through one name left stale pages under the other, measured by the crash model).
  return new Fuse(mountpoint, ops, {
    fsname: `cairn,subtype=cairn,big_writes,use_ino,readdir_ino,auto_cache,attr_timeout=${attrTimeout},negative_timeout=1${options.readOnly ? ',ro' : ''}`,
    // Without cached attributes the Filesystem checks every request itself, and every request
    // reaches it with its whole path. With cached attributes (a read-only mount, or
    // --attr-timeout) a stat can be answered from the kernel's cache, so the kernel checks
    // too, against the attributes it holds (docs/ARCHITECTURE.md "Permissions").
    defaultPermissions: attrTimeout > 0,
    allowOther: options.allowOther ?? false,
    entryTimeout: 1,
    timeout: false,
    force: true,
  });
}

/** CAIRN_DEBUG_OPS=1: count requests per operation and log the counts at exit (for tuning). */
function countOperations(ops: Fuse.Operations, log: (message: string) => void): void {
  const counts = new Map<string, number>();
  const table = ops as unknown as Record<string, (...args: unknown[]) => void>; // the same handlers, by name
  for (const [name, fn] of Object.entries(table)) {
    table[name] = (...args: unknown[]) => {
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return fn(...args);
    };
  }
  process.on('exit', () => log(`requests: ${[...counts].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ${c}`).join(', ')}`));
}
