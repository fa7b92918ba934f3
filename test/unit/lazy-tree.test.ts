/**
 * The live tree loads folders on first use (src/vfs/folder-loader.ts): a remount reads only
 * the root's tree, each operation loads the folders it reads, and what users see (entries,
 * link counts, errors, counts, file ids, snapshots) is the same as with the whole tree loaded.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as path from 'node:path';
import { MemoryBackend } from '../../src/backend/memory.js';
import { Repository } from '../../src/repository/repository.js';
import { FsError } from '../../src/vfs/errors.js';
import { FolderOfIds } from '../../src/vfs/folder-of.js';
import { isLoaded } from '../../src/vfs/inode-table.js';
import { LiveSession } from '../../src/vfs/session.js';
import { passphrase, tempDir } from '../helpers/store.js';

const O_RDONLY = 0;
const O_WRONLY = 1;

async function put(session: LiveSession, file: string, text: string): Promise<void> {
  const fh = await session.fs.create(file, 0o644);
  await session.fs.write(fh, 0, Buffer.from(text));
  session.fs.release(fh);
}

async function read(session: LiveSession, file: string): Promise<string> {
  const fh = await session.fs.open(file, O_RDONLY);
  const data = await session.fs.read(fh, 0, 1 << 20);
  session.fs.release(fh);
  return data.toString();
}

async function errnoOf(op: () => unknown): Promise<string> {
  try {
    await op();
  } catch (e) {
    return (e as FsError).errno ?? String(e);
  }
  return 'no error';
}

/** Every path below `dir`, with its type and link count, walking through the filesystem. */
async function listing(session: LiveSession, dir = '/'): Promise<string[]> {
  const lines: string[] = [];
  const { names } = await session.fs.readdir(dir);
  for (const name of names.filter((n) => n !== '.' && n !== '..' && n !== '.snapshots').sort()) {
    const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
    const st = await session.fs.getattr(p);
    lines.push(`${p} ${st.mode.toString(8)} links=${st.nlink} ino=${st.ino} size=${st.size}`);
    if ((st.mode & 0o170000) === 0o040000) lines.push(...(await listing(session, p)));
  }
  return lines;
}

