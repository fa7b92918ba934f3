import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { Chunker, CHUNKER_V1, gearTableFrom } from '../../src/chunker/fastcdc.js';

const gear = gearTableFrom(randomBytes(1024));

function chunkAll(data: Buffer, pushSize: number, g = gear): Buffer[] {
  const chunker = new Chunker(g);
  const chunks: Buffer[] = [];
  for (let off = 0; off < data.length; off += pushSize) chunks.push(...chunker.push(data.subarray(off, off + pushSize)));
  chunks.push(...chunker.finish());
  return chunks;
}

const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('FastCDC chunker', () => {
  const data = randomBytes(48 * 1024 * 1024);

  it('reassembles to the input and keeps every chunk within bounds', () => {
    const chunks = chunkAll(data, 1 << 20);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    chunks.slice(0, -1).forEach((c) => {
      expect(c.length).toBeGreaterThan(CHUNKER_V1.minSize);
      expect(c.length).toBeLessThanOrEqual(CHUNKER_V1.maxSize);
    });
    const average = data.length / chunks.length;
    expect(average).toBeGreaterThan(0.7 * 1024 * 1024);
    expect(average).toBeLessThan(1.6 * 1024 * 1024);
  });

  it('cuts at the same places however the input is split', () => {
    const reference = chunkAll(data, data.length).map((c) => c.length);
    for (const pushSize of [4096, 65_536 + 17, 3 * 1024 * 1024 + 5, 9 * 1024 * 1024]) {
      expect(chunkAll(data, pushSize).map((c) => c.length)).toEqual(reference);
    }
  });

  it('keeps nearly all later chunks after an insertion near the start', () => {
    const before = chunkAll(data, 1 << 20).map(digest);
    const edited = Buffer.concat([data.subarray(0, 100_000), Buffer.from('an inserted sentence'), data.subarray(100_000)]);
    const after = chunkAll(edited, 1 << 20).map(digest);
    const unchanged = after.filter((d) => before.includes(d)).length;
    // Only the chunk holding the insertion (and at worst its neighbour) may differ.
    expect(after.length - unchanged).toBeLessThanOrEqual(2);
    expect(unchanged).toBeGreaterThanOrEqual(before.length - 2);
  });

  it('cuts differently under a different key', () => {
    const other = gearTableFrom(randomBytes(1024));
    const a = chunkAll(data, 1 << 20).map((c) => c.length);
    const b = chunkAll(data, 1 << 20, other).map((c) => c.length);
    expect(a).not.toEqual(b);
  });

  it('handles empty, tiny and all-zero input', () => {
    expect(chunkAll(Buffer.alloc(0), 100)).toEqual([]);
    expect(chunkAll(Buffer.from('x'), 100).map((c) => c.toString())).toEqual(['x']);
    const zeros = chunkAll(Buffer.alloc(10 * 1024 * 1024), 1 << 20);
    expect(Buffer.concat(zeros).length).toBe(10 * 1024 * 1024);
    zeros.forEach((c) => expect(c.length).toBeLessThanOrEqual(CHUNKER_V1.maxSize));
  });
});
