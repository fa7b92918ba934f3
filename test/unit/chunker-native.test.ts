/**
 * The chunker's scan in C (native/chunker.c) against the reference in TypeScript: the same
 * cuts, or blob ids and dedup would change with the build. Also cutting in place.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Chunker, CHUNKER_V1, type ChunkerParams, type CutScanner, cutInPlace, gearTableFrom, nativeScanner, scanForCut } from '../../src/chunker/fastcdc.js';

const gear = gearTableFrom(randomBytes(1024));
const SMALL: ChunkerParams = { minSize: 64, avgSize: 256, maxSize: 1024 };
/**
 * A byte whose long runs never cut, so maximum-size chunks happen: after 32 equal bytes b
 * the hash is -gear[b] (mod 2^32), and its top 6 bits (the loosest mask used here) must
 * not all be zero. With a random byte, 1 gear table in 64 cut every run at the minimum.
 */
const RUN_BYTE = [...Array(256).keys()].find((b) => (-gear[b]! >>> 0) >>> 26 !== 0)!;

function lengths(data: Buffer, params: ChunkerParams, scan: CutScanner, pushSizes: () => number): number[] {
  const chunker = new Chunker(gear, params, scan);
  const out: number[] = [];
  for (let at = 0; at < data.length; ) {
    const n = Math.min(pushSizes(), data.length - at);
    out.push(...chunker.push(data.subarray(at, at + n)).map((c) => c.length));
    at += n;
  }
  out.push(...chunker.finish().map((c) => c.length));
  return out;
}

describe('native chunker scan', () => {
  const native = nativeScanner();

  it('is built and loads (scripts/build-fuse-binding.sh builds it with the FUSE binding)', () => {
    expect(native).not.toBeNull();
  });

  it('finds the cuts the reference finds, whatever the push sizes', () => {
    for (const [params, size] of [
      [CHUNKER_V1, 24 * 1024 * 1024],
      [SMALL, 2 * 1024 * 1024],
    ] as const) {
      // A run of one byte makes maximum-size cuts happen too.
      const data = Buffer.concat([randomBytes(size / 2), Buffer.alloc(size / 4, RUN_BYTE), randomBytes(size / 4)]);
      const reference = lengths(data, params, scanForCut, () => data.length);
      expect(reference.length).toBeGreaterThan(size / params.maxSize);
      expect(reference).toContain(params.maxSize);
      for (const pushes of [() => data.length, () => 128 * 1024, () => randomInt(1, 3 * params.minSize)]) {
        expect(lengths(data, params, native!, pushes)).toEqual(reference);
        expect(lengths(data, params, scanForCut, pushes)).toEqual(reference);
      }
    }
  });

  it('cuts in place as the streaming chunker does, with and without a last chunk', () => {
    const data = randomBytes(9 * 1024 * 1024 + 12345);
    const streamed = lengths(data, CHUNKER_V1, scanForCut, () => 1024 * 1024);
    const whole = cutInPlace(data, gear, true);
    expect(whole.chunks.map((c) => c.length)).toEqual(streamed);
    expect(Buffer.concat(whole.chunks).equals(data)).toBe(true);
    expect(whole.tail.length).toBe(0);
    const open = cutInPlace(data, gear, false);
    expect(open.chunks.map((c) => c.length)).toEqual(streamed.slice(0, -1));
    expect(open.tail.equals(data.subarray(data.length - streamed.at(-1)!))).toBe(true);
    // Views, not copies.
    expect(open.chunks[0]!.buffer).toBe(data.buffer);
  });

  it('refuses arguments that would read outside the buffer', () => {
    const state = new Uint32Array([0, 0, 64, 256, 1024, 0, 0]);
    expect(() => native!(Buffer.alloc(100), 50, 100, gear, state)).toThrow(RangeError);
    expect(() => native!(Buffer.alloc(100), 0, 100, new Uint32Array(10), state)).toThrow(TypeError);
    expect(() => native!(Buffer.alloc(100), 0, 100, gear, new Uint32Array([0, 0, 8, 256, 1024, 0, 0]))).toThrow(RangeError);
  });
});