describe('the live tree, loaded folder by folder', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let repo: Repository;
  let state: string;
  const open = async (keepInodes?: number) => (await LiveSession.open(repo, { stateDir: state, uid: 0, gid: 0, quietMs: 60_000, keepInodes })).session;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    state = path.join(dir, 'state');
    repo = await Repository.init(new MemoryBackend(), passphrase('lazy'));
  });
  afterEach(async () => cleanup());

  /** 3 top folders with 4 subfolders of 5 files each, snapshotted and closed. */
  async function makeTree(): Promise<string[]> {
    const s = await open();
    for (let a = 0; a < 3; a++) {
      await s.fs.mkdir(`/a${a}`, 0o755);
      for (let b = 0; b < 4; b++) {
        await s.fs.mkdir(`/a${a}/b${b}`, 0o750);
        for (let c = 0; c < 5; c++) await put(s, `/a${a}/b${b}/f${c}`, `file ${a}.${b}.${c}`);
      }
    }
    const seen = await listing(s);
    await s.close();
    return seen;
  }

  it('reads only the root at mount, and the folders on a path when the path is used', async () => {
    const before = await makeTree();
    const s = await open();
    expect(s.loader.loadedFolders).toBe(1);
    expect(await read(s, '/a1/b2/f3')).toBe('file 1.2.3');
    expect(s.loader.loadedFolders).toBe(3); // root, /a1, /a1/b2
    // A folder not loaded yet shows its stored attributes and link count (2 + subfolders).
    const a2 = await s.fs.getattr('/a2');
    expect(a2.nlink).toBe(6);
    expect(await listing(s)).toEqual(before);
    expect(s.table.counts()).toEqual({ files: 60, dirs: 16, bytes: before.filter((l) => l.includes(' 100644 ')).reduce((n, l) => n + Number(/size=(\d+)/.exec(l)![1]), 0) });
    await s.close();
  });

  it('looks up chunk sizes in the index only for files whose chunks are used, and reads and changes them as before', async () => {
    const before = await makeTree();
    const s = await open();
    const sizes = vi.spyOn(repo, 'blobPlainSize');
    expect(await listing(s)).toEqual(before); // every folder and file's attributes
    expect(sizes).not.toHaveBeenCalled();
    expect([...s.table.uncommittedFiles()]).toEqual([]);
    expect(await read(s, '/a1/b2/f3')).toBe('file 1.2.3');
    expect(sizes).toHaveBeenCalledTimes(1);
    // Appended to, committed and snapshotted: the old chunk is reused or rechunked as before.
    const fh = await s.fs.open('/a2/b0/f1', O_WRONLY);
    await s.fs.write(fh, 'file 2.0.1'.length, Buffer.from(' and more'));
    s.fs.release(fh);
    await s.snapshot();
    await s.close();
    const again = await open();
    expect(await read(again, '/a2/b0/f1')).toBe('file 2.0.1 and more');
    expect(await read(again, '/a0/b3/f4')).toBe('file 0.3.4');
    await again.close();
  });

  it('keeps file data in the byte cache through a walk of every folder (folders are not cached as bytes)', async () => {
    const before = await makeTree();
    const backend = repo.backend as MemoryBackend;
    // A budget of 4 KiB: the 16 folder trees are several times that, the file's chunk a few bytes.
    repo = await Repository.open(backend, passphrase('lazy'), { blobCacheBytes: 4096 });
    const s = await open();
    expect(await read(s, '/a1/b2/f3')).toBe('file 1.2.3');
    const gets = vi.spyOn(backend, 'get');
    expect(await listing(s)).toEqual(before);
    expect(gets.mock.calls.filter(([ref]) => ref.kind === 'data').length).toBeGreaterThan(0); // the trees
    gets.mockClear();
    expect(await read(s, '/a1/b2/f3')).toBe('file 1.2.3');
    expect(gets).not.toHaveBeenCalled();
    await s.close();
  });

  it('loads a folder named by its number (the kernel\'s lookups and listings) on first use', async () => {
    await makeTree();
    const s = await open();
    const a0 = (await s.fs.lookup({ ino: 1 }, 'a0')).at as { ino: number };
    expect(isLoaded(s.table.get(a0.ino)!)).toBe(false);
    const b1 = (await s.fs.lookup(a0, 'b1')).at as { ino: number };
    expect((await s.fs.readdir(b1)).names.filter((n) => n.startsWith('f'))).toHaveLength(5);
    expect(isLoaded(s.table.get(a0.ino)!)).toBe(true);
    expect(isLoaded(s.table.get(b1.ino)!)).toBe(true);
    await s.close();
  });

  it('refuses to remove or replace a folder whose entries are not loaded yet, as POSIX says', async () => {
    await makeTree();
    const s = await open();
    expect(await errnoOf(() => s.fs.rmdir('/a0/b0'))).toBe('ENOTEMPTY');
    expect(await errnoOf(() => s.fs.rmdir({ parent: 1, name: 'a1' }))).toBe('ENOTEMPTY');
    await s.fs.mkdir('/empty', 0o755);
    expect(await errnoOf(() => s.fs.rename('/empty', '/a2'))).toBe('ENOTEMPTY');
    expect(await errnoOf(() => s.fs.rename('/a2', '/a2/b0/below'))).toBe('EINVAL');
    await s.close();
  });

  it('changes, moves and snapshots with folders never loaded, and keeps them exact', async () => {
    await makeTree();
    let s = await open();
    await s.fs.rename('/a0', '/moved'); // a folder moves without its entries loaded
    await s.fs.chmod('/a1', 0o700);
    await put(s, '/new', 'new file');
    await s.fs.rename({ parent: 1, name: 'a2' }, { parent: 1, name: 'renamed' });
    const loadedBefore = s.loader.loadedFolders;
    await s.snapshot();
    expect(s.loader.loadedFolders).toBe(loadedBefore); // a snapshot loads nothing
    expect(s.lastSnapshotTreesWritten).toBe(1); // only the root changed
    const expected = await listing(s);
    const counts = s.table.counts();
    await s.close();
    s = await open();
    expect(await listing(s)).toEqual(expected);
    expect(s.table.counts()).toEqual(counts);
    expect(await read(s, '/moved/b3/f4')).toBe('file 0.3.4');
    expect(await read(s, '/renamed/b0/f0')).toBe('file 2.0.0');
    // The counts kept from the snapshot's stats equal a count of the whole tree.
    await s.loader.loadAll();
    s.table.recount();
    expect(s.table.counts()).toEqual(counts);
    await s.close();
  });

  it('loads the whole tree at the first hard-linked file, so every name of it changes together', async () => {
    let s = await open();
    await s.fs.mkdir('/x', 0o755);
    await s.fs.mkdir('/y', 0o755);
    await s.fs.mkdir('/y/deep', 0o755);
    await s.fs.mkdir('/z', 0o755);
    await put(s, '/x/shared', 'version 1');
    await s.fs.link('/x/shared', '/y/deep/other-name');
    await put(s, '/z/plain', 'plain');
    await s.close();

    s = await open();
    expect(s.loader.loadedFolders).toBe(1);
    const st = await s.fs.getattr('/x/shared');
    expect(s.loader.loadedFolders).toBe(5); // /x named a hard-linked file: everything loaded
    expect(st.nlink).toBe(2);
    const fh = await s.fs.open('/x/shared', O_WRONLY);
    await s.fs.write(fh, 0, Buffer.from('VERSION 2'));
    s.fs.release(fh);
    await s.fs.chmod('/x/shared', 0o600);
    await s.snapshot();
    await s.close();

    s = await open();
    // Opened through the other name first: its folder's tree was rewritten with the change.
    expect(await read(s, '/y/deep/other-name')).toBe('VERSION 2');
    const other = await s.fs.getattr('/y/deep/other-name');
    expect(other.mode & 0o7777).toBe(0o600);
    expect(other.ino).toBe((await s.fs.getattr('/x/shared')).ino);
    await s.fs.unlink('/x/shared');
    expect((await s.fs.getattr('/y/deep/other-name')).nlink).toBe(1);
    await s.close();
    s = await open();
    expect((await s.fs.getattr('/y/deep/other-name')).nlink).toBe(1);
    expect(await errnoOf(() => s.fs.getattr('/x/shared'))).toBe('ENOENT');
    await s.close();
  });

  it('replays a crashed session\'s records on the whole tree, folders it never loaded included', async () => {
    await makeTree();
    const crashed = await open(); // never closed: its journal stays
    await put(crashed, '/a0/b0/added', 'after the snapshot');
    await crashed.fs.rename('/a1/b1', '/a2/b1-moved');
    await crashed.fs.unlink('/a2/b3/f0');
    crashed.fs.fsync(await crashed.fs.open('/a0/b0/added', O_RDONLY));
    const expected = await listing(crashed);
    const s = await open();
    expect(s.loader.loadedFolders).toBe(16);
    expect(await listing(s)).toEqual(expected);
    expect(await read(s, '/a0/b0/added')).toBe('after the snapshot');
    expect(s.table.counts().files).toBe(60);
    await s.close();
  });

  it('drops clean folders not used lately, and loads them again when a path or a kept node id names them', async () => {
    const before = await makeTree();
    const s = await open(12);
    const a0 = (await s.fs.lookup({ ino: 1 }, 'a0')).at as { ino: number };
    const b0 = (await s.fs.lookup(a0, 'b0')).at as { ino: number };
    const f0 = (await s.fs.lookup(b0, 'f0')).at as { ino: number };
    expect(await listing(s)).toEqual(before); // walks all 16 folders with room for 12 inodes
    expect(s.loader.droppedFolders).toBeGreaterThan(5);
    expect(s.table.size).toBeLessThan(40); // 79 inodes in all
    // The kernel still holds ids it was given: a dropped file, and a dropped folder's.
    expect(s.table.get(f0.ino)).toBeUndefined();
    expect((await s.fs.getattr(f0)).size).toBe('file 0.0.0'.length);
    const fh = await s.fs.open(f0, O_RDONLY);
    expect((await s.fs.read(fh, 0, 100)).toString()).toBe('file 0.0.0');
    s.fs.release(fh);
    await listing(s, '/a2'); // /a0 and /a0/b0 drop again
    expect(s.table.get(b0.ino)).toBeUndefined();
    expect((await s.fs.readdir(b0)).names.filter((n) => n.startsWith('f'))).toHaveLength(5);
    expect((await s.fs.lookup(b0, 'f4')).stat.size).toBe('file 0.0.4'.length);
    expect(await listing(s)).toEqual(before);
    await s.close();
  });

  it('keeps a folder in use even when it alone holds more entries than the limit (no reading it again per lookup)', async () => {
    let s = await open();
    await s.fs.mkdir('/maildir', 0o755);
    for (let i = 0; i < 60; i++) await put(s, `/maildir/m${i}`, `message ${i}`);
    await s.close();
    s = await open(12);
    const { names } = await s.fs.readdir('/maildir');
    for (const name of names.filter((n) => n.startsWith('m'))) expect((await s.fs.getattr(`/maildir/${name}`)).size).toBeGreaterThan(0);
    expect(s.loader.loadedFolders).toBe(2); // the root and /maildir, once
    expect(s.loader.droppedFolders).toBe(0);
    await s.close();
  });

  it('keeps changed folders and open files until they are stored, and a later snapshot stores them exactly', async () => {
    await makeTree();
    let s = await open(12);
    await put(s, '/a1/b1/new', 'new, not yet in a snapshot');
    await s.fs.chmod('/a1/b2/f2', 0o600);
    const open0 = await s.fs.open('/a2/b3/f0', O_WRONLY);
    await listing(s);
    await listing(s, '/a0');
    expect(s.loader.droppedFolders).toBeGreaterThan(3);
    expect(await read(s, '/a1/b1/new')).toBe('new, not yet in a snapshot');
    await s.fs.write(open0, 0, Buffer.from('FILE'));
    s.fs.release(open0);
    await listing(s);
    await s.snapshot();
    const expected = await listing(s);
    await s.close();
    s = await open(12);
    expect(await listing(s)).toEqual(expected);
    expect(await read(s, '/a2/b3/f0')).toBe('FILE 2.3.0');
    expect((await s.fs.getattr('/a1/b2/f2')).mode & 0o777).toBe(0o600);
    expect(s.table.counts().files).toBe(61);
    await s.close();
  });
});

