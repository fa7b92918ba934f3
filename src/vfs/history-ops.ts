/**
 * The operations on `/.snapshots/...`: the read-only history view (src/timetravel/view.ts)
 * answered as a filesystem: attributes, listings, links, reads and xattrs of stored tree
 * nodes, with the same permission rules as the live tree. Every change is EROFS (the
 * Filesystem refuses those before they get here).
 */
import type { ContentReader } from '../repository/file-content.js';
import { SNAPSHOTS_DIR } from '../timetravel/names.js';
import { NotADirectory, NotFound, type SnapshotView, type ViewNode } from '../timetravel/view.js';
import { fail, FsError } from './errors.js';
import { type Caller, isRoot, listedXattrs, mayAccess, type Owned, R, W, X, xattrAccess } from './permissions.js';
import { type Listing, S_IFMT, type Stat, TYPE_BITS } from './stat.js';

const VIEW_PREFIX = `/${SNAPSHOTS_DIR}`;

/** The parts of `path` below /.snapshots, or null for a live path. */
export function historyParts(path: string): string[] | null {
  if (path !== VIEW_PREFIX && !path.startsWith(`${VIEW_PREFIX}/`)) return null;
  return path.slice(VIEW_PREFIX.length).split('/').filter((p) => p !== '');
}

export const isHistoryPath = (path: string): boolean => historyParts(path) !== null;

/** Changes under .snapshots are refused: history is read-only. */
export function refuseHistory(...places: (string | object)[]): void {
  for (const at of places) if (typeof at === 'string' && isHistoryPath(at)) fail('EROFS', at);
}

/** Owner and mode of a node of the history view, for permission checks. */
function ownedBy(node: ViewNode): Owned {
  switch (node.kind) {
    case 'top':
    case 'latest':
      return { uid: 0, gid: 0, mode: 0o555, type: 'dir' };
    case 'snapshot': {
      const root = node.stored.snapshot.root;
      return { uid: root?.uid ?? 0, gid: root?.gid ?? 0, mode: root?.mode ?? 0o755, type: 'dir' };
    }
    case 'entry':
      return node.node;
  }
}

interface HistoryHandle {
  readonly stat: Stat;
  /** Files only. */
  readonly reader?: ContentReader;
}

/** The live root's owner and times, which the view's own folder shows (and `latest` its owner). */
export interface LiveRoot {
  readonly uid: number;
  readonly gid: number;
  readonly mtimeNs: bigint;
}

export class HistoryOps {
  private readonly handles = new Map<number, HistoryHandle>();

  constructor(
    private readonly view: SnapshotView,
    private readonly liveRoot: () => LiveRoot,
    /** Handle numbers come from the Filesystem, shared with the live tree's. */
    private readonly newHandle: () => number,
  ) {}

  owns(fh: number): boolean {
    return this.handles.has(fh);
  }

  /** A node of the view; the caller needs search permission on every folder on the way, as in the live tree. */
  private async node(parts: string[], caller: Caller): Promise<ViewNode> {
    const search = isRoot(caller) ? undefined : (folder: ViewNode) => {
      if (!mayAccess(caller, ownedBy(folder), X)) throw new FsError('EACCES');
    };
    try {
      return await this.view.resolve(parts, search);
    } catch (e) {
      if (e instanceof NotFound) throw new FsError('ENOENT');
      if (e instanceof NotADirectory) throw new FsError('ENOTDIR');
      throw e;
    }
  }

  async getattr(parts: string[], caller: Caller): Promise<Stat> {
    return this.stat(await this.node(parts, caller));
  }

  async access(parts: string[], mode: number, caller: Caller): Promise<void> {
    const node = await this.node(parts, caller);
    if ((mode & W) !== 0) fail('EROFS');
    if (mode !== 0 && !mayAccess(caller, ownedBy(node), mode & 7)) fail('EACCES');
  }

  async readdir(parts: string[], caller: Caller): Promise<Listing> {
    const node = await this.node(parts, caller);
    if (!mayAccess(caller, ownedBy(node), R)) fail('EACCES');
    let entries;
    try {
      entries = await this.view.list(node);
    } catch (e) {
      if (e instanceof NotADirectory) throw new FsError('ENOTDIR');
      throw e;
    }
    return { names: entries.map((e) => e.name), stats: entries.map((e) => this.stat(e.node)) };
  }

