/**
 * The frozen stores (scripts/make-fixture-store.mjs) must stay readable forever: format v1
 * (no file ids), format v2 (file ids; a hard-link group) and format v3 (compressed blobs).
 * A writable mount of a v1 store stores its snapshot again with file ids; any write raises
 * the config to the current version.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { ContentReader } from '../../src/repository/file-content.js';
import { Repository } from '../../src/repository/repository.js';
import { checkRepository } from '../../src/repository/check.js';
import { listKeySlots } from '../../src/repository/keyring.js';
import { decodeConfig } from '../../src/format/config.js';
import { LiveSession } from '../../src/vfs/session.js';
import { passphrase, tempDir } from '../helpers/store.js';

const FIXTURE = path.resolve(__dirname, '../fixtures/store-v1');
const FIXTURE_V2 = path.resolve(__dirname, '../fixtures/store-v2');
const FIXTURE_V3 = path.resolve(__dirname, '../fixtures/store-v3');
const FOX = 'The quick brown fox jumps over the lazy dog.\n'.repeat(1000);

/** What `check --read-data` finds wrong with the store (the repository closed afterwards). */
async function problemsOf(store: string, secret: string) {
  const repo = await Repository.open(new LocalBackend(store), passphrase(secret), { skipIndex: true });
  try {
    return (await checkRepository(repo, { readData: true })).problems;
  } finally {
    await repo.close();
  }
}