describe('the map from dropped file ids to their folders', () => {
  it('answers as a plain map would through runs that split, merge and move, and past its run limit', () => {
    let seed = 5;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const map = new FolderOfIds();
    const plain = new Map<number, number>();
    const check = () => {
      expect(map.size).toBe(plain.size);
      for (let id = 0; id < 3000; id++) expect(map.get(id)).toBe(plain.get(id));
    };
    for (let round = 0; round < 400; round++) {
      const folder = 1 + random(7);
      const ids: number[] = [];
      const kind = random(3);
      if (kind === 0) for (let id = random(2500), n = random(60); n > 0; n--) ids.push(id++); // a run
      else if (kind === 1) for (let n = random(20); n > 0; n--) ids.push(2 + random(2990)); // scattered
      else for (let id = random(2500), n = random(40); n > 0; n--, id += 1 + random(3)) ids.push(id); // runs with gaps
      map.setAll(ids.sort(() => random(3) - 1), folder);
      for (const id of ids) plain.set(id, folder);
      if (round % 50 === 0) check();
    }
    check();
    expect(map.runCount).toBeGreaterThan(0);
    expect(map.runCount).toBeLessThan(plain.size);
    // A folder of consecutive ids is one run; ids past 2^32 and folders past 2^32 too.
    const runs = new FolderOfIds();
    runs.setAll(Array.from({ length: 100_000 }, (_, i) => 2 ** 33 + i), 2 ** 40);
    expect(runs.runCount).toBe(1);
    expect(runs.get(2 ** 33 + 99_999)).toBe(2 ** 40);
    expect(runs.get(2 ** 33 + 100_000)).toBeUndefined();
    runs.setAll([2 ** 33 + 100_000, 2 ** 33 + 100_001], 2 ** 40); // touching, same folder: one run
    expect(runs.runCount).toBe(1);
    runs.setAll([2 ** 33 + 5], 7); // one id moves: the run splits around it
    expect(runs.runCount).toBe(3);
    expect([runs.get(2 ** 33 + 4), runs.get(2 ** 33 + 5), runs.get(2 ** 33 + 6)]).toEqual([2 ** 40, 7, 2 ** 40]);
    // Too scattered for runs: the hash table takes over and keeps every answer.
    const scattered = new FolderOfIds();
    for (let id = 2; id < 2 * 70_000; id += 2) scattered.set(id, 1 + (id % 5));
    expect(scattered.runCount).toBe(0);
    expect(scattered.size).toBe(69_999);
    expect(scattered.get(1000)).toBe(1);
    expect(scattered.get(1001)).toBeUndefined();
    scattered.setAll([1001, 1000], 9);
    expect(scattered.get(1000)).toBe(9);
    expect(scattered.get(1001)).toBe(9);
  });

  it('keeps a million ids in typed arrays, the last folder named for each, and ids past 2^32 beside them', () => {
    const map = new FolderOfIds();
    for (let id = 2; id < 1_000_002; id++) map.set(id, 1 + (id % 1000));
    map.set(500, 77);
    map.set(2 ** 40, 3);
    map.set(600, 2 ** 33);
    expect(map.size).toBe(1_000_001);
    expect(map.get(2)).toBe(3);
    expect(map.get(999_999)).toBe(1000);
    expect(map.get(500)).toBe(77);
    expect(map.get(600)).toBe(2 ** 33);
    expect(map.get(2 ** 40)).toBe(3);
    expect(map.get(1_000_002)).toBeUndefined();
    expect(map.get(2 ** 41)).toBeUndefined();
  });
});
