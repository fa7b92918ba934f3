/**
 * A cairn repository opened with its master key: the library API the mount and the CLI use.
 * Blobs in, blobs out; trees and snapshots on top. Knows nothing of FUSE.
 *
 * Write order (docs/FORMAT.md "Write order"): packs, then the index file naming them, then
 * the snapshot naming the trees. A crash at any point leaves at worst unreferenced packs.
 */
import { putSealed } from './sealed-store.js';
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdirSync } from 'node:fs';
import { currentUserName } from '../backend/local-user.js';
import { type Backend, CONFIG_REF } from '../backend/backend.js';
import { BlobCache } from '../cache/blob-cache.js';
import { Chunker, gearTableFrom } from '../chunker/fastcdc.js';
import type { SealedChunk, SealingKeys } from './seal-file.js';
import { blobIdOf, deriveRepositoryKeys, newMasterKey, type RepositoryKeys } from '../crypto/keys.js';
import type { SlotKdf, SlotSecret } from '../crypto/keyslot.js';
import { CairnError, corrupt, isCairnError } from '../errors/errors.js';
import { DecodeError, toHex } from '../format/bytes.js';
import { decodeConfig, encodeConfig, FORMAT_VERSION, type RepositoryConfig } from '../format/config.js';
import { decodeForgetRecord, type ForgetRecord, type ForgottenSnapshot } from '../format/forget-record.js';
import { countIndexedBlobs, decodeIndexFile, decodeSupersededList, encodeIndexFile, type IndexedPack, type IndexFile } from '../format/index-file.js';
import { decodeBlob, encodeBlob, type EncodedBlob } from '../format/blob-codec.js';
import { BlobThread, ON_THREAD_BYTES } from './blob-thread.js';
import { type BlobEncoding, type BlobType, openBlob, openObject, type SealedKind } from '../format/sealed.js';
import { decodeSnapshot, encodeSnapshot, type Snapshot } from '../format/snapshot.js';
import { decodeTree, encodeTree, type Tree } from '../format/tree.js';
import type * as openpgp from 'openpgp';
import { addKeySlot, addRecipientSlot, unlockMasterKey } from './keyring.js';
import { type BlobLocation, MasterIndex } from './master-index.js';
import { LocalIndexError, type SortedIndex, SortedIndexBuilder } from './sorted-index.js';
import { Packer, type PendingBlob } from './packer.js';

export interface StoredSnapshot {
  readonly id: string;
  readonly snapshot: Snapshot;
}

export type NewSnapshot = Pick<Snapshot, 'tree' | 'stats' | 'nextFileId'> & Partial<Pick<Snapshot, 'tags' | 'timeNs' | 'host' | 'user' | 'parent' | 'root'>>;

/** File id of every snapshot's root folder; other files are numbered from 2. */
export const ROOT_FILE_ID = 1;

export interface RepositoryOptions {
  /** Plaintext blob cache budget in bytes. */
  readonly blobCacheBytes?: number;
  /** Leave the index unloaded (check loads it file by file to report each damaged one). */
  readonly skipIndex?: boolean;
  /** The config, when the caller has read it already (saves a round trip to the store). */
  readonly config?: RepositoryConfig;
  /**
   * Readers only: a damaged index, snapshot or forget file is left out and listed in
   * `skipped` instead of refusing the whole repository. Writers keep the default (refuse):
   * a writer that did not see the newest snapshot would number and chain the next one
   * wrongly, and prune would delete data only the unreadable files name.
   */
  readonly skipDamaged?: boolean;
  /** Blobs after which an index file is written during a run (tests use few; see packStored). */
  readonly indexFileBlobs?: number;
  /** Pack size at which a pack is closed (default PACK_TARGET_SIZE; the crash model uses small ones, so packs fill and wait for upload slots). */
  readonly packTargetBytes?: number;
  /** Open and seal big blobs on a worker thread (the mount: its thread answers the kernel meanwhile; blob-thread.ts). */
  readonly blobThread?: boolean;
  /**
   * A folder on local disk (made when missing) where a big store's index is kept instead of
   * in memory (sorted-index.ts; the mount's state folder), by repository id.
   */
  readonly localIndexDir?: (repositoryId: string) => string;
  /** Blobs from which the index stays on local disk (default INDEX_ON_DISK_BLOBS; tests use few). */
  readonly indexOnDiskFrom?: number;
}

