/**
 * `cairn prune`: gives back the space no kept snapshot needs.
 *
 * 1. Work out which blobs the kept snapshots reference (walk every tree).
 * 2. Classify each pack: all used (keep), none used (delete), partly used with at least
 *    `repackUnused` of its bytes unused (repack: copy the used sealed blobs as they are into
 *    new packs; a blob's box binds its type and id, not its pack), else keep.
 * 3. Upload the new packs; write new index files describing every pack that stays and
 *    listing every current index file as superseded; delete the old index files; delete the
 *    packs nothing indexes any more.
 *
 * Every step leaves a store that checks clean and whose kept snapshots read back: new packs
 * are unindexed until step 3's index is written; a present index file that a newer one
 * supersedes is ignored by readers; a pack is deleted only once no index a reader would use
 * names it. A prune killed at any point is finished by the next one (it also removes packs
 * no index names, which an interrupted write leaves).
 *
 * Callers hold the exclusive lock: a writer's new blobs are not in any snapshot yet.
 */
import { putSealed } from './sealed-store.js';
import { objectPath } from '../backend/backend.js';
import { corrupt } from '../errors/errors.js';
import { fromHex, toHex } from '../format/bytes.js';
import type { BlobEntry } from '../format/blob-entry.js';
import { encodeIndexFile, type IndexedPack, type IndexFile } from '../format/index-file.js';
import { encodePackHeader, type PackEntry, packTrailer } from '../format/pack.js';
import { openBlob, sealObject, type BlobType } from '../format/sealed.js';
import { deleteForgottenObjects } from './forget.js';
import { Packer, PACK_TARGET_SIZE } from './packer.js';
import { type Repository, supersededIndexFiles } from './repository.js';

export interface PruneOptions {
  /** Repack a partly used pack when at least this fraction of its bytes is unused. */
  readonly repackUnused?: number;
  readonly dryRun?: boolean;
  readonly onProgress?: (message: string) => void;
  /** Called after each step that changes the store (progress, and fault injection in tests). */
  readonly onStep?: (step: PruneStep) => void;
  /** Called as packs are repacked (the long part: their used blobs are read and written again). */
  readonly onRepack?: (progress: RepackProgress) => void;
}

export interface RepackProgress {
  readonly packs: number;
  readonly totalPacks: number;
  /** Bytes of the packs being repacked read so far. */
  readonly bytes: number;
  readonly totalBytes: number;
}

export type PruneStep = 'pack-written' | 'index-written' | 'index-deleted' | 'pack-deleted';

export interface PruneReport {
  readonly packs: { total: number; kept: number; repacked: number; deleted: number; unindexed: number; written: number };
  /** Bytes of packs on the store before and after. */
  readonly packBytesBefore: number;
  readonly packBytesAfter: number;
  readonly usedBlobs: number;
  readonly unusedBlobs: number;
  readonly indexFilesWritten: number;
  readonly indexFilesDeleted: number;
  readonly snapshotObjectsDeleted: number;
}

/** A pack header or index entry with its id in hex. */
interface PackEntryInfo extends Omit<BlobEntry, 'id'> {
  readonly id: string;
}

/** Blobs per index file written by prune (keeps each file a few MiB at most). */
const BLOBS_PER_INDEX_FILE = 65536;

