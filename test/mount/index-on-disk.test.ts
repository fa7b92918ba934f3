/**
 * A big store's index kept on local disk (src/repository/sorted-index.ts), through real
 * mounts: CAIRN_INDEX_ON_DISK_FROM=1 makes every store "big". Files written, copied
 * (deduplicated through lookups on disk), changed after a snapshot, a SIGKILL, the remount's
 * replay: everything reads back as written; the index files leave nothing in the state
 * folder; a state disk without room for it keeps the index in memory and says so; a full or
 * read-only state disk refuses the mount with a clear message.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import * as path from 'node:path';
import { cairn } from '../helpers/cli.js';
import { repositoryFixture } from '../helpers/fixture.js';
import { copyTree, expectEqualTrees, inMount, mount } from '../helpers/mount.js';
import { fillDisk, mountSmallDisk, packBytes } from '../helpers/store.js';

const env = { CAIRN_PASSWORD: 'an index on disk', CAIRN_INDEX_ON_DISK_FROM: '1' };

type Status = { index: { blobs: number; onDisk: boolean }; memory: { heapSpaces: Record<string, { size: number; used: number }> } };
const status = async (mnt: string) => JSON.parse((await cairn(['status', mnt, '--json'])).stdout) as Status;
const leftovers = (dir: string) => readdirSync(dir).filter((name) => name.startsWith('.cairn-index'));

describe('the index on local disk in a mount', () => {
  const f = repositoryFixture('cairn-index-disk-', env);
  const mirror = () => path.join(f.dir, 'mirror');

  it('reads, deduplicates and writes through it across a snapshot, a crash and the replay', async () => {
    let m = await mount(f.store, f.mnt, f.state, env);
    expect((await status(f.mnt)).index).toEqual({ blobs: 0, onDisk: false }); // an empty store: nothing to keep
    await inMount(f.mnt, `mkdir -p "$R/a/b" "$R/c"; for i in $(seq 1 150); do echo "small file $i" > "$R/a/f$i.txt"; done
      head -c 5000000 /dev/urandom > "$R/a/b/big.bin"; head -c 200000 /dev/urandom > "$R/c/mid.bin"; cp -a /usr/share/doc/bash "$R/c/doc"`);
    expect(await m.unmount()).toBe(0);

    m = await mount(f.store, f.mnt, f.state, env);
    const { index, memory } = await status(f.mnt);
    expect(index.onDisk).toBe(true);
    // The heap by space, for memory work: the young generation and the old one at least.
    for (const space of ['new_space', 'old_space']) expect(memory.heapSpaces[space]!.size).toBeGreaterThanOrEqual(memory.heapSpaces[space]!.used);
    expect(memory.heapSpaces.old_space!.used).toBeGreaterThan(0);
    expect(index.blobs).toBeGreaterThan(150);
    expect(leftovers(f.state)).toEqual([]); // unlinked while open
    const before = await packBytes(f.store);
    // Copies of stored files add no data (their chunks are found on disk); changes after a snapshot.
    await inMount(f.mnt, `cp "$R/a/b/big.bin" "$R/c/big-copy.bin"; cp -r "$R/c/doc" "$R/c/doc2"`);
    expect((await cairn(['snapshot', f.mnt])).code).toBe(0);
    expect(await packBytes(f.store) - before).toBeLessThan(64 * 1024);
    await inMount(f.mnt, `echo changed >> "$R/a/f7.txt"; rm "$R/a/f9.txt"; head -c 300000 /dev/urandom > "$R/a/b/new.bin"; sync "$R/a/b/new.bin"; sync "$R/a/f7.txt"`);
    copyTree(f.mnt, mirror());
    await m.kill();

    m = await mount(f.store, f.mnt, f.state, env);
    expect(m.log()).toContain('replayed');
    expect((await status(f.mnt)).index.onDisk).toBe(true);
    expectEqualTrees(mirror(), f.mnt);
    expect(await m.unmount()).toBe(0);
    expect(leftovers(f.state)).toEqual([]);

    m = await mount(f.store, f.mnt, f.state, env);
    expectEqualTrees(mirror(), f.mnt);
    expect(await m.unmount()).toBe(0);
    const check = await cairn(['check', f.store, '--read-data'], env);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });

  it('keeps the index in memory, and says so, when the state disk has no room for it', async () => {
    const state = path.join(f.dir, 'small-state');
    mkdirSync(state);
    const unmountDisk = mountSmallDisk(state, '256k');
    try {
      // Room for the journal, not for the index (56 bytes a blob).
      const filler = fillDisk(state);
      truncateSync(filler, statSync(filler).size - 8192);
      let m = await mount(f.store, f.mnt, state, env);
      try {
        expect(m.log()).toContain(`could not keep the index in ${state}`);
        expect(m.log()).toContain('keeping it in memory instead');
        expect((await status(f.mnt)).index.onDisk).toBe(false);
        expectEqualTrees(mirror(), f.mnt);
      } finally {
        expect(await m.unmount()).toBe(0);
      }
      // No room even for the journal: the mount refuses, saying where and what to do.
      fillDisk(state);
      const refused = await cairn(['mount', f.store, f.mnt, '--state-dir', path.join(state, 'other')], env);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(`the disk of the state folder ${path.join(state, 'other')} is full`);
      expect(refused.stderr).toContain('--state-dir on another disk');
      expect(refused.stderr).not.toMatch(/\n\s+at /); // no stack trace
      rmSync(filler);
      m = await mount(f.store, f.mnt, state, env);
      expect((await status(f.mnt)).index.onDisk).toBe(true);
      expectEqualTrees(mirror(), f.mnt);
      expect(await m.unmount()).toBe(0);
    } finally {
      unmountDisk();
    }
  });

  it('refuses to mount on a read-only state disk, saying so', async () => {
    const state = path.join(f.dir, 'read-only-state');
    mkdirSync(state);
    const unmountDisk = mountSmallDisk(state, '1m');
    try {
      execFileSync('mount', ['-o', 'remount,ro', state]);
      const refused = await cairn(['mount', f.store, f.mnt, '--state-dir', state], env);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(`cannot write the state folder ${state} (EROFS)`);
      expect(refused.stderr).toContain('--state-dir on a writable disk');
      expect(refused.stderr).not.toMatch(/\n\s+at /);
    } finally {
      unmountDisk();
    }
  });
});

