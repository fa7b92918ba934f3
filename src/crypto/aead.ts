/**
 * XChaCha20-Poly1305 at native speed.
 *
 * Node's OpenSSL has ChaCha20-Poly1305 (12-byte nonce) but not the 24-byte-nonce XChaCha
 * variant. XChaCha20-Poly1305 is defined as: subkey = HChaCha20(key, nonce[0..16]), then
 * ChaCha20-Poly1305 under subkey with nonce 0x00000000 || nonce[16..24]. HChaCha20 is one
 * ChaCha block (noble's `hchacha`); the bulk work runs in OpenSSL. test/unit/aead.test.ts
 * proves byte-identical output against @noble/ciphers' xchacha20poly1305.
 *
 * Sealed layout (docs/FORMAT.md "Sealed box"): nonce (24) || ciphertext || tag (16).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { hchacha } from '@noble/ciphers/chacha.js';

export const KEY_SIZE = 32;
export const NONCE_SIZE = 24;
export const TAG_SIZE = 16;
export const SEAL_OVERHEAD = NONCE_SIZE + TAG_SIZE;

// "expand 32-byte k" as little-endian words.
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function littleEndianWords(bytes: Uint8Array, count: number): Uint32Array {
  const words = new Uint32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * 4);
  for (let i = 0; i < count; i++) words[i] = view.getUint32(i * 4, true);
  return words;
}

function subkeyFor(key: Uint8Array, nonce: Uint8Array): Buffer {
  const out = new Uint32Array(8);
  hchacha(SIGMA, littleEndianWords(key, 8), littleEndianWords(nonce, 4), out);
  const subkey = Buffer.alloc(32);
  for (let i = 0; i < 8; i++) subkey.writeUInt32LE(out[i]!, i * 4);
  return subkey;
}

function innerNonce(nonce: Uint8Array): Buffer {
  const iv = Buffer.alloc(12);
  iv.set(nonce.subarray(16, 24), 4);
  return iv;
}

/** Encrypts with an explicit nonce. Only tests and seal() call this: nonces must never repeat. */
export function sealWithNonce(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  if (key.length !== KEY_SIZE) throw new RangeError('XChaCha20-Poly1305 key must be 32 bytes');
  if (nonce.length !== NONCE_SIZE) throw new RangeError('XChaCha20-Poly1305 nonce must be 24 bytes');
  const cipher = createCipheriv('chacha20-poly1305', subkeyFor(key, nonce), innerNonce(nonce), { authTagLength: TAG_SIZE });
  if (aad) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  // Write straight into one output buffer: Buffer.concat would copy the whole box again.
  const out = Buffer.allocUnsafe(NONCE_SIZE + plaintext.length + TAG_SIZE);
  out.set(nonce, 0);
  const body = cipher.update(plaintext);
  out.set(body, NONCE_SIZE);
  let written = NONCE_SIZE + body.length;
  const tail = cipher.final();
  out.set(tail, written);
  written += tail.length;
  out.set(cipher.getAuthTag(), written);
  return out;
}

/**
 * Fresh random nonces, drawn from the CSPRNG a page at a time: one randomBytes call per
 * blob cost more than sealing a small blob. Each 24-byte slice is handed out once.
 */
const NONCE_POOL_SIZE = NONCE_SIZE * 256;
let noncePool = Buffer.alloc(0);
let noncePoolUsed = 0;

function freshNonce(): Buffer {
  if (noncePoolUsed + NONCE_SIZE > noncePool.length) {
    noncePool = randomBytes(NONCE_POOL_SIZE);
    noncePoolUsed = 0;
  }
  const nonce = noncePool.subarray(noncePoolUsed, noncePoolUsed + NONCE_SIZE);
  noncePoolUsed += NONCE_SIZE;
  return nonce;
}

/** Encrypts and authenticates `plaintext` (and `aad`) under a fresh random nonce. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  return sealWithNonce(key, freshNonce(), plaintext, aad);
}

/** Returns the plaintext, or null when the box or its AAD was altered or the key is wrong. */
export function open(key: Uint8Array, box: Uint8Array, aad?: Uint8Array): Buffer | null {
  if (box.length < SEAL_OVERHEAD) return null;
  const nonce = box.subarray(0, NONCE_SIZE);
  const tagStart = box.length - TAG_SIZE;
  const decipher = createDecipheriv('chacha20-poly1305', subkeyFor(key, nonce), innerNonce(nonce), { authTagLength: TAG_SIZE });
  decipher.setAuthTag(box.subarray(tagStart));
  if (aad) decipher.setAAD(aad, { plaintextLength: tagStart - NONCE_SIZE });
  const body = decipher.update(box.subarray(NONCE_SIZE, tagStart));
  try {
    decipher.final();
  } catch {
    return null;
  }
  return body;
}

/** Plaintext length of a sealed box of `sealedSize` bytes. */
export function plainSize(sealedSize: number): number {
  return sealedSize - SEAL_OVERHEAD;
}
