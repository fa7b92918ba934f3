/**
 * docs/FORMAT.md's promise, checked by a reader that shares no code with cairn:
 * test/format-reader/read_store.py was written from the document alone (Python's standard
 * library, python3-cryptography's IETF ChaCha20-Poly1305, stock gpg, the zstd command). It
 * reads a whole store: every index file, pack header, snapshot, tree and file. The store is
 * made the ways users make one: a mount written twice (cp -a of a tree, then changes), a
 * `cairn backup`, then `cairn forget` of the first snapshot and `cairn prune` (superseding
 * index files, repacked packs), and the index files prune replaced put back. What the
 * reader finds must be exactly the trees written. It also reads the frozen stores of every
 * format version in test/fixtures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { cairn, run } from '../helpers/cli.js';
import { mount, unmountAll } from '../helpers/mount.js';
import { tempDir } from '../helpers/store.js';

const READER = path.resolve('test/format-reader/read_store.py');
const secret = 'read me by the document';

interface PathEntry {
  type: string;
  mode: number;
  size: number;
  links: number;
  fileId: number;
  mtime: string;
  xattrs?: Record<string, string>;
  sha256?: string;
  target?: string;
}

/** A path's extended attributes as getfattr shows them (name -> hex value), or undefined for none. */
function xattrsOf(file: string): Record<string, string> | undefined {
  const shown = execFileSync('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', file], { encoding: 'utf8' });
  const pairs = shown.split('\n').filter((line) => line.includes('=')).map((line) => {
    const at = line.indexOf('=');
    return [line.slice(0, at), line.slice(at + 3)] as const; // the value after "=0x"
  });
  return pairs.length > 0 ? Object.fromEntries(pairs) : undefined;
}

/** A local tree as the reader reports one: path -> entry, and which paths are one file (by inode). */
function manifest(root: string, prefix = ''): { paths: Map<string, Omit<PathEntry, 'fileId'>>; groups: Map<string, string> } {
  const paths = new Map<string, Omit<PathEntry, 'fileId'>>();
  const groups = new Map<string, string>(); // path -> its inode, as text
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const p = rel + name;
      const st = lstatSync(full);
      const xattrs = xattrsOf(full);
      const common = { mode: st.mode & 0o7777, links: st.nlink, mtime: String(lstatSync(full, { bigint: true }).mtimeNs), ...(xattrs ? { xattrs } : {}) };
      if (st.isDirectory()) {
        paths.set(p, { type: 'dir', size: 0, ...common });
        walk(full, `${p}/`);
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(full);
        paths.set(p, { type: 'symlink', size: Buffer.byteLength(target), target, ...common });
      } else {
        paths.set(p, { type: 'file', size: st.size, sha256: createHash('sha256').update(readFileSync(full)).digest('hex'), ...common });
        groups.set(p, String(st.ino));
      }
    }
  };
  walk(root, prefix);
  return { paths, groups };
}

/** Paths grouped by a key (inode or file id): the sets of names of one file. */
function linkGroups(keys: Map<string, string>): string[] {
  const byKey = new Map<string, string[]>();
  for (const [p, k] of keys) byKey.set(k, [...(byKey.get(k) ?? []), p]);
  return [...byKey.values()].map((g) => g.sort().join(' = ')).sort();
}

