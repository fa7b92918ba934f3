/**
 * A folder's stored link count is 2 + the subfolders its tree names (docs/FORMAT.md "Tree
 * blobs"), whatever the source filesystem counts: a mount shows an unloaded folder's link
 * count from it (src/vfs/folder-loader.ts). Excluded subfolders are not counted.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { MemoryBackend } from '../../src/backend/memory.js';
import { archiveDirectory } from '../../src/repository/archiver.js';
import { Repository } from '../../src/repository/repository.js';
import { passphrase, tempDir } from '../helpers/store.js';

describe('folder link counts in stored trees', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('are 2 + the stored subfolders, not the source filesystem\'s count', async () => {
    const source = path.join(dir, 'src');
    for (const sub of ['top/a', 'top/b', 'top/cache', 'top/b/deeper']) mkdirSync(path.join(source, sub), { recursive: true });
    writeFileSync(path.join(source, 'top/file'), 'x');
    const repo = await Repository.init(new MemoryBackend(), passphrase('links'));
    const archived = await archiveDirectory(repo, source, { exclude: (rel) => rel === 'top/cache' });
    expect(archived.subfolders).toBe(1);
    const top = (await repo.loadTree(archived.tree)).nodes.find((n) => n.name === 'top')!;
    expect(top.links).toBe(2 + 2); // a and b; the excluded cache is not stored (ext4 says 5)
    const inside = (await repo.loadTree(top.subtree!)).nodes;
    expect(Object.fromEntries(inside.map((n) => [n.name, n.links]))).toEqual({ a: 2, b: 3, file: 1 });
  });
});
