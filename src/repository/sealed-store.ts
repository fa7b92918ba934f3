/**
 * Objects stored sealed under their own name: the lower-case hex SHA-256 of the sealed bytes
 * (docs/FORMAT.md "Store layout"). Index files, snapshots, forget records and locks all take
 * this one path (seal, name, put), so the naming rule lives in one place.
 */
import { createHash } from 'node:crypto';
import type { Backend, ObjectKind } from '../backend/backend.js';
import { sealObject, type SealedKind } from '../format/sealed.js';

/** The store folder of each kind of sealed object named by its hash. */
const FOLDER: Record<Exclude<SealedKind, 'pack-header'>, ObjectKind> = {
  index: 'index',
  snapshot: 'snapshots',
  forget: 'forgotten',
  lock: 'locks',
};

/** Seals `plaintext` as `kind`, stores it under its name, and returns the name. */
export async function putSealed(backend: Backend, key: Uint8Array, kind: keyof typeof FOLDER, plaintext: Uint8Array): Promise<string> {
  const sealed = sealObject(key, kind, plaintext);
  const name = createHash('sha256').update(sealed).digest('hex');
  await backend.put({ kind: FOLDER[kind], name }, sealed);
  return name;
}
