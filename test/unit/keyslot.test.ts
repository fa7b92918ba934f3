/**
 * Telling a wrong secret from a damaged slot. OpenPGP cannot always tell them apart: a wrong
 * passphrase decrypts the session key to garbage that now and then fails the integrity check
 * instead of the session-key check. The slot's name (SHA-256 of its bytes) is what says
 * whether it is damaged.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local.js';
import { openKeySlot } from '../../src/crypto/keyslot.js';
import { CairnError } from '../../src/errors/errors.js';
import { unlockMasterKey } from '../../src/repository/keyring.js';
import { passphrase, tempDir } from '../helpers/store.js';

const repositoryId = randomBytes(32);
const master = randomBytes(32);
const right = 'the right passphrase';

/**
 * A passphrase slot as docs/FORMAT.md describes it, but with the cheapest iterated S2K so
 * that hundreds of wrong passphrases can be tried in a unit test.
 */
async function cheapSlot(): Promise<Uint8Array> {
  const payload = `${JSON.stringify({ cairn: 'cairn master key', version: 1, repository: repositoryId.toString('hex'), masterKey: master.toString('hex') })}\n`;
  const armored = await openpgp.encrypt({
    message: await openpgp.createMessage({ binary: Buffer.from(payload), format: 'binary' }),
    passwords: [right],
    format: 'armored',
    config: { s2kType: openpgp.enums.s2k.iterated, s2kIterationCountByte: 0, aeadProtect: false, preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256 },
  });
  return new Uint8Array(Buffer.from(armored));
}

/** A wrong passphrase that OpenPGP itself rejects with "Modification detected". */
async function passphraseFailingIntegrity(slot: Uint8Array): Promise<string> {
  const message = await openpgp.readMessage({ armoredMessage: Buffer.from(slot).toString('utf8') });
  for (let i = 0; i < 20_000; i++) {
    try {
      await openpgp.decrypt({ message, passwords: [`wrong ${i}`], format: 'binary' });
    } catch (e) {
      if (/Modification detected/.test((e as Error).message)) return `wrong ${i}`;
    }
  }
  throw new Error('no such passphrase found in 20,000 tries (expected about 1 in 150)');
}

describe('key slots with a wrong secret or damage', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let slot: Uint8Array;
  let slotName: string;
  let unlucky: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    slot = await cheapSlot();
    slotName = createHash('sha256').update(slot).digest('hex');
    unlucky = await passphraseFailingIntegrity(slot);
  }, 120_000);
  afterAll(() => cleanup());

  async function storeWith(name: string, bytes: Uint8Array): Promise<LocalBackend> {
    const backend = new LocalBackend(`${dir}/${randomBytes(4).toString('hex')}`);
    await backend.create();
    await backend.put({ kind: 'keys', name }, bytes);
    return backend;
  }

  it('opens with the right passphrase', async () => {
    const result = await openKeySlot(slot, repositoryId, passphrase(right));
    expect(result.ok && Buffer.from(result.master).equals(master)).toBe(true);
  });

  it('calls a passphrase that fails OpenPGP\'s integrity check wrong, not damage (exit 3, not 6)', async () => {
    expect(await openKeySlot(slot, repositoryId, passphrase(unlucky))).toEqual({ ok: false, reason: 'wrong-secret' });
    const backend = await storeWith(slotName, slot);
    const error = await unlockMasterKey(backend, repositoryId, passphrase(unlucky)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).code).toBe('WRONG_KEY');
  });

  it('calls a slot whose bytes no longer match its name damaged, even with the right passphrase', async () => {
    const changed = Uint8Array.from(slot);
    const body = Buffer.from(changed).toString('latin1').lastIndexOf('=') - 20; // inside the base64 body
    changed[body] = changed[body] === 0x41 ? 0x42 : 0x41;
    const backend = await storeWith(slotName, changed);
    const error = await unlockMasterKey(backend, repositoryId, passphrase(right)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CairnError);
    expect((error as CairnError).code).toBe('CORRUPT');
    expect((error as Error).message).toMatch(/damaged/);
  });
});