/** An object left out because it is damaged (`skipDamaged`), with why. */
export interface SkippedObject {
  /** The object's path on the store, like snapshots/3fa2…. */
  readonly object: string;
  readonly reason: string;
}

/** Blobs stored during a run after which an index file is written for them (restic's index files hold up to 50,000). */
const INDEX_FILE_BLOBS = 50_000;

/**
 * Blobs from which the index stays on local disk when a folder for it is given: below, its
 * memory (about 57 bytes a blob) is not worth a read for every lookup.
 */
export const INDEX_ON_DISK_BLOBS = 100_000;

/** Index, snapshot and forget files read at once when loading them all. */
const LOADS_IN_FLIGHT = 16;

export class Repository {
  readonly index = new MasterIndex();
  /** Stored packs whose index file failed (see packStored), and the index file being written. */
  private readonly unindexed: IndexedPack[] = [];
  private indexing: Promise<void> = Promise.resolve();
  /** The flush in progress (flushes run one at a time). */
  private flushing: Promise<void> = Promise.resolve();
  private readonly indexFileBlobs: number;
  /** The format version of the store's config; an older store becomes current at its first write. */
  private formatVersion: number;
  private upgrading: Promise<void> | undefined;
  private readonly packer: Packer;
  private readonly cache: BlobCache;
  /** Opens and seals big blobs: on a worker in the mount (RepositoryOptions.blobThread), in place otherwise. */
  private readonly thread: BlobThread;
  private readonly gear: Uint32Array;
  private snapshots: StoredSnapshot[] | undefined;
  private forgotten: ForgottenSet | undefined;
  /** Index files merged into `index` so far. */
  private readonly loadedIndexFiles = new Set<string>();
  private readonly skipDamaged: boolean;
  /** Damaged objects left out so far (only with `skipDamaged`). */
  readonly skipped: SkippedObject[] = [];
  /** Loads in progress: concurrent readers of one blob share one fetch and one decryption. */
  private readonly loading = new Map<string, Promise<Buffer>>();
  private readonly localIndexDir: string | undefined;
  private readonly indexOnDiskFrom: number;
  /** Why the index is in memory although a folder on disk was given for it (a full disk). */
  indexOnDiskFailure: string | undefined;
  /** The first load of the index files (the one that may go through local disk) has begun. */
  private indexLoadedOnce = false;

  private constructor(
    readonly backend: Backend,
    readonly config: RepositoryConfig,
    private readonly master: Uint8Array,
    readonly keys: RepositoryKeys,
    options: RepositoryOptions,
  ) {
    this.formatVersion = config.version;
    this.skipDamaged = options.skipDamaged ?? false;
    this.indexFileBlobs = options.indexFileBlobs ?? INDEX_FILE_BLOBS;
    this.localIndexDir = options.localIndexDir?.(toHex(config.id));
    this.indexOnDiskFrom = options.indexOnDiskFrom ?? INDEX_ON_DISK_BLOBS;
    this.cache = new BlobCache(options.blobCacheBytes);
    this.gear = gearTableFrom(keys.chunkerGear);
    this.thread = options.blobThread ? new BlobThread(this.sealingKeys()) : new BlobThread(this.sealingKeys(), null);
    const thread = this.thread;
    this.packer = new Packer(backend, keys.encryption, (pack) => this.packStored(pack), options.packTargetBytes, (buffer, length) => thread.digestPack(buffer, length));
  }

