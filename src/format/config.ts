/**
 * The plaintext `config` object (docs/FORMAT.md "config"): how a reader recognises a cairn
 * store and its format version before it has any key.
 */
import { CairnError } from '../errors/errors.js';
import { fromHex, toHex } from './bytes.js';

export const FORMAT_MAGIC = 'cairn-repository';
/**
 * Version 3: blobs may be zstd-compressed, and pack headers and index files record each
 * blob's encoding and length. Version 2: trees carry stable file ids and snapshots
 * `nextFileId`. Older stores are read as they are and become version 3 at their first write.
 */
export const FORMAT_VERSION = 3;

export interface RepositoryConfig {
  readonly version: number;
  /** 32 random bytes; the salt of every key derivation, and bound into every key slot. */
  readonly id: Uint8Array;
}

export function encodeConfig(config: RepositoryConfig): Uint8Array {
  const text = JSON.stringify({ magic: FORMAT_MAGIC, version: config.version, id: toHex(config.id) });
  return Buffer.from(`${text}\n`, 'utf8');
}

export function decodeConfig(bytes: Uint8Array, location: string): RepositoryConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw notARepository(location, 'its config is not readable JSON');
  }
  const fields = parsed as { magic?: unknown; version?: unknown; id?: unknown };
  if (typeof parsed !== 'object' || parsed === null || fields.magic !== FORMAT_MAGIC) {
    throw notARepository(location, 'its config does not start with the cairn magic');
  }
  if (typeof fields.version !== 'number' || !Number.isInteger(fields.version) || fields.version < 1) {
    throw notARepository(location, 'its config has no valid format version');
  }
  if (fields.version > FORMAT_VERSION) {
    throw new CairnError('UNSUPPORTED_VERSION', `${location} uses repository format version ${fields.version}; this cairn reads version ${FORMAT_VERSION} only`, {
      hint: 'upgrade cairn to a release that supports this format version',
    });
  }
  if (typeof fields.id !== 'string') throw notARepository(location, 'its config has no repository id');
  try {
    return { version: fields.version, id: fromHex(fields.id, 32) };
  } catch {
    throw notARepository(location, 'its repository id is malformed');
  }
}

function notARepository(location: string, why: string): CairnError {
  return new CairnError('CORRUPT', `${location} is not a usable cairn repository: ${why}`, {
    hint: 'check the store path; if it is the right one, its config object was damaged',
  });
}
