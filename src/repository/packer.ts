/**
 * Collects sealed blobs into pack files of several MiB and uploads them (docs/FORMAT.md
 * "Pack files"). Data and tree blobs go to separate packs, so trees (small, read often)
 * sit together. Uploads run in the background, a bounded number at a time; flush() waits
 * for every upload and returns what the next index file must list.
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backend/backend.js';
import { fromHex } from '../format/bytes.js';
import type { IndexedPack } from '../format/index-file.js';
import { encodePackHeader, type PackEntry, packTrailer } from '../format/pack.js';
import type { EncodedBlob } from '../format/blob-codec.js';
import { type BlobType, sealObject } from '../format/sealed.js';

export const PACK_TARGET_SIZE = 8 * 1024 * 1024;
const MAX_UPLOADS_IN_FLIGHT = 2;
/**
 * Pack files are assembled in buffers reused from one pack to the next: on this machine type
 * a fresh 8 MiB buffer costs more in page faults than the copy into it (measured: 0.54 s
 * per GiB for Buffer.concat, 0.04 s into a reused buffer). Kept: one per upload slot + 1.
 */
const SPARE_PACK_BUFFERS = MAX_UPLOADS_IN_FLIGHT + 1;
const PACK_BUFFER_SIZE = PACK_TARGET_SIZE + 5 * 1024 * 1024;

interface OpenPack {
  readonly parts: Buffer[];
  readonly entries: PackEntry[];
  size: number;
}

export interface PendingBlob extends EncodedBlob {
  readonly type: BlobType;
}

/** A pack file's SHA-256 (its name): of the first `length` bytes of `buffer`, left as they are. */
export type PackDigest = (buffer: Buffer, length: number) => Promise<Buffer>;

/** The pack's SHA-256 on this thread. */
export const digestHere: PackDigest = async (buffer, length) => createHash('sha256').update(buffer.subarray(0, length)).digest();

export class Packer {
  private readonly open = new Map<BlobType, OpenPack>();
  /** Full packs whose add() waits for an upload slot (back-pressure); not yet uploading. */
  private readonly full = new Set<OpenPack>();
  /** Blobs sealed but not yet in an uploaded pack, readable by id meanwhile. */
  private readonly pending = new Map<string, PendingBlob>();
  private readonly uploads = new Set<Promise<void>>();
  private readonly finished: IndexedPack[] = [];
  /** Packs whose upload failed; flush() tries them again, so nothing added is dropped. */
  private readonly failed: OpenPack[] = [];
  private failure: unknown = undefined;
  private readonly spareBuffers: Buffer[] = [];

  constructor(
    private readonly backend: Backend,
    private readonly encryptionKey: Uint8Array,
    /** Called once a pack is on the store, so the index can serve its blobs. */
    private readonly onPackStored: (pack: IndexedPack) => void,
    private readonly targetSize = PACK_TARGET_SIZE,
    /** The mount hashes packs on its blob thread (0.7 s of its FUSE thread per GiB written). */
    private readonly digest: PackDigest = digestHere,
  ) {}

  pendingBlob(id: string): PendingBlob | undefined {
    return this.pending.get(id);
  }

  /**
   * Adds a sealed blob; may wait while too many packs are uploading (back-pressure). False
   * when a blob of that id already waits here (added by another save meanwhile): not added.
   */
  async add(type: BlobType, id: string, blob: EncodedBlob): Promise<boolean> {
    this.throwIfFailed();
    if (this.pending.has(id)) return false;
    let pack = this.open.get(type);
    if (!pack) this.open.set(type, (pack = { parts: [], entries: [], size: 0 }));
    const { sealed, encoding, plainLength } = blob;
    pack.entries.push({ type, encoding, id: fromHex(id, 32), offset: pack.size, length: sealed.length, plainLength });
    pack.parts.push(sealed);
    pack.size += sealed.length;
    this.pending.set(id, { type, sealed, encoding, plainLength });
    if (pack.size >= this.targetSize) {
      this.open.delete(type);
      // Full and waiting for an upload slot: a flush() meanwhile must still see it (its blobs
      // were added before that flush), so it waits in `full`, and flush() starts it at once.
      this.full.add(pack);
      while (this.uploads.size >= MAX_UPLOADS_IN_FLIGHT && this.full.has(pack)) await Promise.race(this.uploads);
      if (this.full.delete(pack)) this.startUpload(pack);
    }
    return true;
  }

  /** Blobs in the packs stored since the last takeStored() or flush(). */
  get storedBlobs(): number {
    return this.finished.reduce((sum, pack) => sum + pack.blobs.length, 0);
  }

  /** The packs stored since the last call (or flush), for an index file to name. */
  takeStored(): IndexedPack[] {
    return this.finished.splice(0);
  }

  /**
   * Writes out partly filled packs and waits for the uploads of every blob added before the
   * call; returns the packs stored since the last flush or takeStored().
   */
  async flush(): Promise<IndexedPack[]> {
    for (const [type, pack] of this.open) {
      this.open.delete(type);
      this.startUpload(pack);
    }
    for (const pack of this.full) this.startUpload(pack);
    this.full.clear();
    this.failure = undefined;
    for (const pack of this.failed.splice(0)) this.startUpload(pack);
    // Only the uploads of blobs added so far: a writer that keeps adding packs (a streamed
    // file) would otherwise hold this flush until it paused.
    await Promise.allSettled([...this.uploads]);
    this.throwIfFailed();
    return this.finished.splice(0);
  }

  private startUpload(pack: OpenPack): void {
    const header = sealObject(this.encryptionKey, 'pack-header', encodePackHeader(pack.entries));
    const assembled = this.assemble([...pack.parts, header, packTrailer(header.length)]);
    const { file, buffer } = assembled;
    const upload = (async () => {
      const packId = await this.digest(buffer, file.length);
      await this.backend.put({ kind: 'data', name: packId.toString('hex') }, file);
      const stored: IndexedPack = { packId, blobs: pack.entries };
      this.finished.push(stored);
      this.onPackStored(stored);
      for (const entry of pack.entries) this.pending.delete(Buffer.from(entry.id).toString('hex'));
    })()
      .catch((e: unknown) => {
        // Keep the blobs pending (still readable), retry at the next flush(), and report the
        // error at the next add() or flush().
        this.failed.push(pack);
        this.failure ??= e;
      })
      .finally(() => {
        this.uploads.delete(upload);
        // The backend is done with the bytes once put() settled (Backend.put's contract).
        if (this.spareBuffers.length < SPARE_PACK_BUFFERS) this.spareBuffers.push(buffer);
      });
    this.uploads.add(upload);
  }

  /** The pack file's bytes in a reused buffer when one is big enough (see SPARE_PACK_BUFFERS). */
  private assemble(parts: readonly Uint8Array[]): { file: Buffer; buffer: Buffer } {
    const size = parts.reduce((sum, part) => sum + part.length, 0);
    let buffer = this.spareBuffers.pop();
    // Shared memory: the mount's blob thread hashes it in place (blob-thread.ts digestPack),
    // no copy and no buffer handed back and forth (each such hand-over counted against the
    // JS heap's external memory and brought garbage collections).
    if (!buffer || buffer.length < size) buffer = Buffer.from(new SharedArrayBuffer(Math.max(size, PACK_BUFFER_SIZE)));
    let at = 0;
    for (const part of parts) {
      buffer.set(part, at);
      at += part.length;
    }
    return { file: buffer.subarray(0, size), buffer };
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) {
      const e = this.failure;
      this.failure = undefined;
      throw e;
    }
  }
}
