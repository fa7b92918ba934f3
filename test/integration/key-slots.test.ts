/**
 * Key slots like LUKS's (issue 13): `key passwd` replaces the passphrase (the old one is
 * refused with exit 3 afterwards, the new one opens), removing the slot whose secret was
 * given needs --force and says why, and the last slot cannot be removed. Through the CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../src/cli/exit-codes.js';
import { cairn } from '../helpers/cli.js';
import { tempDir } from '../helpers/store.js';

describe('key slots', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cairn-keys-'));
    store = path.join(dir, 'store');
    expect((await cairn(['init', store], { CAIRN_PASSWORD: 'the old passphrase' })).code).toBe(0);
  });
  afterAll(async () => cleanup());

  const opens = async (env: Record<string, string>, extra: string[] = []) => (await cairn(['snapshots', store, ...extra], env)).code;

  it('key passwd: the old passphrase is refused afterwards, the new one opens', async () => {
    const fresh = path.join(dir, 'new-pass');
    await fs.writeFile(fresh, 'the new passphrase\n');
    const before = await fs.readdir(path.join(store, 'keys'));
    const changed = await cairn(['key', 'passwd', store, '--new-password-file', fresh], { CAIRN_PASSWORD: 'the old passphrase' });
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toMatch(/changed the passphrase: key slot [0-9a-f]{12} replaced by [0-9a-f]{12}/);
    const after = await fs.readdir(path.join(store, 'keys'));
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
    expect(await opens({ CAIRN_PASSWORD: 'the old passphrase' })).toBe(EXIT.wrongKey);
    expect(await opens({ CAIRN_PASSWORD: 'the new passphrase' })).toBe(0);
    const wrongKind = await cairn(['key', 'passwd', store, '--keyfile', fresh]);
    expect(wrongKind.code).toBe(EXIT.usage);
    expect(wrongKind.stderr).toContain('a key file has none');
  });

  it('init --json says what it made', async () => {
    const other = path.join(dir, 'other');
    const made = await cairn(['init', other, '--json'], { CAIRN_PASSWORD: 'another one' });
    expect(made.code, made.stderr).toBe(0);
    const answer = JSON.parse(made.stdout) as { id: string; location: string; slot: { kind: string; kdf: string } };
    expect(answer.id).toMatch(/^[0-9a-f]{64}$/);
    expect(answer.location).toContain(other);
    expect(answer.slot).toEqual({ kind: 'passphrase', kdf: 'iterated' });
  });

  it('removing the slot that opened the store needs --force; the last slot stays', async () => {
    const keyfile = path.join(dir, 'usb.key');
    await fs.writeFile(keyfile, randomBytes(1024));
    const added = await cairn(['key', 'add', store, '--new-keyfile', keyfile], { CAIRN_PASSWORD: 'the new passphrase' });
    expect(added.code, added.stderr).toBe(0);
    const keyfileSlot = /added key slot ([0-9a-f]+)/.exec(added.stdout)![1]!;
    const passSlot = (await fs.readdir(path.join(store, 'keys'))).find((n) => !n.startsWith(keyfileSlot))!;

    const refused = await cairn(['key', 'remove', store, passSlot.slice(0, 12)], { CAIRN_PASSWORD: 'the new passphrase' });
    expect(refused.code).toBe(EXIT.usage);
    expect(refused.stderr).toContain('is the one the secret you gave opens');
    expect(refused.stderr).toContain('--force');
    expect(await opens({ CAIRN_PASSWORD: 'the new passphrase' })).toBe(0);

    // Removing another slot needs no --force; with it, the one in use goes too.
    const forced = await cairn(['key', 'remove', store, passSlot.slice(0, 12), '--force'], { CAIRN_PASSWORD: 'the new passphrase' });
    expect(forced.code, forced.stderr).toBe(0);
    expect(await opens({ CAIRN_PASSWORD: 'the new passphrase' })).toBe(EXIT.wrongKey);
    expect(await opens({}, ['--keyfile', keyfile])).toBe(0);

    const last = await cairn(['key', 'remove', store, keyfileSlot, '--force', '--keyfile', keyfile]);
    expect(last.code).toBe(EXIT.usage);
    expect(last.stderr).toContain('last key slot');
    expect(await opens({}, ['--keyfile', keyfile])).toBe(0);
  });
});
