/**
 * The FUSE adapter: low-level requests in (native/lowlevel.c, by kernel node id), Filesystem
 * calls out. Thin on purpose: node ids to nodes (src/fuse/node-ids.ts), arguments and
 * results to their shapes, errors to errnos; no filesystem logic. Every request names its
 * caller, read before anything can await.
 *
 * Caching (docs/ARCHITECTURE.md "Kernel caching"): one kernel inode per file, and every change
 * passes through the kernel, so its cached names, attributes and pages stay true; the kernel
 * checks permissions itself against them (default_permissions), and the Filesystem checks
 * again whatever reaches it.
 */
import Fuse from 'fuse-native';
import { CairnError } from '../errors/errors.js';
import { FsError } from '../vfs/errors.js';
import { CAPABILITY_XATTR, type Filesystem, type NodeRef, type Stat, type TimeSpec } from '../vfs/filesystem.js';
import { currentCaller } from './caller.js';
import { toFuseErrno } from './errno.js';
import { inoHalves, lowLevelBinding, Op, SetAttr, type Slot, timeFrom, writeStat } from './lowlevel-binding.js';
import { FIRST_HISTORY_ID, NodeIds } from './node-ids.js';

/** The fuse-native patch level the file calls of restore and backup need (src/fuse/native-files.ts). */
const NEEDED_PATCH_LEVEL = 4;

/**
 * Refuses a stock fuse-native build: its file calls would store every time wrongly (an
 * rsync -a once saved mtimes in the year 56,918,116) and cut inode numbers to 32 bits.
 */
export function assertPatchedBinding(binding: { readonly NATIVE_PATCH_LEVEL?: number } = Fuse): void {
  if (binding.NATIVE_PATCH_LEVEL !== NEEDED_PATCH_LEVEL) {
    throw new CairnError('USAGE', `the FUSE binding loaded is not cairn's patched build (patch level ${binding.NATIVE_PATCH_LEVEL ?? 0}, needed ${NEEDED_PATCH_LEVEL}); mounting with it would store wrong file times`, {
      hint: 'rebuild it: `bash scripts/build-fuse-binding.sh` in the cairn folder (needs g++, make and python3; it prints why a build fails)',
    });
  }
  lowLevelBinding();
}

export interface MountOptions {
  readonly allowOther?: boolean;
  /** Seconds the kernel may cache names and attributes of the live tree (default 1). */
  readonly attrTimeoutSeconds?: number;
  /** Mount read-only: the kernel refuses every change with EROFS before it reaches us. */
  readonly readOnly?: boolean;
  readonly log: (message: string) => void;
}

/** Inside a snapshot nothing ever changes: names and attributes may be cached long. */
const HISTORY_TIMEOUT = 3600;

export interface MountedFuse {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
  /** The binding's write buffers (see LowLevelBinding.writeBufferCounts). */
  writeBuffers(): { lent: number; copies: number };
}

interface DirHandle {
  readonly at: NodeRef;
  listing?: { names: string[]; inos: Float64Array; modes: Uint32Array };
}

const O_ACCMODE = 3;
const O_RDONLY = 0;

