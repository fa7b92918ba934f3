/**
 * The backup's source reader, on real worker threads (the compiled worker from dist/, which
 * `npm test` builds first) and on the calling thread: both must seal files identically, keep
 * each file's batches in order, hold back a big file while its batches are not taken, and
 * hand on every error. Folders are listed on the calling thread (scan-folder.ts).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gearTableFrom } from '../../src/chunker/fastcdc.js';
import { openBlob } from '../../src/format/sealed.js';
import { lsetxattr } from '../../src/fuse/native-files.js';
import { listingsPending, warmListings, warmMetadata } from '../../src/localfs/warm-metadata.js';
import { scanFolder } from '../../src/repository/scan-folder.js';
import type { SealingKeys } from '../../src/repository/seal-file.js';
import { MAX_OUTSTANDING, type SealedChunk, SourceReader } from '../../src/repository/source-reader.js';
import { tempDir } from '../helpers/store.js';

const WORKER = path.resolve('dist/src/repository/source-reader-worker.js');
const keys: SealingKeys = { encryption: randomBytes(32), blobId: randomBytes(32), gear: gearTableFrom(randomBytes(1024)) };

async function sealAll(reader: SourceReader, file: string, onBatch?: (chunks: SealedChunk[]) => Promise<void>, stored: string[] = []) {
  const chunks: SealedChunk[] = [];
  const size = await reader.sealFile(file, stored, async (batch) => {
    await onBatch?.(batch);
    chunks.push(...batch);
  });
  return { size, chunks };
}

function plaintextOf(chunks: SealedChunk[]): Buffer {
  return Buffer.concat(chunks.map((c) => openBlob(keys.encryption, 'data', Buffer.from(c.id, 'hex'), c.sealed, c.id)));
}

describe('the source reader', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let big: Buffer;

  beforeAll(async () => {
    expect(existsSync(WORKER), `${WORKER} is missing: run npm run build first`).toBe(true);
    ({ dir, cleanup } = await tempDir());
    big = randomBytes(30 * 1024 * 1024);
    await fs.writeFile(path.join(dir, 'big'), big);
    await fs.writeFile(path.join(dir, 'small'), 'hello');
    await fs.writeFile(path.join(dir, 'empty'), '');
    await fs.symlink('small', path.join(dir, 'link'));
    await fs.mkdir(path.join(dir, 'sub'));
    lsetxattr(path.join(dir, 'small'), 'user.note', Buffer.from('kept'));
  });
  afterAll(() => cleanup());

  for (const threads of [2, 0]) {
    const mode = threads ? 'on worker threads' : 'on the calling thread';

    it(`seals files ${mode}: every chunk opens, in order, to the file's bytes`, async () => {
      const reader = new SourceReader(keys, threads, WORKER);
      try {
        const results = await Promise.all(['big', 'small', 'empty'].map((n) => sealAll(reader, path.join(dir, n))));
        expect(reader.threadsStarted).toBe(threads);
        expect(results.map((r) => r.size)).toEqual([big.length, 5, 0]);
        expect(plaintextOf(results[0]!.chunks).equals(big)).toBe(true);
        expect(results[0]!.chunks.length).toBeGreaterThan(4);
        expect(plaintextOf(results[1]!.chunks).toString()).toBe('hello');
        expect(results[2]!.chunks).toEqual([]);
      } finally {
        await reader.close();
      }
    });

    it(`started before the keys are known (warmUp, then unlock) seals the same chunks ${mode}`, async () => {
      const early = new SourceReader(null, threads, WORKER);
      const keyed = new SourceReader(keys, threads, WORKER);
      try {
        early.warmUp(dir); // reading dir's metadata ahead until unlock
        expect(early.threadsStarted).toBe(threads); // all loading before any task
        await expect(early.sealFile(path.join(dir, 'small'), [], async () => undefined)).rejects.toThrow(/unlock/);
        early.unlock(keys);
        const [a, b] = await Promise.all([sealAll(early, path.join(dir, 'big')), sealAll(keyed, path.join(dir, 'big'))]);
        expect(a.chunks.map((c) => c.id)).toEqual(b.chunks.map((c) => c.id));
        expect(plaintextOf(a.chunks).equals(big)).toBe(true);
      } finally {
        await Promise.all([early.close(), keyed.close()]);
      }
    });

    it(`does not seal again the chunks it is told are stored ${mode}: a file changed in one place`, async () => {
      const reader = new SourceReader(keys, threads, WORKER);
      const changed = path.join(dir, 'sub', `changed-${threads}`);
      try {
        await fs.writeFile(changed, big);
        const before = await sealAll(reader, changed);
        await fs.appendFile(changed, 'one more line\n');
        const after = await sealAll(reader, changed, undefined, before.chunks.map((c) => c.id));
        const kept = after.chunks.filter((c) => before.chunks.some((b) => b.id === c.id));
        expect(kept.length).toBe(before.chunks.length - 1); // only the last chunk changed
        expect(kept.every((c) => c.sealed.length === 0)).toBe(true);
        const fresh = after.chunks.filter((c) => c.sealed.length > 0);
        expect(fresh).toHaveLength(1);
        expect(plaintextOf(fresh).toString().endsWith('one more line\n')).toBe(true);
        expect(after.size).toBe(big.length + 14);
      } finally {
        await reader.close();
      }
    });

    it(`hands on the file system's errors and the handler's own ${mode}, then goes on`, async () => {
      const reader = new SourceReader(keys, threads, WORKER);
      try {
        await expect(reader.sealFile(path.join(dir, 'missing'), [], async () => undefined)).rejects.toMatchObject({ code: 'ENOENT' });
        await expect(reader.sealFile(path.join(dir, 'sub'), [], async () => undefined)).rejects.toMatchObject({ code: 'EISDIR' });
        let batches = 0;
        await expect(reader.sealFile(path.join(dir, 'big'), [], async () => {
          batches++;
          throw new Error('the store is full');
        })).rejects.toThrow('the store is full');
        expect(batches).toBe(1); // later batches of the file are dropped, not handled
        expect((await sealAll(reader, path.join(dir, 'small'))).size).toBe(5);
      } finally {
        await reader.close();
      }
    });
  }

  it('lists a folder in tree order with xattrs and link targets, and skips xattrs of untouched entries', () => {
    const local = scanFolder(dir, new Map());
    expect(local.map((e) => e.name)).toEqual(['big', 'empty', 'link', 'small', 'sub']);
    const small = local.find((e) => e.name === 'small');
    expect(small && 'stat' in small && small.xattrs?.map((x) => [x.name, Buffer.from(x.value).toString()])).toEqual([['user.note', 'kept']]);
    const link = local.find((e) => e.name === 'link');
    expect(link && 'stat' in link && link.target).toBe('small');
    const { stat } = small as { stat: { type: 'file'; mtimeNs: bigint; ctimeNs: bigint } };
    const again = scanFolder(dir, new Map([['small', { type: 'file', mtimeNs: stat.mtimeNs, ctimeNs: stat.ctimeNs }]]));
    const smallAgain = again.find((e) => e.name === 'small');
    expect(smallAgain && 'stat' in smallAgain && smallAgain.xattrs).toBeUndefined();
    expect(() => scanFolder(path.join(dir, 'missing'), new Map())).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('reads a tree\'s metadata ahead in the walk\'s order, each entry once, until told to stop', async () => {
    const root = path.join(dir, 'warm');
    await fs.mkdir(path.join(root, 'b', 'c'), { recursive: true });
    await fs.mkdir(path.join(root, 'a'));
    for (const f of ['a/1', 'a/2', 'b/c/3', 'z']) await fs.writeFile(path.join(root, f), f);
    await fs.symlink('nowhere', path.join(root, 'dangling'));
    expect(warmMetadata(root, () => false)).toBe(8); // a, a/1, a/2, b, b/c, b/c/3, dangling, z
    expect(warmMetadata(path.join(dir, 'missing'), () => false)).toBe(0);
    let checks = 0;
    expect(warmMetadata(root, () => ++checks > 3)).toBe(2); // the first check is before the root is listed
    // Another file system inside (a network mount, say) is not entered: its mountpoint counts, its entries do not.
    const other = path.join(root, 'b', 'mounted');
    await fs.mkdir(other);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'none', other]).status).toBe(0);
    try {
      await fs.writeFile(path.join(other, 'inside'), 'x');
      await fs.mkdir(path.join(other, 'deeper'));
      expect(warmMetadata(root, () => false)).toBe(9);
    } finally {
      spawnSync('umount', [other]);
    }
    // Listings asked of libuv's threads, a few at a time: 10,000 at once wait their turn
    // rather than fill the threads' queue; a folder that is gone is no error for anyone.
    warmListings([path.join(dir, 'missing'), ...Array.from({ length: 10_000 }, () => root)]);
    expect(listingsPending()).toEqual({ running: 4, waiting: 10_001 - 4 });
    let most = 0;
    while (listingsPending().running > 0) {
      most = Math.max(most, listingsPending().running);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(most).toBeLessThanOrEqual(4);
    expect(listingsPending()).toEqual({ running: 0, waiting: 0 });
  });

  it('holds a big file back while its batches are not taken (at most a few batches ahead)', async () => {
    const reader = new SourceReader(keys, 1, WORKER);
    try {
      let mostWaiting = 0;
      let batches = 0;
      const result = await sealAll(reader, path.join(dir, 'big'), async () => {
        batches++;
        await new Promise((r) => setTimeout(r, 40));
        mostWaiting = Math.max(mostWaiting, reader.messagesWaiting);
      });
      expect(plaintextOf(result.chunks).equals(big)).toBe(true);
      // 30 MiB in batches of about 4 MiB: the worker ran ahead of the slow handler, but
      // never further than its credit.
      expect(batches).toBeGreaterThanOrEqual(6);
      expect(mostWaiting).toBeGreaterThan(1);
      expect(mostWaiting).toBeLessThanOrEqual(MAX_OUTSTANDING);
    } finally {
      await reader.close();
    }
  });
});