export async function pruneRepository(repo: Repository, options: PruneOptions = {}): Promise<PruneReport> {
  const progress = options.onProgress ?? (() => undefined);
  const step = options.onStep ?? (() => undefined);
  const threshold = options.repackUnused ?? 0.2;
  const backend = repo.backend;

  const snapshotObjectsDeleted = options.dryRun ? 0 : await deleteForgottenObjects(repo);

  progress('reading the index');
  const indexNames = await backend.list('index');
  const indexFiles = await Promise.all(indexNames.map(async (name) => ({ name, file: await repo.readIndexFile(name) })));
  const superseded = supersededIndexFiles(indexFiles.map((f) => f.file));
  const packs = new Map<string, PackEntryInfo[]>();
  /** The pack a blob is read from (the first listing of a blob stored twice). */
  const home = new Map<string, string>();
  for (const { name, file } of indexFiles) {
    if (superseded.has(name)) continue;
    for (const pack of file.packs) {
      const packId = toHex(pack.packId);
      if (packs.has(packId)) continue;
      packs.set(packId, pack.blobs.map((b) => ({ ...b, id: toHex(b.id) })));
      for (const b of pack.blobs) if (!home.has(toHex(b.id))) home.set(toHex(b.id), packId);
    }
  }

  progress('listing packs');
  const stored = new Map<string, number>();
  for (const name of await backend.list('data')) stored.set(name, (await backend.size({ kind: 'data', name })) ?? 0);
  for (const packId of packs.keys()) {
    if (!stored.has(packId)) {
      throw corrupt(objectPath({ kind: 'data', name: packId }), 'it is missing, but the index names it (prune changed nothing)');
    }
  }

  progress('finding the data kept snapshots use');
  const used = await usedBlobs(repo, home);

  const keep: string[] = [];
  const repack: string[] = [];
  const remove: string[] = [];
  /** Bytes of the blobs each pack holds that kept snapshots read from it. */
  const usedBytes = new Map<string, number>();
  for (const [packId, entries] of packs) {
    const size = stored.get(packId)!;
    const inUse = entries.reduce((sum, e) => sum + (used.has(e.id) && home.get(e.id) === packId ? e.length : 0), 0);
    usedBytes.set(packId, inUse);
    if (inUse === 0) remove.push(packId);
    else if ((size - inUse) / size >= threshold) repack.push(packId);
    else keep.push(packId);
  }
  const unindexed = [...stored.keys()].filter((id) => !packs.has(id));
  const packBytesBefore = [...stored.values()].reduce((a, b) => a + b, 0);
  const keptBytes = keep.reduce((sum, id) => sum + stored.get(id)!, 0);
  const dropped = new Set([...repack, ...remove, ...unindexed]);
  const indexStale = dropped.size > 0 || indexNames.some((name) => superseded.has(name));
  const report = (packBytesAfter: number, written: number, indexWritten: number): PruneReport => ({
    packs: { total: stored.size, kept: keep.length, repacked: repack.length, deleted: remove.length, unindexed: unindexed.length, written },
    packBytesBefore,
    packBytesAfter,
    usedBlobs: used.size,
    unusedBlobs: [...home.keys()].filter((id) => !used.has(id)).length,
    indexFilesWritten: indexWritten,
    indexFilesDeleted: indexWritten > 0 ? indexNames.length : 0,
    snapshotObjectsDeleted,
  });
  // A dry run packs the same blobs in the same order on paper: the same packs, the same bytes.
  if (options.dryRun) {
    const planned = plannedRepack(repo.keys.encryption, repack.flatMap((packId) => packs.get(packId)!.filter((e) => used.has(e.id) && home.get(e.id) === packId)));
    return report(keptBytes + planned.bytes, planned.packs, 0);
  }
  if (!indexStale) return report(packBytesBefore, 0, 0);

  await repo.prepareToWrite();
  progress(`repacking ${repack.length} pack(s)`);
  const written: IndexedPack[] = [];
  let writtenBytes = 0;
  const packer = new Packer(backend, repo.keys.encryption, () => step('pack-written'));
  const repackBytes = repack.reduce((sum, id) => sum + stored.get(id)!, 0);
  let repackRead = 0;
  options.onRepack?.({ packs: 0, totalPacks: repack.length, bytes: 0, totalBytes: repackBytes });
  for (const [i, packId] of repack.entries()) {
    const bytes = await backend.get({ kind: 'data', name: packId });
    repackRead += bytes.length;
    options.onRepack?.({ packs: i + 1, totalPacks: repack.length, bytes: repackRead, totalBytes: repackBytes });
    for (const entry of packs.get(packId)!) {
      if (!used.has(entry.id) || home.get(entry.id) !== packId) continue;
      const box = Buffer.from(bytes.subarray(entry.offset, entry.offset + entry.length));
      // Verify before the original goes: a damaged blob must not be copied and trusted.
      openBlob(repo.keys.encryption, entry.type, fromHex(entry.id, 32), box, `blob ${entry.id} in ${objectPath({ kind: 'data', name: packId })}`, entry.encoding);
      await packer.add(entry.type, entry.id, { sealed: box, encoding: entry.encoding, plainLength: entry.plainLength });
    }
  }
  for (const pack of await packer.flush()) {
    written.push(pack);
    writtenBytes += (await backend.size({ kind: 'data', name: toHex(pack.packId) })) ?? 0;
  }

  progress('writing the new index');
  const kept: IndexedPack[] = keep.map((packId) => ({
    packId: fromHex(packId, 32),
    blobs: packs.get(packId)!.map((e) => ({ ...e, id: fromHex(e.id, 32) })),
  }));
  const allSuperseded = indexNames.map((name) => fromHex(name, 32));
  let indexWritten = 0;
  for (const file of splitIndex([...kept, ...written], allSuperseded)) {
    await putSealed(backend, repo.keys.encryption, 'index', encodeIndexFile(file));
    indexWritten++;
    step('index-written');
  }

  progress('deleting what no snapshot needs');
  for (const name of indexNames) {
    await backend.delete({ kind: 'index', name });
    step('index-deleted');
  }
  for (const packId of dropped) {
    await backend.delete({ kind: 'data', name: packId });
    step('pack-deleted');
  }
  return report(keptBytes + writtenBytes, written.length, indexWritten);
}

