/**
 * forget + prune on a real local store, in-process: kept snapshots read back identically,
 * the store shrinks by what only forgotten snapshots used, and a prune interrupted after any
 * step leaves a store that checks clean and that the next prune finishes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { isCairnError } from '../../src/errors/errors.js';
import { archiveDirectory } from '../../src/repository/archiver.js';
import { checkRepository } from '../../src/repository/check.js';
import { ContentReader } from '../../src/repository/file-content.js';
import { forgetSnapshots } from '../../src/repository/forget.js';
import { type PruneStep, pruneRepository } from '../../src/repository/prune.js';
import { Repository } from '../../src/repository/repository.js';
import { packBytes, passphrase, tempDir } from '../helpers/store.js';

const MiB = 1024 * 1024;
const secret = passphrase('prune test');

/** path → SHA-256 of content, for every file of a snapshot's tree. */
async function fingerprint(repo: Repository, treeId: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const node of (await repo.loadTree(treeId)).nodes) {
    const name = `${prefix}${node.name}`;
    if (node.subtree) Object.assign(out, await fingerprint(repo, node.subtree, `${name}/`));
    else if (node.content) {
      const reader = new ContentReader(repo, node.content);
      out[name] = createHash('sha256').update(await reader.read(0, reader.size)).digest('hex');
    }
  }
  return out;
}


async function errorsOf(store: string, readData = false): Promise<string[]> {
  const repo = await Repository.open(new LocalBackend(store), secret, { skipIndex: true });
  const report = await checkRepository(repo, { readData });
  await repo.close();
  return report.problems.filter((p) => p.severity === 'error').map((p) => `${p.object}: ${p.message}`);
}

