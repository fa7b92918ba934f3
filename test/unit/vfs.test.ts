/**
 * The filesystem layer without FUSE: POSIX behaviour, commits, snapshots, and what a crashed
 * mount leaves (a new session over the same state folder, the old one never closed).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { MemoryBackend } from '../../src/backend/memory.js';
import { Repository } from '../../src/repository/repository.js';
import { CairnError } from '../../src/errors/errors.js';
import { FsError } from '../../src/vfs/errors.js';
import { needsCommit, ROOT_INO } from '../../src/vfs/inode-table.js';
import { encodeLine } from '../../src/vfs/journal-format.js';
import { LiveSession } from '../../src/vfs/session.js';
import { passphrase, tempDir } from '../helpers/store.js';

const O_RDONLY = 0;
const O_WRONLY = 1;

async function readAll(session: LiveSession, file: string): Promise<Buffer> {
  const fh = (await session.fs.open(file, O_RDONLY));
  const size = (await session.fs.getattr(file)).size;
  const data = await session.fs.read(fh, 0, size + 10);
  session.fs.release(fh);
  return data;
}

async function writeFile(session: LiveSession, file: string, data: Buffer, offset = 0): Promise<void> {
  let fh: number;
  try {
    fh = (await session.fs.open(file, O_WRONLY));
  } catch {
    fh = (await session.fs.create(file, 0o644));
  }
  for (let at = 0; at < data.length; at += 131072) await session.fs.write(fh, offset + at, data.subarray(at, at + 131072));
  session.fs.release(fh);
}

const errnoOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as FsError).errno;
  }
  return 'no error';
};

describe('live filesystem (no FUSE)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let backend: MemoryBackend;
  let repo: Repository;
  const open = async () => (await LiveSession.open(repo, { stateDir: path.join(dir, 'state'), uid: 1000, gid: 1000, quietMs: 60_000 })).session;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    backend = new MemoryBackend();
    repo = await Repository.init(backend, passphrase('vfs'));
  });
  afterEach(async () => cleanup());

  it('creates, writes, reads, renames, links, and keeps it all across a snapshot and reopen', async () => {
    const s = await open();
    s.fs.mkdir('/docs', 0o755);
    const big = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(s, '/docs/big.bin', big);
    await writeFile(s, '/docs/small.txt', Buffer.from('hello'));
    s.fs.link('/docs/small.txt', '/hard');
    s.fs.symlink('docs/small.txt', '/sym');
    s.fs.rename('/docs/small.txt', '/docs/renamed.txt');
    s.fs.setxattr('/docs/renamed.txt', 'user.tag', Buffer.from('v'), 0);
    s.fs.utimens('/docs/renamed.txt', 1_600_000_000_111_222_333n, 1_600_000_000_444_555_666n);
    expect((await readAll(s, '/docs/big.bin')).equals(big)).toBe(true);
    expect((await s.fs.getattr('/hard')).nlink).toBe(2);
    expect((await s.fs.getattr('/hard')).ino).toBe((await s.fs.getattr('/docs/renamed.txt')).ino);
    await s.close();

    const again = await open();
    expect((await readAll(again, '/docs/big.bin')).equals(big)).toBe(true);
    expect((await readAll(again, '/hard')).toString()).toBe('hello');
    expect((await again.fs.getattr('/hard')).nlink).toBe(2);
    expect((await again.fs.getattr('/hard')).ino).toBe((await again.fs.getattr('/docs/renamed.txt')).ino);
    expect(again.fs.readlink('/sym')).toBe('docs/small.txt');
    expect(again.fs.getxattr('/docs/renamed.txt', 'user.tag').toString()).toBe('v');
    expect((await again.fs.getattr('/docs/renamed.txt')).mtimeNs).toBe(1_600_000_000_444_555_666n);
    expect((await again.fs.readdir('/docs')).names.sort()).toEqual(['big.bin', 'renamed.txt']);
    expect((await again.fs.getattr('/')).nlink).toBe(3);
    await again.close();
    expect((await repo.listSnapshots()).length).toBe(1);
  });

  it('answers with the POSIX errno for each failure', async () => {
    const s = await open();
    s.fs.mkdir('/d', 0o755);
    await writeFile(s, '/d/f', Buffer.from('x'));
    expect(errnoOf(() => s.fs.getattr('/nope'))).toBe('ENOENT');
    expect(errnoOf(() => s.fs.mkdir('/d', 0o755))).toBe('EEXIST');
    expect(errnoOf(() => s.fs.rmdir('/d'))).toBe('ENOTEMPTY');
    expect(errnoOf(() => s.fs.rmdir('/d/f'))).toBe('ENOTDIR');
    expect(errnoOf(() => s.fs.unlink('/d'))).toBe('EISDIR');
    expect(errnoOf(() => s.fs.getattr('/d/f/x'))).toBe('ENOTDIR');
    expect(errnoOf(() => s.fs.mkdir(`/${'n'.repeat(256)}`, 0o755))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => s.fs.rename('/d', '/d/sub'))).toBe('EINVAL');
    expect(errnoOf(() => s.fs.link('/d', '/dlink'))).toBe('EPERM');
    expect(errnoOf(() => s.fs.getxattr('/d/f', 'user.none'))).toBe('ENODATA');
    expect(errnoOf(() => s.fs.readlink('/d/f'))).toBe('EINVAL');
    s.fs.mkdir('/e', 0o755);
    expect(errnoOf(() => s.fs.rename('/d/f', '/e'))).toBe('EISDIR');
    expect(errnoOf(() => s.fs.rename('/e', '/d/f'))).toBe('ENOTDIR');
    s.fs.rename('/e', '/d2'); // a directory over nothing
    s.fs.mkdir('/empty', 0o755);
    s.fs.rename('/d2', '/empty'); // over an empty directory
    expect((await s.fs.readdir('/')).names.sort()).toEqual(['d', 'empty']);
    await s.close();
  });

  it('replays the journal of a mount that died: every acknowledged write is back', async () => {
    const s = await open();
    const data = randomBytes(2 * 1024 * 1024);
    s.fs.mkdir('/keep', 0o700);
    await writeFile(s, '/keep/a.bin', data);
    await writeFile(s, '/keep/a.bin', Buffer.from('PATCH'), 1000);
    s.fs.chmod('/keep/a.bin', 0o600);
    await s.fs.truncate('/keep/a.bin', 1_500_000);
    // No close: the process "died". A new session over the same state folder:
    const after = await open();
    const expected = Buffer.from(data.subarray(0, 1_500_000));
    Buffer.from('PATCH').copy(expected, 1000);
    expect((await readAll(after, '/keep/a.bin')).equals(expected)).toBe(true);
    expect((await after.fs.getattr('/keep/a.bin')).mode & 0o7777).toBe(0o600);
    await after.close();
    const third = await open();
    expect((await readAll(third, '/keep/a.bin')).equals(expected)).toBe(true);
    await third.close();
  });

  it('replays a version-2 journal (per-file staging files) left by an older cairn, and its staging file goes after the snapshot', async () => {
    const stateDir = path.join(dir, 'state');
    mkdirSync(path.join(stateDir, 'staging'), { recursive: true });
    // What cairn before the staging log left after `printf 'hello world' > /old.txt; kill -9`.
    const lines = [
      { journal: 'cairn', version: 2, base: null },
      { op: 'mknod', parent: 1, name: 'old.txt', ino: 2, type: 'file', mode: 420, uid: 1000, gid: 1000, rdev: 0, t: '1763856000123456789n' },
      { op: 'write', ino: 2, offset: 0, length: 11, t: '1763856000223456789n' },
      { op: 'write', ino: 2, offset: 6, length: 5, t: '1763856000323456789n' },
    ].map((json) => encodeLine(JSON.stringify(json)));
    writeFileSync(path.join(stateDir, 'journal'), Buffer.concat(lines));
    writeFileSync(path.join(stateDir, 'staging', '2'), 'hello WORLD'); // the last bytes at each offset
    const s = await open();
    expect((await readAll(s, '/old.txt')).toString()).toBe('hello WORLD');
    await writeFile(s, '/new.txt', Buffer.from('new'));
    await s.close();
    expect(readdirSync(path.join(stateDir, 'staging'))).toEqual([]);
    expect(readFileSync(path.join(stateDir, 'journal'), 'utf8')).toContain('"version":4');
    const again = await open();
    expect((await readAll(again, '/old.txt')).toString()).toBe('hello WORLD');
    expect((await readAll(again, '/new.txt')).toString()).toBe('new');
    await again.close();
  });

  it('keeps the staging log small: committed files give their segments back without a snapshot', async () => {
    const s = await open();
    const stagingDir = path.join(dir, 'state', 'staging');
    const stagedBytes = () => readdirSync(stagingDir).reduce((sum, name) => sum + statSync(path.join(stagingDir, name)).size, 0);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) await writeFile(s, `/r${round}-${i}.bin`, randomBytes(512 * 1024));
      expect(stagedBytes()).toBeGreaterThanOrEqual(10 * 1024 * 1024);
      await s.flusher.commitAll(); // what the background commit does after a quiet second
      expect(stagedBytes()).toBe(0);
    }
    const data = randomBytes(512 * 1024);
    await writeFile(s, '/r0-0.bin', data);
    await s.close();
    const again = await open();
    expect((await readAll(again, '/r0-0.bin')).equals(data)).toBe(true);
    await again.close();
  });

  it('commits a file rewritten in place while it stays open, so the staging log does not grow without bound', async () => {
    const s = await open();
    const stagingDir = path.join(dir, 'state', 'staging');
    const stagedBytes = () => readdirSync(stagingDir).reduce((sum, name) => sum + statSync(path.join(stagingDir, name)).size, 0);
    const fh = await s.fs.create('/db.sqlite', 0o644);
    let last = Buffer.alloc(0);
    let peak = 0;
    for (let round = 0; round < 200; round++) {
      last = randomBytes(1024 * 1024); // a database rewriting its one-MiB file, never closing it
      for (let at = 0; at < last.length; at += 131072) await s.fs.write(fh, at, last.subarray(at, at + 131072));
      await new Promise((r) => setImmediate(r));
      peak = Math.max(peak, stagedBytes());
    }
    await s.flusher.stop();
    expect(s.flusher.rechunkedBytes).toBeGreaterThan(0); // committed while open
    expect(peak).toBeLessThan(3 * 64 * 1024 * 1024); // 200 MiB were written
    expect((await s.fs.read(fh, 0, last.length + 1)).equals(last)).toBe(true);
    s.fs.release(fh);
    await s.close();
  });

  it('at the write budget, commits every file with staged data (a file kept open shares the staging segments), and the writer goes on', async () => {
    const opened = await LiveSession.open(repo, {
      stateDir: path.join(dir, 'state'), uid: 1000, gid: 1000, quietMs: 60_000,
      writeBudget: { limitBytes: 4 * 1024 * 1024, queuedBytes: () => 0 },
    });
    const s = opened.session;
    const log = await s.fs.create('/app.log', 0o644);
    await s.fs.write(log, 0, Buffer.from('started\n')); // stays open, never closed during the copy
    const big = await s.fs.create('/big.bin', 0o644);
    const data = randomBytes(16 * 1024 * 1024);
    const copied = (async () => {
      for (let at = 0; at < data.length; at += 131072) await s.fs.write(big, at, data.subarray(at, at + 131072));
    })();
    const outcome = await Promise.race([copied.then(() => 'done'), new Promise((r) => setTimeout(() => r('stuck'), 30_000))]);
    expect(outcome).toBe('done');
    expect((await s.fs.read(big, 0, data.length)).equals(data)).toBe(true);
    expect((await s.fs.read(log, 0, 100)).toString()).toBe('started\n');
    s.fs.release(big);
    s.fs.release(log);
    await s.close();
  });

  it('names the files whose staged bytes are gone after a crash (lost before any fsync), and reads them as zeros', async () => {
    const s = await open();
    s.fs.mkdir('/docs', 0o755);
    await writeFile(s, '/docs/kept.txt', Buffer.from('kept safe'));
    await writeFile(s, '/docs/torn.bin', Buffer.alloc(5000, 7));
    // The process dies; the power cut took the staging log's tail with it.
    const stagingDir = path.join(dir, 'state', 'staging');
    const [segment] = readdirSync(stagingDir);
    truncateSync(path.join(stagingDir, segment!), Buffer.byteLength('kept safe') + 1000);
    const reopened = await LiveSession.open(repo, { stateDir: path.join(dir, 'state'), uid: 1000, gid: 1000, quietMs: 60_000 });
    expect(reopened.report.lostStagedBytes).toEqual([{ path: '/docs/torn.bin', bytes: 4000 }]);
    const torn = await readAll(reopened.session, '/docs/torn.bin');
    expect([...torn.subarray(0, 1000)].every((b) => b === 7)).toBe(true);
    expect([...torn.subarray(1000)].every((b) => b === 0)).toBe(true);
    expect((await readAll(reopened.session, '/docs/kept.txt')).toString()).toBe('kept safe');
    await reopened.session.close();
  });

  it('applies a retention policy after each snapshot it takes, keeping the newest and named ones', async () => {
    // Old history made elsewhere: daily snapshots 60..11 days ago, one named.
    const s0 = await open();
    await writeFile(s0, '/f', Buffer.from('v0'));
    const first = await s0.snapshot();
    await s0.close();
    const day = 86_400_000;
    for (let age = 60; age > 10; age--) {
      await repo.saveSnapshot({ tree: first.snapshot.tree, stats: first.snapshot.stats, timeNs: BigInt(Date.now() - age * day) * 1_000_000n, tags: age === 45 ? ['before-upgrade'] : ['auto'] });
    }
    const forgotten: string[] = [];
    const opened = await LiveSession.open(repo, {
      stateDir: path.join(dir, 'state'), uid: 1000, gid: 1000, quietMs: 60_000,
      retention: { withinMs: day, daily: 30, keepNamed: true }, onForgotten: (gone) => forgotten.push(...gone.map((g) => g.id)),
    });
    const s = opened.session;
    await writeFile(s, '/f', Buffer.from('v1'));
    const taken = await s.snapshot();
    const left = await repo.listSnapshots();
    // Kept: the two made today (recent; also today's daily), 29 more days, the named one.
    expect(left.map((x) => x.id)).toContain(taken.id);
    expect(left.some((x) => x.snapshot.tags.includes('before-upgrade'))).toBe(true);
    expect(left.length).toBe(2 + 29 + 1);
    expect(forgotten.length).toBe(52 - left.length);
    // The mount keeps working after forgetting; the next session starts from the newest.
    await writeFile(s, '/f', Buffer.from('v2'));
    await s.close();
    const again = await open();
    expect((await readAll(again, '/f')).toString()).toBe('v2');
    await again.close();
  });

  it('starts from a snapshot another writer made after this machine mounted the empty repository', async () => {
    const first = await open();
    await first.close(); // nothing changed: no snapshot, the journal still says "empty"
    const other = await LiveSession.open(repo, { stateDir: path.join(dir, 'other'), uid: 1000, gid: 1000 });
    await writeFile(other.session, '/from-elsewhere', Buffer.from('kept'));
    await other.session.close();
    const again = await open();
    expect((await readAll(again, '/from-elsewhere')).toString()).toBe('kept');
    await again.close();
  });

  it('starts from the newest snapshot when the one the journal continues was forgotten', async () => {
    const s = await open();
    await writeFile(s, '/f', Buffer.from('one'));
    const one = await s.snapshot();
    await s.close();
    // Another writer (same state folder unused) adds a snapshot and forgets ours.
    const other = await LiveSession.open(repo, { stateDir: path.join(dir, 'other'), uid: 1000, gid: 1000 });
    await writeFile(other.session, '/f', Buffer.from('two'));
    await other.session.close();
    const { forgetSnapshots } = await import('../../src/repository/forget.js');
    await forgetSnapshots(repo, [one]);
    const again = await open();
    expect((await readAll(again, '/f')).toString()).toBe('two');
    await again.close();
  });

  it('commits the files it can while one cannot be (its old chunks are on a store that is away)', async () => {
    const s = await open();
    await writeFile(s, '/old.bin', randomBytes(3 * 1024 * 1024));
    await s.close();
    // A new process: nothing cached; then the store stops answering reads.
    repo = await Repository.open(backend, passphrase('vfs'));
    const offline = await open();
    const realGet = backend.get.bind(backend);
    backend.get = async () => {
      throw new CairnError('UNREACHABLE', 'the store is away');
    };
    try {
      await writeFile(offline, '/old.bin', Buffer.from('PATCH'), 1_500_000); // needs old chunks
      await writeFile(offline, '/new.txt', Buffer.from('new while away'));
      await expect(offline.flusher.commitAll()).rejects.toThrow('the store is away');
      const table = offline.table;
      const ino = (name: string) => table.get(ROOT_INO)!.children!.get(name)!;
      expect(needsCommit(table.get(ino('new.txt'))!)).toBe(false);
      expect(needsCommit(table.get(ino('old.bin'))!)).toBe(true);
    } finally {
      backend.get = realGet;
    }
    await offline.close();
  });

  it('re-chunks about one chunk for a small write into a large file', async () => {
    const s = await open();
    const size = 64 * 1024 * 1024;
    const big = randomBytes(size);
    await writeFile(s, '/big', big);
    await s.snapshot();
    const before = s.flusher.rechunkedBytes;
    await writeFile(s, '/big', Buffer.from('4 KiB of news'.repeat(315)), 40 * 1024 * 1024);
    await s.snapshot();
    const work = s.flusher.rechunkedBytes - before;
    expect(work).toBeGreaterThan(0);
    expect(work).toBeLessThan(10 * 1024 * 1024); // a chunk or two (max chunk 4 MiB), not 64 MiB
    const expected = Buffer.from(big);
    Buffer.from('4 KiB of news'.repeat(315)).copy(expected, 40 * 1024 * 1024);
    expect((await readAll(s, '/big')).equals(expected)).toBe(true);
    // The committed chunk list equals chunking the whole file from scratch.
    const { saveContent } = await import('../../src/repository/file-content.js');
    const fresh = await saveContent(repo, [expected]);
    const node = s.table.get(Number((await s.fs.getattr('/big')).ino))!;
    expect(node.content.map((c) => c.id)).toEqual(fresh.content);
    await s.close();
  });

  it('keeps an unlinked open file readable through its handle', async () => {
    const s = await open();
    await writeFile(s, '/gone', Buffer.from('still here'));
    const fh = (await s.fs.open('/gone', O_RDONLY));
    s.fs.unlink('/gone');
    expect((await s.fs.read(fh, 0, 100)).toString()).toBe('still here');
    s.fs.release(fh);
    expect(errnoOf(() => s.fs.getattr('/gone'))).toBe('ENOENT');
    await s.close();
  });

  it('grows by truncate as a hole of zeros and writes past the end as a sparse file', async () => {
    const s = await open();
    await writeFile(s, '/sparse', Buffer.from('end'), 10 * 1024 * 1024);
    await s.fs.truncate('/sparse', 12 * 1024 * 1024);
    const all = await readAll(s, '/sparse');
    expect(all.length).toBe(12 * 1024 * 1024);
    expect(all.subarray(0, 10 * 1024 * 1024).every((b) => b === 0)).toBe(true);
    expect(all.subarray(10 * 1024 * 1024, 10 * 1024 * 1024 + 3).toString()).toBe('end');
    await s.close();
    const again = await open();
    expect((await readAll(again, '/sparse')).equals(all)).toBe(true);
    await again.close();
  });

  it('takes a consistent snapshot while writes keep coming', async () => {
    // A real folder store: its I/O yields to the event loop, so the writer runs mid-snapshot.
    const { LocalBackend } = await import('../../src/backend/local.js');
    repo = await Repository.init(new LocalBackend(path.join(dir, 'store')), passphrase('vfs'));
    const s = await open();
    await writeFile(s, '/big', randomBytes(8 * 1024 * 1024)); // staged data: the snapshot has real work to do
    const fh = (await s.fs.create('/log', 0o644));
    const line = (i: number) => Buffer.from(`line ${String(i).padStart(6, '0')}\n`); // 12 bytes
    let written = 0;
    let snapshotDone = false;
    // A writer that appends one line per event-loop turn, before, during and after the snapshot.
    const writer = (async () => {
      while (!snapshotDone || written < 50) {
        await s.fs.write(fh, written * 12, line(written));
        written++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    while (written < 20) await new Promise((r) => setImmediate(r));
    const taken = await s.snapshot();
    snapshotDone = true;
    await writer;
    s.fs.release(fh);

    const { ContentReader } = await import('../../src/repository/file-content.js');
    const node = (await repo.loadTree(taken.snapshot.tree)).nodes.find((n) => n.name === 'log')!;
    const captured = await new ContentReader(repo, node.content!).read(0, node.size);
    // One point in time: whole lines 0..k-1, nothing torn, nothing later.
    expect(captured.length % 12).toBe(0);
    const k = captured.length / 12;
    expect(k).toBeGreaterThanOrEqual(20);
    expect(k).toBeLessThan(written);
    expect(captured.equals(Buffer.concat(Array.from({ length: k }, (_, i) => line(i))))).toBe(true);
    expect((await readAll(s, '/log')).length).toBe(written * 12);
    await s.close();
    await repo.close(); // its LocalBackend's pooled read handles (else closed at GC, with a warning)
  });

  it('re-encodes only the folders on the path of a change when snapshotting a large tree', async () => {
    const s = await open();
    for (let a = 0; a < 20; a++) {
      s.fs.mkdir(`/d${a}`, 0o755);
      for (let b = 0; b < 10; b++) {
        s.fs.mkdir(`/d${a}/e${b}`, 0o755);
        for (let c = 0; c < 25; c++) s.fs.release((await s.fs.create(`/d${a}/e${b}/f${c}`, 0o644)));
      }
    }
    await s.snapshot();
    expect(s.lastSnapshotTreesWritten).toBe(1 + 20 + 200);
    await writeFile(s, '/d7/e3/f11', Buffer.from('changed'));
    await s.snapshot();
    expect(s.lastSnapshotTreesWritten).toBe(3); // /d7/e3, /d7 and the root: nothing else
    s.fs.chmod('/d19', 0o700);
    await s.snapshot();
    expect(s.lastSnapshotTreesWritten).toBe(1); // only the root lists /d19's mode
    await s.close();
  });

  it('holds every kind of change while a snapshot holds the tree, and applies each once it lets go', async () => {
    const s = await open();
    s.fs.mkdir('/d', 0o755);
    await writeFile(s, '/f', Buffer.from('x'));
    s.barrier.freeze();
    const pending = [
      s.fs.mkdir('/d2', 0o755),
      s.fs.rename('/f', '/d/f'),
      s.fs.symlink('t', '/l'),
      s.fs.chmod('/d', 0o700),
      s.fs.setxattr('/d', 'user.a', Buffer.from('1'), 0),
      s.fs.create('/new', 0o644),
    ];
    for (const p of pending) expect(p).toBeInstanceOf(Promise);
    // Nothing changed while frozen: a tree written now is the tree as it was.
    expect((await s.fs.readdir('/'))).toMatchObject({ names: ['d', 'f'] });
    expect((await s.fs.getattr('/d'))).toMatchObject({ mode: 0o40755 });
    s.barrier.thaw();
    const [, , , , , fh] = await Promise.all(pending);
    s.fs.release(fh as number);
    expect(((await s.fs.readdir('/')) as { names: string[] }).names.sort()).toEqual(['d', 'd2', 'l', 'new']);
    expect((await s.fs.getattr('/d/f'))).toMatchObject({ mode: 0o100644 });
    expect(((await s.fs.getattr('/d')) as { mode: number }).mode & 0o7777).toBe(0o700);
    await s.close();
  });

  it('replays after a crash between saving its own snapshot and resetting the journal; refuses a journal another writer overtook', async () => {
    const s = await open();
    await writeFile(s, '/a', Buffer.from('one'));
    await s.snapshot();
    await writeFile(s, '/b', Buffer.from('two'));
    // Killed right after the snapshot is on the store, before the journal names it.
    (s as unknown as { journal: { reset: () => void } }).journal.reset = () => {
      throw new Error('killed');
    };
    await expect(s.snapshot()).rejects.toThrow('killed');
    const again = await open(); // the newest snapshot is its own: replay as always
    expect((await readAll(again, '/b')).toString()).toBe('two');

    // Now another writer saves a snapshot while this one's journal holds a change.
    await writeFile(again, '/c', Buffer.from('three'));
    const newest = (await repo.listSnapshots()).pop()!;
    await repo.saveSnapshot({ tree: newest.snapshot.tree, stats: newest.snapshot.stats, tags: ['elsewhere'] });
    // Two newer than the journal's base: its own (replayed onto the base above) and the other's.
    await expect(open()).rejects.toThrow(/unsaved change\(s\) to snapshot \w+, but 2 newer snapshot\(s\) were saved since/);
    const salvaged = (await LiveSession.open(repo, { stateDir: path.join(dir, 'state'), uid: 1000, gid: 1000, quietMs: 60_000, salvage: true })).session;
    expect((await readAll(salvaged, '/c')).toString()).toBe('three');
    const tags = (await repo.listSnapshots()).map((x) => x.snapshot.tags.join(','));
    expect(tags.slice(-2)).toEqual(['elsewhere', 'salvaged']);
    await salvaged.close();
  });
});
