/**
 * Verify: compare a snapshot (or paths of it) with a local folder and name every difference:
 * missing, extra, type, content, mode, owner, mtime, link target, device, xattrs, hard links.
 * Content is compared without reading the store by chunking the local file with the
 * repository's chunker and comparing chunk ids (the chunker and the ids are deterministic
 * under the key); with `readData` the stored chunks are decrypted and compared byte by byte,
 * which also proves the store still holds them.
 */
import { createReadStream, promises as fs, type BigIntStats } from 'node:fs';
import * as path from 'node:path';
import { CairnError } from '../errors/errors.js';
import type { Snapshot } from '../format/snapshot.js';
import { isoTimeNs } from '../format/time.js';
import type { TreeNode } from '../format/tree.js';
import { sameXattrs } from '../repository/inspect.js';
import type { Repository } from '../repository/repository.js';
import { joinPath, resolvePath, rootNode, type WalkEntry } from '../repository/tree-walk.js';
import { localXattrs, nodeTypeOf } from '../localfs/metadata.js';

export type DifferenceKind = 'missing' | 'extra' | 'type' | 'content' | 'mode' | 'owner' | 'mtime' | 'target' | 'device' | 'xattrs' | 'hardlink';

export interface Difference {
  readonly path: string;
  readonly kind: DifferenceKind;
  /** The snapshot's value and the local one, where a value says more than the kind. */
  readonly snapshot?: string;
  readonly local?: string;
}

export interface VerifyOptions {
  readonly paths?: readonly string[];
  readonly readData?: boolean;
  readonly onDifference?: (d: Difference) => void;
  readonly onProgress?: (p: { entries: number; bytes: number }) => void;
}

export interface VerifyResult {
  /** Entries of the snapshot compared with the folder (extra local entries not included). */
  readonly compared: number;
  readonly differences: number;
  readonly bytesRead: number;
}

const octal = (mode: number) => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

