/**
 * Streaming commit (src/vfs/content-stream.ts) at the filesystem layer: a file written front
 * to back is chunked while it is written, and the result is exactly what chunking the whole
 * file at close gives; a change below what the stream has read ends the stream, and the
 * commit then chunks the file from its bytes as they are.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { MemoryBackend } from '../../src/backend/memory.js';
import { saveContent } from '../../src/repository/file-content.js';
import { Repository } from '../../src/repository/repository.js';
import { ContentStream } from '../../src/vfs/content-stream.js';
import { STREAM_STEP } from '../../src/vfs/file-data.js';
import { LiveSession } from '../../src/vfs/session.js';
import { passphrase, tempDir } from '../helpers/store.js';

const O_RDONLY = 0;
const MiB = 1024 * 1024;
/** FUSE hands requests over from the event loop: let background work in between, as a mount does. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** The file's bytes, through a handle, as a program reads them. */
async function readWhole(session: LiveSession, file: string): Promise<Buffer> {
  const fh = await session.fs.open(file, O_RDONLY);
  try {
    return await session.fs.read(fh, 0, Number((await session.fs.getattr(file)).size) + 10);
  } finally {
    session.fs.release(fh);
  }
}

/** Writes in 128 KiB requests, as the kernel hands them over. */
async function writeThrough(session: LiveSession, fh: number, offset: number, data: Buffer): Promise<void> {
  for (let at = 0; at < data.length; at += 128 * 1024) {
    await session.fs.write(fh, offset + at, data.subarray(at, at + 128 * 1024));
    await tick();
  }
}

describe('streaming commit', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let repo: Repository;
  let session: LiveSession;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    repo = await Repository.init(new MemoryBackend(), passphrase('stream'));
    session = (await LiveSession.open(repo, { stateDir: path.join(dir, 'state'), uid: 0, gid: 0, quietMs: 60_000 })).session;
  });
  afterEach(async () => {
    await session.close();
    await cleanup();
  });

  const write = (fh: number, offset: number, data: Buffer) => writeThrough(session, fh, offset, data);
  const readBack = (file: string) => readWhole(session, file);
  /** Commits the file and checks it reads back as `expected` with the chunks of chunking `expected` whole. */
  const committedAs = async (file: string, expected: Buffer) => {
    const before = session.flusher.rechunkedBytes;
    await session.snapshot();
    const work = session.flusher.rechunkedBytes - before;
    const fh = await session.fs.open(file, O_RDONLY);
    expect((await session.fs.read(fh, 0, expected.length + 10)).equals(expected)).toBe(true);
    session.fs.release(fh);
    const inode = session.table.get(Number((await session.fs.getattr(file)).ino))!;
    expect(inode.content.map((c) => c.id)).toEqual((await saveContent(repo, [expected])).content);
    return work;
  };

  it('chunks a file written front to back while it is written: closing it leaves about one step of work', async () => {
    const data = randomBytes(40 * MiB);
    const fh = await session.fs.create('/big.bin', 0o644);
    await write(fh, 0, data);
    session.fs.release(fh);
    const work = await committedAs('/big.bin', data);
    // Without the stream the commit would chunk all 40 MiB.
    expect(work).toBeLessThanOrEqual(2 * STREAM_STEP);
  });

  it('ends the stream at a write below what it has read, and commits the bytes as they are', async () => {
    const data = randomBytes(30 * MiB);
    const fh = await session.fs.create('/db', 0o644);
    await write(fh, 0, data.subarray(0, 20 * MiB));
    const patch = Buffer.from('a page written again, as databases do');
    await session.fs.write(fh, MiB, patch);
    patch.copy(data, MiB);
    await write(fh, 20 * MiB, data.subarray(20 * MiB));
    session.fs.release(fh);
    // The stream ended: the commit chunked the whole file again from its current bytes.
    expect(await committedAs('/db', data)).toBe(data.length);
  });

  it('ends the stream at a truncate, and at a hole filled after the stream read its zeros', async () => {
    const data = randomBytes(24 * MiB);
    const fh = await session.fs.create('/t', 0o644);
    await write(fh, 0, data.subarray(0, 16 * MiB));
    await session.fs.ftruncate(fh, 6 * MiB);
    await write(fh, 6 * MiB, data.subarray(6 * MiB));
    session.fs.release(fh);
    expect(await committedAs('/t', data)).toBe(data.length);

    const sparse = Buffer.alloc(30 * MiB);
    randomBytes(10 * MiB).copy(sparse, 0);
    randomBytes(10 * MiB).copy(sparse, 20 * MiB);
    const fh2 = await session.fs.create('/sparse', 0o644);
    await write(fh2, 0, sparse.subarray(0, 10 * MiB));
    await write(fh2, 20 * MiB, sparse.subarray(20 * MiB)); // the stream reads the hole as zeros
    const filler = randomBytes(10 * MiB);
    filler.copy(sparse, 10 * MiB);
    await write(fh2, 10 * MiB, filler);
    session.fs.release(fh2);
    expect(await committedAs('/sparse', sparse)).toBe(sparse.length);
  });

  it('streams a file appended to, and one truncated to nothing and written anew (cp over an old file), not one changed inside', async () => {
    const first = randomBytes(12 * MiB);
    let fh = await session.fs.create('/f', 0o644);
    await write(fh, 0, first);
    session.fs.release(fh);
    await committedAs('/f', first);
    // Appending to a stored file streams from its end: its stored chunks stay as they are
    // (the last one ends where the file ended, not at a cut), the new bytes are chunked afresh.
    const appended = Buffer.concat([first, randomBytes(12 * MiB)]);
    const firstChunks = session.table.get(Number((await session.fs.getattr('/f')).ino))!.content;
    fh = await session.fs.open('/f', 2);
    await write(fh, first.length, appended.subarray(first.length));
    session.fs.release(fh);
    const inode = session.table.get(Number((await session.fs.getattr('/f')).ino))!;
    expect(inode.stream).toBeInstanceOf(ContentStream);
    const before = session.flusher.rechunkedBytes;
    await session.snapshot();
    expect(session.flusher.rechunkedBytes - before).toBeLessThanOrEqual(2 * STREAM_STEP);
    expect(inode.content.slice(0, firstChunks.length)).toEqual(firstChunks);
    expect((await readBack('/f')).equals(appended)).toBe(true);
    // A change inside the stored bytes is the partial re-chunk's job, not a stream's.
    const patch = randomBytes(5 * MiB);
    patch.copy(appended, MiB);
    fh = await session.fs.open('/f', 2);
    await write(fh, MiB, patch);
    session.fs.release(fh);
    expect(inode.stream).toBeUndefined();
    expect((await readBack('/f')).equals(appended)).toBe(true);
    const second = randomBytes(20 * MiB);
    fh = await session.fs.open('/f', 2);
    await session.fs.ftruncate(fh, 0);
    await write(fh, 0, second);
    session.fs.release(fh);
    expect(await committedAs('/f', second)).toBeLessThanOrEqual(2 * STREAM_STEP);
  });

  it('seals nothing again when a file is written again with the bytes it has (cp of the same file over it)', async () => {
    const data = randomBytes(24 * MiB);
    let fh = await session.fs.create('/same', 0o644);
    await write(fh, 0, data);
    session.fs.release(fh);
    await committedAs('/same', data);
    const sealedBefore = repo.streamedBytesSealed;
    expect(sealedBefore).toBeGreaterThan(20 * MiB);
    fh = await session.fs.open('/same', 2);
    await session.fs.ftruncate(fh, 0);
    await write(fh, 0, data);
    session.fs.release(fh);
    await committedAs('/same', data);
    expect(repo.streamedBytesSealed - sealedBefore).toBe(0);
  });
});

