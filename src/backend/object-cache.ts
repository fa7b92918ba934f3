/**
 * A decorator that keeps objects and pack ranges read from (or written to) a remote store on
 * local disk, still encrypted (exactly the store's bytes), least recently used going first,
 * so a second read does not touch the network. Its budget is shared with the upload queue
 * (upload-queue.ts): cached objects make room for queued ones, never the other way round.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CairnError } from '../errors/errors.js';
import { type Backend, type ByteRange, type ObjectKind, type ObjectRef, objectPath } from './backend.js';
import { TEMP_SUFFIX } from './durable-file.js';

/** Local disk shared by the object cache and the upload queue. */
export class CacheBudget {
  cachedBytes = 0;
  queuedBytes = 0;
  /** Set by the object cache: drops cached objects until cache and queue fit the limit. */
  evict: () => Promise<void> = async () => undefined;

  constructor(readonly limitBytes: number) {}
}

/** Never cached on read: they only mean something on the store, now. */
const NOT_CACHED: ReadonlySet<ObjectKind> = new Set(['locks', 'config']);
/** Not kept when written: small, rare, and read back from the store when needed. */
const NOT_KEPT_ON_PUT: ReadonlySet<ObjectKind> = new Set(['locks', 'keys', 'config']);

export class ObjectCache implements Backend {
  readonly location: string;
  readonly remote: boolean | undefined;
  /** Cached files by path relative to dir, least recently used first, with sizes. */
  private readonly lru = new Map<string, number>();

  private constructor(
    private readonly inner: Backend,
    private readonly dir: string,
    private readonly budget: CacheBudget,
  ) {
    this.location = inner.location;
    this.remote = inner.remote;
    budget.evict = () => this.evict();
  }

  /** Opens (or creates) the cache folder and indexes what it holds, oldest use first. */
  static async open(inner: Backend, dir: string, budget: CacheBudget): Promise<ObjectCache> {
    const cache = new ObjectCache(inner, dir, budget);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const found: { rel: string; size: number; mtime: number }[] = [];
    const walk = async (folder: string, rel: string): Promise<void> => {
      for (const entry of await fs.readdir(folder, { withFileTypes: true })) {
        const full = path.join(folder, entry.name);
        const relative = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isDirectory()) await walk(full, relative);
        else if (entry.name.endsWith(TEMP_SUFFIX)) await fs.rm(full, { force: true });
        else {
          const st = await fs.stat(full);
          found.push({ rel: relative, size: st.size, mtime: st.mtimeMs });
        }
      }
    };
    await walk(dir, '');
    for (const f of found.sort((a, b) => a.mtime - b.mtime)) {
      cache.lru.set(f.rel, f.size);
      budget.cachedBytes += f.size;
    }
    return cache;
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  async put(ref: ObjectRef, data: Uint8Array): Promise<void> {
    await this.inner.put(ref, data);
    // Just written: likely read again soon (a pack by the next commit's reads, say).
    if (!NOT_KEPT_ON_PUT.has(ref.kind)) await this.remember(objectPath(ref), data);
  }

  async get(ref: ObjectRef, range?: ByteRange): Promise<Uint8Array> {
    const whole = objectPath(ref);
    const cached = (await this.fromCache(whole, range)) ?? (range ? await this.fromCache(rangePath(ref, range)) : null);
    if (cached) return cached;
    const data = await this.inner.get(ref, range);
    // Whole packs are fetched only by check --read-data and prune: not worth the space.
    if (!NOT_CACHED.has(ref.kind) && !(ref.kind === 'data' && !range)) await this.remember(range ? rangePath(ref, range) : whole, data);
    return data;
  }

  size(ref: ObjectRef): Promise<number | null> {
    return this.inner.size(ref);
  }

  list(kind: Exclude<ObjectKind, 'config'>): Promise<string[]> {
    return this.inner.list(kind);
  }

  async delete(ref: ObjectRef): Promise<void> {
    const whole = objectPath(ref);
    await this.forget(whole);
    if (ref.kind === 'data') {
      for (const rel of [...this.lru.keys()]) if (rel.startsWith(`${whole}.`)) await this.forget(rel);
    }
    await this.inner.delete(ref);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async fromCache(rel: string, range?: ByteRange): Promise<Uint8Array | null> {
    const size = this.lru.get(rel);
    if (size === undefined) return null;
    try {
      const file = path.join(this.dir, rel);
      const data = await readFileRange(file, range, rel);
      this.lru.delete(rel);
      this.lru.set(rel, size);
      // The next start rebuilds the order from file times: mark the use (best effort).
      const now = new Date();
      void fs.utimes(file, now, now).catch(() => undefined);
      return data;
    } catch {
      await this.forget(rel); // a cache file that went missing or short: fetch again
      return null;
    }
  }

  private async remember(rel: string, data: Uint8Array): Promise<void> {
    if (this.lru.has(rel) || data.length > this.budget.limitBytes / 4) return;
    const file = path.join(this.dir, rel);
    const temp = `${file}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`; // a cache: no fsync needed
    try {
      await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      await fs.writeFile(temp, data, { mode: 0o600 });
      await fs.rename(temp, file);
    } catch {
      // A full or failing local disk must not fail a read or write the store answered.
      await fs.rm(temp, { force: true }).catch(() => undefined);
      return;
    }
    this.lru.set(rel, data.length);
    this.budget.cachedBytes += data.length;
    await this.evict();
  }

  private async forget(rel: string): Promise<void> {
    const size = this.lru.get(rel);
    if (size === undefined) return;
    this.lru.delete(rel);
    this.budget.cachedBytes -= size;
    await fs.rm(path.join(this.dir, rel), { force: true });
  }

  /** Drops least recently used objects until cache and queue fit the budget. */
  private async evict(): Promise<void> {
    while (this.budget.cachedBytes + this.budget.queuedBytes > this.budget.limitBytes && this.lru.size > 0) {
      const [oldest] = this.lru.keys();
      await this.forget(oldest!);
    }
  }
}

function rangePath(ref: ObjectRef, range: ByteRange): string {
  return `${objectPath(ref)}.${range.offset}.${range.length}`;
}

/** A whole file, or `range` of it (CORRUPT when the file is shorter). */
export async function readFileRange(file: string, range: ByteRange | undefined, what: string): Promise<Uint8Array> {
  if (!range) return fs.readFile(file);
  const handle = await fs.open(file, 'r');
  try {
    const out = Buffer.allocUnsafe(range.length);
    const { bytesRead } = await handle.read(out, 0, range.length, range.offset);
    if (bytesRead !== range.length) throw new CairnError('CORRUPT', `${what} is shorter than expected`);
    return out;
  } finally {
    await handle.close();
  }
}
