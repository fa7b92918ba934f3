/**
 * Secrets typed at a real terminal (a pty from util-linux `script`), Argon2 key slots, and a
 * store whose disk fills up (a 1 MiB tmpfs): clear errors, nothing lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { isCairnError } from '../../src/errors/errors.js';
import { listKeySlots } from '../../src/repository/keyring.js';
import { saveContent } from '../../src/repository/file-content.js';
import { Repository } from '../../src/repository/repository.js';
import { checkRepository } from '../../src/repository/check.js';
import { CLI, run } from '../helpers/cli.js';
import { passphrase, tempDir } from '../helpers/store.js';

describe('secrets and space', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await tempDir()));
  afterAll(async () => cleanup());

  it('asks for a new passphrase twice on a terminal without echoing it', async () => {
    const store = path.join(dir, 'typed');
    const secret = 'typed at the prompt 42';
    // Type like a person: each line after its prompt has appeared.
    const typist = `sleep 1.5; echo '${secret}'; sleep 1; echo '${secret}'`;
    const r = await run('bash', ['-c', `(${typist}) | script -qec "${process.execPath} ${CLI} init ${store}" /dev/null`]);
    expect(r.stdout).toMatch(/New passphrase for/);
    expect(r.stdout).toMatch(/Repeat it/);
    expect(r.stdout).toMatch(/created cairn repository/);
    // Each prompt ends its line once answered: nothing continues on a prompt's line.
    const screen = r.stdout.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''); // the prompt library's cursor moves
    expect(screen).toMatch(/New passphrase for [^\n]*: *\r?\nRepeat it: *\r?\ncreated cairn repository/);
    expect(r.stdout).not.toContain(secret);
    await Repository.open(new LocalBackend(store), passphrase(secret));
  });

  it('refuses two different passphrases at init and creates nothing', async () => {
    const store = path.join(dir, 'mismatch');
    const typist = `sleep 1.5; echo 'one'; sleep 1; echo 'two'`;
    const r = await run('bash', ['-c', `(${typist}) | script -qec "${process.execPath} ${CLI} init ${store}" /dev/null`]);
    expect(r.stdout).toMatch(/the two passphrases differ/);
    await expect(fs.stat(store)).rejects.toThrow();
  });

  it('creates and opens an Argon2 slot, listed as such', async () => {
    const store = path.join(dir, 'argon2');
    const repo = await Repository.init(new LocalBackend(store), passphrase('memory hard'), 'argon2');
    await repo.close();
    expect((await listKeySlots(new LocalBackend(store))).map((s) => s.description?.kdf)).toEqual(['argon2']);
    await Repository.open(new LocalBackend(store), passphrase('memory hard'));
    await expect(Repository.open(new LocalBackend(store), passphrase('memory hardd'))).rejects.toSatisfy((e) => isCairnError(e, 'WRONG_KEY'));
  });

  const root = process.getuid?.() === 0;
  it.skipIf(!root)('reports a full store as NO_SPACE, leaves no partial object, and keeps what was stored (needs root for tmpfs)', async () => {
    const mnt = path.join(dir, 'small');
    await fs.mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    try {
      const store = path.join(mnt, 'store');
      const repo = await Repository.init(new LocalBackend(store), passphrase('full'));
      const small = await saveContent(repo, [randomBytes(100_000)]);
      const tree = await repo.saveTree({ nodes: [] });
      await repo.saveSnapshot({ tree: tree.id, stats: { files: 0, dirs: 1, bytes: 0, addedBytes: small.addedBytes } });
      await saveContent(repo, [randomBytes(3 * 1024 * 1024)]);
      await expect(repo.flush()).rejects.toSatisfy((e) => isCairnError(e, 'NO_SPACE') && /full/.test((e as Error).message));
      const leftovers = spawnSync('find', [store, '-name', '*.tmp']).stdout.toString().trim();
      expect(leftovers).toBe('');
      const reopened = await Repository.open(new LocalBackend(store), passphrase('full'), { skipIndex: true });
      const report = await checkRepository(reopened, { readData: true });
      expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(report.counts.snapshots).toBe(1);
    } finally {
      spawnSync('umount', ['-l', mnt]);
    }
  });
});
