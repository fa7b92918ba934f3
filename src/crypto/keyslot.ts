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
 *
 * A third kind encrypts to an OpenPGP public key instead (a recipient slot, like
 * duplicity's --encrypt-key): it opens with the matching private key, given as a file or
 * through the system's gpg (gpg-agent, smartcards).
 *
 * Slots are ASCII-armored; one armor header, `Comment: cairn-slot {json}`, says what the
 * slot is (kind, creation time, host, label) so `cairn key list` can show it without a
 * secret. It is not authenticated: it is for display only. Binary slots of earlier versions
 * have no such header and still open.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import * as openpgp from 'openpgp';
import { CairnError } from '../errors/errors.js';
import { MASTER_KEY_SIZE } from './keys.js';

export type SlotKdf = 'iterated' | 'argon2';

export type SlotSecret =
  | { readonly kind: 'passphrase'; readonly passphrase: string }
  | { readonly kind: 'keyfile'; readonly contents: Uint8Array }
  /** An OpenPGP private key (already decrypted if it was protected). */
  | { readonly kind: 'openpgp-key'; readonly key: openpgp.PrivateKey }
  /** The system's gpg and its agent hold the private key. */
  | { readonly kind: 'gpg' };

/** What a slot says about itself (unauthenticated; for `cairn key list`). */
export interface SlotLabel {
  readonly kind: 'passphrase' | 'keyfile' | 'openpgp';
  /** ISO 8601 UTC. */
  readonly created: string;
  readonly host: string;
  readonly label?: string;
  /** Recipient slots: the public key's fingerprint (hex). */
  readonly recipient?: string;
}

const LABEL_PREFIX = 'cairn-slot ';

const SLOT_PAYLOAD_TAG = 'cairn master key';

/** The passphrase OpenPGP sees for a secret. */
export function slotPassphrase(secret: SlotSecret): string {
  if (secret.kind === 'passphrase') return secret.passphrase;
  if (secret.kind === 'keyfile') return createHash('sha256').update(secret.contents).digest('hex');
  throw new RangeError('an OpenPGP key is not a passphrase');
}

function kdfConfig(kdf: SlotKdf): Partial<openpgp.Config> {
  const common = { preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256 };
  if (kdf === 'argon2') {
    // 2^17 KiB = 128 MiB, 3 passes, 4 lanes: about 0.5 s here.
    return { ...common, s2kType: openpgp.enums.s2k.argon2, s2kArgon2Params: { passes: 3, parallelism: 4, memoryExponent: 17 }, aeadProtect: true };
  }
  return { ...common, s2kType: openpgp.enums.s2k.iterated, s2kIterationCountByte: 255, aeadProtect: false };
}

/** Where and when a slot is made, and an optional label: what it says about itself. */
export interface SlotOrigin {
  readonly host: string;
  readonly label?: string;
  readonly now?: Date;
}

function payloadMessage(master: Uint8Array, repositoryId: Uint8Array): Promise<openpgp.Message<Uint8Array>> {
  if (master.length !== MASTER_KEY_SIZE) throw new RangeError('master key must be 32 bytes');
  const payload = `${JSON.stringify({ cairn: SLOT_PAYLOAD_TAG, version: 1, repository: hex(repositoryId), masterKey: hex(master) })}\n`;
  return openpgp.createMessage({ binary: Buffer.from(payload, 'utf8'), format: 'binary' });
}

function labelHeader(label: SlotLabel): Partial<openpgp.Config> {
  return { showComment: true, commentString: `${LABEL_PREFIX}${JSON.stringify(label)}` };
}

function labelOf(kind: SlotLabel['kind'], origin: SlotOrigin, recipient?: string): SlotLabel {
  const label = origin.label?.replace(/[\r\n]/g, ' ').slice(0, 100);
  return { kind, created: (origin.now ?? new Date()).toISOString(), host: origin.host, ...(label ? { label } : {}), ...(recipient ? { recipient } : {}) };
}

/** A slot that opens with a passphrase or key file. */
export async function createKeySlot(master: Uint8Array, repositoryId: Uint8Array, secret: SlotSecret, kdf: SlotKdf = 'iterated', origin: SlotOrigin = { host: 'unknown' }): Promise<Uint8Array> {
  if (secret.kind !== 'passphrase' && secret.kind !== 'keyfile') throw new RangeError('a passphrase or key file slot needs a passphrase or key file');
  const passphrase = slotPassphrase(secret);
  if (passphrase.length === 0) throw new RangeError('an empty passphrase cannot protect a key slot');
  const config = { ...kdfConfig(kdf), ...labelHeader(labelOf(secret.kind, origin)) };
  const armored = await openpgp.encrypt({ message: await payloadMessage(master, repositoryId), passwords: [passphrase], format: 'armored', config });
  return new Uint8Array(Buffer.from(armored, 'utf8'));
}

/** A slot encrypted to an OpenPGP public key (armored or binary key bytes). */
export async function createRecipientSlot(master: Uint8Array, repositoryId: Uint8Array, publicKey: openpgp.Key, origin: SlotOrigin): Promise<Uint8Array> {
  const config = { preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256, ...labelHeader(labelOf('openpgp', origin, publicKey.getFingerprint())) };
  const armored = await openpgp.encrypt({ message: await payloadMessage(master, repositoryId), encryptionKeys: publicKey.toPublic(), format: 'armored', config });
  return new Uint8Array(Buffer.from(armored, 'utf8'));
}

/** Reads a slot's OpenPGP message, armored (this version) or binary (earlier ones). */
function readSlot(slot: Uint8Array): Promise<openpgp.Message<Uint8Array>> {
  const text = Buffer.from(slot.subarray(0, 64)).toString('latin1');
  if (text.startsWith('-----BEGIN PGP MESSAGE-----')) return openpgp.readMessage({ armoredMessage: Buffer.from(slot).toString('utf8') }) as Promise<openpgp.Message<Uint8Array>>;
  return openpgp.readMessage({ binaryMessage: slot });
}

/** Whether a message is encrypted to a public key (a recipient slot) rather than to a passphrase. */
function isRecipientSlot(message: openpgp.Message<Uint8Array>): boolean {
  return message.packets.findPacket(openpgp.enums.packet.publicKeyEncryptedSessionKey) !== undefined;
}

export type SlotOpenResult =
  | { readonly ok: true; readonly master: Uint8Array }
  | { readonly ok: false; readonly reason: 'wrong-secret' | 'malformed' | 'other-repository' };

/** Tries one slot with one secret. Never throws for a wrong secret or a damaged slot. */
export async function openKeySlot(slot: Uint8Array, repositoryId: Uint8Array, secret: SlotSecret): Promise<SlotOpenResult> {
  let message: openpgp.Message<Uint8Array>;
  try {
    message = await readSlot(slot);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const forKeys = secret.kind === 'openpgp-key' || secret.kind === 'gpg';
  // A passphrase never opens a recipient slot, nor a private key a passphrase slot: skip
  // them (gpg would even ask for a passphrase of its own).
  if (isRecipientSlot(message) !== forKeys) return { ok: false, reason: 'wrong-secret' };
  let data: Uint8Array;
  if (secret.kind === 'gpg') {
    // Outside the damage check below: gpg missing or a cancelled PIN entry must be said as
    // such (it throws, naming gpg's words), not taken for a damaged slot.
    const decrypted = await decryptWithGpg(slot);
    if (!decrypted) return { ok: false, reason: 'wrong-secret' };
    data = decrypted;
  } else {
    try {
      const keys = secret.kind === 'openpgp-key' ? { decryptionKeys: secret.key } : { passwords: [slotPassphrase(secret)] };
      data = (await openpgp.decrypt({ message, ...keys, format: 'binary' })).data as Uint8Array;
    } catch {
      // A wrong passphrase is not always told apart from damage by OpenPGP: a wrong key can
      // decrypt the session key to garbage that then fails the integrity check ("Modification
      // detected", about 1 in 150 wrong passphrases). A slot's integrity is its name (the
      // SHA-256 of its bytes), which the caller checks; here a failure is a wrong secret.
      return { ok: false, reason: 'wrong-secret' };
    }
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

export interface SlotDescription {
  /** How a passphrase is stretched; null for a recipient slot (no passphrase). */
  readonly kdf: SlotKdf | null;
  readonly recipientSlot: boolean;
  /** What the slot says about itself; null for slots of earlier versions. */
  readonly label: SlotLabel | null;
}

/** What can be told about a slot without a secret, for `cairn key list`; null when unreadable. */
export async function describeKeySlot(slot: Uint8Array): Promise<SlotDescription | null> {
  try {
    const message = await readSlot(slot);
    const recipientSlot = isRecipientSlot(message);
    const packet = message.packets.findPacket(openpgp.enums.packet.symEncryptedSessionKey) as unknown as { s2k?: { type?: string } } | undefined;
    const kdf = recipientSlot ? null : packet?.s2k?.type === 'argon2' ? 'argon2' : 'iterated';
    return { kdf, recipientSlot, label: slotLabel(slot) };
  } catch {
    return null;
  }
}

/** The `Comment: cairn-slot {…}` armor header, when there is one that parses. */
function slotLabel(slot: Uint8Array): SlotLabel | null {
  const head = Buffer.from(slot.subarray(0, 2048)).toString('utf8');
  const line = head.split(/\r?\n/).find((l) => l.startsWith(`Comment: ${LABEL_PREFIX}`));
  if (!line) return null;
  try {
    const json = JSON.parse(line.slice(`Comment: ${LABEL_PREFIX}`.length)) as Partial<SlotLabel>;
    if (!['passphrase', 'keyfile', 'openpgp'].includes(json.kind as string) || typeof json.created !== 'string' || typeof json.host !== 'string') return null;
    return {
      kind: json.kind!, created: json.created, host: json.host,
      ...(typeof json.label === 'string' ? { label: json.label } : {}), ...(typeof json.recipient === 'string' ? { recipient: json.recipient } : {}),
    };
  } catch {
    return null;
  }
}

/**
 * Decrypts a recipient slot with the system's gpg (its agent may ask for the key's
 * passphrase or a smartcard PIN on the terminal); undefined when gpg has no key for it.
 */
function decryptWithGpg(slot: Uint8Array): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    // gpg-agent's pinentry asks on the terminal GPG_TTY names; gpg's stdin is the slot here.
    const tty = process.env.GPG_TTY || !process.stdin.isTTY ? '' : ttyName();
    const env = { ...process.env, ...(tty ? { GPG_TTY: tty } : {}) };
    const gpg = spawn('gpg', ['--quiet', '--decrypt'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    let errors = '';
    gpg.stdout.on('data', (d: Buffer) => out.push(d));
    gpg.stderr.on('data', (d: Buffer) => (errors += d));
    gpg.on('error', (e) => reject(new CairnError('USAGE', `cannot run gpg for --gpg: ${e.message}`, { hint: 'install GnuPG (apt-get install gnupg), or give the private key with --gpg-key FILE' })));
    gpg.on('close', (code) => {
      if (code === 0) return resolve(new Uint8Array(Buffer.concat(out)));
      if (/no secret key/i.test(errors)) return resolve(undefined); // not this key's slot
      reject(new CairnError('USAGE', `gpg could not open a recipient slot: ${errors.trim() || `exit ${code}`}`, {
        hint: 'check that gpg-agent can ask for the key\'s passphrase or PIN here (GPG_TTY, pinentry), or give the key with --gpg-key FILE',
      }));
    });
    gpg.stdin.end(Buffer.from(slot));
  });
}

/** The terminal on this process's stdin (for GPG_TTY). */
function ttyName(): string {
  try {
    return readlinkSync('/proc/self/fd/0');
  } catch {
    return '';
  }
}

/** An OpenPGP public key from a file's bytes (armored or binary), for a recipient slot. */
export async function readPublicKey(bytes: Uint8Array): Promise<openpgp.Key> {
  const text = Buffer.from(bytes).toString('utf8');
  return text.includes('-----BEGIN PGP') ? openpgp.readKey({ armoredKey: text }) : openpgp.readKey({ binaryKey: bytes });
}

/**
 * An OpenPGP private key from a file's bytes (armored or binary); `askPassphrase` is asked
 * when the key is protected (undefined: no way to ask).
 */
export async function readPrivateKey(bytes: Uint8Array, askPassphrase: () => Promise<string | undefined>): Promise<openpgp.PrivateKey> {
  const text = Buffer.from(bytes).toString('utf8');
  const key = text.includes('-----BEGIN PGP') ? await openpgp.readPrivateKey({ armoredKey: text }) : await openpgp.readPrivateKey({ binaryKey: bytes });
  if (key.isDecrypted()) return key;
  const passphrase = await askPassphrase();
  if (passphrase === undefined) throw new RangeError('the private key is protected by a passphrase and there is no terminal to ask it on');
  return openpgp.decryptKey({ privateKey: key, passphrase });
}
