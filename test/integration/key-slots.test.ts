/**
 * Key slots like LUKS's (issue 13): `key passwd` replaces the passphrase (the old one is
 * refused with exit 3 afterwards, the new one opens), removing the slot whose secret was
 * given needs --force and says why, and the last slot cannot be removed; `key list` shows each
 * slot's kind, protection, creation time, host and label; OpenPGP recipient slots open with
 * a private key file, through the system's gpg (its agent), and with stock gpg for recovery.
 * Through the CLI, with keys made by a real gpg in a GNUPGHOME made for the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../src/cli/exit-codes.js';
import { cairn, run } from '../helpers/cli.js';
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

  it('OpenPGP recipient slots: added from a public key, opened with the private key file, through gpg, and by stock gpg; key list says what each slot is', async () => {
    const gnupg = path.join(dir, 'gnupg');
    await fs.mkdir(gnupg, { mode: 0o700 });
    const gpg = (args: string[], home = gnupg) => run('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { GNUPGHOME: home });
    try {
      expect((await gpg(['--quick-gen-key', 'Cairn Recovery <recovery@example.invalid>', 'ed25519', 'cert'])).code).toBe(0);
      const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec((await gpg(['--list-keys', '--with-colons'])).stdout)![1]!;
      expect((await gpg(['--quick-add-key', fingerprint, 'cv25519', 'encr'])).code).toBe(0);
      const publicKey = path.join(dir, 'recovery.pub.asc');
      const privateKey = path.join(dir, 'recovery.sec.asc');
      await fs.writeFile(publicKey, (await gpg(['--armor', '--export', fingerprint])).stdout);
      await fs.writeFile(privateKey, (await gpg(['--armor', '--export-secret-keys', fingerprint])).stdout);

      const keys = path.join(dir, 'gpg-store');
      expect((await cairn(['init', keys], { CAIRN_PASSWORD: 'a passphrase' })).code).toBe(0);
      const keyfile = path.join(dir, 'gpg-store.key');
      await fs.writeFile(keyfile, randomBytes(64));
      expect((await cairn(['key', 'add', keys, '--new-keyfile', keyfile, '--label', 'usb stick'], { CAIRN_PASSWORD: 'a passphrase' })).code).toBe(0);
      const added = await cairn(['key', 'add', keys, '--gpg-recipient', publicKey, '--label', 'offsite recovery'], { CAIRN_PASSWORD: 'a passphrase' });
      expect(added.code, added.stderr).toBe(0);
      expect(added.stdout).toContain(`for OpenPGP key ${fingerprint}`);
      const slot = /added key slot ([0-9a-f]{12})/.exec(added.stdout)![1]!;

      // Each way in opens the repository; without the key, nothing does.
      expect((await cairn(['snapshots', keys, '--gpg-key', privateKey])).code).toBe(0);
      expect((await cairn(['snapshots', keys, '--gpg'], { GNUPGHOME: gnupg })).code).toBe(0);
      const elsewhere = path.join(dir, 'gnupg-empty');
      await fs.mkdir(elsewhere, { mode: 0o700 });
      expect((await cairn(['snapshots', keys, '--gpg'], { GNUPGHOME: elsewhere })).code).toBe(EXIT.wrongKey);
      // Without gpg, --gpg says so: not a damaged slot, not a wrong key.
      const noGpg = await cairn(['snapshots', keys, '--gpg'], { GNUPGHOME: gnupg, PATH: '/nonexistent' });
      expect(noGpg.code).toBe(EXIT.usage);
      expect(noGpg.stderr).toContain('cannot run gpg');
      // Recovery without cairn: stock gpg gives the master key.
      const slotFile = (await fs.readdir(path.join(keys, 'keys'))).find((n) => n.startsWith(slot))!;
      const recovered = await gpg(['--decrypt', path.join(keys, 'keys', slotFile)]);
      expect(recovered.code, recovered.stderr).toBe(0);
      expect(JSON.parse(recovered.stdout)).toMatchObject({ cairn: 'cairn master key', masterKey: expect.stringMatching(/^[0-9a-f]{64}$/) });

      const listed = JSON.parse((await cairn(['key', 'list', keys, '--json'])).stdout) as Record<string, unknown>[];
      const host = (await run('hostname', [])).stdout.trim();
      expect(listed.map((l) => [l.kind, l.kdf, l.label, l.recipient, l.host, l.damaged]).sort()).toEqual([
        ['keyfile', 'iterated', 'usb stick', null, host, false],
        ['openpgp', null, 'offsite recovery', fingerprint.toLowerCase(), host, false],
        ['passphrase', 'iterated', null, null, host, false],
      ].sort());
      for (const l of listed) expect(Date.now() - Date.parse(l.created as string)).toBeLessThan(10 * 60_000);
      const table = (await cairn(['key', 'list', keys])).stdout;
      expect(table).toMatch(/KIND\s+PROTECTION\s+CREATED\s+HOST\s+LABEL/);
      expect(table).toMatch(new RegExp(`${slot}\\s+OpenPGP recipient\\s+key ${fingerprint.slice(-16)}\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+\\S+\\s+offsite recovery`));
      expect(table).toMatch(/key file\s+iterated \(gpg-compatible\).*usb stick/);
    } finally {
      await run('gpgconf', ['--kill', 'gpg-agent'], { GNUPGHOME: gnupg });
    }
  });
});
