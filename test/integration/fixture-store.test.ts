/** The frozen format-v1 store (scripts/make-fixture-store.mjs) must stay readable forever. */
import { describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { ContentReader } from '../../src/repository/file-content.js';
import { Repository } from '../../src/repository/repository.js';
import { checkRepository } from '../../src/repository/check.js';
import { passphrase, tempDir } from '../helpers/store.js';

const FIXTURE = path.resolve(__dirname, '../fixtures/store-v1');

describe('frozen format v1 store', () => {
  it('opens, lists its snapshot and reads its file exactly', async () => {
    // Work on a copy: reading must not need to write, but a copy keeps the fixture pristine regardless.
    const { dir, cleanup } = await tempDir();
    try {
      const store = path.join(dir, 'store');
      await fs.cp(FIXTURE, store, { recursive: true });
      const repo = await Repository.open(new LocalBackend(store), passphrase('cairn fixture v1'));
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
      const report = await checkRepository(await Repository.open(new LocalBackend(store), passphrase('cairn fixture v1'), { skipIndex: true }), { readData: true });
      expect(report.problems).toEqual([]);
    } finally {
      await cleanup();
    }
  });
});
