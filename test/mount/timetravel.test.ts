/**
 * The time-travel folder through a real mount: each `.snapshots/<time>/` equals the tree as
 * it was when that snapshot was taken (content, mode, owner, mtime ns, hard links, xattrs),
 * history is read-only, `cp -a` restores it exactly, and `.snapshots` stays out of listings
 * (so rsync --delete, find and du never walk it) unless mounted with --snapshots visible.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { repositoryFixture } from '../helpers/fixture.js';
import { cairn, run } from '../helpers/cli.js';
import { copyTree, expectEqualTrees, inMount, mount } from '../helpers/mount.js';

const env = { CAIRN_PASSWORD: 'time travel' };

describe('.snapshots through a real mount', () => {
  const f = repositoryFixture('cairn-tt-', env);

  const inMountHere = (script: string) => inMount(f.mnt, script);
  /** What the tree is now, copied out of the mount: the reference for the next snapshot. */
  const copyOfMount = (name: string) => copyTree(f.mnt, path.join(f.dir, name));


  it('shows each backup point exactly as it was, read-only, and restores by cp -a', async () => {
    let m = await mount(f.store, f.mnt, f.state, env);
    await inMountHere(`cp -a /usr/share/doc/git/RelNotes "$R/notes"; mkdir "$R/work"; echo one > "$R/work/a.txt";
      ln "$R/work/a.txt" "$R/work/a-link"; ln -s a.txt "$R/work/sym"; setfattr -n user.v -v 1 "$R/work/a.txt";
      chmod 640 "$R/work/a.txt"; touch -h -d '2020-05-05 05:05:05.123456789' "$R/work/sym"`);
    const v1 = copyOfMount('v1');
    expect(await m.unmount()).toBe(0); // snapshot 1

    await new Promise((r) => setTimeout(r, 1100)); // a different second, so a different name
    m = await mount(f.store, f.mnt, f.state, env);
    await inMountHere(`echo two >> "$R/work/a.txt"; rm "$R/notes/1.5.0.txt"; mv "$R/notes" "$R/renamed"; echo new > "$R/work/b.txt";
      setfattr -n user.v -v 2 "$R/work/a.txt"`);
    const v2 = copyOfMount('v2');
    expect(await m.unmount()).toBe(0); // snapshot 2
    // `cairn unmount` prints the saved snapshot's folder name and id, as `cairn snapshot` does.
    const [savedName, savedId] = m.unmountOutput!.stdout.trim().split(' ');
    expect(savedId).toMatch(/^[0-9a-f]{64}$/);
    expect(savedName).toMatch(/^\d{4}-\d{2}-\d{2}_\d{6}$/);

    m = await mount(f.store, f.mnt, f.state, env);
    await inMountHere(`rm -r "$R/renamed"; echo three > "$R/work/a.txt"`); // live only, no snapshot yet
    const names = (await fs.readdir(path.join(f.mnt, '.snapshots'))).sort();
    expect(names.length).toBe(3);
    expect(names[1]).toBe(savedName);
    expect(names[2]).toBe('latest');
    expect(names[0]).toMatch(/^\d{4}-\d{2}-\d{2}_\d{6}$/);
    expect(await fs.readlink(path.join(f.mnt, '.snapshots', 'latest'))).toBe(names[1]);
    // The link shows when the newest backup was taken (as its folder does), not when the mount started.
    const linkTime = (await fs.lstat(path.join(f.mnt, '.snapshots', 'latest'), { bigint: true })).mtimeNs;
    expect(linkTime).toBe((await fs.stat(path.join(f.mnt, '.snapshots', names[1]!), { bigint: true })).mtimeNs);

    expectEqualTrees(v1, path.join(f.mnt, '.snapshots', names[0]!));
    expectEqualTrees(v2, path.join(f.mnt, '.snapshots', names[1]!));
    expect(await fs.readFile(path.join(f.mnt, 'work', 'a.txt'), 'utf8')).toBe('three\n');
    expect(await fs.readFile(path.join(f.mnt, '.snapshots', names[0]!, 'work', 'a.txt'), 'utf8')).toBe('one\n');
    expect(await fs.readFile(path.join(f.mnt, '.snapshots', 'latest', 'work', 'a.txt'), 'utf8')).toBe('one\ntwo\n');

    // History is read-only.
    for (const attempt of [
      `echo x > "${f.mnt}/.snapshots/latest/work/a.txt"`,
      `rm "${f.mnt}/.snapshots/${names[0]}/work/a.txt"`,
      `mkdir "${f.mnt}/.snapshots/new"`,
      `mv "${f.mnt}/work/b.txt" "${f.mnt}/.snapshots/latest/"`,
      `chmod 777 "${f.mnt}/.snapshots/latest/work"`,
    ]) {
      const r = await run('bash', ['-c', attempt]);
      expect(r.code, attempt).not.toBe(0);
      expect(r.stderr, attempt).toMatch(/Read-only file system/);
    }

    // Restore by plain copy.
    const restored = path.join(f.dir, 'restored');
    expect(spawnSync('cp', ['-a', path.join(f.mnt, '.snapshots', names[0]!), restored]).status).toBe(0);
    expectEqualTrees(v1, restored);

    // Invisible to listings and tree walks, so rsync --delete leaves history alone.
    expect(await fs.readdir(f.mnt)).not.toContain('.snapshots');
    expect(spawnSync('find', [f.mnt], { encoding: 'utf8' }).stdout).not.toContain('.snapshots');
    const empty = path.join(f.dir, 'empty');
    await fs.mkdir(empty);
    expect(spawnSync('rsync', ['-a', '--delete', `${empty}/`, `${f.mnt}/`]).status).toBe(0);
    expect(await fs.readdir(f.mnt)).toEqual([]);
    expect((await fs.readdir(path.join(f.mnt, '.snapshots'))).length).toBe(3);
    expect(await m.unmount()).toBe(0);

    const visible = await mount(f.store, f.mnt, f.state, env, ['--snapshots', 'visible']);
    expect(await fs.readdir(f.mnt)).toContain('.snapshots');
    expect((await fs.readdir(path.join(f.mnt, '.snapshots'))).length).toBe(4); // the third unmount added a snapshot, plus latest
    expect(await visible.unmount()).toBe(0);
    // Nothing changed: no snapshot, and unmount says so (stdout stays empty for scripts).
    expect(visible.unmountOutput!.stdout).toBe('');
    expect(visible.unmountOutput!.stderr).toContain('nothing changed since the last snapshot');
  }, 240_000);

  it('takes a snapshot on demand while mounted, visible in .snapshots at once, with its tag', async () => {
    const m = await mount(f.store, f.mnt, f.state, env);
    await inMountHere(`mkdir -p "$R/demand"; echo before > "$R/demand/f"`);
    const before = (await fs.readdir(path.join(f.mnt, '.snapshots'))).length;
    const r = await cairn(['snapshot', f.mnt, '--tag', 'manual']);
    expect(r.code, r.stderr).toBe(0);
    const [name, id] = r.stdout.trim().split(' ');
    expect(name).toMatch(/^\d{4}-\d{2}-\d{2}_\d{6}(_\d+)?$/);
    await inMountHere(`echo after > "$R/demand/f"`);
    expect(await fs.readFile(path.join(f.mnt, '.snapshots', name!, 'demand', 'f'), 'utf8')).toBe('before\n');
    expect(await fs.readFile(path.join(f.mnt, 'demand', 'f'), 'utf8')).toBe('after\n');
    expect((await fs.readdir(path.join(f.mnt, '.snapshots'))).length).toBe(before + 1);
    expect(await fs.readlink(path.join(f.mnt, '.snapshots', 'latest'))).toBe(name);
    const listed = await cairn(['snapshots', f.store, '--json'], env);
    const tagged = (JSON.parse(listed.stdout) as { id: string; tags: string[] }[]).find((s) => s.id === id);
    expect(tagged?.tags).toEqual(['manual']);
    expect(await m.unmount()).toBe(0);
    const notMounted = await cairn(['snapshot', f.mnt]);
    expect(notMounted.code).not.toBe(0);
    expect(notMounted.stderr).toMatch(/not mounted/);
  }, 120_000);

  it('takes snapshots automatically after changes once writes are quiet, and not without changes', async () => {
    const m = await mount(f.store, f.mnt, f.state, env, ['--snapshot-interval', '1s', '--snapshot-quiet', '1s']);
    const count = async () => (await fs.readdir(path.join(f.mnt, '.snapshots'))).length;
    const before = await count();
    await inMountHere(`echo automatic > "$R/auto.txt"`);
    const deadline = Date.now() + 20_000;
    while ((await count()) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await count()).toBe(before + 1);
    expect(await fs.readFile(path.join(f.mnt, '.snapshots', 'latest', 'auto.txt'), 'utf8')).toBe('automatic\n');
    expect(m.log()).toMatch(/automatic snapshot [0-9a-f]{12}/);
    await new Promise((r) => setTimeout(r, 3000)); // nothing changes: no new snapshot
    expect(await count()).toBe(before + 1);
    expect(await m.unmount()).toBe(0);
    const listed = JSON.parse((await cairn(['snapshots', f.store, '--json'], env)).stdout) as { tags: string[] }[];
    expect(listed.some((s) => s.tags.includes('auto'))).toBe(true);
  }, 120_000);

  it('serves a file manager browsing a 10,000-file folder of a snapshot (list, stat all, read first bytes)', async () => {
    let m = await mount(f.store, f.mnt, f.state, env);
    await inMountHere(`mkdir "$R/many"; cd "$R/many"; for i in $(seq 1 10000); do echo "file $i" > "f$i.txt"; done`);
    expect(await m.unmount()).toBe(0);
    m = await mount(f.store, f.mnt, f.state, env);
    const folder = path.join(f.mnt, '.snapshots', 'latest', 'many');
    const started = Date.now();
    const names = await fs.readdir(folder);
    expect(names.length).toBe(10_000);
    for (const name of names) {
      const st = await fs.lstat(path.join(folder, name));
      expect(st.isFile()).toBe(true);
      const handle = await fs.open(path.join(folder, name), 'r');
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(64), 0, 64, 0);
      await handle.close();
      expect(buffer.subarray(0, bytesRead).toString()).toBe(`file ${name.slice(1, -4)}\n`);
    }
    process.stderr.write(`browsed 10,000 snapshot files in ${Date.now() - started} ms\n`);
    expect(await m.unmount()).toBe(0);
  }, 300_000);
});