/** Every blob id a kept snapshot references, trees included; fails if one is not indexed. */
async function usedBlobs(repo: Repository, home: Map<string, string>): Promise<Set<string>> {
  const used = new Set<string>();
  const queue = (await repo.listSnapshots()).map((s) => s.snapshot.tree);
  while (queue.length > 0) {
    const id = queue.pop()!;
    if (used.has(id)) continue;
    if (!home.has(id)) throw corrupt(`tree ${id}`, 'a kept snapshot needs it but no index names it (prune changed nothing)');
    used.add(id);
    for (const node of (await repo.loadTree(id)).nodes) {
      if (node.subtree) queue.push(node.subtree);
      for (const blob of node.content ?? []) {
        if (!home.has(blob)) throw corrupt(`blob ${blob}`, `a kept snapshot needs it (${node.name}) but no index names it (prune changed nothing)`);
        used.add(blob);
      }
    }
  }
  return used;
}

/**
 * Index files of at most BLOBS_PER_INDEX_FILE blobs. Only the last (written last) lists the
 * old files as superseded: until it is on the store the old index stays in force, so a crash
 * between two new files hides nothing.
 */
export function splitIndex(packs: IndexedPack[], superseded: Uint8Array[]): IndexFile[] {
  const groups: IndexedPack[][] = [[]];
  let blobs = 0;
  for (const pack of packs) {
    if (groups[groups.length - 1]!.length > 0 && blobs + pack.blobs.length > BLOBS_PER_INDEX_FILE) {
      groups.push([]);
      blobs = 0;
    }
    groups[groups.length - 1]!.push(pack);
    blobs += pack.blobs.length;
  }
  return groups.map((group, i) => ({ superseded: i === groups.length - 1 ? superseded : [], packs: group }));
}

/**
 * The packs repacking these blobs (in this order) would write, and their size: what Packer
 * does (one open pack per blob type, closed at PACK_TARGET_SIZE, the rest at the end), with
 * the real sealed header and trailer.
 */
function plannedRepack(key: Uint8Array, blobs: readonly PackEntryInfo[]): { packs: number; bytes: number } {
  const open = new Map<BlobType, { entries: PackEntry[]; size: number }>();
  let packs = 0;
  let bytes = 0;
  const close = (pack: { entries: PackEntry[]; size: number }) => {
    const header = sealObject(key, 'pack-header', encodePackHeader(pack.entries));
    bytes += pack.size + header.length + packTrailer(header.length).length;
    packs++;
  };
  for (const blob of blobs) {
    const pack = open.get(blob.type) ?? { entries: [], size: 0 };
    open.set(blob.type, pack);
    pack.entries.push({ ...blob, id: fromHex(blob.id, 32), offset: pack.size });
    pack.size += blob.length;
    if (pack.size >= PACK_TARGET_SIZE) {
      close(pack);
      open.delete(blob.type);
    }
  }
  for (const pack of open.values()) close(pack);
  return { packs, bytes };
}
