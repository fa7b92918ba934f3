/**
 * Lists one local folder with everything a backup records of each entry: lstat, symlink
 * target and extended attributes. Synchronous, for a worker thread (source-reader.ts):
 * there each call is one plain syscall, where fs/promises costs the walking thread more
 * than the kernel does.
 */
import { lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import * as path from 'node:path';
import { compareNames, type NodeType, type Xattr } from '../format/tree.js';
import { localXattrs, nodeTypeOf } from '../localfs/metadata.js';

/** An entry's lstat in the terms a tree node needs (crosses threads as a plain object). */
export interface LocalStat {
  readonly type: NodeType;
  /** Permission bits with setuid, setgid and sticky (0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: bigint;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly nlink: number;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly rdev: number;
}

/** What the previous snapshot says of an entry: with mtime and ctime unchanged, its xattrs are still true. */
export interface KnownEntry {
  readonly type: NodeType;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

/** An entry lstat could read; `readError` when its xattrs or symlink target could not be. */
export interface StattedEntry {
  readonly name: string;
  readonly stat: LocalStat;
  /** Left out when the entry is untouched (see `untouched`). */
  readonly xattrs?: Xattr[];
  readonly target?: string;
  readonly readError?: string;
}

/** lstat failed: the entry cannot be stored at all. */
export interface UnreadableEntry {
  readonly name: string;
  readonly statError: string;
}

export type ScannedEntry = StattedEntry | UnreadableEntry;

function localStat(st: BigIntStats): LocalStat {
  return {
    type: nodeTypeOf(st),
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: st.size,
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    nlink: Number(st.nlink),
    dev: st.dev,
    ino: st.ino,
    rdev: Number(st.rdev),
  };
}

/**
 * Any change to an inode but its atime moves its ctime (xattrs included): with type, mtime
 * and ctime as before, what was recorded of it (xattrs, atime) is still true.
 */
export function untouched(before: KnownEntry | undefined, now: LocalStat): before is KnownEntry {
  return before !== undefined && before.type === now.type && before.mtimeNs === now.mtimeNs && before.ctimeNs === now.ctimeNs;
}

/**
 * The folder's entries in tree order. Xattrs are read unless `known` says the entry is
 * untouched (same type, mtime and ctime: any xattr change moves ctime); a symlink's target
 * is read. A failure to read either is the entry's `readError`. Throws readdir's error.
 */
export function scanFolder(folder: string, known: ReadonlyMap<string, KnownEntry>): ScannedEntry[] {
  const names = readdirSync(folder).sort(compareNames);
  return names.map((name): ScannedEntry => {
    const full = path.join(folder, name);
    let stat: LocalStat;
    try {
      stat = localStat(lstatSync(full, { bigint: true }));
    } catch (e) {
      return { name, statError: (e as Error).message };
    }
    try {
      const xattrs = untouched(known.get(name), stat) ? undefined : localXattrs(full);
      const target = stat.type === 'symlink' ? readlinkSync(full) : undefined;
      return { name, stat, xattrs, target };
    } catch (e) {
      return { name, stat, readError: (e as Error).message };
    }
  });
}
