/**
 * One test per way cairn once lost or misplaced acknowledged data (issue 9), each through a
 * real mount, real programs and kill -9: an O_TRUNC rewrite that came back as zeros, changes
 * after a snapshot replayed onto other files, a torn journal record that swallowed the rest
 * (torn by a crash, and by a full state disk), hard-link identity renumbered per session, a
 * journal that cannot be replayed, and `cairn unmount` saying "done" for a dead mount; and
 * the streaming commit of big files killed before and after a rewrite in place.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../src/cli/exit-codes.js';
import { encodeLine } from '../../src/vfs/journal-format.js';
import { cairn, CLI, run } from '../helpers/cli.js';
import { copyTree, inMount, mount, unmountAll } from '../helpers/mount.js';
import { fillDisk, mountSmallDisk, tempDir } from '../helpers/store.js';

const env = { CAIRN_PASSWORD: 'regressions' };

/** Every entry's (st_ino, type, link count) grouped as hard links: `path|path (type nlink)` per group. */
function identityGroups(root: string): string[] {
  const r = spawnSync('find', ['.', '-mindepth', '1', '-printf', '%i\\t%y\\t%n\\t%P\\n'], { cwd: root, encoding: 'utf8' });
  const groups = new Map<string, { type: string; links: string; paths: string[] }>();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [ino, type, links, p] = line.split('\t') as [string, string, string, string];
    const g = groups.get(ino) ?? { type, links: type === 'd' ? '-' : links, paths: [] };
    g.paths.push(p);
    groups.set(ino, g);
  }
  return [...groups.values()].map((g) => `${g.paths.sort().join('|')} (${g.type} ${g.links})`).sort();
}

