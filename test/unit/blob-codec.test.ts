import { describe, expect, it } from 'vitest';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { open } from '../../src/crypto/aead.js';
import { decodeBlob, decodePayload, encodeBlob, looksRandom } from '../../src/format/blob-codec.js';
import { blobAad } from '../../src/format/sealed.js';
import { isCairnError } from '../../src/errors/errors.js';
import { loadAddon } from '../../src/native/addon.js';

const key = randomBytes(32);
const id = randomBytes(32);
const text = Buffer.from('cairn keeps every version of every file. '.repeat(20000));

describe('blob encodings', () => {
  it('stores a blob that shrinks as one zstd frame, bound to its encoding, and reads it back', async () => {
    const blob = await encodeBlob(key, 'data', id, text);
    expect(blob.encoding).toBe('zstd');
    expect(blob.plainLength).toBe(text.length);
    expect(blob.sealed.length).toBeLessThan(text.length / 20);
    // FORMAT.md: the box's plaintext is a zstd frame, sealed with the encoding byte in the AAD.
    const frame = open(key, blob.sealed, blobAad('data', id, 'zstd'))!;
    // Any zstd decoder reads it: Debian's zstd command here.
    expect(execFileSync('zstd', ['-d', '-c', '-q'], { input: frame, maxBuffer: 1 << 24 }).equals(text)).toBe(true);
    expect(open(key, blob.sealed, blobAad('data', id))).toBeNull();
    expect(await decodeBlob(key, { type: 'data', encoding: 'zstd', plainLength: text.length }, id, blob.sealed, 'blob x')).toEqual(text);
  });

  it('stores a blob that does not shrink as it is, with the version-2 associated data', async () => {
    const noise = randomBytes(100_000);
    const blob = await encodeBlob(key, 'tree', id, noise);
    expect(blob).toMatchObject({ encoding: 'raw', plainLength: noise.length });
    expect(blob.sealed.length).toBe(noise.length + 40);
    expect(open(key, blob.sealed, blobAad('tree', id))).toEqual(noise);
    expect(await decodeBlob(key, { type: 'tree', encoding: 'raw', plainLength: noise.length }, id, blob.sealed, 'blob x')).toEqual(noise);
  });

  it('refuses, as damage, a box read under another encoding, type or length than it was sealed with', async () => {
    const blob = await encodeBlob(key, 'data', id, text);
    const attempts = [
      { type: 'data' as const, encoding: 'raw' as const, plainLength: blob.sealed.length - 40 },
      { type: 'tree' as const, encoding: 'zstd' as const, plainLength: text.length },
      { type: 'data' as const, encoding: 'zstd' as const, plainLength: text.length - 1 },
    ];
    for (const form of attempts) {
      const error = thrown(() => decodeBlob(key, form, id, blob.sealed, 'blob x'));
      expect(isCairnError(error, 'CORRUPT'), JSON.stringify(form)).toBe(true);
      expect((error as Error).message).toMatch(/^blob x is damaged/);
    }
  });
});

describe('the compressibility sample', () => {
  it('stores a big blob raw when its sample does not shrink, and compresses one whose sample does', async () => {
    // Random over 220 byte values: too uneven for the randomness test, but zstd cannot shrink it.
    const noise = Buffer.alloc(1 << 20);
    for (let i = 0; i < noise.length; i++) noise[i] = randomInt(220);
    expect(looksRandom(noise)).toBe(false);
    expect((await encodeBlob(key, 'data', id, noise)).encoding).toBe('raw');
    // Half text, half noise: the sample takes slices across the whole blob, so it compresses.
    const mixed = Buffer.concat([text.subarray(0, 512 * 1024), randomBytes(512 * 1024)]);
    const blob = await encodeBlob(key, 'data', id, mixed);
    expect(blob.encoding).toBe('zstd');
    expect(blob.sealed.length).toBeLessThan(mixed.length * 0.6);
    expect(await decodeBlob(key, { type: 'data', encoding: 'zstd', plainLength: mixed.length }, id, blob.sealed, 'blob x')).toEqual(mixed);
  });
});

describe('the randomness test that skips zstd', () => {
  const prose = readFileSync('/usr/share/common-licenses/GPL-3'); // in every Debian (base-files)
  it('takes random and compressed bytes for random, and text, code and zeros for not', () => {
    for (const size of [1024, 2000, 4096, 16384, 100_000, 1 << 20]) expect(looksRandom(randomBytes(size)), `random ${size}`).toBe(true);
    expect(looksRandom(gzipSync(prose))).toBe(true);
    expect(looksRandom(prose.subarray(0, 300))).toBe(false);
    expect(looksRandom(prose)).toBe(false);
    expect(looksRandom(text)).toBe(false);
    expect(looksRandom(Buffer.alloc(100_000))).toBe(false);
    expect(looksRandom(readFileSync(process.execPath).subarray(0, 1 << 20))).toBe(false); // machine code
    // Too short to judge: compressed anyway.
    expect(looksRandom(randomBytes(1023))).toBe(false);
  });

  it('stores a gzip file raw without losing a byte, and still compresses text', async () => {
    const packed = gzipSync(prose);
    const blob = await encodeBlob(key, 'data', id, packed);
    expect(blob.encoding).toBe('raw');
    expect(await decodeBlob(key, { type: 'data', encoding: 'raw', plainLength: packed.length }, id, blob.sealed, 'blob x')).toEqual(packed);
    expect((await encodeBlob(key, 'data', id, text.subarray(0, 2000))).encoding).toBe('zstd');
  });
});

