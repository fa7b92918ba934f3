import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { decodeIndexFile, encodeIndexFile, type IndexedPack } from '../../src/format/index-file.js';
import { type BlobLocation, MasterIndex } from '../../src/repository/master-index.js';
import { Random } from '../helpers/random.js';

describe('the in-memory index', () => {
  it('answers every lookup as a plain map of the same packs would, through growth, repeats and misses', () => {
    const random = new Random(7);
    const index = new MasterIndex();
    const expected = new Map<string, BlobLocation>();
    const ids: Buffer[] = [];
    for (let p = 0; p < 300; p++) {
      const packId = randomBytes(32);
      const blobs: IndexedPack['blobs'][number][] = [];
      const count = 1 + random.int(700);
      for (let b = 0; b < count; b++) {
        // Now and then a blob stored again in a later pack: the later copy is the one found.
        const id = ids.length > 0 && random.chance(0.05) ? ids[random.int(ids.length)]! : randomBytes(32);
        ids.push(id);
        const blob = {
          type: random.chance(0.2) ? 'tree' as const : 'data' as const,
          encoding: random.chance(0.5) ? 'zstd' as const : 'raw' as const,
          id, offset: random.int(8 << 20), length: 40 + random.int(4 << 20), plainLength: random.int(0xffffffff),
        };
        blobs.push(blob);
        expected.set(id.toString('hex'), { type: blob.type, encoding: blob.encoding, packId: packId.toString('hex'), offset: blob.offset, length: blob.length, plainLength: blob.plainLength });
      }
      index.addPack({ packId, blobs });
    }
    expect(index.blobCount).toBe(expected.size);
    expect(expected.size).toBeGreaterThan(50_000);
    for (const [id, location] of expected) {
      expect(index.has(id)).toBe(true);
      expect(index.lookup(id)).toEqual(location);
    }
    for (let i = 0; i < 1000; i++) expect(index.lookup(randomBytes(32).toString('hex'))).toBeUndefined();
    expect(index.lookup('not hex at all')).toBeUndefined();
    expect(index.lookup(ids[0]!.toString('hex').slice(0, 62) + 'zz')).toBeUndefined();

    const grouped = index.packs();
    let listed = 0;
    for (const [packId, blobs] of grouped) {
      for (const { id, location } of blobs) {
        expect(location).toEqual(expected.get(id));
        expect(location.packId).toBe(packId);
        listed++;
      }
    }
    expect(listed).toBe(expected.size);
  });

  it('reads an index file straight from its bytes exactly as from its decoded packs, version 1 and 2', () => {
    const random = new Random(11);
    const packs: IndexedPack[] = [];
    for (let p = 0; p < 40; p++) {
      const blobs: IndexedPack['blobs'][number][] = [];
      for (let b = 0, count = random.int(300); b < count; b++) {
        const encoding = random.chance(0.5) ? 'zstd' as const : 'raw' as const;
        const length = 40 + random.int(1 << 20);
        blobs.push({ type: random.chance(0.2) ? 'tree' : 'data', encoding, id: randomBytes(32), offset: random.int(8 << 20), length, plainLength: encoding === 'raw' ? length - 40 : random.int(0xffffffff) });
      }
      packs.push({ packId: randomBytes(32), blobs });
    }
    const files = [encodeIndexFile({ superseded: [randomBytes(32)], packs }), readFileSync(path.join(__dirname, '../fixtures/golden/index-v1.bin'))];
    for (const file of files) {
      const decoded = new MasterIndex();
      decoded.addIndexFile(decodeIndexFile(file));
      const direct = new MasterIndex();
      direct.addIndexFileBytes(file);
      expect(direct.blobCount).toBe(decoded.blobCount);
      expect(decoded.blobCount).toBeGreaterThan(0);
      expect([...direct.packs()]).toEqual([...decoded.packs()]);
    }
  });

  it('is empty until a pack is added', () => {
    const index = new MasterIndex();
    expect(index.blobCount).toBe(0);
    expect(index.has('00'.repeat(32))).toBe(false);
    expect([...index.packs()]).toEqual([]);
  });
});
