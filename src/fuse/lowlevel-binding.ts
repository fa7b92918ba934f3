/**
 * cairn's own FUSE binding (native/lowlevel.c): libfuse2's low-level API read on Node's
 * event loop. This module loads it and names its protocol; src/fuse/adapter.ts speaks it.
 */
import { loadAddon } from '../native/addon.js';
import type { Stat } from '../vfs/stat.js';

/** Operation codes, as native/lowlevel.c numbers them. */
export const Op = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, MKNOD: 6, MKDIR: 7, UNLINK: 8,
  RMDIR: 9, SYMLINK: 10, RENAME: 11, LINK: 12, OPEN: 13, READ: 14, WRITE: 15, RELEASE: 16, FSYNC: 17,
  OPENDIR: 18, READDIR: 19, RELEASEDIR: 20, STATFS: 21, SETXATTR: 22, GETXATTR: 23, LISTXATTR: 24,
  REMOVEXATTR: 25, ACCESS: 26, CREATE: 27,
} as const;

/** setattr's `valid` bits (fuse_lowlevel.h FUSE_SET_ATTR_*). */
export const SetAttr = { MODE: 1, UID: 2, GID: 4, SIZE: 8, ATIME: 16, MTIME: 32, ATIME_NOW: 128, MTIME_NOW: 256 } as const;

/** A request waits in its slot until one reply function is called with it. */
export type Slot = number;
export type Dispatch = (op: number, slot: Slot, ...args: never[]) => void;

export interface LowLevelBinding {
  /** Attributes for the next replyEntry/replyCreate/replyAttr (see writeStat). */
  readonly STAT: Float64Array;
  /** uid, gid, pid, umask of the request being dispatched (valid synchronously in the handler). */
  readonly CALLER: Uint32Array;
  /** 0, or -errno (libfuse prints the reason on stderr). One mount per process. */
  mount(mountpoint: string, mountArgs: string[], sessionArgs: string[], dispatch: Dispatch, ended: (errno: number) => void): number;
  unmount(): void;
  replyErr(slot: Slot, errno: number): void;
  replyEntry(slot: Slot, nodeId: number, attrTimeout: number, entryTimeout: number): void;
  replyCreate(slot: Slot, nodeId: number, attrTimeout: number, entryTimeout: number, fh: number, keepCache: number): void;
  replyAttr(slot: Slot, attrTimeout: number): void;
  replyOpen(slot: Slot, fh: number, keepCache: number): void;
  replyWrite(slot: Slot, count: number): void;
  replyBuffer(slot: Slot, bytes: Buffer, length: number): void;
  replyXattrSize(slot: Slot, size: number): void;
  replyReadlink(slot: Slot, target: string): void;
  replyStatfs(slot: Slot, fields: number[]): void;
  replyDirectory(slot: Slot, size: number, first: number, names: string[], inos: Float64Array, modes: Uint32Array): void;
  /** The bytes of the WRITE request that was lent write buffer `index` are no longer used (see native/lowlevel.c ll_write). */
  releaseWriteBuffer(index: number): void;
  /** Write buffers lent and not yet given back, and WRITE requests copied instead (none free, or too big) since the mount. */
  writeBufferCounts(): { lent: number; copies: number };
  willNeed(path: string, length: number): void;
  /**
   * Whether live file `nodeId` carries security.capability. The binding answers the kernel's
   * question for that attribute (asked before every write) itself, ENODATA, for live files
   * not marked; the adapter marks a file before the kernel can ask about it (native/lowlevel.c).
   */
  markCapability(nodeId: number, has: number): void;
}

let loaded: LowLevelBinding | undefined;

export function lowLevelBinding(): LowLevelBinding {
  loaded ??= loadAddon<LowLevelBinding>('cairn_fuse', "cairn's FUSE binding");
  return loaded;
}

const NS = 1_000_000_000n;

/** Puts a Stat where the next attribute reply takes it (64-bit ino as two halves, times as s + ns). */
export function writeStat(target: Float64Array, s: Stat): void {
  target[0] = Number(s.ino >> 32n);
  target[1] = Number(s.ino & 0xffffffffn);
  target[2] = s.mode;
  target[3] = s.nlink;
  target[4] = s.uid;
  target[5] = s.gid;
  target[6] = s.rdev;
  target[7] = s.size;
  target[8] = s.blocks;
  target[9] = s.blksize;
  setTime(target, 10, s.atimeNs);
  setTime(target, 12, s.mtimeNs);
  setTime(target, 14, s.ctimeNs);
}

function setTime(target: Float64Array, at: number, ns: bigint): void {
  // Floor division, so times before 1970 keep a nanosecond part in [0, 1e9).
  let sec = ns / NS;
  let rest = ns % NS;
  if (rest < 0n) {
    rest += NS;
    sec -= 1n;
  }
  target[at] = Number(sec);
  target[at + 1] = Number(rest);
}

/** A time from setattr's seconds and nanoseconds. */
export const timeFrom = (sec: number, nsec: number): bigint => BigInt(sec) * NS + BigInt(nsec);

/** A 64-bit inode number as readdir's two halves. */
export function inoHalves(ino: bigint, target: Float64Array, index: number): void {
  target[2 * index] = Number(ino >> 32n);
  target[2 * index + 1] = Number(ino & 0xffffffffn);
}