describe('frozen format v1 store', () => {
  it('opens, lists its snapshot and reads its file exactly', async () => {
    // Work on a copy: reading must not need to write, but a copy keeps the fixture pristine regardless.
    const { dir, cleanup } = await tempDir();
    try {
      const store = path.join(dir, 'store');
      await fs.cp(FIXTURE, store, { recursive: true });
      const repo = await Repository.open(new LocalBackend(store), passphrase('cairn fixture v1'));
      // Its key slot is binary, without the label header later slots carry: still described.
      const [slot] = await listKeySlots(new LocalBackend(store));
      expect(slot).toMatchObject({ nameMatches: true, description: { kdf: 'iterated', recipientSlot: false, label: null } });
      const [snap] = await repo.listSnapshots();
      expect(snap!.snapshot).toMatchObject({ seq: 1, host: 'fixture', user: 'cairn', tags: ['v1'], timeNs: 1763856000000000000n });
      const root = await repo.loadTree(snap!.snapshot.tree);
      expect(root.nodes.map((n) => [n.name, n.type])).toEqual([['docs', 'dir'], ['latest', 'symlink']]);
      expect(root.nodes[1]!.target).toBe('docs/fox.txt');
      const docs = await repo.loadTree(root.nodes[0]!.subtree!);
      const fox = docs.nodes[0]!;
      expect(fox.mtimeNs).toBe(1763856000123456789n);
      const reader = new ContentReader(repo, fox.content!);
      expect((await reader.read(0, reader.size)).toString()).toBe('The quick brown fox jumps over the lazy dog.\n'.repeat(1000));
      expect(await problemsOf(store, 'cairn fixture v1')).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('format v2: reads its file ids, a hard-link group shares one, and the view shows them as one file', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const store = path.join(dir, 'store');
      await fs.cp(FIXTURE_V2, store, { recursive: true });
      const repo = await Repository.open(new LocalBackend(store), passphrase('cairn fixture v2'));
      const [snap] = await repo.listSnapshots();
      expect(snap!.snapshot).toMatchObject({ seq: 1, host: 'fixture', tags: ['v2'], nextFileId: 5 });
      const root = await repo.loadTree(snap!.snapshot.tree);
      expect(root.version).toBe(2);
      const docs = await repo.loadTree(root.nodes[0]!.subtree!);
      expect(docs.nodes.map((n) => [n.name, n.fileId, n.links])).toEqual([['fox-link.txt', 3, 2], ['fox.txt', 3, 2]]);
      const reader = new ContentReader(repo, docs.nodes[1]!.content!);
      expect((await reader.read(0, reader.size)).toString()).toBe(FOX);
      const { session } = await LiveSession.open(repo, { stateDir: path.join(dir, 'state'), uid: 0, gid: 0, readOnly: true });
      const a = await session.fs.getattr('/docs/fox.txt');
      expect(a).toMatchObject({ ino: 3n, nlink: 2 });
      expect(await session.fs.getattr('/docs/fox-link.txt')).toMatchObject({ ino: 3n, nlink: 2 });
      const folder = await session.fs.readlink('/.snapshots/latest');
      const viewA = await session.fs.getattr(`/.snapshots/${folder}/docs/fox.txt`);
      const viewB = await session.fs.getattr(`/.snapshots/${folder}/docs/fox-link.txt`);
      expect(viewA.ino).toBe(viewB.ino);
      expect(viewA.ino).toBe((1n << 63n) | (1n << 40n) | 3n); // seq 1, file id 3 (docs/FORMAT.md)
      expect(viewA.nlink).toBe(2);
      await session.close();
      expect(await problemsOf(store, 'cairn fixture v2')).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('format v3: a compressed and a raw file read back exactly; the index records both encodings and true lengths', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const store = path.join(dir, 'store');
      await fs.cp(FIXTURE_V3, store, { recursive: true });
      const repo = await Repository.open(new LocalBackend(store), passphrase('cairn fixture v3'));
      const [snap] = await repo.listSnapshots();
      expect(snap!.snapshot).toMatchObject({ seq: 1, host: 'fixture', tags: ['v3'], nextFileId: 6 });
      const root = await repo.loadTree(snap!.snapshot.tree);
      const docs = await repo.loadTree(root.nodes[0]!.subtree!);
      expect(docs.nodes.map((n) => [n.name, n.fileId, n.links])).toEqual([['fox-link.txt', 3, 2], ['fox.txt', 3, 2], ['noise.bin', 5, 1]]);
      const fox = docs.nodes[1]!;
      const noise = docs.nodes[2]!;
      expect((await new ContentReader(repo, fox.content!).read(0, 1 << 20)).toString()).toBe(FOX);
      const noiseBytes = await new ContentReader(repo, noise.content!).read(0, 1 << 20);
      expect(noiseBytes.length).toBe(65536);
      expect(noiseBytes.subarray(0, 32)).toEqual(createHash('sha256').update('0').digest());
      expect(repo.index.lookup(fox.content![0]!)).toMatchObject({ encoding: 'zstd', plainLength: FOX.length });
      expect(repo.index.lookup(fox.content![0]!)!.length).toBeLessThan(500);
      expect(repo.index.lookup(noise.content![0]!)).toMatchObject({ encoding: 'raw', plainLength: 65536, length: 65576 });
      expect(repo.index.lookup(snap!.snapshot.tree)).toMatchObject({ type: 'tree', encoding: 'zstd' });
      expect(await problemsOf(store, 'cairn fixture v3')).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('format v2 written to: old blobs still read beside compressed new ones, config says version 3', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const store = path.join(dir, 'store');
      await fs.cp(FIXTURE_V2, store, { recursive: true });
      const repo = await Repository.open(new LocalBackend(store), passphrase('cairn fixture v2'));
      const saved = await repo.saveBlob('data', Buffer.from(FOX.repeat(3)));
      await repo.flush();
      expect(decodeConfig(await fs.readFile(path.join(store, 'config')), store).version).toBe(3);
      expect(repo.index.lookup(saved.id)).toMatchObject({ encoding: 'zstd', plainLength: FOX.length * 3 });
      const [snap] = await repo.listSnapshots();
      const docs = await repo.loadTree((await repo.loadTree(snap!.snapshot.tree)).nodes[0]!.subtree!);
      expect(repo.index.lookup(docs.nodes[1]!.content![0]!)).toMatchObject({ encoding: 'raw' });
      expect((await new ContentReader(repo, docs.nodes[1]!.content!).read(0, 1 << 20)).toString()).toBe(FOX);
      await repo.close();
      expect(await problemsOf(store, 'cairn fixture v2')).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('format v1 mounted for writing: stored again with file ids (tag format-upgrade), same files, config says version 3', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const store = path.join(dir, 'store');
      await fs.cp(FIXTURE, store, { recursive: true });
      const repo = await Repository.open(new LocalBackend(store), passphrase('cairn fixture v1'));
      const { session } = await LiveSession.open(repo, { stateDir: path.join(dir, 'state'), uid: 0, gid: 0 });
      const snapshots = await repo.listSnapshots();
      expect(snapshots.map((s) => s.snapshot.tags)).toEqual([['v1'], ['format-upgrade']]);
      const upgraded = snapshots[1]!.snapshot;
      const root = await repo.loadTree(upgraded.tree);
      expect(root.version).toBe(2);
      const docs = await repo.loadTree(root.nodes.find((n) => n.name === 'docs')!.subtree!);
      expect(docs.version).toBe(2);
      expect(upgraded.nextFileId).toBeGreaterThan(Math.max(...root.nodes.map((n) => n.fileId), ...docs.nodes.map((n) => n.fileId)));
      const fh = await session.fs.open('/docs/fox.txt', 0);
      expect((await session.fs.read(fh, 0, 100_000)).toString()).toBe(FOX);
      session.fs.release(fh);
      // The v1 snapshot stays browsable, each entry with its own inode number.
      const folders = (await session.fs.readdir('/.snapshots')).names;
      const old = await session.fs.getattr(`/.snapshots/${folders[0]}/docs/fox.txt`);
      const oldDir = await session.fs.getattr(`/.snapshots/${folders[0]}/docs`);
      expect(old.ino).not.toBe(oldDir.ino);
      expect((await session.fs.getattr(`/.snapshots/${folders[0]}/docs/fox.txt`)).ino).toBe(old.ino);
      await session.close();
      expect(decodeConfig(await fs.readFile(path.join(store, 'config')), store).version).toBe(3);
      expect(await problemsOf(store, 'cairn fixture v1')).toEqual([]);
    } finally {
      await cleanup();
    }
  });
});
