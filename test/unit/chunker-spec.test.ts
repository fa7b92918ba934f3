/**
 * The chunker against docs/FORMAT.md "Chunking": a plain re-implementation of the rules as
 * the document words them must cut where src/chunker/fastcdc.ts cuts. Keys and data are
 * deterministic, and the first cut lengths are pinned: changing them changes the format.
 */
import { describe, expect, it } from 'vitest';
import { createCipheriv } from 'node:crypto';
import { Chunker, gearTableFrom } from '../../src/chunker/fastcdc.js';
import { deriveRepositoryKeys } from '../../src/crypto/keys.js';

const MIN = 262_144;
const AVG = 1_048_576;
const MAX = 4_194_304;

/** FORMAT.md, literally: hash from 0 at each chunk start; byte index i of the chunk. */
function specCuts(data: Buffer, gear: Uint32Array): number[] {
  const lengths: number[] = [];
  let start = 0;
  while (start < data.length) {
    let h = 0;
    let length = Math.min(MAX, data.length - start);
    for (let i = 0; i < Math.min(MAX, data.length - start); i++) {
      h = (h * 2 + gear[data[start + i]!]!) % 2 ** 32;
      if (i < MIN) continue;
      const mask = i < AVG ? 0xfffffc00 : 0xffffc000;
      if ((h & mask) >>> 0 === 0) {
        length = i + 1;
        break;
      }
    }
    lengths.push(length);
    start += length;
  }
  return lengths;
}

function keystream(bytes: number): Buffer {
  // AES-256-CTR with an all-zero key and IV over zeros: reproducible anywhere.
  return createCipheriv('aes-256-ctr', Buffer.alloc(32), Buffer.alloc(16)).update(Buffer.alloc(bytes));
}

describe('chunker matches docs/FORMAT.md', () => {
  const keys = deriveRepositoryKeys(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
  const gear = gearTableFrom(keys.chunkerGear);
  const data = keystream(24 * 1024 * 1024);

  const implementation = () => {
    const chunker = new Chunker(gear);
    const lengths: number[] = [];
    for (let at = 0; at < data.length; at += 1_000_003) lengths.push(...chunker.push(data.subarray(at, at + 1_000_003)).map((c) => c.length));
    lengths.push(...chunker.finish().map((c) => c.length));
    return lengths;
  };

  it('cuts exactly where the documented rules cut', () => {
    expect(implementation()).toEqual(specCuts(data, gear));
  });

  it('keeps the pinned known answers (master 01…, repository id 02…, AES-CTR zero keystream)', () => {
    expect(implementation().slice(0, 6)).toEqual(KNOWN_FIRST_CUTS);
  });
});

const KNOWN_FIRST_CUTS = [1163005, 1600954, 1085495, 1232351, 1006775, 585079];