  async readlink(parts: string[], caller: Caller): Promise<string> {
    const node = await this.node(parts, caller);
    if (node.kind === 'latest') return node.target;
    if (node.kind === 'entry' && node.node.type === 'symlink') return node.node.target ?? '';
    return fail('EINVAL');
  }

  async open(parts: string[], caller: Caller): Promise<number> {
    const node = await this.node(parts, caller);
    if (!mayAccess(caller, ownedBy(node), R)) fail('EACCES');
    const isFile = node.kind === 'entry' && node.node.type === 'file';
    const fh = this.newHandle();
    this.handles.set(fh, { stat: this.stat(node), ...(isFile ? { reader: this.view.reader(node) } : {}) });
    return fh;
  }

  fgetattr(fh: number): Stat {
    return this.handles.get(fh)!.stat;
  }

  async read(fh: number, offset: number, length: number): Promise<Buffer> {
    const handle = this.handles.get(fh)!;
    if (!handle.reader) fail((handle.stat.mode & S_IFMT) === TYPE_BITS.dir ? 'EISDIR' : 'EINVAL');
    return handle.reader!.read(offset, length);
  }

  release(fh: number): void {
    this.handles.delete(fh);
  }

  async getxattr(parts: string[], name: string, caller: Caller): Promise<Buffer> {
    const node = await this.node(parts, caller);
    const allowed = xattrAccess(caller, ownedBy(node), name, false);
    if (allowed !== 'ok') fail(allowed, name);
    const value = HistoryOps.xattrsOf(node).find((x) => x.name === name)?.value;
    return value === undefined ? fail('ENODATA', name) : Buffer.from(value);
  }

  async listxattr(parts: string[], caller: Caller): Promise<string[]> {
    return listedXattrs(caller, HistoryOps.xattrsOf(await this.node(parts, caller)).map((x) => x.name));
  }

  /** The entry `.snapshots` in the root folder's listing (with --snapshots visible). */
  async topStat(caller: Caller): Promise<Stat> {
    return this.getattr([], caller);
  }

  private static xattrsOf(node: ViewNode) {
    return (node.kind === 'entry' ? node.node.xattrs : node.kind === 'snapshot' ? node.stored.snapshot.root?.xattrs : undefined) ?? [];
  }

  private stat(node: ViewNode): Stat {
    const root = this.liveRoot();
    const base = { rdev: 0, blksize: 4096, ino: this.view.inoOf(node) };
    switch (node.kind) {
      case 'top':
      case 'latest': {
        // `latest` carries the newest snapshot's time (ls -l shows when the last backup was).
        const isTop = node.kind === 'top';
        const t = node.kind === 'latest' ? node.timeNs : root.mtimeNs;
        const size = isTop ? 4096 : Buffer.byteLength(node.target);
        return { ...base, mode: isTop ? TYPE_BITS.dir | 0o555 : TYPE_BITS.symlink | 0o777, nlink: isTop ? 2 : 1, uid: root.uid, gid: root.gid, size, blocks: Math.ceil(size / 512), atimeNs: t, mtimeNs: t, ctimeNs: t };
      }
      case 'snapshot': {
        const s = node.stored.snapshot;
        const owner = ownedBy(node);
        // The folder of a backup point carries that point's time, so file managers sort by it.
        return { ...base, mode: TYPE_BITS.dir | owner.mode, nlink: 1, uid: s.root ? owner.uid : root.uid, gid: s.root ? owner.gid : root.gid, size: 4096, blocks: 8, atimeNs: s.timeNs, mtimeNs: s.timeNs, ctimeNs: s.timeNs };
      }
      case 'entry': {
        const n = node.node;
        const size = n.type === 'dir' ? 4096 : n.size;
        return {
          ...base, mode: TYPE_BITS[n.type] | n.mode, nlink: n.links,
          uid: n.uid, gid: n.gid, rdev: n.rdev ?? 0, size, blocks: Math.ceil(size / 512), atimeNs: n.atimeNs, mtimeNs: n.mtimeNs, ctimeNs: n.ctimeNs,
        };
      }
    }
  }
}
