/**
 * What stat and statfs report, as data (no FUSE types), and the live tree's attributes of
 * an inode. The history view builds its own from stored tree nodes (src/vfs/history-ops.ts).
 */
import type { NodeType } from '../format/tree.js';
import { type Inode, storedLinks } from './inode-table.js';

export const S_IFMT = 0o170000;
export const TYPE_BITS: Record<NodeType, number> = {
  file: 0o100000, dir: 0o040000, symlink: 0o120000, fifo: 0o010000, socket: 0o140000, chardev: 0o020000, blockdev: 0o060000,
};
export const TYPE_OF_BITS = new Map(Object.entries(TYPE_BITS).map(([t, b]) => [b, t as NodeType]));

export interface Stat {
  /** 64-bit: live file ids below 2^63, the history view above (src/timetravel/view.ts). */
  readonly ino: bigint;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev: number;
  readonly size: number;
  readonly blocks: number;
  readonly blksize: number;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

export interface Statfs {
  readonly bsize: number;
  readonly frsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
  readonly files: number;
  readonly ffree: number;
  readonly favail: number;
  readonly namemax: number;
}

/** A folder listing: names and, for each, its attributes (readdir answers both at once). */
export interface Listing {
  readonly names: string[];
  readonly stats: Stat[];
}

/** A time to set: nanoseconds, now, or leave as it is. */
export type TimeSpec = bigint | 'now' | 'omit';

export function statOf(inode: Inode): Stat {
  const size = inode.type === 'dir' ? 4096 : inode.size;
  return {
    ino: BigInt(inode.ino),
    mode: TYPE_BITS[inode.type] | inode.mode,
    // As a local disk shows it: libfuse's hidden name of an unlinked open file is no link.
    nlink: inode.type === 'dir' ? 2 + inode.subdirs : storedLinks(inode),
    uid: inode.uid,
    gid: inode.gid,
    rdev: inode.rdev,
    size,
    blocks: Math.ceil(size / 512),
    blksize: 4096,
    atimeNs: inode.atimeNs,
    mtimeNs: inode.mtimeNs,
    ctimeNs: inode.ctimeNs,
  };
}
