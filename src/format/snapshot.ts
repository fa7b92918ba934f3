/**
 * Snapshot objects (docs/FORMAT.md "Snapshots"): one backup point. Sealed as kind "snapshot";
 * the file's name is the SHA-256 of its sealed bytes. Each snapshot names the previous one in
 * the chain (`previous`, that file's name) and carries a sequence number, so a snapshot
 * deleted or rolled back on the store shows as a broken chain.
 */
import { DecodeError } from './bytes.js';
import { nanosFrom, parseVersionedJson } from './json.js';
import type { BlobIdHex, Xattr } from './tree.js';

/** Version 2 adds `nextFileId`; version 1 snapshots are still read. */
export const SNAPSHOT_VERSION = 2;
const SNAPSHOT_VERSIONS = [1, 2] as const;

export interface SnapshotStats {
  /** Regular files in the snapshot (hard links counted once). */
  readonly files: number;
  readonly dirs: number;
  /** Sum of file sizes (logical, hard links counted once). */
  readonly bytes: number;
  /** Sealed bytes this snapshot added to the store (new blobs only). */
  readonly addedBytes: number;
}

/** Metadata of the root directory itself (a tree holds its entries' metadata, not its own). */
export interface RootAttributes {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly xattrs?: readonly Xattr[];
}

export interface Snapshot {
  /** 1 for the first snapshot of a repository, then +1 along the chain. */
  readonly seq: number;
  /** Nanoseconds since the Unix epoch. */
  readonly timeNs: bigint;
  readonly host: string;
  readonly user: string;
  readonly tags: readonly string[];
  /** Tree blob id of the root directory. */
  readonly tree: BlobIdHex;
  /** The root directory's own metadata; absent in snapshots made outside a mount. */
  readonly root?: RootAttributes;
  /** The snapshot whose tree this one was built from, or null. */
  readonly parent: string | null;
  /** The previous snapshot in the chain (its object id), or null for seq 1. */
  readonly previous: string | null;
  readonly stats: SnapshotStats;
  /**
   * Every file id used so far in this repository is below this (version 2; absent in
   * version 1). A writer continues numbering at the highest value of any snapshot.
   */
  readonly nextFileId?: number;
}

export function encodeSnapshot(s: Snapshot): Buffer {
  return Buffer.from(
    JSON.stringify({
      version: SNAPSHOT_VERSION,
      seq: s.seq,
      time: s.timeNs.toString(),
      host: s.host,
      user: s.user,
      tags: s.tags,
      tree: s.tree,
      ...(s.root ? { root: rootToJson(s.root) } : {}),
      parent: s.parent,
      previous: s.previous,
      stats: { files: s.stats.files, dirs: s.stats.dirs, bytes: s.stats.bytes, addedBytes: s.stats.addedBytes },
      nextFileId: s.nextFileId ?? 2,
    }),
    'utf8',
  );
}

function rootToJson(r: RootAttributes): Record<string, unknown> {
  return {
    mode: r.mode, uid: r.uid, gid: r.gid, mtime: r.mtimeNs.toString(), atime: r.atimeNs.toString(), ctime: r.ctimeNs.toString(),
    ...(r.xattrs && r.xattrs.length > 0 ? { xattrs: r.xattrs.map((x) => ({ name: x.name, value: Buffer.from(x.value).toString('base64') })) } : {}),
  };
}

function rootFromJson(v: unknown): RootAttributes {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DecodeError('snapshot root is malformed');
  const j = v as Record<string, unknown>;
  const int = (x: unknown) => {
    if (!Number.isSafeInteger(x) || (x as number) < 0) throw new DecodeError('snapshot root holds a malformed number');
    return x as number;
  };
  const nanos = (x: unknown) => nanosFrom(x, 'a time of the snapshot root');
  const xattrs = j.xattrs === undefined ? undefined : (j.xattrs as { name?: unknown; value?: unknown }[]);
  if (xattrs !== undefined && (!Array.isArray(xattrs) || xattrs.some((x) => typeof x?.name !== 'string' || typeof x.value !== 'string'))) {
    throw new DecodeError('snapshot root xattrs are malformed');
  }
  return {
    mode: int(j.mode), uid: int(j.uid), gid: int(j.gid), mtimeNs: nanos(j.mtime), atimeNs: nanos(j.atime), ctimeNs: nanos(j.ctime),
    ...(xattrs ? { xattrs: xattrs.map((x) => ({ name: x.name as string, value: new Uint8Array(Buffer.from(x.value as string, 'base64')) })) } : {}),
  };
}

const HEX_ID = /^[0-9a-f]{64}$/;

export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const j = parseVersionedJson(bytes, 'snapshot', SNAPSHOT_VERSIONS);
  const idOrNull = (v: unknown) => {
    if (v === null) return null;
    if (typeof v !== 'string' || !HEX_ID.test(v)) throw new DecodeError('snapshot holds a malformed id');
    return v;
  };
  const count = (v: unknown) => {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw new DecodeError('snapshot holds a malformed number');
    return v as number;
  };
  const text = (v: unknown) => {
    if (typeof v !== 'string') throw new DecodeError('snapshot holds a malformed string');
    return v;
  };
  const timeNs = nanosFrom(j.time, 'snapshot time');
  if (!Array.isArray(j.tags)) throw new DecodeError('snapshot tags are malformed');
  if (typeof j.stats !== 'object' || j.stats === null) throw new DecodeError('snapshot stats are malformed');
  const stats = j.stats as Record<string, unknown>;
  const tree = idOrNull(j.tree);
  if (tree === null) throw new DecodeError('snapshot has no tree');
  return {
    seq: count(j.seq),
    timeNs,
    host: text(j.host),
    user: text(j.user),
    tags: j.tags.map(text),
    tree,
    ...(j.root !== undefined ? { root: rootFromJson(j.root) } : {}),
    parent: idOrNull(j.parent),
    previous: idOrNull(j.previous),
    stats: { files: count(stats.files), dirs: count(stats.dirs), bytes: count(stats.bytes), addedBytes: count(stats.addedBytes) },
    ...(j.version === 2 ? { nextFileId: count(j.nextFileId) } : {}),
  };
}
