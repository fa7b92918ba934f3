/**
 * The live tree through a real mount with room for only a few hundred files in memory
 * (--tree-cache): folders load on first use and clean ones drop again, while find, stat,
 * rsync, cat, git and a rewrite keep seeing exactly what is stored; a kept node id (a shell
 * sitting in a dropped folder) still works; `cairn status` reports the drops.
 */
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { cairn, run } from '../helpers/cli.js';
import { repositoryFixture } from '../helpers/fixture.js';
import { expectEqualTrees, inMount, mount } from '../helpers/mount.js';

const env = { CAIRN_PASSWORD: 'lazy tree' };

interface Status {
  tree: { inMemory: number; limit: number; loadedFolders: number; droppedFolders: number };
}

describe('the live tree with little room in memory', () => {
  const f = repositoryFixture('cairn-lazy-', env);
  const src = () => path.join(f.dir, 'src');
  const status = async () => JSON.parse((await cairn(['status', f.mnt, '--json'], env)).stdout) as Status;
  /** `find` of every entry with its type, size, mode, link count and inode number. */
  const listing = async (top: string) =>
    (await run('bash', ['-c', `cd "${top}" && find . -printf '%p %y %s %m %n %i\\n' | sort`])).stdout;

  it('walks, reads and changes a tree many times its --tree-cache exactly', async () => {
    // rsync without -H: a hard link anywhere would make the mount load the whole tree.
    const made = await run('bash', ['-c', `set -e; mkdir -p "${src()}"; rsync -a /usr/share/doc/ "${src()}/doc/"; git -C "${src()}" init -q repo
      cd "${src()}/repo"; for i in $(seq 1 40); do mkdir -p "d$i"; echo "v$i" > "d$i/file"; done
      git add -A; git -c user.email=t@t -c user.name=t commit -qm first`]);
    expect(made.code, made.stderr).toBe(0);
    let m = await mount(f.store, f.mnt, f.state, env);
    await inMount(f.mnt, `rsync -a "${src()}/" "$R/"`);
    const before = await listing(f.mnt);
    expect(await m.unmount()).toBe(0);

    m = await mount(f.store, f.mnt, f.state, env, ['--tree-cache', '300']);
    try {
      // A shell whose working folder drops while it waits: its node id must stay usable.
      const first = (await run('bash', ['-c', `cd "${src()}/doc" && find . -mindepth 1 -maxdepth 1 -type d | sort | head -1`])).stdout.trim();
      const inside = path.join(f.mnt, 'doc', first);
      const waiter = run('bash', ['-c', `cd "${inside}" && sleep 4 && ls -la . > /dev/null && pwd`]);
      expect(await listing(f.mnt)).toBe(before);
      expect(await listing(f.mnt)).toBe(before); // again, through folders dropped and read back
      const s = await status();
      expect(s.tree.limit).toBe(300);
      expect(s.tree.droppedFolders).toBeGreaterThan(50);
      expect(s.tree.inMemory).toBeLessThan(2000); // of about 6,000 entries
      const waited = await waiter;
      expect(waited.code, waited.stderr).toBe(0);
      expect(waited.stdout.trim()).toBe(inside);
      expectEqualTrees(src(), f.mnt);
      // git over the mount, a rewrite deep inside, and rsync's check of every file.
      await inMount(f.mnt, `cd "$R/repo"; git status --porcelain | (! grep .); echo changed > d17/file; git add -A
        git -c user.email=t@t -c user.name=t commit -qm second; git fsck --no-progress`);
      expect((await run('bash', ['-c', `cd "${f.mnt}" && find doc -type f | wc -l`])).stdout.trim()).toBe(
        (await run('bash', ['-c', `cd "${src()}" && find doc -type f | wc -l`])).stdout.trim(),
      );
      const rsync = await run('rsync', ['-a', '--itemize-changes', '--dry-run', `${src()}/doc/`, `${f.mnt}/doc/`]);
      expect(rsync.stdout).toBe('');
      expect((await cairn(['snapshot', f.mnt], env)).code).toBe(0);
      await listing(f.mnt);
    } finally {
      expect(await m.unmount()).toBe(0);
    }
    m = await mount(f.store, f.mnt, f.state, env, ['--tree-cache', '300']);
    try {
      const log = await run('git', ['-C', path.join(f.mnt, 'repo'), 'log', '--format=%s']);
      expect(log.stdout.split('\n').filter(Boolean)).toEqual(['second', 'first']);
      expect((await run('cat', [path.join(f.mnt, 'repo', 'd17', 'file')])).stdout).toBe('changed\n');
      expectEqualTrees(path.join(src(), 'doc'), path.join(f.mnt, 'doc'));
    } finally {
      expect(await m.unmount()).toBe(0);
    }
  });
});
