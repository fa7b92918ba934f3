/**
 * A store that fills up under a live mount loses nothing: background commits fail and are
 * retried, writes keep landing in local staging, unmount says the store is full (exit 9)
 * and keeps the journal; once there is space, the next mount replays and saves it all.
 * Needs root (a small tmpfs as the store's disk).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../src/cli/exit-codes.js';
import { cairn } from '../helpers/cli.js';
import { mount, unmountAll } from '../helpers/mount.js';
import { tempDir } from '../helpers/store.js';

const env = { CAIRN_PASSWORD: 'full store test' };
const root = process.getuid?.() === 0;

describe.skipIf(!root)('a full store under a live mount (needs root for tmpfs)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let disk: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cairn-full-'));
    disk = path.join(dir, 'disk');
    await fs.mkdir(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', disk]);
  });
  afterAll(async () => {
    await unmountAll();
    spawnSync('umount', ['-l', disk]);
    await cleanup();
  });

  it('keeps every written byte and saves it once space returns', async () => {
    const store = path.join(disk, 'store');
    const mnt = path.join(dir, 'mnt');
    const state = path.join(dir, 'state');
    expect((await cairn(['init', store], env)).code).toBe(0);
    const m = await mount(store, mnt, state, env);
    const files = Array.from({ length: 4 }, (_, i) => ({ name: `part-${i}.bin`, data: randomBytes(3 * 1024 * 1024) }));
    for (const f of files) await fs.writeFile(path.join(mnt, f.name), f.data);
    // Everything reads back at once: it is staged locally, whatever the store says.
    for (const f of files) expect((await fs.readFile(path.join(mnt, f.name))).equals(f.data)).toBe(true);
    // `cairn status` says the mount cannot save, and exits with the store-full code, so cron and
    // monitoring see it (a background commit fails once writes have been quiet for a second).
    let status = await cairn(['status', mnt]);
    for (const deadline = Date.now() + 30_000; status.code === 0 && Date.now() < deadline; status = await cairn(['status', mnt])) await new Promise((r) => setTimeout(r, 500));
    expect(status.code).toBe(EXIT.noSpace);
    expect(status.stdout).toMatch(/saving: +cannot save now: the store at .* is full/);
    expect(status.stdout).toMatch(/snapshot: +none yet/);

    const unmount = await cairn(['unmount', mnt]);
    expect(unmount.code).toBe(EXIT.noSpace);
    expect(unmount.stderr).toMatch(/could not save everything: the store at .* is full/);
    expect(unmount.stderr).toMatch(/nothing is lost/);
    const code = await new Promise<number | null>((resolve) => (m.child.exitCode !== null ? resolve(m.child.exitCode) : m.child.on('exit', resolve)));
    expect(code).toBe(EXIT.noSpace);
    expect(m.log()).toMatch(/store at .* is full/);

    execFileSync('mount', ['-o', 'remount,size=64m', disk]);
    const again = await mount(store, mnt, state, env);
    expect(again.log()).toMatch(/replayed \d+ change/);
    for (const f of files) expect((await fs.readFile(path.join(mnt, f.name))).equals(f.data)).toBe(true);
    const healthy = await cairn(['status', mnt]);
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toMatch(/saving: +ok/);
    expect(await again.unmount()).toBe(0);
    const check = await cairn(['check', store, '--read-data'], env);
    expect(check.code, check.stdout).toBe(0);

    const last = await mount(store, mnt, state, env);
    expect(last.log()).not.toMatch(/replayed/);
    for (const f of files) expect((await fs.readFile(path.join(mnt, f.name))).equals(f.data)).toBe(true);
    expect(await last.unmount()).toBe(0);
  }, 180_000);
});
