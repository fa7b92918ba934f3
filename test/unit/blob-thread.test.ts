/**
 * The mount's blob thread (src/repository/blob-thread.ts): opening gives the plaintext the
 * calling thread gets, and the same CORRUPT error for a tampered box, with the caller's box
 * moved rather than copied; sealing gives the blob id and a box that opens to the chunk,
 * leaving the caller's bytes as they were. Runs the compiled worker (npm run build first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { BlobThread, ON_THREAD_BYTES } from '../../src/repository/blob-thread.js';
import { blobIdOf } from '../../src/crypto/keys.js';
import { Chunker, gearTableFrom } from '../../src/chunker/fastcdc.js';
import { toHex } from '../../src/format/bytes.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { Packer } from '../../src/repository/packer.js';
import { decodeBlob, encodeBlob } from '../../src/format/blob-codec.js';
import { isCairnError } from '../../src/errors/errors.js';

const WORKER = path.resolve('dist/src/repository/blob-thread-worker.js');
const key = randomBytes(32);
const keys = { encryption: key, blobId: randomBytes(32), gear: gearTableFrom(randomBytes(1024)) };
const id = randomBytes(32);

describe('the blob thread', () => {
  let opener: BlobThread;
  beforeAll(() => {
    expect(existsSync(WORKER), `${WORKER} is missing: run npm run build first`).toBe(true);
    opener = new BlobThread(keys, WORKER);
    expect(opener.threaded).toBe(true);
  });
  afterAll(() => opener.close());

  it('starts its worker at the first big data blob or big pack, not for small ones or for trees', async () => {
    const thread = new BlobThread(keys, WORKER);
    try {
      expect(thread.threaded).toBe(true);
      const small = randomBytes(1000);
      const sealed = await thread.seal('data', small);
      expect(await thread.open({ type: 'data', encoding: sealed.encoding, plainLength: small.length }, sealed.id, sealed.sealed, 'blob s')).toEqual(small);
      expect(thread.workerRunning).toBe(false);
      // A big folder's tree is sealed and opened here while no worker runs (a snapshot's).
      const tree = randomBytes(4 * ON_THREAD_BYTES);
      const treeSealed = await thread.seal('tree', tree);
      expect(Buffer.from(treeSealed.id).equals(Buffer.from(blobIdOf(keys.blobId, tree)))).toBe(true);
      expect(treeSealed.sealed.length).toBeGreaterThanOrEqual(ON_THREAD_BYTES);
      expect(await thread.open({ type: 'tree', encoding: treeSealed.encoding, plainLength: tree.length }, treeSealed.id, treeSealed.sealed, 'tree t')).toEqual(tree);
      expect(thread.workerRunning).toBe(false);
      // A small pack (a snapshot's trees) is hashed here; a big one starts the worker.
      const pack = Buffer.from(new SharedArrayBuffer(4 << 20));
      pack.set(randomBytes(1000), 0);
      expect(await thread.digestPack(pack, 200_000)).toEqual(createHash('sha256').update(pack.subarray(0, 200_000)).digest());
      expect(thread.workerRunning).toBe(false);
      expect(await thread.digestPack(pack, 4 << 20)).toEqual(createHash('sha256').update(pack).digest());
      expect(thread.workerRunning).toBe(true);
      const big = randomBytes(ON_THREAD_BYTES);
      const bigSealed = await thread.seal('data', big);
      expect(await thread.open({ type: 'data', encoding: bigSealed.encoding, plainLength: big.length }, bigSealed.id, bigSealed.sealed, 'blob b')).toEqual(big);
    } finally {
      await thread.close();
    }
  });

  it('opens raw and compressed blobs to the bytes the calling thread gets, and moves the box', async () => {
    const text = Buffer.from(randomBytes(1 << 20).toString('base64')); // compresses, but not below the threshold
    for (const plaintext of [randomBytes(1 << 20), text]) {
      const blob = await encodeBlob(key, 'data', id, plaintext);
      expect(blob.encoding).toBe(plaintext === text ? 'zstd' : 'raw');
      const form = { type: 'data' as const, encoding: blob.encoding, plainLength: plaintext.length };
      const box = new Uint8Array(blob.sealed); // a buffer of its own, as a store read gives
      expect(box.length).toBeGreaterThanOrEqual(ON_THREAD_BYTES);
      const here = await decodeBlob(key, form, id, blob.sealed, 'blob x');
      const there = await opener.open(form, id, box, 'blob x');
      expect(there.equals(plaintext)).toBe(true);
      expect(there.equals(here)).toBe(true);
      expect(box.byteLength).toBe(0); // moved to the worker, not copied
    }
  });

  it('reads boxes into a few shared buffers it keeps, and every plaintext stays its own when they are reused', async () => {
    const thread = new BlobThread(keys, WORKER);
    try {
      const blobs = [1 << 20, 3 << 20, 200_000, 1 << 20].map((n) => {
        const plaintext = Buffer.from(randomBytes(n).toString('base64')).subarray(0, n); // compressible: zstd frames too
        return { plaintext, blob: encodeBlob(key, 'data', id, plaintext) };
      });
      const given: (Uint8Array | undefined)[] = [];
      const readInto = (sealed: Uint8Array) => async (into?: Uint8Array) => {
        given.push(into);
        if (!into) return new Uint8Array(sealed);
        into.set(sealed);
        return into;
      };
      const opened: Buffer[] = [];
      for (const { plaintext, blob } of [...blobs, ...blobs]) {
        const form = { type: 'data' as const, encoding: blob.encoding, plainLength: plaintext.length };
        opened.push(await thread.openRead(form, id, blob.sealed.length, readInto(blob.sealed), 'blob x'));
      }
      // Shared memory was offered every time, and its buffers were used again.
      expect(given.every((b) => b?.buffer instanceof SharedArrayBuffer)).toBe(true);
      expect(new Set(given.map((b) => b!.buffer)).size).toBeLessThan(given.length);
      // Each plaintext is still its blob after the buffers were read into again.
      opened.forEach((p, i) => expect(p.equals(blobs[i % blobs.length]!.plaintext)).toBe(true));
      expect(opened.some((p) => p.buffer instanceof SharedArrayBuffer)).toBe(false);
      // At most 16 MiB of them: reads beyond that at once get none, and still open.
      const many = Array.from({ length: 12 }, () => blobs[1]!);
      const all = await Promise.all(many.map(({ plaintext, blob }) => thread.openRead({ type: 'data', encoding: blob.encoding, plainLength: plaintext.length }, id, blob.sealed.length, readInto(blob.sealed), 'blob x')));
      expect(all.every((p) => p.equals(blobs[1]!.plaintext))).toBe(true);
      expect(given.slice(-12).filter((b) => b === undefined).length).toBeGreaterThan(0);
      // A read that fails gives its buffer back: the next read of that size gets one.
      const { plaintext, blob } = blobs[0]!;
      const form = { type: 'data' as const, encoding: blob.encoding, plainLength: plaintext.length };
      await expect(thread.openRead(form, id, blob.sealed.length, async () => { throw new Error('store gone'); }, 'blob x')).rejects.toThrow('store gone');
      expect((await thread.openRead(form, id, blob.sealed.length, readInto(blob.sealed), 'blob x')).equals(plaintext)).toBe(true);
      expect(given[given.length - 1]?.buffer).toBeInstanceOf(SharedArrayBuffer);
      // A tree while no worker runs is read into a buffer of the backend's own.
      const trees = new BlobThread(keys, WORKER);
      const tree = encodeBlob(key, 'tree', id, plaintext);
      expect((await trees.openRead({ type: 'tree', encoding: tree.encoding, plainLength: plaintext.length }, id, tree.sealed.length, readInto(tree.sealed), 'tree x')).equals(plaintext)).toBe(true);
      expect(given[given.length - 1]).toBeUndefined();
      await trees.close();
    } finally {
      await thread.close();
    }
  });

  it('copies a box that is a view into a larger buffer, and leaves that buffer alone', async () => {
    const plaintext = randomBytes(200_000);
    const blob = await encodeBlob(key, 'data', id, plaintext);
    const larger = Buffer.concat([Buffer.alloc(7), blob.sealed, Buffer.alloc(9)]);
    const view = larger.subarray(7, 7 + blob.sealed.length);
    const opened = await opener.open({ type: 'data', encoding: blob.encoding, plainLength: plaintext.length }, id, view, 'blob x');
    expect(opened.equals(plaintext)).toBe(true);
    expect(larger.length).toBe(blob.sealed.length + 16);
    expect(view.equals(blob.sealed)).toBe(true);
  });

  it('rejects a tampered box, or one asked for as the wrong type, with the CORRUPT error the calling thread gives', async () => {
    const plaintext = randomBytes(300_000);
    const blob = await encodeBlob(key, 'data', id, plaintext);
    const form = { type: 'data' as const, encoding: blob.encoding, plainLength: plaintext.length };
    const tampered = new Uint8Array(blob.sealed);
    tampered[1000]! ^= 1;
    const expected = (() => {
      try {
        decodeBlob(key, form, id, new Uint8Array(tampered), 'blob x');
      } catch (e) {
        return e as Error;
      }
      throw new Error('a tampered box decoded');
    })();
    const error = await opener.open(form, id, tampered, 'blob x').catch((e: unknown) => e);
    expect(isCairnError(error, 'CORRUPT')).toBe(true);
    expect((error as Error).message).toBe(expected.message);
    const asTree = await opener.open({ ...form, type: 'tree' }, id, new Uint8Array(blob.sealed), 'blob x').catch((e: unknown) => e);
    expect(isCairnError(asTree, 'CORRUPT')).toBe(true);
    // The thread goes on after a failure.
    expect((await opener.open(form, id, new Uint8Array(blob.sealed), 'blob x')).equals(plaintext)).toBe(true);
  });

  it('opens on the calling thread without the compiled worker, and after the thread is gone', async () => {
    const plaintext = randomBytes(100_000);
    const blob = await encodeBlob(key, 'data', id, plaintext);
    const form = { type: 'data' as const, encoding: blob.encoding, plainLength: plaintext.length };
    const without = new BlobThread(keys, '/nonexistent/blob-thread-worker.js');
    expect(without.threaded).toBe(false);
    expect((await without.open(form, id, new Uint8Array(blob.sealed), 'blob x')).equals(plaintext)).toBe(true);
    const closed = new BlobThread(keys, WORKER);
    await closed.close();
    expect((await closed.open(form, id, new Uint8Array(blob.sealed), 'blob x')).equals(plaintext)).toBe(true);
  });

  it('seals big chunks to their blob id and a box that opens to them, leaving the chunk as it was', async () => {
    const text = Buffer.from(randomBytes(300_000).toString('hex'));
    const backing = Buffer.concat([randomBytes(1 << 20), text]);
    for (const chunk of [backing.subarray(0, 1 << 20), backing.subarray(1 << 20)]) {
      const before = Buffer.from(chunk);
      const sealed = await opener.seal('data', chunk); // a view into a bigger buffer, as the chunker hands out
      expect(Buffer.from(sealed.id).equals(Buffer.from(blobIdOf(keys.blobId, chunk)))).toBe(true);
      expect(chunk.equals(before)).toBe(true);
      expect(backing.length).toBe((1 << 20) + text.length);
      const form = { type: 'data' as const, encoding: sealed.encoding, plainLength: chunk.length };
      expect((await decodeBlob(key, form, sealed.id, sealed.sealed, 'blob x')).equals(chunk)).toBe(true);
      expect(sealed.plainLength).toBe(chunk.length);
    }
    const compressible = await opener.seal('data', text);
    expect(compressible.encoding).toBe('zstd');
    expect(compressible.sealed.length).toBeLessThan(text.length);
    // Small chunks are sealed on the calling thread, the same way.
    const small = randomBytes(ON_THREAD_BYTES - 1);
    const here = await opener.seal('tree', small);
    expect((await decodeBlob(key, { type: 'tree', encoding: here.encoding, plainLength: small.length }, here.id, here.sealed, 'blob x')).equals(small)).toBe(true);
  });

  it('seals a stream step by step into exactly the chunks of the whole stream, on the thread and here', async () => {
    const data = Buffer.concat([randomBytes(9 << 20), Buffer.from(randomBytes(3 << 20).toString('hex')), randomBytes(5_000_017)]);
    const whole = new Chunker(keys.gear);
    const expected = [...whole.push(data), ...whole.finish()].map((c) => toHex(blobIdOf(keys.blobId, c)));
    expect(expected.length).toBeGreaterThan(10);
    // Every third chunk "stored": it must come unsealed, the others sealed as ever.
    const storedIds = new Set(expected.filter((_, i) => i % 3 === 1));
    for (const thread of [opener, new BlobThread(keys, '/nonexistent/blob-thread-worker.js')]) {
      for (const stored of [new Set<string>(), storedIds]) {
        const ids: string[] = [];
        const plain: Buffer[] = [];
        let rest: Uint8Array = new Uint8Array(0);
        for (let at = 0; ; at += 3_000_001) {
          const piece = new Uint8Array(data.subarray(at, at + 3_000_001)); // the caller's own, as FileData.read gives
          const final = at + 3_000_001 >= data.length;
          const step = await thread.sealStep([rest, piece], final, (id) => stored.has(id));
          rest = step.rest;
          for (const c of step.chunks) {
            ids.push(c.id);
            if (stored.has(c.id)) {
              expect(c.sealed.length, 'a stored chunk is not sealed again').toBe(0);
              plain.push(data.subarray(plain.reduce((n, p) => n + p.length, 0), plain.reduce((n, p) => n + p.length, 0) + c.plainLength));
              continue;
            }
            plain.push(await decodeBlob(key, { type: 'data', encoding: c.encoding, plainLength: c.plainLength }, Buffer.from(c.id, 'hex'), c.sealed, c.id));
          }
          if (final) break;
        }
        expect(ids).toEqual(expected);
        expect(Buffer.concat(plain).equals(data)).toBe(true);
      }
    }
  });

  it('cuts and seals a step in shared memory in place, as the mount streams, leaving its bytes as they were', async () => {
    const data = Buffer.concat([randomBytes(5 << 20), Buffer.from(randomBytes(2 << 20).toString('hex')), randomBytes(3 << 20)]);
    const whole = new Chunker(keys.gear);
    const expected = [...whole.push(data), ...whole.finish()].map((c) => toHex(blobIdOf(keys.blobId, c)));
    for (const thread of [opener, new BlobThread(keys, null)]) {
      const ids: string[] = [];
      const plain: Buffer[] = [];
      let rest: Uint8Array = new Uint8Array(0);
      const shared = Buffer.from(new SharedArrayBuffer(8 << 20));
      for (let at = 0; ; at += 4 << 20) {
        const piece = data.subarray(at, at + (4 << 20));
        shared.set(rest, 0);
        shared.set(piece, rest.length);
        const step = shared.subarray(0, rest.length + piece.length);
        const before = Buffer.from(step);
        const final = at + (4 << 20) >= data.length;
        const sealed = await thread.sealStep([step], final, () => false);
        expect(step.equals(before), 'the shared step is read, not changed or moved').toBe(true);
        rest = sealed.rest;
        for (const c of sealed.chunks) {
          ids.push(c.id);
          plain.push(await decodeBlob(key, { type: 'data', encoding: c.encoding, plainLength: c.plainLength }, Buffer.from(c.id, 'hex'), c.sealed, c.id));
        }
        if (final) break;
      }
      expect(ids).toEqual(expected);
      expect(Buffer.concat(plain).equals(data)).toBe(true);
    }
  });

  it('names packs on the thread: the SHA-256 of the bytes stored, in shared memory', async () => {
    const buffer = Buffer.from(new SharedArrayBuffer(3 << 20));
    randomBytes(buffer.length).copy(buffer);
    const expected = createHash('sha256').update(buffer.subarray(0, 2_000_003)).digest('hex');
    const copy = Buffer.from(buffer);
    expect((await opener.digestPack(buffer, 2_000_003)).toString('hex')).toBe(expected);
    expect(buffer.equals(copy)).toBe(true);
    expect((await new BlobThread(keys, null).digestPack(buffer, 2_000_003)).toString('hex')).toBe(expected);
    // Through the packer, as the mount writes packs: every pack's name is its content's hash.
    const backend = new MemoryBackend();
    const packer = new Packer(backend, key, () => {}, 1 << 20, (b, length) => opener.digestPack(b, length));
    for (let i = 0; i < 12; i++) {
      const plaintext = randomBytes(300_000 + i);
      const blobId = blobIdOf(keys.blobId, plaintext);
      await packer.add('data', toHex(blobId), await encodeBlob(key, 'data', blobId, plaintext));
    }
    const packs = await packer.flush();
    expect(packs.length).toBeGreaterThan(2);
    for (const name of await backend.list('data')) {
      const bytes = await backend.get({ kind: 'data', name });
      expect(bytes.length).toBeGreaterThan(900_000);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(name);
    }
  });
});
