/**
 * Tree blobs (docs/FORMAT.md "Tree blobs"): one directory's entries, sorted by the UTF-8
 * bytes of their names, with full metadata. Encoded as canonical JSON (fixed key order, no
 * optional key when absent), so an unchanged directory encodes to the same bytes, gets the
 * same blob id, and is shared between snapshots instead of stored again.
 */
import { DecodeError } from './bytes.js';
import { parseVersionedJson } from './json.js';

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'chardev' | 'blockdev';
const NODE_TYPES: readonly NodeType[] = ['file', 'dir', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev'];

/** Version 2 adds stable file ids (`fileId`); version 1 trees are still read. */
export const TREE_VERSION = 2;
const TREE_VERSIONS = [1, 2] as const;

/** A lower-case hex blob id (64 characters). */
export type BlobIdHex = string;

export interface Xattr {
  readonly name: string;
  readonly value: Uint8Array;
}

/** A node of a folder's tree. A field added here is written by nodeToJson and compared by sameNodes. */
export interface TreeNode {
  readonly name: string;
  readonly type: NodeType;
  /** Permission bits, including setuid, setgid and sticky (mode & 0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Files: content length in bytes. Symlinks: target length. Others: 0. */
  readonly size: number;
  /** Nanoseconds since the Unix epoch. */
  readonly mtimeNs: bigint;
  readonly atimeNs: bigint;
  readonly ctimeNs: bigint;
  /**
   * The file id: stable for the life of the repository, never reused, shared exactly by the
   * names of one hard-linked file. In a version-1 tree this is the old per-mount `inode`
   * number, which only groups hard links within one snapshot (and not reliably: see FORMAT.md).
   */
  readonly fileId: number;
  /** Names of this file (regular files), or 2 + subdirectories (directories); 1 for others. */
  readonly links: number;
  readonly xattrs?: readonly Xattr[];
  /** Files: the content blob ids, in order. */
  readonly content?: readonly BlobIdHex[];
  /** Directories: the tree blob id of their entries. */
  readonly subtree?: BlobIdHex;
  /** Symlinks: the target, as written. */
  readonly target?: string;
  /** Character and block devices: the device number. */
  readonly rdev?: number;
}

export interface Tree {
  /** The version it was decoded from; encoding always writes TREE_VERSION. */
  readonly version?: 1 | 2;
  readonly nodes: readonly TreeNode[];
}

/**
 * Orders names by their UTF-8 bytes, which is code point order, without encoding them:
 * UTF-16 code units already sort by code point, except that a surrogate (part of a code
 * point past U+FFFF) must sort above every other unit, U+E000–U+FFFF included.
 */
export function compareNames(a: string, b: string): number {
  const common = Math.min(a.length, b.length);
  for (let i = 0; i < common; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xSurrogate = x >= 0xd800 && x <= 0xdfff;
    const ySurrogate = y >= 0xd800 && y <= 0xdfff;
    if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

export function encodeTree(tree: Tree): Buffer {
  const nodes = [...tree.nodes].sort((a, b) => compareNames(a.name, b.name));
  for (let i = 1; i < nodes.length; i++) {
    if (nodes[i - 1]!.name === nodes[i]!.name) throw new RangeError(`duplicate name in tree: ${nodes[i]!.name}`);
  }
  return Buffer.from(JSON.stringify({ version: TREE_VERSION, nodes: nodes.map(nodeToJson) }), 'utf8');
}

function nodeToJson(node: TreeNode): Record<string, unknown> {
  const json: Record<string, unknown> = {
    name: node.name,
    type: node.type,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    size: node.size,
    mtime: node.mtimeNs.toString(),
    atime: node.atimeNs.toString(),
    ctime: node.ctimeNs.toString(),
    fileId: node.fileId,
    links: node.links,
  };
  if (node.xattrs && node.xattrs.length > 0) {
    json.xattrs = [...node.xattrs]
      .sort((a, b) => compareNames(a.name, b.name))
      .map((x) => ({ name: x.name, value: Buffer.from(x.value).toString('base64') }));
  }
  if (node.content !== undefined) json.content = node.content;
  if (node.subtree !== undefined) json.subtree = node.subtree;
  if (node.target !== undefined) json.target = node.target;
  if (node.rdev !== undefined) json.rdev = node.rdev;
  return json;
}

/**
 * Whether two node lists hold the same entries in the same order, field by field as
 * nodeToJson writes them (no xattrs and an empty list are the same): a tree of `a` stores
 * what a tree of `b` stores. Cheaper than encoding; a field added to TreeNode must be
 * compared here too (test/unit/format.test.ts changes each field of a full node).
 */
export function sameNodes(a: readonly TreeNode[], b: readonly TreeNode[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameNode(a[i]!, b[i]!)) return false;
  return true;
}

function sameNode(a: TreeNode, b: TreeNode): boolean {
  return a.name === b.name && a.type === b.type && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.size === b.size
    && a.mtimeNs === b.mtimeNs && a.atimeNs === b.atimeNs && a.ctimeNs === b.ctimeNs && a.fileId === b.fileId && a.links === b.links
    && a.subtree === b.subtree && a.target === b.target && a.rdev === b.rdev
    && sameList(a.content, b.content, (x, y) => x === y)
    && sameList(a.xattrs?.length ? a.xattrs : undefined, b.xattrs?.length ? b.xattrs : undefined, (x, y) => x.name === y.name && Buffer.compare(x.value, y.value) === 0);
}

function sameList<T>(a: readonly T[] | undefined, b: readonly T[] | undefined, same: (x: T, y: T) => boolean): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!same(a[i]!, b[i]!)) return false;
  return true;
}

export function decodeTree(bytes: Uint8Array): Tree {
  const root = parseVersionedJson(bytes, 'tree', TREE_VERSIONS);
  const version = root.version as 1 | 2;
  if (!Array.isArray(root.nodes)) throw new DecodeError('tree has no node list');
  const nodes = root.nodes.map((n) => nodeFromJson(n, version));
  for (let i = 1; i < nodes.length; i++) {
    if (compareNames(nodes[i - 1]!.name, nodes[i]!.name) >= 0) throw new DecodeError('tree entries are not sorted and unique');
  }
  return { version, nodes };
}

const HEX_ID = /^[0-9a-f]{64}$/;
const NANOS = /^-?[0-9]{1,20}$/;

// Field readers at module level, not closures per node: a million nodes made four million
// closures for the collector (docs/BENCHMARKS.md "Session 15").
type Json = Record<string, unknown>;

function strField(j: Json, k: string): string {
  const v = j[k];
  if (typeof v !== 'string') throw new DecodeError(`tree node field ${k} must be a string`);
  return v;
}

function intField(j: Json, k: string): number {
  const v = j[k];
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new DecodeError(`tree node field ${k} must be a non-negative integer`);
  return v as number;
}

function nanosField(j: Json, k: string): bigint {
  const s = strField(j, k);
  if (!NANOS.test(s)) throw new DecodeError(`tree node field ${k} must be nanoseconds`);
  return BigInt(s);
}

function hexId(s: unknown): string {
  if (typeof s !== 'string' || !HEX_ID.test(s)) throw new DecodeError('tree node holds a malformed blob id');
  return s;
}

function nodeFromJson(value: unknown, version: 1 | 2): TreeNode {
  if (typeof value !== 'object' || value === null) throw new DecodeError('tree node is not an object');
  const j = value as Json;
  const name = strField(j, 'name');
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new DecodeError(`tree node name ${JSON.stringify(name)} is not a file name`);
  }
  const type = strField(j, 'type') as NodeType;
  if (!NODE_TYPES.includes(type)) throw new DecodeError(`unknown node type ${type}`);
  const node: { -readonly [K in keyof TreeNode]: TreeNode[K] } = {
    name,
    type,
    mode: intField(j, 'mode'),
    uid: intField(j, 'uid'),
    gid: intField(j, 'gid'),
    size: intField(j, 'size'),
    mtimeNs: nanosField(j, 'mtime'),
    atimeNs: nanosField(j, 'atime'),
    ctimeNs: nanosField(j, 'ctime'),
    fileId: intField(j, version === 1 ? 'inode' : 'fileId'),
    links: intField(j, 'links'),
  };
  if (j.xattrs !== undefined) {
    if (!Array.isArray(j.xattrs)) throw new DecodeError('xattrs must be a list');
    node.xattrs = j.xattrs.map((x: { name?: unknown; value?: unknown }) => {
      if (typeof x?.name !== 'string' || typeof x.value !== 'string') throw new DecodeError('malformed xattr');
      return { name: x.name, value: new Uint8Array(Buffer.from(x.value, 'base64')) };
    });
  }
  if (type === 'file') {
    if (!Array.isArray(j.content)) throw new DecodeError('file node has no content list');
    for (const id of j.content) hexId(id);
    node.content = j.content as string[];
  }
  if (type === 'dir') node.subtree = hexId(j.subtree);
  if (type === 'symlink') node.target = strField(j, 'target');
  if (type === 'chardev' || type === 'blockdev') node.rdev = intField(j, 'rdev');
  return node;
}
