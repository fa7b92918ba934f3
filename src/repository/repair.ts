/**
 * `cairn repair index`: rebuilds the index from what the store holds, like `restic repair
 * index`. Every index file that still reads is trusted for the packs it names that exist;
 * every pack no such file names has its own header read (the pack's last bytes: no data is
 * fetched); index entries for packs that are gone are dropped, so no writer dedups against
 * blobs that no longer exist. The new index files supersede every old one, which are then
 * deleted: the same order prune uses, so an interrupted repair leaves a readable store and
 * can be run again. Packs and snapshots are never changed.
 *
 * Callers hold the exclusive lock.
 */
import { objectPath } from '../backend/backend.js';
import { fromHex, toHex } from '../format/bytes.js';
import { encodeIndexFile, type IndexedPack } from '../format/index-file.js';
import { decodePackHeader, locatePackHeader, PACK_TRAILER_SIZE } from '../format/pack.js';
import { openObject } from '../format/sealed.js';
import { splitIndex } from './prune.js';
import { type Repository, supersededIndexFiles } from './repository.js';
import { putSealed } from './sealed-store.js';

export interface RepairReport {
  readonly indexFiles: number;
  /** Index files that could not be read (damaged or foreign), by store path. */
  readonly damagedIndexFiles: string[];
  readonly packs: number;
  /** Packs no readable index file named, whose headers were read. */
  readonly packsReindexed: number;
  /** Packs whose header could not be read either (left on the store, named; `check` reports them). */
  readonly unreadablePacks: { readonly pack: string; readonly reason: string }[];
  /** Packs an index named that are not on the store (their entries are dropped). */
  readonly missingPacks: string[];
  readonly indexFilesWritten: number;
  readonly indexFilesDeleted: number;
  /** Nothing needed repair (nothing was written). */
  readonly complete: boolean;
}

export interface RepairOptions {
  readonly dryRun?: boolean;
  readonly onProgress?: (message: string) => void;
}

export async function repairIndex(repo: Repository, options: RepairOptions = {}): Promise<RepairReport> {
  const backend = repo.backend;
  const progress = options.onProgress ?? (() => undefined);
  progress('reading the index files');
  const { readable, damaged } = await repo.readIndexFiles();
  const indexNames = [...readable, ...damaged].map((f) => f.name);
  const damagedIndexFiles = damaged.map(({ name }) => objectPath({ kind: 'index', name }));
  const superseded = supersededIndexFiles(readable.map((r) => r.file));
  const onStore = new Set(await backend.list('data'));

  const packs = new Map<string, IndexedPack>();
  const missing = new Set<string>();
  for (const { name, file } of readable) {
    if (superseded.has(name)) continue;
    for (const pack of file.packs) {
      const id = toHex(pack.packId);
      if (onStore.has(id)) packs.set(id, pack);
      else missing.add(id);
    }
  }

  const unindexed = [...onStore].filter((id) => !packs.has(id));
  const unreadablePacks: { pack: string; reason: string }[] = [];
  if (unindexed.length > 0) progress(`reading the headers of ${unindexed.length} pack(s) no index names`);
  for (const id of unindexed) {
    try {
      packs.set(id, await readPackHeader(repo, id));
    } catch (e) {
      unreadablePacks.push({ pack: objectPath({ kind: 'data', name: id }), reason: (e as Error).message });
    }
  }
  const packsReindexed = unindexed.length - unreadablePacks.length;
  const complete = damagedIndexFiles.length === 0 && missing.size === 0 && packsReindexed === 0;
  const report = (written: number, deleted: number): RepairReport => ({
    indexFiles: indexNames.length, damagedIndexFiles, packs: onStore.size, packsReindexed, unreadablePacks,
    missingPacks: [...missing].map((id) => objectPath({ kind: 'data', name: id })), indexFilesWritten: written, indexFilesDeleted: deleted, complete,
  });
  if (complete || options.dryRun) return report(0, 0);

  await repo.prepareToWrite();
  progress('writing the new index');
  let written = 0;
  for (const file of splitIndex([...packs.values()], indexNames.map((name) => fromHex(name, 32)))) {
    await putSealed(backend, repo.keys.encryption, 'index', encodeIndexFile(file));
    written++;
  }
  for (const name of indexNames) await backend.delete({ kind: 'index', name });
  return report(written, indexNames.length);
}

/** A pack's blobs from its own header: its last 4 bytes give the sealed header's length. */
async function readPackHeader(repo: Repository, id: string): Promise<IndexedPack> {
  const ref = { kind: 'data' as const, name: id };
  const size = await repo.backend.size(ref);
  if (size === null) throw new Error('it vanished while being read');
  const trailer = await repo.backend.get(ref, { offset: size - PACK_TRAILER_SIZE, length: PACK_TRAILER_SIZE });
  const at = locatePackHeader(trailer, size);
  const sealed = await repo.backend.get(ref, at);
  const entries = decodePackHeader(openObject(repo.keys.encryption, 'pack-header', sealed, objectPath(ref)));
  return { packId: fromHex(id, 32), blobs: entries };
}
