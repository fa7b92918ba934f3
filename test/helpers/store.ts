import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** A fresh temporary folder, removed by the returned cleanup. */
export async function tempDir(prefix = 'cairn-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export const passphrase = (p: string) => ({ kind: 'passphrase', passphrase: p }) as const;

/** Bytes of all pack files in a local store (data/xx/<id>). */
export async function packBytes(store: string): Promise<number> {
  let total = 0;
  for (const sub of await readdir(path.join(store, 'data'))) {
    for (const name of await readdir(path.join(store, 'data', sub))) total += (await stat(path.join(store, 'data', sub, name))).size;
  }
  return total;
}

/**
 * A real small disk for "disk full" tests: a tmpfs of `size` (like '1m') mounted at `dir`
 * (needs root). Returns its unmount.
 */
export function mountSmallDisk(dir: string, size: string): () => void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return () => void spawnSync('umount', ['-l', dir]);
}

/** Fills the disk holding `dir` with a filler file; returns its path (delete it to free the space). */
export function fillDisk(dir: string): string {
  const filler = path.join(dir, 'filler');
  spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { stdio: 'ignore' });
  return filler;
}