describe('a stream journaling its chunks while the file is open', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let backend: MemoryBackend;
  let session: LiveSession;
  const stateDir = () => path.join(dir, 'state');
  const open = async () => {
    const repo = await Repository.open(backend, passphrase('stream'));
    // `chunks` records every 8 MiB, so that staging can let go of bytes long before 64 MiB segments fill.
    return (await LiveSession.open(repo, { stateDir: stateDir(), uid: 0, gid: 0, quietMs: 60_000, streamJournalBytes: 8 * MiB })).session;
  };

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    backend = new MemoryBackend();
    await Repository.init(backend, passphrase('stream'));
    session = await open();
  });
  afterEach(async () => {
    await session.close();
    await cleanup();
  });

  const write = (fh: number, offset: number, data: Buffer) => writeThrough(session, fh, offset, data);
  const readAll = (file: string) => readWhole(session, file);
  const chunkRecords = () => readFileSync(path.join(stateDir(), 'journal'), 'utf8').split('\n').filter((l) => l.includes('"op":"chunks"'));
  const stagedBytes = () => readdirSync(path.join(stateDir(), 'staging')).reduce((sum, n) => sum + statSync(path.join(stateDir(), 'staging', n)).size, 0);
  /** Until the file's stream has neither a step nor a record in progress. */
  const settled = async (file: string) => {
    const inode = session.table.get(Number((await session.fs.getattr(file)).ino))!;
    while (inode.stream?.running || inode.stream?.journaling) await tick();
    return inode;
  };
  /** What a killed process leaves: the state folder and the store as they are; a new session replays. */
  const crash = async () => {
    session = await open();
  };

  it('commits the written front of a big open file, so staging lets go of it; a crash then replays it whole', async () => {
    const data = randomBytes(150 * MiB);
    const fh = await session.fs.create('/big.bin', 0o644);
    await write(fh, 0, data);
    const inode = await settled('/big.bin');
    expect(chunkRecords().length).toBeGreaterThanOrEqual(10);
    expect(inode.baseLimit).toBeGreaterThan(100 * MiB); // committed while open
    // Only segments holding uncommitted bytes stay: at most the 64 MiB segment the committed
    // front ends in and the one after it, not the file's 150 MiB.
    expect(stagedBytes()).toBeLessThanOrEqual(128 * MiB);
    expect((await readAll('/big.bin')).equals(data)).toBe(true); // committed front and staged rest, read as one
    await crash();
    expect((await readAll('/big.bin')).equals(data)).toBe(true);
    await session.snapshot();
    const committed = session.table.get(inode.ino)!;
    expect(committed.content.map((c) => c.id)).toEqual((await saveContent(session.repo, [data])).content);
    expect((await readAll('/big.bin')).equals(data)).toBe(true);
  });

  it('keeps the bytes right when the committed front is written into or truncated, live and after a crash', async () => {
    const data = randomBytes(40 * MiB);
    const fh = await session.fs.create('/db', 0o644);
    await write(fh, 0, data);
    await settled('/db');
    expect(chunkRecords().length).toBeGreaterThanOrEqual(2);
    const patch = randomBytes(300_000);
    await session.fs.write(fh, 3 * MiB, patch); // into committed chunks: the stream ends
    patch.copy(data, 3 * MiB);
    expect((await readAll('/db')).equals(data)).toBe(true);
    await session.fs.ftruncate(fh, 20 * MiB + 12345);
    const cut = data.subarray(0, 20 * MiB + 12345);
    expect((await readAll('/db')).equals(cut)).toBe(true);
    await crash();
    expect((await readAll('/db')).equals(cut)).toBe(true);
    await session.snapshot();
    expect((await readAll('/db')).equals(cut)).toBe(true);
  });
});
