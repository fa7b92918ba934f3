/**
 * Removing snapshots from the store (`cairn forget`). Only the snapshot objects go; the
 * data they alone referenced stays until `cairn prune`.
 *
 * Order, so that a crash at any point leaves a store that checks clean:
 *   1. write a forget record naming every snapshot forgotten so far, this run's included
 *      (readers now treat those snapshots as gone, even before their objects are deleted);
 *   2. delete the older forget records (the new one repeats their entries);
 *   3. delete the snapshot objects.
 * The newest snapshot is never forgotten: the end of the chain must stay on the store, or
 * a rollback of the store could not be told from a forget.
 */
import { putSealed } from './sealed-store.js';
import { CairnError } from '../errors/errors.js';
import { encodeForgetRecord, type ForgottenSnapshot } from '../format/forget-record.js';
import type { Repository, StoredSnapshot } from './repository.js';
import { applyRetention, type RetentionPolicy } from './retention.js';

export async function forgetSnapshots(repo: Repository, chosen: readonly StoredSnapshot[]): Promise<void> {
  if (chosen.length === 0) return;
  const snapshots = await repo.listSnapshots();
  const newest = snapshots[snapshots.length - 1];
  if (newest && chosen.some((s) => s.id === newest.id)) {
    throw new CairnError('USAGE', `snapshot ${newest.id.slice(0, 12)} is the newest and cannot be forgotten`, {
      hint: 'take a newer snapshot first; the newest one anchors the chain that `cairn check` verifies',
    });
  }
  const { records, ids } = await repo.listForgotten();
  const all = new Map<string, ForgottenSnapshot>(ids);
  for (const s of chosen) all.set(s.id, { id: s.id, seq: s.snapshot.seq });
  const name = await putSealed(repo.backend, repo.keys.encryption, 'forget', encodeForgetRecord({ timeNs: BigInt(Date.now()) * 1_000_000n, forgotten: [...all.values()] }));
  for (const old of records) if (old !== name) await repo.backend.delete({ kind: 'forgotten', name: old });
  repo.invalidateSnapshots();
  await deleteForgottenObjects(repo, chosen.map((s) => s.id));
}

/** Deletes snapshot objects forget records name (also finishes an interrupted forget). */
export async function deleteForgottenObjects(repo: Repository, ids?: readonly string[]): Promise<number> {
  const forgotten = (await repo.listForgotten()).ids;
  const present = new Set(await repo.backend.list('snapshots'));
  let deleted = 0;
  for (const id of ids ?? [...forgotten.keys()]) {
    if (!forgotten.has(id) || !present.has(id)) continue;
    await repo.backend.delete({ kind: 'snapshots', name: id });
    deleted++;
  }
  return deleted;
}

/** Applies a retention policy: forgets what it does not keep; returns what was forgotten. */
export async function forgetByPolicy(repo: Repository, policy: RetentionPolicy): Promise<StoredSnapshot[]> {
  const chosen = applyRetention(await repo.listSnapshots(), policy).filter((d) => !d.keep).map((d) => d.snapshot);
  await forgetSnapshots(repo, chosen);
  return chosen;
}
