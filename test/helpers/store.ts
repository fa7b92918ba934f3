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
