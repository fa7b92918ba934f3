/**
 * The local-folder store: the default, and what a mounted NAS share looks like.
 * Atomic, durable puts: write a temporary file, fsync it, rename, fsync the folder.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CairnError } from '../errors/errors.js';
import { writeFileDurably } from './durable-file.js';
import { type Backend, type ByteRange, type ObjectKind, type ObjectRef, isObjectName, objectPath, storeFolders } from './backend.js';

/** Pack files kept open for ranged reads: the kernel's readahead lives with the open file. */
const OPEN_READERS = 32;

export class LocalBackend implements Backend {
  readonly location: string;
  private readonly root: string;
  /** Open read handles, least recently used first. Objects never change once written. */
  private readonly readers = new Map<string, Promise<fs.FileHandle>>();

  constructor(root: string) {
    this.root = path.resolve(root);
    this.location = this.root;
  }

  async create(): Promise<void> {
    try {
      const entries = await fs.readdir(this.root);
      if (entries.length > 0) {
        throw new CairnError('EXISTS', `${this.root} is not empty`, {
          hint: 'choose an empty or new folder for a new repository',
        });
      }
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw this.translate(e, this.root);
    }
    try {
      await fs.mkdir(this.root, { recursive: true });
      for (const folder of storeFolders()) await fs.mkdir(path.join(this.root, folder), { recursive: true });
    } catch (e) {
      throw this.translate(e, this.root);
    }
  }

  async put(ref: ObjectRef, data: Uint8Array): Promise<void> {
    const target = path.join(this.root, objectPath(ref));
    try {
      await writeFileDurably(target, data);
    } catch (e) {
      throw this.translate(e, target);
    }
  }

  async get(ref: ObjectRef, range?: ByteRange): Promise<Uint8Array> {
    const file = path.join(this.root, objectPath(ref));
    try {
      if (!range) return await fs.readFile(file);
      const handle = await this.reader(file);
      const out = Buffer.allocUnsafe(range.length);
      const { bytesRead } = await handle.read(out, 0, range.length, range.offset);
      if (bytesRead !== range.length) {
        throw new CairnError('CORRUPT', `${objectPath(ref)} is shorter than expected (wanted ${range.length} bytes at ${range.offset}, got ${bytesRead})`, {
          hint: 'the store lost data: run `cairn check --read-data STORE`',
        });
      }
      return out;
    } catch (e) {
      throw this.translate(e, file);
    }
  }

  private reader(file: string): Promise<fs.FileHandle> {
    let handle = this.readers.get(file);
    if (handle) {
      this.readers.delete(file); // most recently used goes last
    } else {
      handle = fs.open(file, 'r');
      handle.catch(() => this.readers.delete(file));
      if (this.readers.size >= OPEN_READERS) {
        const [oldest, old] = this.readers.entries().next().value as [string, Promise<fs.FileHandle>];
        this.readers.delete(oldest);
        // In-flight reads on it finish first: close after they had their turn.
        void old.then((h) => setTimeout(() => void h.close().catch(() => undefined), 1000)).catch(() => undefined);
      }
    }
    this.readers.set(file, handle);
    return handle;
  }

  private dropReader(file: string): void {
    const handle = this.readers.get(file);
    this.readers.delete(file);
    void handle?.then((h) => h.close()).catch(() => undefined);
  }

  async size(ref: ObjectRef): Promise<number | null> {
    try {
      return (await fs.stat(path.join(this.root, objectPath(ref)))).size;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return null;
      throw this.translate(e, objectPath(ref));
    }
  }

  async list(kind: Exclude<ObjectKind, 'config'>): Promise<string[]> {
    const base = path.join(this.root, kind);
    try {
      // A folder may be missing (git and some copy tools drop empty folders): it holds nothing.
      if ((await fs.stat(base).catch(() => null)) === null && (await fs.stat(this.root).catch(() => null)) !== null) return [];
      if (kind !== 'data') return (await fs.readdir(base)).filter(isObjectName);
      const names: string[] = [];
      for (const sub of await fs.readdir(base)) {
        names.push(...(await fs.readdir(path.join(base, sub))).filter(isObjectName));
      }
      return names;
    } catch (e) {
      throw this.translate(e, base);
    }
  }

  async delete(ref: ObjectRef): Promise<void> {
    try {
      this.dropReader(path.join(this.root, objectPath(ref)));
      await fs.rm(path.join(this.root, objectPath(ref)), { force: true });
    } catch (e) {
      throw this.translate(e, objectPath(ref));
    }
  }

  async close(): Promise<void> {
    const handles = [...this.readers.values()];
    this.readers.clear();
    await Promise.all(handles.map((h) => h.then((x) => x.close()).catch(() => undefined)));
  }

  private translate(e: unknown, where: string): unknown {
    if (e instanceof CairnError) return e;
    switch (errnoOf(e)) {
      case 'ENOENT':
        return new CairnError('NOT_FOUND', `${where} does not exist`, { cause: e });
      case 'ENOSPC':
      case 'EDQUOT':
        return new CairnError('NO_SPACE', `the store at ${this.root} is full (writing ${where})`, {
          hint: 'free space on the store, then retry; nothing already stored was changed',
          cause: e,
        });
      case 'EACCES':
      case 'EPERM':
      case 'EROFS':
        return new CairnError('UNREACHABLE', `no permission for ${where}`, { hint: 'check the store folder\'s owner and mode', cause: e });
      default:
        return new CairnError('UNREACHABLE', `the store at ${this.root} failed: ${(e as Error).message}`, { cause: e });
    }
  }
}


function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}