describe('forget and prune', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: string;
  const onlyInFirst = 6 * MiB + 4321;

  /** Three snapshots: {a, keep}, {keep, b}, {keep, b, c}. Only the first holds a. */
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    store = path.join(dir, 'store');
    const src = path.join(dir, 'src');
    await fs.mkdir(path.join(src, 'sub'), { recursive: true });
    const repo = await Repository.init(new LocalBackend(store), secret);
    const snap = async () => {
      const { tree, stats, nextFileId } = await archiveDirectory(repo, src);
      await repo.saveSnapshot({ tree, stats, nextFileId });
    };
    await fs.writeFile(path.join(src, 'a.bin'), randomBytes(onlyInFirst));
    await fs.writeFile(path.join(src, 'sub', 'keep.bin'), randomBytes(3 * MiB));
    await snap();
    await fs.rm(path.join(src, 'a.bin'));
    await fs.writeFile(path.join(src, 'b.bin'), randomBytes(5 * MiB));
    await snap();
    await fs.writeFile(path.join(src, 'sub', 'c.bin'), randomBytes(2 * MiB));
    await snap();
    await repo.close();
  });
  afterEach(async () => cleanup());

  async function keptFingerprints(): Promise<Map<string, Record<string, string>>> {
    const repo = await Repository.open(new LocalBackend(store), secret);
    const result = new Map<string, Record<string, string>>();
    for (const s of await repo.listSnapshots()) result.set(s.id, await fingerprint(repo, s.snapshot.tree));
    await repo.close();
    return result;
  }

  async function forgetFirst(): Promise<string> {
    const repo = await Repository.open(new LocalBackend(store), secret);
    const [first] = await repo.listSnapshots();
    await forgetSnapshots(repo, [first!]);
    await repo.close();
    return first!.id;
  }

  it('forgets a snapshot without breaking the chain, and prune frees what only it used', async () => {
    const forgotten = await forgetFirst();
    const before = await keptFingerprints();
    expect([...before.keys()]).not.toContain(forgotten);
    expect(before.size).toBe(2);
    await expect(fs.stat(path.join(store, 'snapshots', forgotten))).rejects.toThrow();
    expect(await errorsOf(store)).toEqual([]);

    const sizeBefore = await packBytes(store);
    const repo = await Repository.open(new LocalBackend(store), secret);
    // A dry run plans exactly what the real run then does: the same packs written, the same bytes.
    const planned = await pruneRepository(repo, { dryRun: true });
    const report = await pruneRepository(repo);
    expect(report.packs.repacked).toBeGreaterThan(0);
    expect(planned.packs).toEqual(report.packs);
    expect(planned.packBytesAfter).toBe(report.packBytesAfter);
    await repo.close();
    const freed = sizeBefore - (await packBytes(store));
    expect(report.packBytesBefore - report.packBytesAfter).toBe(freed);
    // a.bin sealed (40 bytes per chunk) plus the forgotten snapshot's own trees, no more.
    expect(freed).toBeGreaterThanOrEqual(onlyInFirst);
    expect(freed).toBeLessThan(onlyInFirst + 64 * 1024);
    expect(await keptFingerprints()).toEqual(before);
    expect(await errorsOf(store, true)).toEqual([]);

    // Nothing left to do: a second prune changes nothing.
    const again = await Repository.open(new LocalBackend(store), secret);
    const second = await pruneRepository(again);
    await again.close();
    expect(second.packBytesAfter).toBe(second.packBytesBefore);
    expect(second.indexFilesWritten).toBe(0);
  });

  it('numbers the next snapshot after the forgotten ones and refuses to forget the newest', async () => {
    const repo = await Repository.open(new LocalBackend(store), secret);
    const all = await repo.listSnapshots();
    await expect(forgetSnapshots(repo, [all[2]!])).rejects.toSatisfy((e) => isCairnError(e, 'USAGE'));
    await forgetSnapshots(repo, [all[1]!]);
    const next = await repo.saveSnapshot({ tree: all[2]!.snapshot.tree, stats: all[2]!.snapshot.stats });
    expect(next.snapshot.seq).toBe(4);
    expect(next.snapshot.previous).toBe(all[2]!.id);
    await repo.close();
    expect(await errorsOf(store)).toEqual([]);
  });

  it('check still finds a snapshot deleted without a forget record', async () => {
    const repo = await Repository.open(new LocalBackend(store), secret);
    const all = await repo.listSnapshots();
    await forgetSnapshots(repo, [all[0]!]);
    await repo.close();
    await fs.rm(path.join(store, 'snapshots', all[1]!.id));
    expect(await errorsOf(store)).toEqual([expect.stringContaining('snapshot #2: missing from the chain')]);
  });

  const interruptions: [PruneStep, number][] = [['pack-written', 1], ['index-written', 1], ['index-deleted', 1], ['index-deleted', 3], ['pack-deleted', 1], ['pack-deleted', 2]];
  for (const [step, nth] of interruptions) {
    it(`a prune stopped after ${step} #${nth} leaves a consistent store that the next prune finishes`, async () => {
      await forgetFirst();
      const before = await keptFingerprints();
      const sizeBefore = await packBytes(store);
      const repo = await Repository.open(new LocalBackend(store), secret);
      let seen = 0;
      const crash = new Error('simulated crash');
      await expect(pruneRepository(repo, { onStep: (s) => { if (s === step && ++seen === nth) throw crash; } })).rejects.toBe(crash);
      await repo.backend.close();
      expect(seen).toBe(nth);
      expect(await errorsOf(store, true)).toEqual([]);
      expect(await keptFingerprints()).toEqual(before);

      const again = await Repository.open(new LocalBackend(store), secret);
      await pruneRepository(again);
      await again.close();
      expect(await errorsOf(store, true)).toEqual([]);
      expect(await keptFingerprints()).toEqual(before);
      expect(sizeBefore - (await packBytes(store))).toBeGreaterThanOrEqual(onlyInFirst);
      expect(await fs.readdir(path.join(store, 'index'))).toHaveLength(1);
    });
  }
});
