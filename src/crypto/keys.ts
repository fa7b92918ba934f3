/**
 * The master key and the subkeys derived from it (docs/FORMAT.md "Keys").
 *
 * The master key is 32 random bytes, stored only inside key slots. Every working key is
 * HKDF-SHA256(master, salt = repository id, info = purpose), so a key never serves two
 * purposes and two repositories never share working keys.
 */
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';

export const MASTER_KEY_SIZE = 32;
export const BLOB_ID_SIZE = 32;

export interface RepositoryKeys {
  /** XChaCha20-Poly1305 key for every sealed object. */
  readonly encryption: Uint8Array;
  /** HMAC-SHA256 key for blob ids: equal plaintext dedups, the store cannot test guesses. */
  readonly blobId: Uint8Array;
  /** The chunker's gear table (256 little-endian u32), so cut points do not reveal content. */
  readonly chunkerGear: Uint8Array;
}

export const KDF_INFO = {
  encryption: 'cairn v1 encryption',
  blobId: 'cairn v1 blob id',
  chunkerGear: 'cairn v1 chunker gear',
} as const;

export function newMasterKey(): Uint8Array {
  return new Uint8Array(randomBytes(MASTER_KEY_SIZE));
}

export function deriveKey(master: Uint8Array, repositoryId: Uint8Array, info: string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', master, repositoryId, info, length));
}

export function deriveRepositoryKeys(master: Uint8Array, repositoryId: Uint8Array): RepositoryKeys {
  if (master.length !== MASTER_KEY_SIZE) throw new RangeError('master key must be 32 bytes');
  return {
    encryption: deriveKey(master, repositoryId, KDF_INFO.encryption, 32),
    blobId: deriveKey(master, repositoryId, KDF_INFO.blobId, 32),
    chunkerGear: deriveKey(master, repositoryId, KDF_INFO.chunkerGear, 1024),
  };
}

/** Blob id: HMAC-SHA256(blobId key, plaintext). */
export function blobIdOf(blobIdKey: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', blobIdKey).update(plaintext).digest());
}