  get id(): string {
    return toHex(this.config.id);
  }

  /** Creates a new repository in an empty store: key slot first, config last. */
  static async init(backend: Backend, secret: SlotSecret, kdf: SlotKdf = 'iterated', options: RepositoryOptions = {}): Promise<Repository> {
    if ((await backend.size(CONFIG_REF).catch(() => null)) !== null) {
      throw new CairnError('EXISTS', `there is already a cairn repository at ${backend.location}`, {
        hint: 'open it with its passphrase, or choose another folder for a new one',
      });
    }
    await backend.create();
    const config: RepositoryConfig = { version: FORMAT_VERSION, id: new Uint8Array(randomBytes(32)) };
    const master = newMasterKey();
    await addKeySlot(backend, master, config.id, secret, kdf);
    // The config goes last: a store without one is not a repository, so a crash here is harmless.
    await backend.put(CONFIG_REF, encodeConfig(config));
    return new Repository(backend, config, master, deriveRepositoryKeys(master, config.id), options);
  }

  static async open(backend: Backend, secret: SlotSecret, options: RepositoryOptions = {}): Promise<Repository> {
    const config = options.config ?? (await readConfig(backend));
    const { master, slotId } = await unlockMasterKey(backend, config.id, secret);
    const repo = new Repository(backend, config, master, deriveRepositoryKeys(master, config.id), options);
    repo.openedSlot = slotId;
    if (!options.skipIndex) await repo.loadIndex();
    return repo;
  }

  /** The key slot whose secret opened this repository (none for one just created). */
  openedSlot: string | undefined;

  /** A key slot for another secret; the data is not touched. */
  async addKey(secret: SlotSecret, kdf: SlotKdf = 'iterated', label?: string): Promise<string> {
    return addKeySlot(this.backend, this.master, this.config.id, secret, kdf, label);
  }

  /** A key slot encrypted to an OpenPGP public key; the data is not touched. */
  async addRecipient(publicKey: openpgp.Key, label?: string): Promise<string> {
    return addRecipientSlot(this.backend, this.master, this.config.id, publicKey, label);
  }

  newChunker(): Chunker {
    return new Chunker(this.gear);
  }

  blobId(plaintext: Uint8Array): string {
    return toHex(blobIdOf(this.keys.blobId, plaintext));
  }

  /** Whether a blob with this id is stored or waiting in a pack to be. */
  holds(id: string): boolean {
    return this.index.has(id) || this.packer.pendingBlob(id) !== undefined;
  }

  /** What source-reader.ts needs to seal data blobs of this repository on another thread. */
  sealingKeys(): SealingKeys {
    return { encryption: this.keys.encryption, blobId: this.keys.blobId, gear: this.gear };
  }

  /**
   * Stores a blob sealed elsewhere (source-reader.ts) unless one with its id exists; returns
   * the sealed bytes added. The caller vouches that `blob` is encodeBlob of the id's
   * plaintext; its box is empty only for an id the caller found held (holds only ever grows).
   */
  async saveSealedBlob(type: BlobType, id: string, blob: EncodedBlob): Promise<number> {
    if (this.holds(id)) return 0;
    if (blob.sealed.length === 0) throw new Error(`blob ${id} came unsealed but is not stored`);
    await this.prepareToWrite();
    // Another save of the same blob may have come first while this one waited.
    return (await this.packer.add(type, id, blob)) ? blob.sealed.length : 0;
  }