describe('zstd frames (cairn\'s binding of libzstd)', () => {
  const zstdCommand = (input: Buffer, ...args: string[]) => execFileSync('zstd', ['-q', '-c', ...args], { input, maxBuffer: 1 << 24 });
  const entry = (plainLength: number) => ({ encoding: 'zstd' as const, plainLength });

  it('reads frames other writers made, with or without the content size', () => {
    const withSize = zstdCommand(text, '-19');
    expect(decodePayload(withSize, entry(text.length), 'blob x').equals(text)).toBe(true);
    // From a pipe the zstd command does not know the size ahead: a frame without it.
    const streamed = execFileSync('sh', ['-c', 'cat | zstd -q -c'], { input: text, maxBuffer: 1 << 24 });
    expect(decodePayload(streamed, entry(text.length), 'blob x').equals(text)).toBe(true);
  });

  it('refuses, as damage, a frame that is not exactly one frame of the entry\'s length', () => {
    const frame = zstdCommand(text);
    const streamed = execFileSync('sh', ['-c', 'cat | zstd -q -c'], { input: text, maxBuffer: 1 << 24 });
    const cases: [string, Buffer, number][] = [
      ['a longer entry', frame, text.length + 1],
      ['a shorter entry', frame, text.length - 1],
      ['a shorter entry, size not in the frame', streamed, text.length - 1],
      ['a longer entry, size not in the frame', streamed, text.length + 1],
      ['bytes after the frame', Buffer.concat([frame, Buffer.from([0])]), text.length],
      ['two frames', Buffer.concat([frame, frame]), text.length * 2],
      ['a truncated frame', frame.subarray(0, frame.length - 3), text.length],
      ['not a frame', Buffer.from('this is not a zstd frame '.repeat(40)), 1000],
      ['nothing', Buffer.alloc(0), 0],
    ];
    for (const [what, bytes, length] of cases) {
      const error = thrown(() => decodePayload(bytes, entry(length), 'blob x'));
      expect(isCairnError(error, 'CORRUPT'), what).toBe(true);
      expect((error as Error).message, what).toMatch(/^blob x is damaged: it authenticated but its zstd frame does not decompress/);
    }
  });

  it('keeps a blob raw when its frame would not be shorter, down to a single byte', () => {
    for (const blob of [randomBytes(5000), randomBytes(1), Buffer.alloc(0), Buffer.from('ab')]) {
      const encoded = encodeBlob(key, 'data', id, blob);
      expect(encoded.encoding, `${blob.length} bytes`).toBe('raw');
      expect(decodeBlob(key, { type: 'data', encoding: 'raw', plainLength: blob.length }, id, encoded.sealed, 'blob x')).toEqual(blob);
    }
  });
});

describe('the byte-count entropy looksRandom uses (native/zstd.c sampleEntropy)', () => {
  const { sampleEntropy } = loadAddon<{ sampleEntropy(src: Uint8Array, slices: number, sliceBytes: number): number }>('cairn_zstd', "cairn's zstd binding");
  /** The definition, in full: counts over the whole blob, or over `slices` slices spread across it (first at 0, last ending at the end). */
  function reference(bytes: Uint8Array, slices: number, sliceBytes: number): number {
    const counts = new Array<number>(256).fill(0);
    const whole = bytes.length <= slices * sliceBytes;
    const step = whole ? 0 : Math.floor((bytes.length - sliceBytes) / (slices - 1));
    const ranges = whole ? [[0, bytes.length]] : Array.from({ length: slices }, (_, s) => [s * step, s * step + sliceBytes]);
    let n = 0;
    for (const [from, to] of ranges) for (let i = from!; i < to!; i++, n++) counts[bytes[i]!]!++;
    return counts.reduce((bits, c) => (c > 0 ? bits - c * Math.log2(c / n) : bits), 0) / n;
  }

  it('equals the definition on random, skewed and constant bytes, whole and sampled, up to the last byte', () => {
    const skewed = Buffer.from(Array.from({ length: 70_001 }, (_, i) => (i * i) % 7 === 0 ? 255 : i % 13));
    const cases = [randomBytes(1024), randomBytes(16_384), randomBytes(16_385), randomBytes(1 << 20), skewed, text, Buffer.alloc(50_000, 7), gzipSync(text)];
    for (const bytes of cases) {
      for (const [slices, sliceBytes] of [[4, 4096], [2, 1], [3, 1000]] as const) {
        expect(sampleEntropy(bytes, slices, sliceBytes), `${bytes.length} bytes, ${slices} × ${sliceBytes}`).toBeCloseTo(reference(bytes, slices, sliceBytes), 9);
      }
    }
    // The last slice ends at the blob's end: a blob random only in its last 4 KiB shows it.
    const tail = Buffer.concat([Buffer.alloc(200_000), randomBytes(4096)]);
    expect(sampleEntropy(tail, 4, 4096)).toBeCloseTo(reference(tail, 4, 4096), 9);
    expect(reference(tail, 4, 4096)).toBeGreaterThan(1.5);
  });

  it('refuses what is not a byte array or sensible slices', () => {
    for (const args of [['text', 4, 4096], [new Uint16Array(10), 4, 4096], [Buffer.alloc(10), 1, 4096], [Buffer.alloc(10), 4, 0]] as const) {
      expect(() => sampleEntropy(args[0] as Uint8Array, args[1], args[2])).toThrow(/sampleEntropy/);
    }
  });
});

function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (e) {
    return e;
  }
  return undefined;
}