export async function verifySnapshot(repo: Repository, snapshot: Snapshot, dir: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  let compared = 0;
  let differences = 0;
  let bytesRead = 0;
  const differ = (d: Difference) => {
    differences++;
    options.onDifference?.(d);
  };
  const progress = () => options.onProgress?.({ entries: compared, bytes: bytesRead });
  /** Local (dev, ino) of the first name of each hard-linked file id. */
  const linkTargets = new Map<number, string>();

  const compareEntry = async ({ path: p, node }: WalkEntry, local: BigIntStats) => {
    compared++;
    const full = path.join(dir, p);
    const type = nodeTypeOf(local);
    if (type !== node.type) return differ({ path: p, kind: 'type', snapshot: node.type, local: type });
    if (node.type !== 'symlink' && (node.mode & 0o7777) !== Number(local.mode & 0o7777n)) differ({ path: p, kind: 'mode', snapshot: octal(node.mode), local: octal(Number(local.mode)) });
    if (node.uid !== Number(local.uid) || node.gid !== Number(local.gid)) differ({ path: p, kind: 'owner', snapshot: `${node.uid}:${node.gid}`, local: `${local.uid}:${local.gid}` });
    if (node.mtimeNs !== local.mtimeNs) differ({ path: p, kind: 'mtime', snapshot: isoTimeNs(node.mtimeNs), local: isoTimeNs(local.mtimeNs) });
    if (node.type === 'symlink') {
      const target = await fs.readlink(full);
      if (target !== node.target) differ({ path: p, kind: 'target', snapshot: node.target, local: target });
    }
    if ((node.type === 'chardev' || node.type === 'blockdev') && (node.rdev ?? 0) !== Number(local.rdev)) differ({ path: p, kind: 'device', snapshot: String(node.rdev ?? 0), local: String(local.rdev) });
    if (!sameXattrs(node.xattrs ?? [], localXattrs(full))) differ({ path: p, kind: 'xattrs' });
    if (node.type !== 'file') return;
    if (node.links > 1) {
      const id = `${local.dev}:${local.ino}`;
      const first = linkTargets.get(node.fileId);
      if (first === undefined) linkTargets.set(node.fileId, id);
      else if (first !== id) differ({ path: p, kind: 'hardlink', snapshot: 'a hard link of an earlier name', local: 'a separate file' });
      if (first !== undefined) return; // the content was compared at the first name
    }
    if (BigInt(node.size) !== local.size) return differ({ path: p, kind: 'content', snapshot: `${node.size} bytes`, local: `${local.size} bytes` });
    const same = options.readData ? await sameBytes(repo, node, full, (n) => (bytesRead += n)) : await sameChunks(repo, node, full, (n) => (bytesRead += n));
    if (!same) differ({ path: p, kind: 'content' });
  };

  const compareFolder = async (entry: WalkEntry): Promise<void> => {
    const tree = await repo.loadTree(entry.node.subtree!);
    const full = path.join(dir, entry.path);
    const localNames = new Set(await fs.readdir(full));
    for (const node of tree.nodes) {
      const child = { path: joinPath(entry.path, node.name), node };
      if (!localNames.delete(node.name)) {
        compared++;
        differ({ path: child.path, kind: 'missing' });
        continue;
      }
      const local = await fs.lstat(path.join(dir, child.path), { bigint: true });
      await compareEntry(child, local);
      progress();
      if (node.type === 'dir' && local.isDirectory()) await compareFolder(child);
    }
    for (const extra of [...localNames].sort()) differ({ path: joinPath(entry.path, extra), kind: 'extra' });
  };

  const starts = (options.paths ?? []).length === 0 ? [{ path: '', node: rootNode(snapshot) }] : await Promise.all(options.paths!.map((p) => resolvePath(repo, snapshot, p)));
  const top = await fs.lstat(dir).catch(() => null);
  if (!top?.isDirectory()) throw new CairnError('USAGE', `${dir} is not a folder`);
  for (const start of starts) {
    if (start.path === '') {
      await compareFolder(start);
      continue;
    }
    const local = await fs.lstat(path.join(dir, start.path), { bigint: true }).catch(() => null);
    if (!local) {
      compared++;
      differ({ path: start.path, kind: 'missing' });
      continue;
    }
    await compareEntry(start, local);
    if (start.node.type === 'dir' && local.isDirectory()) await compareFolder(start);
  }
  return { compared, differences, bytesRead };
}

async function* localPieces(full: string): AsyncGenerator<Buffer> {
  for await (const piece of createReadStream(full, { highWaterMark: 1024 * 1024 })) yield piece as Buffer;
}

/** Chunks the local file as a backup would and compares the chunk ids with the snapshot's. */
async function sameChunks(repo: Repository, node: TreeNode, full: string, read: (n: number) => void): Promise<boolean> {
  const expected = node.content ?? [];
  const chunker = repo.newChunker();
  let i = 0;
  const matches = (chunks: Buffer[]) => chunks.every((c) => repo.blobId(c) === expected[i++]);
  for await (const piece of localPieces(full)) {
    read(piece.length);
    if (!matches(chunker.push(piece))) return false;
  }
  return matches(chunker.finish()) && i === expected.length;
}

/** Decrypts every stored chunk and compares it with the local bytes. */
async function sameBytes(repo: Repository, node: TreeNode, full: string, read: (n: number) => void): Promise<boolean> {
  const handle = await fs.open(full, 'r');
  try {
    let offset = 0;
    for (const id of node.content ?? []) {
      const stored = await repo.loadBlob('data', id);
      const local = Buffer.alloc(stored.length);
      const { bytesRead } = await handle.read(local, 0, stored.length, offset);
      read(stored.length);
      if (bytesRead !== stored.length || !local.equals(stored)) return false;
      offset += stored.length;
    }
    return true;
  } finally {
    await handle.close();
  }
}