  /** Stores a blob unless an equal one exists; returns its id and the sealed bytes added. */
  async saveBlob(type: BlobType, plaintext: Uint8Array): Promise<{ id: string; addedBytes: number }> {
    if (this.thread.threaded && plaintext.length >= ON_THREAD_BYTES) {
      // Id and box both come from the worker: a chunk already stored is sealed in vain, but
      // this thread does neither the HMAC nor the sealing.
      const sealed = await this.thread.seal(type, plaintext);
      const id = toHex(sealed.id);
      if (this.holds(id)) return { id, addedBytes: 0 };
      await this.prepareToWrite();
      return { id, addedBytes: (await this.packer.add(type, id, sealed)) ? sealed.sealed.length : 0 };
    }
    const id = this.blobId(plaintext);
    if (this.holds(id)) return { id, addedBytes: 0 };
    const blob = encodeBlob(this.keys.encryption, type, Buffer.from(id, 'hex'), plaintext);
    await this.prepareToWrite();
    return { id, addedBytes: (await this.packer.add(type, id, blob)) ? blob.sealed.length : 0 };
  }

  /**
   * Raises the store's config to the current format version before the first object of that
   * version is written, so an older cairn refuses the store instead of misreading it (or
   * taking a version-2 index file for damage). Objects already there stay as they are.
   */
  async prepareToWrite(): Promise<void> {
    if (this.formatVersion >= FORMAT_VERSION) return;
    this.upgrading ??= this.backend.put(CONFIG_REF, encodeConfig({ version: FORMAT_VERSION, id: this.config.id })).then(
      () => void (this.formatVersion = FORMAT_VERSION),
      (e: unknown) => {
        this.upgrading = undefined;
        throw e;
      },
    );
    await this.upgrading;
  }

