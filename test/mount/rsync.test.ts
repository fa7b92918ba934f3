/**
 * The main use: rsync -aHAX of a real tree into the mount. Content, metadata (mode, owner,
 * size, mtime to the nanosecond, link counts), hard links and xattrs must match the source,
 * after the copy and again after unmount and remount; a second rsync must find nothing to do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { cairn } from '../helpers/cli.js';
import { hardLinkGroups, metadataListing, mount, type RunningMount, unmountAll, xattrDump } from '../helpers/mount.js';
import { tempDir } from '../helpers/store.js';

const env = { CAIRN_PASSWORD: 'rsync test passphrase' };

async function buildSourceTree(src: string): Promise<void> {
  execFileSync('cp', ['-a', '/usr/share/doc', path.join(src, 'doc')]);
  const odd = path.join(src, 'odd names');
  await fs.mkdir(odd);
  for (const name of ['with space', 'ünïcödé ✓ 日本', "quote's \"double\"", 'back\\slash', '-leading-dash', '#hash %percent', 'x'.repeat(255)]) {
    await fs.writeFile(path.join(odd, name), `content of ${name}\n`);
  }
  await fs.mkdir(path.join(src, 'links/a'), { recursive: true });
  await fs.mkdir(path.join(src, 'links/b'), { recursive: true });
  await fs.writeFile(path.join(src, 'links/a/original'), 'shared by three names\n');
  await fs.link(path.join(src, 'links/a/original'), path.join(src, 'links/b/second'));
  await fs.link(path.join(src, 'links/a/original'), path.join(src, 'links/third'));
  await fs.symlink('a/original', path.join(src, 'links/relative'));
  await fs.symlink('/etc/hostname', path.join(src, 'links/absolute'));
  await fs.symlink('does/not/exist', path.join(src, 'links/dangling'));
  await fs.symlink('a', path.join(src, 'links/to-dir'));
  const special = path.join(src, 'special');
  await fs.mkdir(special);
  execFileSync('mkfifo', [path.join(special, 'fifo')]);
  await fs.writeFile(path.join(special, 'empty'), '');
  await fs.mkdir(path.join(special, 'empty-dir'));
  await fs.writeFile(path.join(special, 'secret'), 'mode 600\n', { mode: 0o600 });
  await fs.writeFile(path.join(special, 'setuid'), '#!/bin/sh\n', { mode: 0o4755 });
  await fs.chmod(path.join(special, 'setuid'), 0o4755);
  await fs.writeFile(path.join(special, 'owned'), 'by someone else\n');
  await fs.chown(path.join(special, 'owned'), 1234, 5678);
  // A sparse file: 50 MiB with a few bytes in the middle.
  const sparse = await fs.open(path.join(special, 'sparse.img'), 'w');
  await sparse.write(Buffer.from('data in the middle'), 0, 18, 20 * 1024 * 1024);
  await sparse.truncate(50 * 1024 * 1024);
  await sparse.close();
  execFileSync('setfattr', ['-n', 'user.comment', '-v', 'a note', path.join(special, 'secret')]);
  execFileSync('setfattr', ['-n', 'user.binary', '-v', '0x00ff10', path.join(special, 'secret')]);
  execFileSync('setfattr', ['-n', 'user.on-dir', '-v', 'yes', special]);
  execFileSync('touch', ['-h', '-d', '2021-03-04 05:06:07.123456789', path.join(special, 'empty')]);
}

describe('rsync -aHAX into a mount', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let src: string;
  let store: string;
  let mnt: string;
  let state: string;
  let current: RunningMount | undefined;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cairn-rsync-'));
    src = path.join(dir, 'src');
    store = path.join(dir, 'store');
    mnt = path.join(dir, 'mnt');
    state = path.join(dir, 'state');
    await fs.mkdir(src);
    await buildSourceTree(src);
    expect((await cairn(['init', store], env)).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await unmountAll();
    await cleanup();
  });

  function expectSameTree(): void {
    const diff = spawnSync('diff', ['-r', '--no-dereference', '-x', 'fifo', src, mnt], { encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(diff.stdout + diff.stderr).toBe('');
    expect(metadataListing(mnt)).toBe(metadataListing(src));
    expect(hardLinkGroups(mnt)).toEqual(hardLinkGroups(src));
    expect(xattrDump(mnt)).toBe(xattrDump(src));
  }

  it('copies the tree exactly', async () => {
    current = await mount(store, mnt, state, env);
    const rsync = spawnSync('rsync', ['-aHAX', `${src}/`, `${mnt}/`], { encoding: 'utf8' });
    expect(rsync.stderr).toBe('');
    expect(rsync.status).toBe(0);
    expectSameTree();
  }, 300_000);

  it('keeps it exactly across unmount and remount, and a second rsync changes nothing', async () => {
    expect(await current!.unmount()).toBe(0);
    current = await mount(store, mnt, state, env);
    expectSameTree();
    const again = spawnSync('rsync', ['-aHAX', '--itemize-changes', `${src}/`, `${mnt}/`], { encoding: 'utf8' });
    expect(again.status).toBe(0);
    expect(again.stdout).toBe('');
    expect(await current!.unmount()).toBe(0);
  }, 300_000);

  it('leaves a store that passes check --read-data', async () => {
    const check = await cairn(['check', store, '--read-data'], env);
    expect(check.stdout).toMatch(/no errors/);
    expect(check.code).toBe(0);
  }, 120_000);
});
