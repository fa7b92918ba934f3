/**
 * The key slots on the store (keys/<id>): unlock the master key with any one secret, add
 * and remove slots. Slot objects are named by the SHA-256 of their bytes.
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backend/backend.js';
import { hostname } from 'node:os';
import type * as openpgp from 'openpgp';
import { createKeySlot, createRecipientSlot, describeKeySlot, openKeySlot, type SlotDescription, type SlotKdf, type SlotSecret } from '../crypto/keyslot.js';
import { CairnError } from '../errors/errors.js';

/** A slot for a passphrase or key file; `label` is shown by `cairn key list`. */
export async function addKeySlot(backend: Backend, master: Uint8Array, repositoryId: Uint8Array, secret: SlotSecret, kdf: SlotKdf, label?: string): Promise<string> {
  return putSlot(backend, await createKeySlot(master, repositoryId, secret, kdf, { host: hostname(), label }));
}

/** A slot encrypted to an OpenPGP public key. */
export async function addRecipientSlot(backend: Backend, master: Uint8Array, repositoryId: Uint8Array, publicKey: openpgp.Key, label?: string): Promise<string> {
  return putSlot(backend, await createRecipientSlot(master, repositoryId, publicKey, { host: hostname(), label }));
}

async function putSlot(backend: Backend, slot: Uint8Array): Promise<string> {
  const name = slotName(slot);
  await backend.put({ kind: 'keys', name }, slot);
  return name;
}

export interface UnlockedKey {
  readonly master: Uint8Array;
  readonly slotId: string;
}

export async function unlockMasterKey(backend: Backend, repositoryId: Uint8Array, secret: SlotSecret): Promise<UnlockedKey> {
  const slotIds = (await backend.list('keys')).sort();
  if (slotIds.length === 0) {
    throw new CairnError('CORRUPT', `${backend.location} has no key slots, so its data cannot be decrypted`, {
      hint: 'restore the keys/ folder from a copy of the store',
    });
  }
  const damaged: string[] = [];
  const foreign: string[] = [];
  for (const slotId of slotIds) {
    const slot = await backend.get({ kind: 'keys', name: slotId });
    const result = await openKeySlot(slot, repositoryId, secret);
    if (result.ok) return { master: result.master, slotId };
    if (result.reason === 'other-repository') foreign.push(slotId);
    else if (result.reason === 'malformed' || !nameMatches(slotId, slot)) damaged.push(slotId);
  }
  const what = { passphrase: 'this passphrase', keyfile: 'this key file', 'openpgp-key': 'this OpenPGP key', gpg: "gpg's keys" }[secret.kind];
  if (foreign.length > 0) {
    // The secret opened a slot, but the slot names another repository id than the config.
    throw new CairnError('CORRUPT', `the key slot ${foreign[0]!.slice(0, 12)}… opens with ${what} but belongs to another repository than the config of ${backend.location} says`, {
      hint: 'the config (its id) or the keys/ folder was changed or mixed up with another store; restore both from the same copy of the store',
    });
  }
  if (damaged.length === slotIds.length) {
    throw new CairnError('CORRUPT', `every key slot of ${backend.location} is damaged (${damaged.map((d) => `keys/${d.slice(0, 12)}…`).join(', ')})`, {
      hint: 'restore the keys/ folder from a copy of the store',
    });
  }
  if (damaged.length > 0) {
    // The slot this secret belongs to may be one of the damaged ones: saying "wrong
    // passphrase" would send the user guessing passphrases instead of restoring keys/.
    throw new CairnError('CORRUPT', `no key slot of ${backend.location} opens with ${what}, and ${damaged.length} slot(s) are damaged (${damaged.map((d) => `keys/${d.slice(0, 12)}…`).join(', ')}): ${what} may belong to one of them`, {
      hint: 'if the passphrase or key file is right, restore the keys/ folder from a copy of the store; `cairn key list STORE` shows the slots',
    });
  }
  throw new CairnError('WRONG_KEY', `no key slot of ${backend.location} opens with ${what}`, {
    hint: 'check the passphrase or key file; `cairn key list STORE` shows the slots',
  });
}

export interface KeySlotInfo {
  readonly id: string;
  /** What the slot shows without a secret; null: not a slot this version can read. */
  readonly description: SlotDescription | null;
  /** Its bytes hash to its name; false when it was changed, renamed or swapped with another. */
  readonly nameMatches: boolean;
}

export async function listKeySlots(backend: Backend): Promise<KeySlotInfo[]> {
  const ids = (await backend.list('keys')).sort();
  return Promise.all(ids.map(async (id) => {
    const bytes = await backend.get({ kind: 'keys', name: id });
    return { id, description: await describeKeySlot(bytes), nameMatches: nameMatches(id, bytes) };
  }));
}

/** A slot is named by the SHA-256 of its bytes: any change, rename or swap shows as a mismatch. */
function slotName(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function nameMatches(id: string, bytes: Uint8Array): boolean {
  return slotName(bytes) === id;
}

export function slotDamaged(slot: KeySlotInfo): boolean {
  return slot.description === null || !slot.nameMatches;
}