describe('a whole store read by docs/FORMAT.md alone (a Python reader)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: string;
  const env = { CAIRN_PASSWORD: secret };

  beforeAll(async () => ({ dir, cleanup } = await tempDir('cairn-format-reader-')));
  afterAll(async () => {
    await unmountAll();
    await cleanup();
  });

  async function makeTree(root: string, seed: number) {
    await fs.mkdir(path.join(root, 'docs/deeper'), { recursive: true });
    await fs.writeFile(path.join(root, 'docs/notes.txt'), `note ${seed}\n`.repeat(40_000)); // compresses: a zstd blob
    await fs.writeFile(path.join(root, 'docs/deeper/photo.raw'), randomBytes(3 * 1024 * 1024 + seed)); // several raw chunks
    await fs.writeFile(path.join(root, 'empty'), '');
    await fs.writeFile(path.join(root, 'secret.key'), randomBytes(100), { mode: 0o600 });
    await fs.symlink('docs/notes.txt', path.join(root, 'notes-link'));
    await fs.link(path.join(root, 'docs/notes.txt'), path.join(root, 'notes-hard'));
    await fs.chmod(path.join(root, 'docs/deeper'), 0o750);
    execFileSync('setfattr', ['-n', 'user.comment', '-v', `written for seed ${seed}`, path.join(root, 'docs/notes.txt')]);
    execFileSync('setfattr', ['-n', 'user.raw', '-v', '0x00ff10', path.join(root, 'docs')]);
    // A time to the nanosecond, set last (the link above changed the folder's).
    await fs.utimes(path.join(root, 'empty'), 1_700_000_000.5, 1_700_000_000.123456);
  }

  it('reads the frozen stores of versions 1, 2 and 3 (index and pack header version 1, trees without file ids)', async () => {
    const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    const fox = sha(Buffer.from('The quick brown fox jumps over the lazy dog.\n'.repeat(1000)));
    const noise = sha(Buffer.concat(Array.from({ length: 2048 }, (_, i) => createHash('sha256').update(String(i)).digest())));
    for (const version of [1, 2, 3]) {
      const passFile = path.join(dir, `fixture-v${version}.pw`);
      await fs.writeFile(passFile, `cairn fixture v${version}\n`);
      const gnupg = path.join(dir, `gnupg-v${version}`);
      await fs.mkdir(gnupg, { mode: 0o700 });
      const read = await run('/usr/bin/python3', [READER, path.resolve(`test/fixtures/store-v${version}`), passFile, gnupg]);
      expect(read.code, `store-v${version}: the reader said: ${read.stderr}`).toBe(0);
      const [snapshot, ...more] = (JSON.parse(read.stdout) as { snapshots: { tags: string[]; paths: Record<string, PathEntry> }[] }).snapshots;
      expect(more).toEqual([]);
      expect(snapshot!.tags).toEqual([`v${version}`]);
      const shown = Object.fromEntries(Object.entries(snapshot!.paths).map(([p, e]) => [p, [e.type, e.fileId ?? null, e.sha256 ?? e.target ?? null]]));
      // Version 1 has no file ids (and no second name); README.md in test/fixtures says what each holds.
      const expected: Record<string, unknown[]> = version === 1
        ? { docs: ['dir', null, null], 'docs/fox.txt': ['file', null, fox], latest: ['symlink', null, 'docs/fox.txt'] }
        : { docs: ['dir', 2, null], 'docs/fox.txt': ['file', 3, fox], 'docs/fox-link.txt': ['file', 3, fox], latest: ['symlink', 4, 'docs/fox.txt'] };
      if (version === 3) expected['docs/noise.bin'] = ['file', 5, noise];
      expect(shown, `store-v${version}`).toEqual(expected);
    }
  });

  it('finds every snapshot that is not forgotten, and in each exactly the files, links and bytes written', { timeout: 180_000 }, async () => {
    store = path.join(dir, 'store');
    const mnt = path.join(dir, 'mnt');
    const state = path.join(dir, 'state');
    const passFile = path.join(dir, 'pw');
    await fs.writeFile(passFile, `${secret}\n`);
    const gnupg = path.join(dir, 'gnupg');
    await fs.mkdir(gnupg, { mode: 0o700 });
    expect((await cairn(['init', store], env)).code).toBe(0);

    // Snapshot 1, through the mount: a tree copied in with cp -a.
    const first = path.join(dir, 'first');
    await makeTree(first, 1);
    let m = await mount(store, mnt, state, env);
    execFileSync('cp', ['-a', `${first}/.`, mnt]);
    expect(await m.unmount()).toBe(0);

    // Snapshot 2, through the mount again: a rewrite, an append, a delete, a new folder.
    m = await mount(store, mnt, state, env);
    await fs.writeFile(path.join(mnt, 'docs/deeper/photo.raw'), randomBytes(2 * 1024 * 1024));
    await fs.appendFile(path.join(mnt, 'docs/notes.txt'), 'one more line\n');
    await fs.unlink(path.join(mnt, 'secret.key'));
    await fs.mkdir(path.join(mnt, 'later'));
    await fs.writeFile(path.join(mnt, 'later/small.txt'), 'small\n');
    const second = manifest(mnt);
    expect(await m.unmount()).toBe(0);

    // Snapshot 3, by `cairn backup` into /b, beside what the mount wrote.
    const source = path.join(dir, 'backup-source');
    await makeTree(source, 3);
    const backup = await cairn(['backup', store, source, '/b'], env);
    expect(backup.code, backup.stderr).toBe(0);
    const third = manifest(source, 'b/');

    // Snapshot 1 forgotten and pruned away: index files superseded, packs repacked.
    const snapshots = JSON.parse((await cairn(['snapshots', store, '--json'], env)).stdout) as { id: string; seq?: number }[];
    expect(snapshots).toHaveLength(3);
    const oldest = snapshots.find((s) => s.seq === 1) ?? snapshots[0]!;
    expect((await cairn(['forget', store, oldest.id], env)).code).toBe(0);
    const oldIndex = path.join(dir, 'index-before-prune');
    execFileSync('cp', ['-a', path.join(store, 'index'), oldIndex]);
    const prune = await cairn(['prune', store], env);
    expect(prune.code, prune.stderr).toBe(0);
    // The index files prune replaced, put back (as a sync tool restoring old copies would):
    // they name packs prune deleted, and a reader must ignore them (FORMAT.md "Index files").
    execFileSync('cp', ['-an', `${oldIndex}/.`, path.join(store, 'index')]);

    const read = await run('/usr/bin/python3', [READER, store, passFile, gnupg]);
    expect(read.code, `the reader said: ${read.stderr}`).toBe(0);
    const found = JSON.parse(read.stdout) as {
      snapshots: { id: string; seq: number; paths: Record<string, PathEntry> }[];
      store: { indexFiles: number; supersedingIndexFiles: number; supersededIndexFiles: number; packs: number; blobsByEncoding: Record<string, number> };
    };
    // The parts of the document this store exercises: prune's superseding index with the old
    // files present again, and both encodings.
    expect(found.store.supersedingIndexFiles).toBeGreaterThan(0);
    expect(found.store.supersededIndexFiles).toBeGreaterThan(0);
    expect(found.store.blobsByEncoding['0']).toBeGreaterThan(0);
    expect(found.store.blobsByEncoding['1']).toBeGreaterThan(0);
    expect(found.snapshots.map((s) => s.seq)).toEqual([2, 3]);
    expect(found.snapshots.map((s) => s.id)).not.toContain(oldest.id);

    const expectations: [number, ReturnType<typeof manifest>][] = [
      [0, second],
      [1, { paths: new Map([...second.paths, ['b', { type: 'dir', size: 0, mode: lstatSync(source).mode & 0o7777, links: lstatSync(source).nlink, mtime: String(lstatSync(source, { bigint: true }).mtimeNs) }], ...third.paths]), groups: new Map([...second.groups, ...third.groups]) }],
    ];
    for (const [i, expected] of expectations) {
      const got = found.snapshots[i]!.paths;
      expect(Object.keys(got).sort(), `snapshot ${found.snapshots[i]!.seq}: paths`).toEqual([...expected.paths.keys()].sort());
      for (const [p, want] of expected.paths) {
        const { fileId: _fileId, ...entry } = got[p]!;
        expect(entry, `snapshot ${found.snapshots[i]!.seq}: ${p}`).toEqual(want);
      }
      // One file id for exactly the names of one file.
      const ids = new Map(Object.entries(got).filter(([, e]) => e.type === 'file').map(([p, e]) => [p, String(e.fileId)]));
      expect(linkGroups(ids)).toEqual(linkGroups(expected.groups));
    }
  });
});
