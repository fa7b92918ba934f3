/**
 * The setup most mount tests share: a new repository in a temporary folder, created before
 * the file's tests; afterwards every mount is unmounted (also when a test failed) and the
 * folder removed. Call it at the top of a describe block.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { chmod } from 'node:fs/promises';
import * as path from 'node:path';
import { cairn } from './cli.js';
import { unmountAll } from './mount.js';
import { tempDir } from './store.js';

export interface RepositoryFixture {
  /** The temporary folder holding everything below. */
  readonly dir: string;
  readonly store: string;
  /** A mountpoint and a state folder for it (made by the first mount). */
  readonly mnt: string;
  readonly state: string;
}

export function repositoryFixture(prefix: string, env: Record<string, string>): RepositoryFixture {
  const fixture = { dir: '', store: '', mnt: '', state: '' };
  let cleanup: () => Promise<void> = async () => undefined;
  beforeAll(async () => {
    const made = await tempDir(prefix);
    cleanup = made.cleanup;
    fixture.dir = made.dir;
    await chmod(made.dir, 0o755); // reachable for the second users of permission tests
    fixture.store = path.join(made.dir, 'store');
    fixture.mnt = path.join(made.dir, 'mnt');
    fixture.state = path.join(made.dir, 'state');
    expect((await cairn(['init', fixture.store], env)).code).toBe(0);
  });
  afterAll(async () => {
    await unmountAll();
    await cleanup();
  });
  return fixture;
}
