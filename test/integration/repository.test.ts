import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { isCairnError } from '../../src/errors/errors.js';
import { ContentReader, saveContent } from '../../src/repository/file-content.js';
import { Repository } from '../../src/repository/repository.js';
import { checkRepository } from '../../src/repository/check.js';
import type { TreeNode } from '../../src/format/tree.js';
import { passphrase, tempDir } from '../helpers/store.js';

const fileNode = (name: string, content: string[], size: number): TreeNode => ({
  name, type: 'file', mode: 0o644, uid: 1000, gid: 1000, size,
  mtimeNs: 1_732_280_000_123_456_789n, atimeNs: 1_732_280_000_000_000_001n, ctimeNs: 1_732_280_001_999_999_999n,
  fileId: 7, links: 1, content, xattrs: [{ name: 'user.note', value: Buffer.from('hi') }],
});

describe('repository on a local folder', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: string;
  const big = randomBytes(9 * 1024 * 1024 + 12345);

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    store = path.join(dir, 'store');
  });
  afterAll(async () => cleanup());

  it('initialises, stores a file and a snapshot, and reads everything back after reopening', async () => {
    const repo = await Repository.init(new LocalBackend(store), passphrase('correct horse'));
    const saved = await saveContent(repo, [big.subarray(0, 1_000_000), big.subarray(1_000_000)]);
    expect(saved.size).toBe(big.length);
    expect(saved.content.length).toBeGreaterThan(3);
    const tree = await repo.saveTree({ nodes: [fileNode('big.bin', saved.content, saved.size)] });
    const snap = await repo.saveSnapshot({ tree: tree.id, stats: { files: 1, dirs: 1, bytes: big.length, addedBytes: saved.addedBytes + tree.addedBytes }, tags: ['first'] });
    expect(snap.snapshot.seq).toBe(1);
    expect(snap.snapshot.previous).toBeNull();
    await repo.close();

    const again = await Repository.open(new LocalBackend(store), passphrase('correct horse'));
    const [listed] = await again.listSnapshots();
    expect(listed!.id).toBe(snap.id);
    expect(listed!.snapshot.tags).toEqual(['first']);
    const loadedTree = await again.loadTree(listed!.snapshot.tree);
    const node = loadedTree.nodes[0]!;
    expect(node.mtimeNs).toBe(1_732_280_000_123_456_789n);
    expect(Buffer.from(node.xattrs![0]!.value).toString()).toBe('hi');
    const reader = new ContentReader(again, node.content!);
    expect(reader.size).toBe(big.length);
    expect((await reader.read(0, big.length)).equals(big)).toBe(true);
    for (const [offset, length] of [[0, 1], [1_048_575, 3], [5_000_000, 2_000_000], [big.length - 10, 100]] as const) {
      expect((await reader.read(offset, length)).equals(big.subarray(offset, offset + length))).toBe(true);
    }
    expect((await reader.read(big.length, 10)).length).toBe(0);
  });

  it('dedups: storing the same content again adds nothing', async () => {
    const repo = await Repository.open(new LocalBackend(store), passphrase('correct horse'));
    const again = await saveContent(repo, [big]);
    expect(again.addedBytes).toBe(0);
    await repo.close();
  });

  it('writes index files while a long run stores packs, and one that failed is written by the next', async () => {
    const local = new LocalBackend(path.join(dir, 'store-index'));
    await (await Repository.init(local, passphrase('p'))).close();
    // Index puts fail while `failIndex` is set; every other request goes through.
    let failIndex = true;
    let indexPutsTried = 0;
    const backend = new Proxy(local, {
      get(target, key) {
        if (key === 'put') {
          return (ref: { kind: string }, data: Uint8Array) => {
            if (ref.kind !== 'index') return target.put(ref as never, data);
            indexPutsTried++;
            return failIndex ? Promise.reject(new Error('injected index failure')) : target.put(ref as never, data);
          };
        }
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const until = async (what: string, test: () => Promise<boolean> | boolean) => {
      for (let i = 0; i < 500 && !(await test()); i++) await new Promise((r) => setTimeout(r, 20));
      expect(await test(), what).toBe(true);
    };
    const repo = await Repository.open(backend, passphrase('p'), { indexFileBlobs: 100 });
    const blobs = new Map<string, Buffer>();
    const save = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const data = randomBytes(64 * 1024);
        blobs.set((await repo.saveBlob('data', data)).id, data);
      }
    };
    await save(300); // 8 MiB packs of 64 KiB blobs: two packs stored, each past 100 blobs
    await until('an index write was tried', () => indexPutsTried >= 1);
    expect(await local.list('index')).toEqual([]);
    failIndex = false;
    await save(300);
    await until('an index file is written during the run', async () => (await local.list('index')).length >= 1);
    await repo.flush();

    const named = new Map<string, number>();
    const { readable, damaged } = await repo.readIndexFiles();
    expect(damaged).toEqual([]);
    expect(readable.length).toBeGreaterThanOrEqual(2);
    for (const { file } of readable) {
      for (const pack of file.packs) for (const blob of pack.blobs) named.set(Buffer.from(blob.id).toString('hex'), (named.get(Buffer.from(blob.id).toString('hex')) ?? 0) + 1);
    }
    expect([...named.keys()].sort()).toEqual([...blobs.keys()].sort());
    expect([...named.values()].every((n) => n === 1), 'every blob in exactly one index file').toBe(true);
    await repo.close();

    const again = await Repository.open(local, passphrase('p'));
    for (const [id, data] of blobs) expect(Buffer.from(await again.loadBlob('data', id)).equals(data)).toBe(true);
    await again.close();
  });

  it('chains snapshots', async () => {
    const repo = await Repository.open(new LocalBackend(store), passphrase('correct horse'));
    const [first] = await repo.listSnapshots();
    const tree = await repo.saveTree({ nodes: [] });
    const second = await repo.saveSnapshot({ tree: tree.id, stats: { files: 0, dirs: 1, bytes: 0, addedBytes: tree.addedBytes } });
    expect(second.snapshot.seq).toBe(2);
    expect(second.snapshot.previous).toBe(first!.id);
    await repo.close();
  });

  it('refuses a wrong passphrase with WRONG_KEY and opens with an added key file', async () => {
    await expect(Repository.open(new LocalBackend(store), passphrase('wrong'))).rejects.toSatisfy((e) => isCairnError(e, 'WRONG_KEY'));
    const repo = await Repository.open(new LocalBackend(store), passphrase('correct horse'));
    const keyfile = randomBytes(64);
    await repo.addKey({ kind: 'keyfile', contents: keyfile });
    await repo.close();
    const byKeyfile = await Repository.open(new LocalBackend(store), { kind: 'keyfile', contents: keyfile });
    expect(byKeyfile.id).toBe(repo.id);
    await expect(Repository.open(new LocalBackend(store), { kind: 'keyfile', contents: randomBytes(64) })).rejects.toSatisfy((e) => isCairnError(e, 'WRONG_KEY'));
  });

  it('refuses init on a non-empty folder or an existing repository', async () => {
    await expect(Repository.init(new LocalBackend(store), passphrase('x'))).rejects.toSatisfy((e) => isCairnError(e, 'EXISTS'));
    const other = path.join(dir, 'nonempty');
    await fs.mkdir(other);
    await fs.writeFile(path.join(other, 'precious.txt'), 'keep me');
    await expect(Repository.init(new LocalBackend(other), passphrase('x'))).rejects.toSatisfy((e) => isCairnError(e, 'EXISTS'));
    expect(await fs.readFile(path.join(other, 'precious.txt'), 'utf8')).toBe('keep me');
  });

  it('passes check --read-data, and names a pack with one flipped byte without returning its data', async () => {
    const repo = await Repository.open(new LocalBackend(store), passphrase('correct horse'), { skipIndex: true });
    const clean = await checkRepository(repo, { readData: true });
    expect(clean.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(clean.counts.packsRead).toBeGreaterThan(0);

    // The largest pack holds data chunks of big.bin (tree packs are tiny).
    const backend = new LocalBackend(store);
    const packs = await backend.list('data');
    const sizes = await Promise.all(packs.map(async (name) => ({ name, size: (await backend.size({ kind: 'data', name }))! })));
    const victim = sizes.sort((a, b) => b.size - a.size)[0]!.name;
    const file = path.join(store, 'data', victim.slice(0, 2), victim);
    const bytes = await fs.readFile(file);
    bytes[100]! ^= 0x01;
    await fs.writeFile(file, bytes);

    const damaged = await Repository.open(new LocalBackend(store), passphrase('correct horse'), { skipIndex: true });
    const report = await checkRepository(damaged, { readData: true });
    const errors = report.problems.filter((p) => p.severity === 'error');
    expect(errors.some((p) => p.object === `data/${victim.slice(0, 2)}/${victim}` && /SHA-256/.test(p.message))).toBe(true);
    expect(errors.some((p) => /authentication failed/.test(p.message))).toBe(true);

    // Reading the file now fails loudly instead of returning altered bytes.
    const reader = await Repository.open(new LocalBackend(store), passphrase('correct horse'));
    const [first] = await reader.listSnapshots();
    const node = (await reader.loadTree(first!.snapshot.tree)).nodes[0]!;
    const content = new ContentReader(reader, node.content!);
    await expect(content.read(0, content.size)).rejects.toSatisfy((e) => isCairnError(e, 'CORRUPT'));
  });
});

describe('docs/FORMAT.md worked examples', () => {
  it('stores a 1-byte blob as a 132-byte pack', async () => {
    const { MemoryBackend } = await import('../../src/backend/memory.js');
    const backend = new MemoryBackend();
    const repo = await Repository.init(backend, passphrase('x'));
    await repo.saveBlob('data', Buffer.from('x'));
    await repo.flush();
    const packs = [...backend.objects.entries()].filter(([name]) => name.startsWith('data/'));
    expect(packs.map(([, bytes]) => bytes.length)).toEqual([132]);
  });
});
