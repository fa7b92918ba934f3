/**
 * The packer's promise to flush(): when it returns, every blob added before the call is in a
 * stored pack it returned (or an earlier flush did). The mount journals a stream's chunks
 * and writes snapshots on that promise; a pack it missed would be named by a durable record
 * while still only in memory.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { MemoryBackend } from '../../src/backend/memory.js';
import type { ObjectRef } from '../../src/backend/backend.js';
import { blobIdOf } from '../../src/crypto/keys.js';
import { encodeBlob } from '../../src/format/blob-codec.js';
import { toHex } from '../../src/format/bytes.js';
import type { IndexedPack } from '../../src/format/index-file.js';
import { Packer } from '../../src/repository/packer.js';

const key = randomBytes(32);
const idKey = randomBytes(32);

/** A store whose uploads wait until `release()`, then take a few more turns of the event loop. */
class SlowStore extends MemoryBackend {
  private gate!: () => void;
  private readonly opened = new Promise<void>((resolve) => (this.gate = resolve));
  release(): void {
    this.gate();
  }
  override async put(ref: ObjectRef, data: Uint8Array): Promise<void> {
    await this.opened;
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    return super.put(ref, data);
  }
}

function blob(bytes: number) {
  const plaintext = randomBytes(bytes);
  const id = blobIdOf(idKey, plaintext);
  return { id: toHex(id), encoded: encodeBlob(key, 'data', id, plaintext) };
}

const idsIn = (packs: readonly IndexedPack[]) => packs.flatMap((p) => p.blobs.map((b) => toHex(b.id)));

describe('the packer', () => {
  it('flush() uploads a full pack that waits for an upload slot, and returns it', async () => {
    const store = new SlowStore();
    const packer = new Packer(store, key, () => {}, 10_000);
    // Two full packs take both upload slots; both uploads wait on the store.
    for (let i = 0; i < 2; i++) {
      const big = blob(12_000);
      expect(await packer.add('data', big.id, big.encoded)).toBe(true);
    }
    // A third pack fills up: its add() waits for a slot, holding a blob added before it.
    const early = blob(6_000);
    await packer.add('data', early.id, early.encoded);
    const last = blob(6_000);
    const waiting = packer.add('data', last.id, last.encoded);
    let added = false;
    void waiting.then(() => (added = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(added, 'the add waits for an upload slot').toBe(false);

    const flushed = packer.flush();
    store.release();
    const packs = await flushed;
    expect(await waiting).toBe(true);
    // Both blobs of the waiting pack are on the store and named by what flush returned.
    expect(idsIn(packs)).toEqual(expect.arrayContaining([early.id, last.id]));
    expect(packs).toHaveLength(3);
    expect(await store.list('data')).toHaveLength(3);
    // Nothing was uploaded twice, and nothing is left for the next flush.
    expect(await packer.flush()).toEqual([]);
    expect(await store.list('data')).toHaveLength(3);
  });
});