export function createFuse(fs: Filesystem, mountpoint: string, options: MountOptions): MountedFuse {
  const native = lowLevelBinding();
  const ids = new NodeIds();
  const dirs = new Map<number, DirHandle>();
  let nextDir = 1;
  const liveTimeout = options.attrTimeoutSeconds ?? 1;
  /**
   * How long the kernel may keep a node: long inside a snapshot; .snapshots, its snapshot
   * folders and `latest` as long as live nodes (snapshots come and go: a new one may be
   * missed, a forgotten one still listed, for that long). Uncached, every path through
   * them (ls -lR stats each entry by its full path) would cost two more lookups.
   */
  const timeoutOf = (at: NodeRef) => (typeof at === 'object' && 'history' in at && at.history.length >= 2 ? HISTORY_TIMEOUT : liveTimeout);

  const fail = (slot: Slot, e: unknown) => native.replyErr(slot, -toFuseErrno(e, options.log));
  /**
   * Runs `fn`, then `answer` with its result: now when it is synchronous, else when it
   * settles. A failure (of either) goes to `failed`, by default the errno answer.
   */
  const run = <T>(slot: Slot, fn: () => T | Promise<T>, answer: (value: T) => void, failed = (e: unknown) => fail(slot, e)) => {
    const settle = (value: T) => {
      try {
        answer(value);
      } catch (e) {
        failed(e);
      }
    };
    let result: T | Promise<T>;
    try {
      result = fn();
    } catch (e) {
      return failed(e);
    }
    if (result instanceof Promise) result.then(settle, failed);
    else settle(result);
  };
  const ok = (slot: Slot) => () => native.replyErr(slot, 0);
  const replyAttr = (slot: Slot, at: NodeRef) => (stat: Stat) => {
    writeStat(native.STAT, stat);
    native.replyAttr(slot, timeoutOf(at));
  };
  /** The kernel asks a node's security.capability only once it has the node: tell the binding first. */
  const markCapability = (at: NodeRef, nodeId: number) => {
    if (typeof at === 'object' && 'ino' in at && fs.hasCapability(at.ino)) native.markCapability(nodeId, 1);
  };
  const replyEntry = (slot: Slot) => ({ at, stat }: { at: NodeRef; stat: Stat }) => {
    const timeout = timeoutOf(at);
    writeStat(native.STAT, stat);
    const nodeId = ids.lookedUp(at);
    markCapability(at, nodeId);
    native.replyEntry(slot, nodeId, timeout, timeout);
  };
  /** After a new name was made: answer with its node (a lookup the kernel counts). */
  const entryOf = (slot: Slot, parent: NodeRef, name: string, caller = currentCaller()) => () =>
    run(slot, () => fs.lookup(parent, name, caller), replyEntry(slot));
  const nameIn = (parent: number, name: string) => {
    const at = ids.nodeOf(parent);
    return 'ino' in at ? { parent: at.ino, name } : { parent: at, name };
  };
  const timeSpec = (valid: number, given: number, now: number, sec: number, nsec: number): TimeSpec =>
    valid & now ? 'now' : valid & given ? timeFrom(sec, nsec) : 'omit';

  const handlers: Record<number, (slot: Slot, ...args: never[]) => void> = {
    [Op.LOOKUP]: (slot, parent: number, name: string) => {
      const caller = currentCaller();
      const folder = ids.nodeOf(parent);
      // "No such name" is an answer the kernel may cache too (every create passes through it).
      const missing = (e: unknown) => (e instanceof FsError && e.errno === 'ENOENT' ? native.replyEntry(slot, 0, 0, timeoutOf(folder)) : fail(slot, e));
      run(slot, () => fs.lookup(folder, name, caller), replyEntry(slot), missing);
    },
    [Op.GETATTR]: (slot, ino: number, fh: number) => {
      const at = ids.nodeOf(ino);
      const caller = currentCaller();
      run(slot, () => (fh >= 0 ? fs.fgetattr(fh) : fs.getattr(at, caller)), replyAttr(slot, at));
    },
    [Op.SETATTR]: (slot, ino: number, valid: number, mode: number, uid: number, gid: number, size: number,
      aSec: number, aNsec: number, mSec: number, mNsec: number, fh: number) => {
      const at = ids.nodeOf(ino);
      const caller = currentCaller();
      // One request may carry several changes; they run in this order, each waiting for the last.
      const steps: (() => unknown)[] = [];
      if (valid & SetAttr.SIZE) steps.push(() => (fh >= 0 ? fs.ftruncate(fh, size) : fs.truncate(at, size, caller)));
      if (valid & (SetAttr.UID | SetAttr.GID)) steps.push(() => fs.chown(at, valid & SetAttr.UID ? uid : -1, valid & SetAttr.GID ? gid : -1, caller));
      if (valid & SetAttr.MODE) steps.push(() => fs.chmod(at, mode, caller));
      if (valid & (SetAttr.ATIME | SetAttr.MTIME | SetAttr.ATIME_NOW | SetAttr.MTIME_NOW)) {
        const atime = timeSpec(valid, SetAttr.ATIME, SetAttr.ATIME_NOW, aSec, aNsec);
        const mtime = timeSpec(valid, SetAttr.MTIME, SetAttr.MTIME_NOW, mSec, mNsec);
        steps.push(() => fs.utimens(at, atime, mtime, caller));
      }
      const next = (i: number): unknown => (i === steps.length ? fs.getattr(at, caller) : then(steps[i]!(), () => next(i + 1)));
      run(slot, () => next(0) as Stat | Promise<Stat>, replyAttr(slot, at));
    },
    [Op.READLINK]: (slot, ino: number) => {
      const caller = currentCaller();
      run(slot, () => fs.readlink(ids.nodeOf(ino), caller), (target) => native.replyReadlink(slot, target));
    },
    [Op.MKNOD]: (slot, parent: number, name: string, mode: number, rdev: number) => {
      const caller = currentCaller();
      run(slot, () => fs.mknod(nameIn(parent, name), mode, rdev, caller), entryOf(slot, ids.nodeOf(parent), name, caller));
    },
    [Op.MKDIR]: (slot, parent: number, name: string, mode: number) => {
      const caller = currentCaller();
      run(slot, () => fs.mkdir(nameIn(parent, name), mode, caller), entryOf(slot, ids.nodeOf(parent), name, caller));
    },
    [Op.SYMLINK]: (slot, target: string, parent: number, name: string) => {
      const caller = currentCaller();
      run(slot, () => fs.symlink(target, nameIn(parent, name), caller), entryOf(slot, ids.nodeOf(parent), name, caller));
    },
    [Op.LINK]: (slot, ino: number, parent: number, name: string) => {
      const caller = currentCaller();
      run(slot, () => fs.link(ids.nodeOf(ino), nameIn(parent, name), caller), entryOf(slot, ids.nodeOf(parent), name, caller));
    },
    [Op.UNLINK]: (slot, parent: number, name: string) => {
      const caller = currentCaller();
      run(slot, () => fs.unlink(nameIn(parent, name), caller), ok(slot));
    },
    [Op.RMDIR]: (slot, parent: number, name: string) => {
      const caller = currentCaller();
      run(slot, () => fs.rmdir(nameIn(parent, name), caller), ok(slot));
    },
    [Op.RENAME]: (slot, parent: number, name: string, newParent: number, newName: string) => {
      const caller = currentCaller();
      run(slot, () => fs.rename(nameIn(parent, name), nameIn(newParent, newName), caller), ok(slot));
    },
    [Op.CREATE]: (slot, parent: number, name: string, mode: number, flags: number) => {
      const caller = currentCaller();
      const folder = ids.nodeOf(parent);
      run(slot, () => fs.create(nameIn(parent, name), mode, caller, flags), (fh) =>
        run(slot, () => fs.lookup(folder, name, caller), ({ at, stat }) => {
          const timeout = timeoutOf(at);
          writeStat(native.STAT, stat);
          const nodeId = ids.lookedUp(at);
          markCapability(at, nodeId);
          native.replyCreate(slot, nodeId, timeout, timeout, fh, 1);
        }));
    },
    [Op.OPEN]: (slot, ino: number, flags: number) => {
      const caller = currentCaller();
      // Pages stay cached across opens: every write reaches the file through this kernel inode.
      run(slot, () => fs.open(ids.nodeOf(ino), flags, caller), (fh) => native.replyOpen(slot, fh, 1));
    },
    [Op.READ]: (slot, _ino: number, size: number, offset: number, fh: number) => {
      run(slot, () => fs.read(fh, offset, size), (data) => native.replyBuffer(slot, data, Math.min(size, data.length)));
    },
    [Op.WRITE]: (slot, _ino: number, data: Uint8Array, offset: number, fh: number, lent: number) => {
      // `data` is a copy of the request's bytes in a buffer the binding lends (lent >= 0) until
      // the write settles: staging copies the bytes, nothing keeps `data` past that.
      const caller = currentCaller();
      const release = () => {
        if (lent >= 0) native.releaseWriteBuffer(lent);
      };
      run(
        slot,
        () => fs.write(fh, offset, data, caller),
        (n) => {
          release();
          native.replyWrite(slot, n);
        },
        (e) => {
          release();
          fail(slot, e);
        },
      );
    },
    [Op.RELEASE]: (slot, _ino: number, fh: number) => run(slot, () => fs.release(fh), ok(slot)),
    [Op.FSYNC]: (slot, _ino: number, _datasync: number, fh: number) => run(slot, () => fs.fsync(fh), ok(slot)),
    [Op.OPENDIR]: (slot, ino: number, flags: number) => {
      const caller = currentCaller();
      const at = ids.nodeOf(ino);
      if ((flags & O_ACCMODE) !== O_RDONLY) return fail(slot, new FsError('EISDIR'));
      run(slot, () => fs.opendir(at, caller), () => {
        const fh = nextDir++;
        dirs.set(fh, { at });
        native.replyOpen(slot, fh, 0);
      });
    },
    [Op.READDIR]: (slot, _ino: number, size: number, offset: number, fh: number) => {
      const dir = dirs.get(fh);
      if (!dir) return fail(slot, new FsError('EBADF'));
      const caller = currentCaller();
      const answer = () => {
        const l = dir.listing!;
        native.replyDirectory(slot, size, offset, l.names, l.inos, l.modes);
      };
      // Listed at the first read (and again at a rewind), as a local disk does.
      if (dir.listing && offset > 0) return answer();
      run(slot, () => fs.readdir(dir.at, caller), ({ names, stats }) => {
        const self = fs.getattr(dir.at, caller);
        const fill = (own: Stat) => {
          const count = names.length + 2;
          const inos = new Float64Array(2 * count);
          const modes = new Uint32Array(count);
          // '..' carries the folder's own number: the kernel answers '..' itself and nothing reads it.
          for (const i of [0, 1]) {
            inoHalves(own.ino, inos, i);
            modes[i] = own.mode;
          }
          stats.forEach((s, i) => {
            inoHalves(s.ino, inos, i + 2);
            modes[i + 2] = s.mode;
          });
          dir.listing = { names: ['.', '..', ...names], inos, modes };
          answer();
        };
        if (self instanceof Promise) self.then(fill, (e) => fail(slot, e));
        else fill(self);
      });
    },
    [Op.RELEASEDIR]: (slot, _ino: number, fh: number) => {
      dirs.delete(fh);
      native.replyErr(slot, 0);
    },
    [Op.STATFS]: (slot) => run(slot, () => fs.statfs(), (s) =>
      native.replyStatfs(slot, [s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail, s.namemax])),
    [Op.ACCESS]: (slot, ino: number, mask: number) => {
      const caller = currentCaller();
      run(slot, () => fs.access(ids.nodeOf(ino), mask, caller), ok(slot));
    },
    [Op.SETXATTR]: (slot, ino: number, name: string, value: Buffer, flags: number) => {
      const caller = currentCaller();
      run(slot, () => fs.setxattr(ids.nodeOf(ino), name, value, flags, caller), () => {
        if (name === CAPABILITY_XATTR) native.markCapability(ino, 1);
        native.replyErr(slot, 0);
      });
    },
    [Op.GETXATTR]: (slot, ino: number, name: string, size: number) => {
      const caller = currentCaller();
      run(slot, () => fs.getxattr(ids.nodeOf(ino), name, caller), (value) => sized(slot, value, size));
    },
    [Op.LISTXATTR]: (slot, ino: number, size: number) => {
      const caller = currentCaller();
      run(slot, () => fs.listxattr(ids.nodeOf(ino), caller), (names) => sized(slot, Buffer.from(names.map((n) => `${n}\0`).join('')), size));
    },
    [Op.REMOVEXATTR]: (slot, ino: number, name: string) => {
      const caller = currentCaller();
      run(slot, () => fs.removexattr(ids.nodeOf(ino), name, caller), () => {
        if (name === CAPABILITY_XATTR) native.markCapability(ino, 0);
        native.replyErr(slot, 0);
      });
    },
  };

  /** getxattr/listxattr: size 0 asks how big; a buffer too small is ERANGE. */
  const sized = (slot: Slot, value: Buffer, size: number) => {
    if (size === 0) native.replyXattrSize(slot, value.length);
    else if (value.length > size) native.replyErr(slot, 34 /* ERANGE */);
    else native.replyBuffer(slot, value, value.length);
  };

  const counts = process.env.CAIRN_DEBUG_OPS ? countRequests(options.log) : undefined;
  const dispatch = (op: number, slot: Slot, ...args: unknown[]) => {
    counts?.(op);
    if (op === Op.FORGET) {
      const [id, count] = args as [number, number];
      if (id >= FIRST_HISTORY_ID) ids.forget(id, count);
      return;
    }
    const handler = handlers[op];
    if (!handler) return native.replyErr(slot, 38 /* ENOSYS */);
    try {
      (handler as (slot: Slot, ...a: unknown[]) => void)(slot, ...args);
    } catch (e) {
      fail(slot, e); // a node id the kernel still held, but we no longer know (ENOENT)
    }
  };

  // Mount options (fuse_mount) and session options (fuse_lowlevel_new) go separately:
  // each part of libfuse refuses the other's. big_writes: 128 KiB writes, not 4 KiB.
  const mountOptions = ['fsname=cairn', 'subtype=cairn', 'default_permissions', ...(options.allowOther ? ['allow_other'] : []), ...(options.readOnly ? ['ro'] : [])];
  return {
    mount(cb) {
      const result = native.mount(mountpoint, ['-o', mountOptions.join(',')], ['-o', 'big_writes'], dispatch as never, (errno) => {
        // 0, ENODEV, EBADF: unmounted from outside (fusermount -u); the mount command notices.
        if (errno !== 0 && errno !== 19 && errno !== 9) options.log(`the FUSE device failed (errno ${errno}); the mount is gone`);
      });
      cb(result === 0 ? null : new Error(`libfuse could not mount (errno ${-result}; its reason is printed above)`));
    },
    unmount(cb) {
      native.unmount();
      cb(null);
    },
    writeBuffers: () => native.writeBufferCounts(),
  };
}

/** Applies `map` to a value that may be a promise, keeping synchronous values synchronous. */
function then<T, R>(value: T | Promise<T>, map: (v: T) => R): R | Promise<R> {
  return value instanceof Promise ? value.then(map) : map(value);
}

/** CAIRN_DEBUG_OPS=1: count requests per operation and log the counts at exit (for tuning). */
function countRequests(log: (message: string) => void): (op: number) => void {
  const names = new Map(Object.entries(Op).map(([name, code]) => [code as number, name.toLowerCase()]));
  const counts = new Map<string, number>();
  process.on('exit', () => log(`requests: ${[...counts].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ${c}`).join(', ')}`));
  return (op) => {
    const name = names.get(op) ?? `op${op}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  };
}