  async loadBlob(type: BlobType, id: string): Promise<Buffer> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    let loading = this.loading.get(id);
    if (!loading) {
      loading = this.fetchBlob(type, id).finally(() => this.loading.delete(id));
      this.loading.set(id, loading);
    }
    return loading;
  }

  /**
   * A blob opened (authenticated) but not yet decoded, read for one caller alone: not
   * cached, not shared with a concurrent read of the same id, so the caller may hand its
   * bytes to another thread, which decodes it with decodePayload (restore does).
   */
  async loadBlobPayload(type: BlobType, id: string): Promise<{ payload: Buffer; encoding: BlobEncoding; plainLength: number }> {
    const what = `blob ${id}`;
    const form = this.locate(id, what);
    const sealed = 'sealed' in form ? form.sealed : await this.readBox(form, what);
    return { payload: openBlob(this.keys.encryption, type, Buffer.from(id, 'hex'), sealed, what, form.encoding), encoding: form.encoding, plainLength: form.plainLength };
  }

  private async fetchBlob(type: BlobType, id: string, keep = true): Promise<Buffer> {
    const what = `blob ${id}`;
    const form = this.locate(id, what);
    // The type asked for, not the index's: a tree id must not serve as data or the reverse.
    const blobForm = { type, encoding: form.encoding, plainLength: form.plainLength };
    const plaintext = 'sealed' in form
      ? decodeBlob(this.keys.encryption, blobForm, Buffer.from(id, 'hex'), form.sealed, what) // the packer's bytes: opened here
      : await this.thread.openRead(blobForm, Buffer.from(id, 'hex'), form.length, (into) => this.readBox(form, what, into), what);
    if (keep) this.cache.set(id, plaintext);
    return plaintext;
  }

  /**
   * One step of a file's streaming commit (seal-file.ts cutStep), on the blob thread when
   * there is one. The chunks are not stored yet: saveSealedBlob each, in order. Those the
   * store holds already come unsealed (holds only ever grows).
   */
  sealStreamStep(parts: readonly Uint8Array[], final: boolean): Promise<{ chunks: SealedChunk[]; rest: Uint8Array }> {
    return this.thread.sealStep(parts, final, (id) => this.holds(id));
  }

  /** Bytes of streamed chunks sealed so far (chunks the store held are not sealed again). */
  get streamedBytesSealed(): number {
    return this.thread.streamedBytesSealed;
  }

  /** Where a blob is: waiting in an open pack, or stored (by the index). */
  private locate(id: string, what: string): PendingBlob | BlobLocation {
    const form = this.packer.pendingBlob(id) ?? this.index.lookup(id);
    if (!form) throw corrupt(what, 'no index entry names it (an index file or pack is missing)');
    return form;
  }

  /** The box at `location`, read into `into` when given (see BlobThread.openRead) and the backend can; else a buffer of our own (see Backend.get). */
  private async readBox(location: BlobLocation, what: string, into?: Uint8Array): Promise<Uint8Array> {
    return this.backend.get({ kind: 'data', name: location.packId }, { offset: location.offset, length: location.length }, into).catch((e: unknown) => {
      // The index says the pack is there: a store without it has lost data (damage, exit 6).
      if (isCairnError(e, 'NOT_FOUND')) throw corrupt(what, `its pack data/${location.packId.slice(0, 2)}/${location.packId} is missing from the store`, e);
      throw e;
    });
  }

  /** Plaintext size of a stored blob, from the index alone. */
  blobPlainSize(id: string): number {
    const plainLength = (this.packer.pendingBlob(id) ?? this.index.lookup(id))?.plainLength;
    if (plainLength === undefined) throw corrupt(`blob ${id}`, 'no index entry names it');
    return plainLength;
  }

  async saveTree(tree: Tree): Promise<{ id: string; addedBytes: number }> {
    return this.saveBlob('tree', encodeTree(tree));
  }

  async loadTree(id: string): Promise<Tree> {
    return decodeOrCorrupt(`tree ${id}`, decodeTree, await this.loadBlob('tree', id));
  }

  /** A tree read without keeping its bytes in the memory cache (a walk of every tree would flush it). */
  async loadTreeUncached(id: string): Promise<Tree> {
    const cached = this.cache.get(id);
    return decodeOrCorrupt(`tree ${id}`, decodeTree, cached ?? (await this.fetchBlob('tree', id, false)));
  }

  /**
   * A stored pack's blobs are readable at once. Once the stored packs no index file names yet
   * hold `indexFileBlobs` blobs, an index file is written for them in the background: a long
   * backup then holds neither their entries in memory nor loses them all to a crash.
   */
  private packStored(pack: IndexedPack): void {
    this.index.addPack(pack);
    if (this.packer.storedBlobs < this.indexFileBlobs) return;
    // A failure is not lost: the packs wait in `unindexed`, and flush() writes them or throws.
    this.indexing = this.indexing.then(() => this.indexPacks(this.packer.takeStored())).catch(() => undefined);
  }

  private async indexPacks(packs: IndexedPack[]): Promise<void> {
    packs.unshift(...this.unindexed.splice(0));
    if (packs.length === 0) return;
    try {
      await this.writeIndexFile(packs);
    } catch (e) {
      this.unindexed.push(...packs);
      throw e;
    }
  }

  /**
   * Uploads every pending pack, then an index file naming the packs no index file names yet.
   * When it returns, every blob saved before the call is in a stored pack that a stored index
   * file names. Flushes run one at a time: two at once could each leave the other's index file
   * unwritten (the first takes the stored packs, the second finds none and returns early).
   */
  flush(): Promise<void> {
    const next = this.flushing.then(async () => {
      const packs = await this.packer.flush();
      await this.indexing;
      await this.indexPacks(packs);
    });
    this.flushing = next.catch(() => undefined);
    return next;
  }

  private async writeIndexFile(packs: IndexedPack[]): Promise<void> {
    await putSealed(this.backend, this.keys.encryption, 'index', encodeIndexFile({ superseded: [], packs }));
  }

  /**
   * Loads every index file into the in-memory index, except those a present index file
   * supersedes (an interrupted prune leaves both; the newer one is complete on its own).
   */
  async loadIndex(): Promise<void> {
    const names = (await this.backend.list('index')).filter((name) => !this.loadedIndexFiles.has(name));
    const first = !this.indexLoadedOnce;
    this.indexLoadedOnce = true;
    if (this.localIndexDir && first) {
      try {
        return await this.loadIndexThroughDisk(names, this.localIndexDir);
      } catch (e) {
        if (!(e instanceof LocalIndexError)) throw e;
        this.indexOnDiskFailure = e.message; // and read them again into memory
      }
    }
    // Decoded files are not held until the last is read: an entry object per blob cost about
    // 400 MB of transient memory at a million blobs. Each file's plaintext is kept (about 50
    // bytes a blob) with the list of files it supersedes, read from its start; then the
    // files that stay are decoded one at a time into an index sized once for them all.
    const files = await this.loadEach(
      names,
      (name) => this.loadSealed('index', name, (plaintext) => ({ plaintext, superseded: decodeSupersededList(plaintext), blobs: countIndexedBlobs(plaintext) })),
      (name) => `index/${name}`,
      (name, read) => ({ name, ...read }),
    );
    const superseded = supersededIndexFiles(files);
    const loading = files.filter((f) => !superseded.has(f.name));
    this.index.reserve(this.index.blobCount + loading.reduce((sum, f) => sum + f.blobs, 0));
    for (const file of files) {
      if (!superseded.has(file.name)) this.addIndexOrSkip(file.name, file.plaintext);
      this.loadedIndexFiles.add(file.name);
      file.plaintext = new Uint8Array(0);
    }
  }

  /**
   * The first load with a local folder for the index: each index file goes through a sorted
   * file on disk as it is read (no plaintext is kept), which stays there for a big store and
   * is copied into memory for a small one. LocalIndexError when the disk fails.
   */
  private async loadIndexThroughDisk(names: readonly string[], dir: string): Promise<void> {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new LocalIndexError(dir, e);
    }
    const builder = new SortedIndexBuilder(dir);
    let sorted: SortedIndex;
    let files: { name: string; superseded: Uint8Array[] }[];
    try {
      const numbers = new Map(names.map((name, i) => [name, i]));
      files = await this.loadEach(
        names,
        (name) =>
          this.loadSealed('index', name, (plaintext) => {
            const superseded = decodeSupersededList(plaintext);
            builder.addIndexFile(numbers.get(name)!, plaintext);
            return { superseded };
          }),
        (name) => `index/${name}`,
        (name, read) => ({ name, ...read }),
      );
      const superseded = supersededIndexFiles(files);
      sorted = builder.finish(new Set([...superseded].flatMap((name) => numbers.get(name) ?? [])));
    } finally {
      builder.close();
    }
    this.index.useSorted(sorted, sorted.count >= this.indexOnDiskFrom);
    for (const file of files) this.loadedIndexFiles.add(file.name); // a damaged one skipped is tried again
  }

  /** Adds an index file's entries; a damaged one adds nothing and fails, or is noted when damaged objects are skipped (like loadEach's). */
  private addIndexOrSkip(name: string, plaintext: Uint8Array): void {
    try {
      decodeOrCorrupt(`index/${name}`, (p) => this.index.addIndexFileBytes(p), plaintext);
    } catch (e) {
      if (!this.skipDamaged || !isCairnError(e, 'CORRUPT')) throw e;
      this.noteSkipped(`index/${name}`, e);
    }
  }

  /** Picks up what another writer stored since: new index files and snapshots. */
  async refresh(): Promise<void> {
    await this.loadIndex();
    this.invalidateSnapshots();
  }

  /**
   * Loads every named object, a few at a time (not one promise per object of a store with
   * years of snapshots). A damaged one (CORRUPT) is skipped and noted when the repository
   * was opened with `skipDamaged`, and refuses the whole load otherwise.
   */
  private async loadEach<T, R>(names: readonly string[], load: (name: string) => Promise<T>, objectOf: (name: string) => string, make: (name: string, value: T) => R): Promise<R[]> {
    const results: (R | undefined)[] = new Array(names.length);
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const i = next++;
        const name = names[i]!;
        try {
          results[i] = make(name, await load(name));
        } catch (e) {
          if (!this.skipDamaged || !isCairnError(e, 'CORRUPT')) throw e;
          this.noteSkipped(objectOf(name), e);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOADS_IN_FLIGHT, names.length) }, worker));
    return results.filter((r): r is R => r !== undefined);
  }

  /** Notes a damaged object left out (once per object). */
  private noteSkipped(object: string, e: Error): void {
    if (!this.skipped.some((s) => s.object === object)) this.skipped.push({ object, reason: e.message });
  }

  /**
   * Every index file on the store, one by one: those that read, and those that do not
   * (damaged or foreign: CORRUPT) with why. Any other failure (an unreachable store) throws.
   */
  async readIndexFiles(): Promise<{ readable: { name: string; file: IndexFile }[]; damaged: { name: string; reason: string }[] }> {
    const readable: { name: string; file: IndexFile }[] = [];
    const damaged: { name: string; reason: string }[] = [];
    for (const name of await this.backend.list('index')) {
      try {
        readable.push({ name, file: await this.readIndexFile(name) });
      } catch (e) {
        if (!isCairnError(e, 'CORRUPT')) throw e;
        damaged.push({ name, reason: (e as Error).message });
      }
    }
    return { readable, damaged };
  }

  /** Reads and decodes one index file; throws CORRUPT naming it. */
  async readIndexFile(name: string): Promise<IndexFile> {
    return this.loadSealed('index', name, decodeIndexFile);
  }

  /**
   * Reads a sealed object whose name is the SHA-256 of its bytes, checks both, and decodes
   * it; throws CORRUPT naming the object (e.g. snapshots/3fa2…) when any step fails.
   */
  private async loadSealed<T>(kind: SealedKind & ('index' | 'snapshot' | 'forget'), name: string, decode: (plaintext: Uint8Array) => T): Promise<T> {
    const folder = kind === 'index' ? 'index' : kind === 'snapshot' ? 'snapshots' : 'forgotten';
    const what = `${folder}/${name}`;
    const bytes = await this.backend.get({ kind: folder, name }).catch((e: unknown) => {
      // Listed a moment ago, gone now: damage (or a concurrent prune), not "no repository".
      if (isCairnError(e, 'NOT_FOUND')) throw corrupt(what, 'it is missing from the store', e);
      throw e;
    });
    if (createHash('sha256').update(bytes).digest('hex') !== name) throw corrupt(what, 'its content does not match its name (SHA-256)');
    return decodeOrCorrupt(what, decode, openObject(this.keys.encryption, kind, bytes, what));
  }

  /**
   * Every snapshot on the store, oldest first (by sequence number, then time). A snapshot
   * a forget record names is left out even while its object is still there (a forget that
   * was interrupted before deleting it).
   */
  async listSnapshots(): Promise<StoredSnapshot[]> {
    if (!this.snapshots) {
      const { ids: forgotten } = await this.listForgotten();
      const names = (await this.backend.list('snapshots')).filter((id) => !forgotten.has(id));
      const loaded = await this.loadEach(names, (id) => this.loadSnapshot(id), (id) => `snapshots/${id}`, (id, snapshot) => ({ id, snapshot }));
      this.snapshots = loaded.sort((a, b) => a.snapshot.seq - b.snapshot.seq || Number(a.snapshot.timeNs - b.snapshot.timeNs));
    }
    return [...this.snapshots];
  }

  /** Every snapshot forget records name, with the records that name them. */
  async listForgotten(): Promise<ForgottenSet> {
    if (!this.forgotten) {
      const names = await this.backend.list('forgotten');
      const records = await this.loadEach(names, (name) => this.loadForgetRecord(name), (name) => `forgotten/${name}`, (name, record) => ({ name, record }));
      const ids = new Map<string, ForgottenSnapshot>();
      for (const { record } of records) for (const entry of record.forgotten) ids.set(entry.id, entry);
      this.forgotten = { records: records.map((r) => r.name), ids };
    }
    return this.forgotten;
  }

  async loadForgetRecord(name: string): Promise<ForgetRecord> {
    return this.loadSealed('forget', name, decodeForgetRecord);
  }

  /** Drops the cached snapshot list (after forget changed the store). */
  invalidateSnapshots(): void {
    this.snapshots = undefined;
    this.forgotten = undefined;
  }

  async loadSnapshot(id: string): Promise<Snapshot> {
    return this.loadSealed('snapshot', id, decodeSnapshot);
  }

  /**
   * The lowest file id no snapshot has used: new files are numbered from here, so an id is
   * never given to a second file (the newest snapshot, which is never forgotten, carries the
   * highest mark; version-1 snapshots carry none).
   */
  async nextFileIdFloor(): Promise<number> {
    let floor = ROOT_FILE_ID + 1;
    for (const { snapshot } of await this.listSnapshots()) floor = Math.max(floor, snapshot.nextFileId ?? 0);
    return floor;
  }

  /** Flushes data and index, then writes the snapshot as the next link of the chain. */
  async saveSnapshot(fields: NewSnapshot): Promise<StoredSnapshot> {
    await this.flush();
    await this.prepareToWrite();
    const existing = await this.listSnapshots();
    const head = existing[existing.length - 1];
    // Numbers continue after the highest ever used, forgotten snapshots included.
    let highest = head?.snapshot.seq ?? 0;
    for (const entry of (await this.listForgotten()).ids.values()) highest = Math.max(highest, entry.seq);
    const snapshot: Snapshot = {
      seq: highest + 1,
      timeNs: fields.timeNs ?? BigInt(Date.now()) * 1_000_000n,
      host: fields.host ?? hostname(),
      user: fields.user ?? currentUserName(),
      tags: fields.tags ?? [],
      tree: fields.tree,
      ...(fields.root ? { root: fields.root } : {}),
      parent: fields.parent === undefined ? (head?.id ?? null) : fields.parent,
      previous: head?.id ?? null,
      stats: fields.stats,
      nextFileId: Math.max(fields.nextFileId ?? 0, await this.nextFileIdFloor()),
    };
    const id = await putSealed(this.backend, this.keys.encryption, 'snapshot', encodeSnapshot(snapshot));
    const stored = { id, snapshot };
    this.snapshots = [...existing, stored];
    return stored;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.thread.close();
    await this.backend.close();
    this.index.close();
  }
}

