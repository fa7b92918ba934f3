import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DecodeError, toHex } from '../../src/format/bytes.js';
import { SEAL_OVERHEAD } from '../../src/crypto/aead.js';
import { encodeIndexFile, type IndexedPack } from '../../src/format/index-file.js';
import { MasterIndex } from '../../src/repository/master-index.js';
import { BLOCK_RECORDS, LocalIndexError, SortedIndexBuilder } from '../../src/repository/sorted-index.js';
import { Random } from '../helpers/random.js';

const dir = mkdtempSync(path.join(tmpdir(), 'cairn-sorted-index-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Blob = IndexedPack['blobs'][number];

/** Index files of random packs; ids from `makeId`, now and then one stored again (a later copy). */
function indexFiles(random: Random, files: number, makeId: () => Buffer): { packs: IndexedPack[] }[] {
  const ids: Buffer[] = [];
  const result: { packs: IndexedPack[] }[] = [];
  for (let f = 0; f < files; f++) {
    const packs: IndexedPack[] = [];
    for (let p = 0, n = 1 + random.int(6); p < n; p++) {
      const blobs: Blob[] = [];
      for (let b = 0, count = random.int(900); b < count; b++) {
        const id = ids.length > 0 && random.chance(0.04) ? ids[random.int(ids.length)]! : makeId();
        ids.push(id);
        const encoding = random.chance(0.5) ? 'zstd' : 'raw';
        const length = SEAL_OVERHEAD + random.int(4 << 20);
        const plainLength = encoding === 'raw' ? length - SEAL_OVERHEAD : random.int(0xffffffff);
        blobs.push({ type: random.chance(0.2) ? 'tree' : 'data', encoding, id, offset: random.int(8 << 20), length, plainLength });
      }
      packs.push({ packId: randomBytes(32), blobs });
    }
    result.push({ packs });
  }
  return result;
}

/** What the hash table answers for the files in order, without those in `skip`. */
function inMemory(files: { packs: IndexedPack[] }[], skip: ReadonlySet<number> = new Set()): MasterIndex {
  const index = new MasterIndex();
  files.forEach((file, i) => {
    if (!skip.has(i)) index.addIndexFileBytes(encodeIndexFile({ superseded: [], packs: file.packs }));
  });
  return index;
}

function expectSame(onDisk: MasterIndex, memory: MasterIndex, probes: Iterable<string>, countedTwice = 0): void {
  expect(onDisk.blobCount).toBe(memory.blobCount + countedTwice);
  for (const id of probes) {
    expect(onDisk.lookup(id)).toEqual(memory.lookup(id));
    expect(onDisk.has(id)).toBe(memory.has(id));
  }
  const listing = (index: MasterIndex) =>
    [...index.packs()].flatMap(([packId, blobs]) => blobs.map((b) => `${packId} ${b.id} ${JSON.stringify(b.location)}`)).sort();
  expect(listing(onDisk)).toEqual(listing(memory));
}

const allIds = (files: { packs: IndexedPack[] }[]) => files.flatMap((f) => f.packs.flatMap((p) => p.blobs.map((b) => toHex(b.id))));

function build(files: { packs: IndexedPack[] }[], skip: ReadonlySet<number> = new Set(), order = files.map((_, i) => i)) {
  const builder = new SortedIndexBuilder(dir);
  for (const i of order) builder.addIndexFile(i, encodeIndexFile({ superseded: [], packs: files[i]!.packs }));
  return builder.finish(skip);
}

describe('the index on local disk', () => {
  it('answers every lookup, miss and listing as the hash table does, with later files winning, in any order added', () => {
    const random = new Random(3);
    const files = indexFiles(random, 40, () => randomBytes(32));
    const memory = inMemory(files);
    expect(memory.blobCount).toBeGreaterThan(30_000);
    // Added in a scrambled order (loads finish in any order): the file number decides.
    const order = files.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const onDisk = new MasterIndex();
    onDisk.useSorted(build(files, new Set(), order), true);
    expect(onDisk.onDisk).toBe(true);
    const misses = Array.from({ length: 2000 }, () => randomBytes(32).toString('hex'));
    expectSame(onDisk, memory, [...allIds(files), ...misses, 'not hex', '00'.repeat(32), 'ff'.repeat(32)]);
    onDisk.close();
  });

  it('finds ids that share their first 8 bytes across block boundaries, and their first 5 within a partition', () => {
    const random = new Random(5);
    // 3 blocks' worth of ids with one 8-byte prefix, and many with one 5-byte prefix: the
    // fence in memory ties, and the radix sort's key (bytes 1–4) ties.
    const prefix8 = randomBytes(8);
    const prefix5 = randomBytes(5);
    let n = 0;
    let shared = 0;
    const makeId = () => {
      const id = randomBytes(32);
      if (n % 20 === 0) prefix8.copy(id);
      else if (n % 20 === 1) prefix5.copy(id);
      n++;
      return id;
    };
    const files = indexFiles(random, 12, makeId);
    for (const id of allIds(files)) if (id.startsWith(prefix8.toString('hex'))) shared++;
    expect(shared).toBeGreaterThan(3 * BLOCK_RECORDS);
    const near = Array.from({ length: 500 }, () => {
      const id = randomBytes(32);
      (random.chance(0.5) ? prefix8 : prefix5).copy(id);
      return id.toString('hex');
    });
    const onDisk = new MasterIndex();
    onDisk.useSorted(build(files), true);
    expectSame(onDisk, inMemory(files), [...allIds(files), ...near]);
    onDisk.close();
  });

  it('leaves out the files a newer one supersedes, and takes blobs added since in memory first', () => {
    const random = new Random(9);
    const files = indexFiles(random, 10, () => randomBytes(32));
    const skip = new Set([2, 7]);
    const onDisk = new MasterIndex();
    onDisk.useSorted(build(files, skip), true);
    const memory = inMemory(files, skip);
    expectSame(onDisk, memory, allIds(files));
    // A blob on disk stored again later (another writer's index file): the new copy is found,
    // and listed once.
    const again = files[0]!.packs[0]!.blobs[0]!;
    const pack = { packId: randomBytes(32), blobs: [{ ...again, offset: 12345 }, { ...again, id: randomBytes(32) }] };
    onDisk.addPack(pack);
    memory.addPack(pack);
    expect(onDisk.lookup(toHex(again.id))!.offset).toBe(12345);
    expectSame(onDisk, memory, [...allIds(files), toHex(pack.blobs[1]!.id)], 1);
    onDisk.close();
  });

  it('copies a small index into memory and closes the file', () => {
    const random = new Random(13);
    const files = indexFiles(random, 3, () => randomBytes(32));
    const index = new MasterIndex();
    index.useSorted(build(files), false);
    expect(index.onDisk).toBe(false);
    expectSame(index, inMemory(files), allIds(files));
  });

  it('adds nothing of a damaged index file, and builds from the rest', () => {
    const random = new Random(17);
    const files = indexFiles(random, 4, () => randomBytes(32));
    const builder = new SortedIndexBuilder(dir);
    const damaged = encodeIndexFile({ superseded: [], packs: files[1]!.packs });
    expect(() => builder.addIndexFile(1, damaged.subarray(0, damaged.length - 7))).toThrow(DecodeError);
    for (const i of [0, 2, 3]) builder.addIndexFile(i, encodeIndexFile({ superseded: [], packs: files[i]!.packs }));
    const index = new MasterIndex();
    index.useSorted(builder.finish(new Set()), true);
    expectSame(index, inMemory(files, new Set([1])), allIds(files));
    index.close();
  });

  it('is empty when no file names a blob', () => {
    const index = new MasterIndex();
    index.useSorted(new SortedIndexBuilder(dir).finish(new Set()), true);
    expect(index.blobCount).toBe(0);
    expect(index.has('00'.repeat(32))).toBe(false);
    expect(index.packs().size).toBe(0);
    index.close();
  });

  it('leaves no file behind, and says where it could not write', () => {
    expect(readdirSync(dir)).toEqual([]);
    const notAFolder = path.join(dir, 'file');
    writeFileSync(notAFolder, '');
    expect(() => new SortedIndexBuilder(notAFolder)).toThrow(LocalIndexError);
    expect(() => new SortedIndexBuilder(notAFolder)).toThrow(`could not keep the index in ${notAFolder}`);
  });
});