describe('crash regressions through a real mount', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  /** A new repository with its own mountpoint and state folder. */
  const fresh = async () => {
    const base = path.join(dir, `r${n++}`);
    const store = path.join(base, 'store');
    expect((await cairn(['init', store], env)).code).toBe(0);
    return { base, store, mnt: path.join(base, 'mnt'), state: path.join(base, 'state') };
  };

  beforeAll(async () => ({ dir, cleanup } = await tempDir('cairn-regress-')));
  afterAll(async () => {
    await unmountAll();
    await cleanup();
  });

  it('an O_TRUNC rewrite (dd conv=fsync) killed before its commit comes back as written, not as zeros', async () => {
    const { store, mnt, state } = await fresh();
    let m = await mount(store, mnt, state, env);
    await inMount(mnt, 'echo "version one" > "$R/file"');
    expect(await m.unmount()).toBe(0);
    m = await mount(store, mnt, state, env);
    await inMount(mnt, 'echo "VERSION TWO" | dd of="$R/file" conv=fsync status=none');
    await m.kill();
    m = await mount(store, mnt, state, env);
    expect(await fs.readFile(path.join(mnt, 'file'), 'utf8')).toBe('VERSION TWO\n');
    expect(await m.unmount()).toBe(0);
    m = await mount(store, mnt, state, env);
    expect(await fs.readFile(path.join(mnt, '.snapshots', 'latest', 'file'), 'utf8')).toBe('VERSION TWO\n');
    expect(await m.unmount()).toBe(0);
  });

  it('a big file chunked while it was written (streaming commit), killed before its close was saved, then patched in place and killed again, comes back as written', async () => {
    const { base, store, mnt, state } = await fresh();
    const source = path.join(base, 'source.bin');
    await fs.writeFile(source, randomBytes(48 * 1024 * 1024));
    let m = await mount(store, mnt, state, env);
    // The stream seals and uploads most of the file while dd writes; the kill comes before the
    // commit at close names those chunks: the file must come back from the journal and staging.
    await inMount(mnt, `dd if="${source}" of="$R/big.bin" bs=1M conv=fsync status=none`);
    // Packs on the store already, before any commit ran (the file was closed a moment ago).
    const packed = spawnSync('du', ['-sb', path.join(store, 'data')], { encoding: 'utf8' }).stdout;
    expect(Number(packed.split('\t')[0])).toBeGreaterThan(8 * 1024 * 1024);
    // The stream kept up with dd (a writer more than 4 steps of 4 MiB ahead waits for it), and
    // the mount's progress counts what it chunked (its pieces move to the blob thread, so a
    // length read after the move would count nothing).
    const status = await cairn(['status', mnt, '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { committedBytes: number }).committedBytes).toBeGreaterThanOrEqual(24 * 1024 * 1024);
    await m.kill();
    m = await mount(store, mnt, state, env);
    expect((await fs.readFile(path.join(mnt, 'big.bin'))).equals(await fs.readFile(source))).toBe(true);
    // A page written again below what a stream read (a database's pattern), acknowledged, then kill -9.
    const expected = await fs.readFile(source);
    Buffer.from('page written again').copy(expected, 1024 * 1024);
    await inMount(mnt, `printf 'page written again' | dd of="$R/big.bin" bs=1 seek=1048576 conv=notrunc,fsync status=none`);
    await m.kill();
    m = await mount(store, mnt, state, env);
    expect((await fs.readFile(path.join(mnt, 'big.bin'))).equals(expected)).toBe(true);
    expect(await m.unmount()).toBe(0);
    m = await mount(store, mnt, state, env);
    expect((await fs.readFile(path.join(mnt, '.snapshots', 'latest', 'big.bin'))).equals(expected)).toBe(true);
    expect(await m.unmount()).toBe(0);
    const check = await cairn(['check', store, '--read-data'], env);
    expect(check.stdout).toMatch(/no errors/);
    expect(check.code).toBe(0);
  }, 300_000);

  it('changes after a snapshot taken while mounted, then kill -9, stay on their own files (also after automatic snapshots)', async () => {
    const { store, mnt, state } = await fresh();
    let m = await mount(store, mnt, state, env, ['--snapshot-interval', '1s', '--snapshot-quiet', '1s']);
    await inMount(mnt, 'echo zebra > "$R/zebra"; echo apple > "$R/apple"');
    expect((await cairn(['snapshot', mnt], env)).code).toBe(0);
    await inMount(mnt, 'chmod 600 "$R/zebra"; echo more >> "$R/zebra"; mv "$R/apple" "$R/apple-renamed"; mkdir "$R/new-dir"; echo inside > "$R/new-dir/f"');
    await m.kill();
    m = await mount(store, mnt, state, env, ['--snapshot-interval', '1s', '--snapshot-quiet', '1s']);
    const check = async () => {
      expect(await fs.readFile(path.join(mnt, 'zebra'), 'utf8')).toBe('zebra\nmore\n');
      expect((await fs.stat(path.join(mnt, 'zebra'))).mode & 0o777).toBe(0o600);
      expect(await fs.readFile(path.join(mnt, 'apple-renamed'), 'utf8')).toBe('apple\n');
      expect((await fs.stat(path.join(mnt, 'apple-renamed'))).mode & 0o777).toBe(0o644);
      expect(existsSync(path.join(mnt, 'apple'))).toBe(false);
      expect(await fs.readFile(path.join(mnt, 'new-dir', 'f'), 'utf8')).toBe('inside\n');
    };
    await check();
    // An automatic snapshot, then more changes, then the kill.
    const snapshotsBefore = m.log().match(/automatic snapshot/g)?.length ?? 0;
    await inMount(mnt, 'echo again >> "$R/zebra"');
    const deadline = Date.now() + 30_000;
    while ((m.log().match(/automatic snapshot/g)?.length ?? 0) === snapshotsBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(m.log()).toMatch(/automatic snapshot/);
    await inMount(mnt, 'mv "$R/new-dir" "$R/moved-dir"; echo b > "$R/moved-dir/g"; rm "$R/apple-renamed"; chmod 640 "$R/zebra"');
    await m.kill();
    m = await mount(store, mnt, state, env);
    expect(await fs.readFile(path.join(mnt, 'zebra'), 'utf8')).toBe('zebra\nmore\nagain\n');
    expect((await fs.stat(path.join(mnt, 'zebra'))).mode & 0o777).toBe(0o640);
    expect((await fs.readdir(mnt)).sort()).toEqual(['moved-dir', 'zebra']);
    expect((await fs.readdir(path.join(mnt, 'moved-dir'))).sort()).toEqual(['f', 'g']);
    expect(await m.unmount()).toBe(0);
  });

  it('a torn last record left by a crash is cut off, and the changes after it survive the next crash', async () => {
    const { store, mnt, state } = await fresh();
    let m = await mount(store, mnt, state, env);
    await inMount(mnt, 'mkdir "$R/a"; for i in $(seq 1 50); do echo "file $i" > "$R/a/$i"; done');
    await m.kill();
    // What a process killed in the middle of writing a record leaves: half a line.
    appendFileSync(path.join(state, 'journal'), encodeLine('{"op":"mknod","parent":1,"name":"torn"').subarray(0, 30));
    m = await mount(store, mnt, state, env);
    expect(m.log()).toMatch(/cut 30 byte\(s\) of an incomplete last journal record/);
    await inMount(mnt, 'for i in $(seq 51 200); do echo "file $i" > "$R/a/$i"; done; sync');
    await m.kill();
    m = await mount(store, mnt, state, env);
    const names = await fs.readdir(path.join(mnt, 'a'));
    expect(names.length).toBe(200);
    for (const i of [1, 50, 51, 200]) expect(await fs.readFile(path.join(mnt, 'a', String(i)), 'utf8')).toBe(`file ${i}\n`);
    expect(await m.unmount()).toBe(0);
  });

  it.skipIf(process.getuid?.() !== 0)('a full state disk answers ENOSPC, leaves no torn record, and loses nothing written after space returns (needs root for tmpfs)', async () => {
    const { base, store, mnt } = await fresh();
    const small = path.join(base, 'small');
    await fs.mkdir(small);
    const unmountDisk = mountSmallDisk(small, '1m');
    try {
      const state = path.join(small, 'state');
      let m = await mount(store, mnt, state, env);
      await inMount(mnt, 'mkdir "$R/before"');
      const filler = fillDisk(small);
      const full = await run('bash', ['-c', `for i in $(seq 1 50); do mkdir "${mnt}/d$i" || exit 1; done`]);
      expect(full.code).not.toBe(0);
      expect(full.stderr).toMatch(/No space left on device/);
      await fs.rm(filler);
      await inMount(mnt, 'mkdir "$R/after"; for i in $(seq 1 100); do echo "f $i" > "$R/after/$i"; done; sync');
      await m.kill();
      m = await mount(store, mnt, state, env);
      expect((await fs.readdir(path.join(mnt, 'after'))).length).toBe(100);
      expect(await fs.readFile(path.join(mnt, 'after', '100'), 'utf8')).toBe('f 100\n');
      expect(existsSync(path.join(mnt, 'before'))).toBe(true);
      expect(await m.unmount()).toBe(0);
    } finally {
      await unmountAll();
      unmountDisk();
    }
  });

  it('keeps hard-link identity across sessions: in every .snapshots folder, st_ino and nlink group exactly as in a cp -a copy', async () => {
    const { base, store, mnt, state } = await fresh();
    let m = await mount(store, mnt, state, env);
    await inMount(mnt, 'mkdir "$R/a" "$R/b" "$R/c"; echo shared > "$R/a/f"; ln "$R/a/f" "$R/b/g"; ln "$R/a/f" "$R/c/h"; echo solo > "$R/a/solo"');
    const first = copyTree(mnt, path.join(base, 'copy1'));
    expect(await m.unmount()).toBe(0);
    m = await mount(store, mnt, state, env);
    await inMount(mnt, `rm "$R/b/g"; mkdir "$R/many"; for i in $(seq 1 150); do ln -s "target$i" "$R/many/s$i"; : > "$R/many/e$i"; done;
      mkfifo "$R/many/fifo"; ln "$R/many/e1" "$R/a/e1-link"`);
    const second = copyTree(mnt, path.join(base, 'copy2'));
    expect((await cairn(['snapshot', mnt], env)).code).toBe(0);
    expect(await m.unmount()).toBe(0);
    m = await mount(store, mnt, state, env);
    const folders = (await fs.readdir(path.join(mnt, '.snapshots'))).filter((f) => f !== 'latest').sort();
    expect(folders.length).toBe(2);
    expect(identityGroups(path.join(mnt, '.snapshots', folders[0]!))).toEqual(identityGroups(first));
    expect(identityGroups(path.join(mnt, '.snapshots', folders[1]!))).toEqual(identityGroups(second));
    // The live tree too, and a file keeps its st_ino from session to session.
    expect(identityGroups(mnt)).toEqual(identityGroups(second));
    const ino = (p: string) => spawnSync('stat', ['-c', '%i', p], { encoding: 'utf8' }).stdout.trim();
    expect(ino(path.join(mnt, 'a', 'f'))).toBe(ino(path.join(mnt, 'c', 'h')));
    const before = ino(path.join(mnt, 'a', 'f'));
    expect(await m.unmount()).toBe(0);
    m = await mount(store, mnt, state, env);
    expect(ino(path.join(mnt, 'a', 'f'))).toBe(before);
    expect(await m.unmount()).toBe(0);
    // Stats count a hard-linked file once: a/f, a/solo and 150 empty files (e1 twice named).
    const listed = JSON.parse((await cairn(['snapshots', store, '--json'], env)).stdout) as { stats: { files: number; dirs: number } }[];
    expect(listed.map((x) => x.stats)).toMatchObject([{ files: 2, dirs: 4 }, { files: 152, dirs: 5 }]);
  });

  it('refuses a journal record it cannot apply with exit 12 and what to do; --salvage keeps what came before and snapshots it', async () => {
    const { store, mnt, state } = await fresh();
    let m = await mount(store, mnt, state, env);
    await inMount(mnt, 'echo kept > "$R/kept"');
    await m.kill();
    // A complete, checksummed record that does not fit: a write to a file that never existed.
    appendFileSync(path.join(state, 'journal'), encodeLine('{"op":"write","ino":999999,"offset":0,"length":5,"t":"1n"}'));
    appendFileSync(path.join(state, 'journal'), encodeLine('{"op":"unlink","parent":1,"name":"kept","t":"2n"}'));
    const refused = await run(process.execPath, [CLI, 'mount', store, mnt, '--state-dir', state], env);
    expect(refused.code).toBe(EXIT.journal);
    expect(refused.stderr).toMatch(/record \d+ of \d+ in the journal in .* does not fit/);
    expect(refused.stderr).toMatch(/--salvage/);
    expect(refused.stderr).not.toMatch(/ at .*\.js:\d+/); // no stack trace
    m = await mount(store, mnt, state, env, ['--salvage']);
    expect(m.log()).toMatch(/salvaged \d+ change\(s\).*journal\.set-aside-/);
    expect(await fs.readFile(path.join(mnt, 'kept'), 'utf8')).toBe('kept\n');
    const set = (await fs.readdir(state)).filter((f) => f.startsWith('journal.set-aside-'));
    expect(set.length).toBe(1);
    expect(await m.unmount()).toBe(0);
    const list = await cairn(['snapshots', store], env);
    expect(list.stdout).toMatch(/salvaged/);
  });

  it('cairn unmount of a mount whose process died says so and exits 13, never "done"', async () => {
    const { store, mnt, state } = await fresh();
    const m = await mount(store, mnt, state, env);
    await inMount(mnt, 'echo unsaved > "$R/x"');
    m.child.kill('SIGKILL');
    await new Promise((r) => m.child.once('exit', r));
    const r = await run(process.execPath, [CLI, 'unmount', mnt], env);
    expect(r.code).toBe(EXIT.notSaved);
    expect(r.stderr).toMatch(/had died .*without saving|had died before this unmount/);
    expect(r.stderr).toMatch(/mount the store again to replay/);
    const again = await mount(store, mnt, state, env);
    expect(await fs.readFile(path.join(mnt, 'x'), 'utf8')).toBe('unsaved\n');
    expect(await again.unmount()).toBe(0);
  });
});
