/**
 * Files loaded from a snapshot's tree keep only their chunk ids until the chunks are used
 * (Inode.treeContent). Changes that depend on where those chunks end must look their sizes
 * up first, live and in replay: a truncate into them (else the next snapshot kept every old
 * chunk under the new, smaller size: a reader following docs/FORMAT.md would get the old
 * bytes), and a stream continuing them when the file is appended to (its `chunks` records
 * start at the stored end).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { MemoryBackend } from '../../src/backend/memory.js';
import { checkRepository } from '../../src/repository/check.js';
import { Repository } from '../../src/repository/repository.js';
import { LiveSession } from '../../src/vfs/session.js';
import { passphrase, tempDir } from '../helpers/store.js';

const MiB = 1024 * 1024;
const O_RDONLY = 0;
const O_WRONLY = 1;

describe('files loaded from their tree', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let backend: MemoryBackend;
  let session: LiveSession;
  let live = false;
  const close = async () => {
    live = false;
    await session.close();
  };
  /** A new session on the same state folder: after close(), a remount; without, what a killed process leaves. */
  const open = async () => {
    const repo = await Repository.open(backend, passphrase('tree'));
    live = true;
    session = (await LiveSession.open(repo, { stateDir: path.join(dir, 'state'), uid: 0, gid: 0, quietMs: 60_000, streamStepBytes: 64 * 1024, streamJournalBytes: 256 * 1024 })).session;
  };
  const write = async (file: string, offset: number, data: Buffer) => {
    const fh = await session.fs.open(file, O_WRONLY);
    for (let at = 0; at < data.length; at += 128 * 1024) {
      await session.fs.write(fh, offset + at, data.subarray(at, at + 128 * 1024));
      await new Promise((resolve) => setImmediate(resolve));
    }
    return fh;
  };
  const readBack = async (file: string) => {
    const fh = await session.fs.open(file, O_RDONLY);
    const bytes = await session.fs.read(fh, 0, Number((await session.fs.getattr(file)).size) + 10);
    session.fs.release(fh);
    return bytes;
  };
  /** What the newest snapshot stores for `/f`: its size and the bytes its chunks hold. */
  const stored = async () => {
    const repo = session.repo;
    const newest = (await repo.listSnapshots()).reduce((a, b) => (b.snapshot.timeNs > a.snapshot.timeNs ? b : a));
    const node = (await repo.loadTree(newest.snapshot.tree)).nodes.find((n) => n.name === 'f')!;
    return { size: node.size, chunkBytes: node.content!.reduce((sum, id) => sum + repo.blobPlainSize(id), 0) };
  };

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    backend = new MemoryBackend();
    await Repository.init(backend, passphrase('tree'));
    await open();
    session.fs.release(await session.fs.create('/f', 0o644));
  });
  afterEach(async () => {
    if (live) await close();
    await cleanup();
  });

  it('truncated into, unread, store exactly the bytes left, also after a replay', async () => {
    const data = randomBytes(3 * MiB);
    session.fs.release(await write('/f', 0, data));
    await close();
    await open(); // /f comes from its tree, chunks unread
    await session.fs.truncate('/f', 10);
    await close();
    expect(await stored()).toEqual({ size: 10, chunkBytes: 10 });
    await open();
    expect((await readBack('/f')).equals(data.subarray(0, 10))).toBe(true);

    const more = randomBytes(2 * MiB);
    session.fs.release(await write('/f', 10, more));
    await close();
    await open();
    await session.fs.truncate('/f', 5000);
    await open(); // killed: the truncate replays onto /f loaded from its tree
    expect((await readBack('/f')).equals(Buffer.concat([data.subarray(0, 10), more]).subarray(0, 5000))).toBe(true);
    await close();
    expect(await stored()).toEqual({ size: 5000, chunkBytes: 5000 });
  });

  it('check warns about a file stored with chunks past its size (what cairn stored before the fix)', async () => {
    const repo = session.repo;
    const chunk = await repo.saveBlob('data', randomBytes(5000));
    const times = { mtimeNs: 1n, atimeNs: 1n, ctimeNs: 1n };
    const file = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, ...times, links: 1, content: [chunk.id] };
    const tree = await repo.saveTree({ nodes: [
      { name: 'cut', ...file, size: 10, fileId: 90 },
      { name: 'exact', ...file, size: 5000, fileId: 91 },
      { name: 'short', ...file, size: 6000, fileId: 92 },
    ] });
    await repo.saveSnapshot({ tree: tree.id, stats: { files: 3, dirs: 1, bytes: 11010, addedBytes: 0 }, nextFileId: 93 });
    const problems = (await checkRepository(await Repository.open(backend, passphrase('tree')), {})).problems;
    expect(problems.map((p) => [p.severity, p.message.replace(/ \(snapshot \w+\)/, '')])).toEqual([
      ['warning', expect.stringMatching(/^file cut: its chunks hold 5000 bytes, more than its size 10; .*writing the file again stores it exactly$/)],
      ['error', 'file short: its chunks hold 5000 bytes, fewer than its size 6000'],
    ]);
  });

  it('appended to, stream from their stored end, and a replay of that stream reads back whole', async () => {
    const data = randomBytes(MiB);
    session.fs.release(await write('/f', 0, data));
    await close();
    await open();
    // Past the chunker's largest chunk (4 MiB), so at least one chunk is cut and journaled
    // whatever the random bytes: with 2 MiB, about one run in 70 found no cut point.
    const added = randomBytes(5 * MiB);
    await write('/f', data.length, added); // left open: the stream journals as it goes
    const inode = session.table.get(Number((await session.fs.getattr('/f')).ino))!;
    while (inode.stream?.running || inode.stream?.journaling) await new Promise((resolve) => setImmediate(resolve));
    expect(inode.baseLimit).toBeGreaterThan(data.length); // committed past the stored end, file still open
    await open(); // killed with the file open
    const whole = Buffer.concat([data, added]);
    expect((await readBack('/f')).equals(whole)).toBe(true);
    await close();
    expect(await stored()).toEqual({ size: whole.length, chunkBytes: whole.length });
    await open();
    expect((await readBack('/f')).equals(whole)).toBe(true);
  });
});
