/**
 * Key slots (docs/FORMAT.md "Key slots"): each slot is a standard OpenPGP message that
 * encrypts a small JSON document holding the master key. Adding or removing a slot never
 * touches data. No I/O here: bytes in, bytes out.
 *
 * Two kinds of derivation:
 * - "iterated" (default): OpenPGP iterated+salted S2K, SHA-256, count 65,011,712 (the
 *   largest the standard allows), AES-256, SEIPD v1 with MDC. Debian's stock GnuPG 2.2
 *   decrypts it, so the master key can be recovered without cairn.
 * - "argon2" (opt-in): Argon2id S2K (RFC 9580), memory-hard, AEAD-protected. Much stronger
 *   against passphrase guessing, but GnuPG 2.2 cannot open it.
 *
 * A key file (any file, like a LUKS key file) becomes the passphrase
 * hex(SHA-256(file contents)), so `sha256sum` reproduces it for gpg.
 */
import { createHash } from 'node:crypto';
import * as openpgp from 'openpgp';
import { MASTER_KEY_SIZE } from './keys.js';

export type SlotKdf = 'iterated' | 'argon2';

export type SlotSecret = { readonly kind: 'passphrase'; readonly passphrase: string } | { readonly kind: 'keyfile'; readonly contents: Uint8Array };

const SLOT_PAYLOAD_TAG = 'cairn master key';

/** The passphrase OpenPGP sees for a secret. */
export function slotPassphrase(secret: SlotSecret): string {
  if (secret.kind === 'passphrase') return secret.passphrase;
  return createHash('sha256').update(secret.contents).digest('hex');
}

function kdfConfig(kdf: SlotKdf): Partial<openpgp.Config> {
  const common = { preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256 };
  if (kdf === 'argon2') {
    // 2^17 KiB = 128 MiB, 3 passes, 4 lanes: about 0.5 s here.
    return { ...common, s2kType: openpgp.enums.s2k.argon2, s2kArgon2Params: { passes: 3, parallelism: 4, memoryExponent: 17 }, aeadProtect: true };
  }
  return { ...common, s2kType: openpgp.enums.s2k.iterated, s2kIterationCountByte: 255, aeadProtect: false };
}

export async function createKeySlot(master: Uint8Array, repositoryId: Uint8Array, secret: SlotSecret, kdf: SlotKdf = 'iterated'): Promise<Uint8Array> {
  if (master.length !== MASTER_KEY_SIZE) throw new RangeError('master key must be 32 bytes');
  const passphrase = slotPassphrase(secret);
  if (passphrase.length === 0) throw new RangeError('an empty passphrase cannot protect a key slot');
  const payload = `${JSON.stringify({ cairn: SLOT_PAYLOAD_TAG, version: 1, repository: hex(repositoryId), masterKey: hex(master) })}\n`;
  const message = await openpgp.createMessage({ binary: Buffer.from(payload, 'utf8'), format: 'binary' });
  const encrypted = await openpgp.encrypt({ message, passwords: [passphrase], format: 'binary', config: kdfConfig(kdf) });
  return new Uint8Array(encrypted);
}

export type SlotOpenResult =
  | { readonly ok: true; readonly master: Uint8Array }
  | { readonly ok: false; readonly reason: 'wrong-secret' | 'malformed' | 'other-repository' };

/** Tries one slot with one secret. Never throws for a wrong secret or a damaged slot. */
export async function openKeySlot(slot: Uint8Array, repositoryId: Uint8Array, secret: SlotSecret): Promise<SlotOpenResult> {
  let message: openpgp.Message<Uint8Array>;
  try {
    message = await openpgp.readMessage({ binaryMessage: slot });
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  let data: Uint8Array;
  try {
    const result = await openpgp.decrypt({ message, passwords: [slotPassphrase(secret)], format: 'binary' });
    data = result.data as Uint8Array;
  } catch (e) {
    // A wrong passphrase fails the session-key check; anything else means the slot is damaged.
    return { ok: false, reason: /session key decryption failed/i.test((e as Error).message) ? 'wrong-secret' : 'malformed' };
  }
  let payload: { cairn?: unknown; repository?: unknown; masterKey?: unknown };
  try {
    payload = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (payload.cairn !== SLOT_PAYLOAD_TAG || typeof payload.masterKey !== 'string') return { ok: false, reason: 'malformed' };
  if (payload.repository !== hex(repositoryId)) return { ok: false, reason: 'other-repository' };
  if (!/^[0-9a-f]{64}$/.test(payload.masterKey)) return { ok: false, reason: 'malformed' };
  return { ok: true, master: new Uint8Array(Buffer.from(payload.masterKey, 'hex')) };
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** The S2K kind a slot uses, for `cairn key list`; null when unreadable. */
export async function describeKeySlot(slot: Uint8Array): Promise<SlotKdf | null> {
  try {
    const message = await openpgp.readMessage({ binaryMessage: slot });
    const packet = message.packets.findPacket(openpgp.enums.packet.symEncryptedSessionKey) as unknown as { s2k?: { type?: string } } | undefined;
    return packet?.s2k?.type === 'argon2' ? 'argon2' : 'iterated';
  } catch {
    return null;
  }
}