export interface ForgottenSet {
  /** Names of the forget records on the store. */
  readonly records: readonly string[];
  /** Every forgotten snapshot by id. */
  readonly ids: ReadonlyMap<string, ForgottenSnapshot>;
}

/** Names of index files that another of `files` lists as superseded. */
export function supersededIndexFiles(files: readonly Pick<IndexFile, 'superseded'>[]): Set<string> {
  const names = new Set<string>();
  for (const file of files) for (const id of file.superseded) names.add(toHex(id));
  return names;
}

export async function readConfig(backend: Backend): Promise<RepositoryConfig> {
  let bytes: Uint8Array;
  try {
    bytes = await backend.get(CONFIG_REF);
  } catch (e) {
    if (isCairnError(e, 'NOT_FOUND')) {
      throw new CairnError('NOT_FOUND', `there is no cairn repository at ${backend.location}`, {
        hint: 'check the path, or create one with `cairn init STORE`',
      });
    }
    throw e;
  }
  return decodeConfig(bytes, backend.location);
}

/** Decodes authenticated bytes; a decoding failure is a damaged object named `what`. */
function decodeOrCorrupt<T>(what: string, decode: (bytes: Uint8Array) => T, bytes: Uint8Array): T {
  try {
    return decode(bytes);
  } catch (e) {
    if (e instanceof DecodeError) throw corrupt(what, `it authenticated but does not decode (${e.message})`, e);
    throw e;
  }
}
