/**
 * The SFTP server's disk fills under a live mount (a real sshd serving a folder on a small
 * tmpfs): writes keep landing locally, `cairn status` says the store is full and exits 9,
 * uploads are retried, and once the server has space again the queue drains by itself,
 * unmount saves, and a second machine (empty cache) restores every byte. Needs root (tmpfs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../src/cli/exit-codes.js';
import { cairn } from '../helpers/cli.js';
import { mount, unmountAll } from '../helpers/mount.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { mountSmallDisk, tempDir } from '../helpers/store.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root)('the SFTP server\'s disk fills under a live mount (needs root for tmpfs)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let sshd: TestSshd;
  let disk: string;
  let cacheDisk: string;
  let unmountDisk: () => void = () => undefined;
  let unmountCacheDisk: () => void = () => undefined;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cairn-sftp-full-'));
    sshd = await startSshd(path.join(dir, 'sshd'));
    disk = path.join(dir, 'server-disk');
    await fs.mkdir(disk);
    unmountDisk = mountSmallDisk(disk, '4m');
    cacheDisk = path.join(dir, 'cache-disk');
    await fs.mkdir(cacheDisk);
    unmountCacheDisk = mountSmallDisk(cacheDisk, '3m');
  });
  afterAll(async () => {
    await unmountAll();
    await sshd.stop();
    unmountDisk();
    unmountCacheDisk();
    await cleanup();
  });

  const env = () => ({ HOME: sshd.home, CAIRN_PASSWORD: 'no room at the inn', SSH_AUTH_SOCK: '' });

  /** Waits until `cairn status` exits with `code` (it polls: commits happen after writes go quiet). */
  async function statusUntil(mnt: string, code: number, seconds: number) {
    let status = await cairn(['status', mnt], env());
    for (const deadline = Date.now() + seconds * 1000; status.code !== code && Date.now() < deadline; status = await cairn(['status', mnt], env())) {
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(status.code, status.stdout + status.stderr).toBe(code);
    return status;
  }

  /** A second machine (an empty cache) restores every file from the server, and check --read-data passes. */
  async function expectOnServer(store: string, files: { name: string; data: Buffer }[], target: string) {
    const r = await cairn(['restore', store, target], env());
    expect(r.code, r.stderr).toBe(0);
    for (const f of files) expect((await fs.readFile(path.join(target, f.name))).equals(f.data), f.name).toBe(true);
    const check = await cairn(['check', store, '--read-data'], env());
    expect(check.code, check.stdout + check.stderr).toBe(0);
  }

  it('keeps writing locally, says so in status (exit 9), and uploads everything once there is space', async () => {
    const store = sshd.url(path.join(disk, 'store'));
    expect((await cairn(['init', store], env())).code).toBe(0);
    const mnt = path.join(dir, 'mnt');
    const m = await mount(store, mnt, path.join(dir, 'state'), env(), ['--cache-dir', path.join(dir, 'cache')]);
    const files = Array.from({ length: 4 }, (_, i) => ({ name: `part-${i}.bin`, data: randomBytes(2 * 1024 * 1024) }));
    for (const f of files) await fs.writeFile(path.join(mnt, f.name), f.data);
    for (const f of files) expect((await fs.readFile(path.join(mnt, f.name))).equals(f.data)).toBe(true);

    expect((await statusUntil(mnt, EXIT.noSpace, 45)).stdout).toMatch(/full or over quota/);
    // The server gets space: the queue drains by itself, status turns 0, unmount saves.
    execFileSync('mount', ['-o', 'remount,size=64m', disk]);
    await statusUntil(mnt, 0, 60);
    expect(await m.unmount()).toBe(0);
    await expectOnServer(store, files, path.join(dir, 'restored'));
  });

  it('the local cache folder\'s disk fills while the server is away: writers keep going, status exits 9 naming it, and all of it is sent later', async () => {
    const store = sshd.url(path.join(dir, 'server-roomy'));
    expect((await cairn(['init', store], env())).code).toBe(0);
    const mnt = path.join(dir, 'mnt2');
    const m = await mount(store, mnt, path.join(dir, 'state2'), env(), ['--cache-dir', path.join(cacheDisk, 'cache')]);
    // Online, uploads go straight to the server; the queue (on the small disk) is for when it is away.
    await sshd.stop();
    const files = Array.from({ length: 3 }, (_, i) => ({ name: `c-${i}.bin`, data: randomBytes(2 * 1024 * 1024) }));
    for (const f of files) await fs.writeFile(path.join(mnt, f.name), f.data);
    for (const f of files) expect((await fs.readFile(path.join(mnt, f.name))).equals(f.data)).toBe(true);
    expect((await statusUntil(mnt, EXIT.noSpace, 60)).stdout).toContain(path.join(cacheDisk, 'cache'));
    execFileSync('mount', ['-o', 'remount,size=64m', cacheDisk]);
    await sshd.start();
    await statusUntil(mnt, 0, 90);
    expect(await m.unmount()).toBe(0);
    await expectOnServer(store, files, path.join(dir, 'restored2'));
  });
});
