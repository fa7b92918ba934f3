import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { open, seal, sealWithNonce, SEAL_OVERHEAD } from '../../src/crypto/aead.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('XChaCha20-Poly1305 (native subkey construction)', () => {
  it('matches the draft-irtf-cfrg-xchacha A.3.1 test vector', () => {
    // Known-answer vector from draft-irtf-cfrg-xchacha-03, appendix A.3.1.
    const plaintext = Buffer.from(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = hex('404142434445464748494a4b4c4d4e4f5051525354555657');
    const expectedCiphertext = hex(`
      bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
      731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
      2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
      21f9664c97637da9768812f615c68b13b52e`);
    const expectedTag = hex('c0875924c1c7987947deafd8780acf49');
    const box = sealWithNonce(key, nonce, plaintext, aad);
    expect(box.subarray(0, 24)).toEqual(nonce);
    expect(box.subarray(24, 24 + plaintext.length)).toEqual(expectedCiphertext);
    expect(box.subarray(24 + plaintext.length)).toEqual(expectedTag);
    expect(open(key, box, aad)).toEqual(plaintext);
  });

  it('is byte-identical to @noble/ciphers on 500 random inputs', () => {
    for (let i = 0; i < 500; i++) {
      const key = randomBytes(32);
      const nonce = randomBytes(24);
      const length = i < 100 ? i : Math.floor(Math.random() * 70_000);
      const plaintext = randomBytes(length);
      const aad = i % 3 === 0 ? undefined : randomBytes(i % 40);
      const reference = xchacha20poly1305(key, nonce, aad).encrypt(plaintext);
      const box = sealWithNonce(key, nonce, plaintext, aad);
      // Buffer.equals, not toEqual: vitest's deep compare of 70 KB buffers takes seconds.
      expect(Buffer.from(box.subarray(24)).equals(reference)).toBe(true);
      expect(open(key, box, aad)?.equals(plaintext)).toBe(true);
    }
  });

  it('rejects any flipped bit, a wrong key, a wrong AAD and a truncated box', () => {
    const key = randomBytes(32);
    const plaintext = randomBytes(300);
    const aad = Buffer.from('cairn test');
    const box = seal(key, plaintext, aad);
    expect(box.length).toBe(plaintext.length + SEAL_OVERHEAD);
    for (let bit = 0; bit < box.length * 8; bit += 7) {
      const damaged = Buffer.from(box);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      expect(open(key, damaged, aad)).toBeNull();
    }
    expect(open(randomBytes(32), box, aad)).toBeNull();
    expect(open(key, box, Buffer.from('cairn tesT'))).toBeNull();
    expect(open(key, box)).toBeNull();
    expect(open(key, box.subarray(0, 39), aad)).toBeNull();
  });

  it('uses a fresh nonce for every box', () => {
    const key = randomBytes(32);
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++) nonces.add(seal(key, Buffer.alloc(0)).subarray(0, 24).toString('hex'));
    expect(nonces.size).toBe(1000);
  });
});
