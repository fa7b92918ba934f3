/**
 * The mount's blob-opening thread (src/repository/blob-opener.ts): the same plaintext as
 * opening on the calling thread, the same CORRUPT error for a tampered box, and the caller's
 * box moved rather than copied. Runs the compiled worker (npm run build first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { BlobOpener, OPEN_ON_THREAD_BYTES } from '../../src/repository/blob-opener.js';
import { decodeBlob, encodeBlob } from '../../src/format/blob-codec.js';
import { isCairnError } from '../../src/errors/errors.js';

const WORKER = path.resolve('dist/src/repository/blob-opener-worker.js');
const key = randomBytes(32);
const id = randomBytes(32);

describe('the blob-opening thread', () => {
  let opener: BlobOpener;
  beforeAll(() => {
    expect(existsSync(WORKER), `${WORKER} is missing: run npm run build first`).toBe(true);
    opener = new BlobOpener(key, WORKER);
    expect(opener.threaded).toBe(true);
  });
  afterAll(() => opener.close());

  it('opens raw and compressed blobs to the bytes the calling thread gets, and moves the box', async () => {
    const text = Buffer.from(randomBytes(1 << 20).toString('base64')); // compresses, but not below the threshold
    for (const plaintext of [randomBytes(1 << 20), text]) {
      const blob = await encodeBlob(key, 'data', id, plaintext);
      expect(blob.encoding).toBe(plaintext === text ? 'zstd' : 'raw');
      const form = { type: 'data' as const, encoding: blob.encoding, plainLength: plaintext.length };
      const box = new Uint8Array(blob.sealed); // a buffer of its own, as a store read gives
      expect(box.length).toBeGreaterThanOrEqual(OPEN_ON_THREAD_BYTES);
      const here = await decodeBlob(key, form, id, blob.sealed, 'blob x');
      const there = await opener.decode(form, id, box, 'blob x');
      expect(there.equals(plaintext)).toBe(true);
      expect(there.equals(here)).toBe(true);
      expect(box.byteLength).toBe(0); // moved to the worker, not copied
    }
  });

  it('copies a box that is a view into a larger buffer, and leaves that buffer alone', async () => {
    const plaintext = randomBytes(200_000);
    const blob = await encodeBlob(key, 'data', id, plaintext);
    const larger = Buffer.concat([Buffer.alloc(7), blob.sealed, Buffer.alloc(9)]);
    const view = larger.subarray(7, 7 + blob.sealed.length);
    const opened = await opener.decode({ type: 'data', encoding: blob.encoding, plainLength: plaintext.length }, id, view, 'blob x');
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
    const expected = await decodeBlob(key, form, id, new Uint8Array(tampered), 'blob x').catch((e: unknown) => e as Error);
    const error = await opener.decode(form, id, tampered, 'blob x').catch((e: unknown) => e);
    expect(isCairnError(error, 'CORRUPT')).toBe(true);
    expect((error as Error).message).toBe(expected.message);
    const asTree = await opener.decode({ ...form, type: 'tree' }, id, new Uint8Array(blob.sealed), 'blob x').catch((e: unknown) => e);
    expect(isCairnError(asTree, 'CORRUPT')).toBe(true);
    // The thread goes on after a failure.
    expect((await opener.decode(form, id, new Uint8Array(blob.sealed), 'blob x')).equals(plaintext)).toBe(true);
  });

  it('opens on the calling thread without the compiled worker, and after the thread is gone', async () => {
    const plaintext = randomBytes(100_000);
    const blob = await encodeBlob(key, 'data', id, plaintext);
    const form = { type: 'data' as const, encoding: blob.encoding, plainLength: plaintext.length };
    const without = new BlobOpener(key, '/nonexistent/blob-opener-worker.js');
    expect(without.threaded).toBe(false);
    expect((await without.decode(form, id, new Uint8Array(blob.sealed), 'blob x')).equals(plaintext)).toBe(true);
    const closed = new BlobOpener(key, WORKER);
    await closed.close();
    expect((await closed.decode(form, id, new Uint8Array(blob.sealed), 'blob x')).equals(plaintext)).toBe(true);
  });
});
