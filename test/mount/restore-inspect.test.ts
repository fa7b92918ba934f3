/**
 * Restore, verify, ls, cat, find, diff and stats through the real CLI, against a repository
 * whose two snapshots were made through a real mount: what comes back equals what was there
 * (content, mode, owner, ns times, hard links, symlinks, fifos, devices, xattrs, holes), and
 * every planted difference is named.
 */
import { describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { cairn, CLI, run } from '../helpers/cli.js';
import { repositoryFixture } from '../helpers/fixture.js';
import { copyTree, expectEqualTrees, inMount, mount } from '../helpers/mount.js';

const env = { CAIRN_PASSWORD: 'restore me please' };

function localTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

describe('restore and inspection without a mount', () => {
  const f = repositoryFixture('cairn-restore-', env);
  let v1 = '';
  let v2 = '';
  let between = '';
  let ids: string[] = [];
  let names: string[] = [];
  let stats: { files: number; bytes: number }[] = [];
  const out = (name: string) => path.join(f.dir, name);

  it('takes two snapshots through the mount', async () => {
    let m = await mount(f.store, f.mnt, f.state, env);
    await inMount(f.mnt, `mkdir -p "$R/work/deep/er" "$R/empty"; echo one > "$R/work/a.txt"; echo same > "$R/work/dup1.txt"; echo same > "$R/work/dup2.txt"
      ln "$R/work/a.txt" "$R/work/deep/a-link"; ln -s ../a.txt "$R/work/deep/sym"; mkfifo "$R/work/fifo"; mknod "$R/work/null" c 1 3
      truncate -s 32M "$R/work/sparse"; echo tail >> "$R/work/sparse"; head -c 3000000 /dev/urandom > "$R/work/deep/er/random.bin"
      setfattr -n user.color -v blue "$R/work/a.txt"; setfattr -n user.bin -v 0x00ff10 "$R/work/deep"
      chmod 640 "$R/work/a.txt"; chmod 2750 "$R/work/deep"; chown 1234:5678 "$R/work/dup1.txt"
      touch -h -d '2020-05-05 05:05:05.123456789' "$R/work/deep/sym"; TZ=UTC touch -d '2019-01-01 00:00:00.5' "$R/work/deep/er"`);
    v1 = copyTree(f.mnt, out('v1'));
    expect(await m.unmount()).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    between = localTime(Date.now());
    await new Promise((r) => setTimeout(r, 1100));
    m = await mount(f.store, f.mnt, f.state, env);
    await inMount(f.mnt, `echo two >> "$R/work/a.txt"; rm "$R/work/dup2.txt"; echo new > "$R/work/b.txt"; chmod 600 "$R/work/dup1.txt"
      touch -d '2021-02-02 02:02:02' "$R/work/deep/er/random.bin"`);
    v2 = copyTree(f.mnt, out('v2'));
    expect(await m.unmount()).toBe(0);
    const listed = JSON.parse((await cairn(['snapshots', f.store, '--json'], env)).stdout) as { id: string; stats: { files: number; bytes: number } }[];
    ids = listed.map((s) => s.id);
    stats = listed.map((s) => s.stats);
    expect(ids.length).toBe(2);
    const ls = await cairn(['ls', f.store, ids[0]!, '--json'], env);
    names = [JSON.parse(ls.stdout).name, JSON.parse((await cairn(['ls', f.store, ids[1]!, '--json'], env)).stdout).name];
  });

  it('restores the latest snapshot exactly, with holes, and verify agrees', async () => {
    const r = await cairn(['restore', f.store, out('r-latest'), '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    // 13 entries; 5 files (the hard link's second name is an entry, not a file); the bytes of all five.
    expect(JSON.parse(r.stdout)).toMatchObject({ snapshot: ids[1], name: names[1], entries: 13, files: 5, bytes: 8 + 4 + 5 + 3_000_000 + 32 * 1024 * 1024 + 5, damagedFiles: 0, otherProblems: 0 });
    // A whole snapshot's progress totals come from its stats, kept by the mount as it changed.
    expect(stats[1]).toMatchObject({ files: 5, bytes: 8 + 4 + 5 + 3_000_000 + 32 * 1024 * 1024 + 5 });
    expect(stats[0]).toMatchObject({ files: 5, bytes: 4 + 5 + 5 + 3_000_000 + 32 * 1024 * 1024 + 5 });
    expectEqualTrees(v2, out('r-latest'));
    const sparse = await fs.stat(path.join(out('r-latest'), 'work', 'sparse'));
    expect(sparse.size).toBe(32 * 1024 * 1024 + 5);
    expect(sparse.blocks * 512).toBeLessThan(8 * 1024 * 1024); // holes stayed holes
    for (const extra of [[], ['--read-data']]) {
      const v = await cairn(['verify', f.store, out('r-latest'), ...extra], env);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(v.stdout.trim().split('\n').pop()).toMatch(/: 13 files compared, 0 differences found$/);
    }
  });

  it('restores a path as it was at a time, by --time, folder name or id prefix', async () => {
    for (const [name, args] of [['r-time', ['--time', between]], ['r-name', [names[0]!]], ['r-id', [ids[0]!.slice(0, 8)]]] as const) {
      const r = await cairn(['restore', f.store, ...args, out(name), '--path', 'work/deep', '--path', 'work/a.txt'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(await fs.readdir(out(name))).toEqual(['work']);
      expect((await fs.readdir(path.join(out(name), 'work'))).sort()).toEqual(['a.txt', 'deep']);
      expectEqualTrees(path.join(v1, 'work', 'deep'), path.join(out(name), 'work', 'deep'));
      // The two names of the hard-linked file are one file again.
      expect((await fs.stat(path.join(out(name), 'work', 'a.txt'))).ino).toBe((await fs.stat(path.join(out(name), 'work', 'deep', 'a-link'))).ino);
    }
    const v = await cairn(['verify', f.store, ids[0]!.slice(0, 8), out('r-id'), '--path', 'work/deep', '--path', 'work/a.txt'], env);
    expect(v.code, v.stdout).toBe(0);
    // Alone, a hard link's name comes back as a file of its own.
    expect((await cairn(['restore', f.store, ids[0]!, out('r-alone'), '--path', 'work/deep/a-link'], env)).code).toBe(0);
    expect(await fs.readFile(path.join(out('r-alone'), 'work', 'deep', 'a-link'), 'utf8')).toBe('one\n');
  });

  it('refuses to replace existing files unless --overwrite', async () => {
    const target = out('r-existing');
    await fs.mkdir(path.join(target, 'work'), { recursive: true });
    await fs.writeFile(path.join(target, 'work', 'a.txt'), 'mine');
    await fs.writeFile(path.join(target, 'unrelated'), 'kept');
    const refused = await cairn(['restore', f.store, target], env);
    expect(refused.code).toBe(8);
    expect(refused.stderr).toContain('"work/a.txt"');
    expect(refused.stderr).toContain('--overwrite');
    expect(await fs.readFile(path.join(target, 'work', 'a.txt'), 'utf8')).toBe('mine');
    expect((await fs.readdir(path.join(target, 'work'))).sort()).toEqual(['a.txt']);
    const replaced = await cairn(['restore', f.store, target, '--overwrite'], env);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(await fs.readFile(path.join(target, 'work', 'a.txt'), 'utf8')).toBe('one\ntwo\n');
    expect(await fs.readFile(path.join(target, 'unrelated'), 'utf8')).toBe('kept');
  });

  it('verify names every planted difference and nothing else', async () => {
    const t = out('r-planted');
    expect((await cairn(['restore', f.store, t], env)).code).toBe(0);
    const sh = await run('bash', ['-c', `set -e; cd "${t}/work"
      printf 'ONE\\ntwo\\n' > b2 && touch -r a.txt b2 && cat b2 > a.txt && touch -r b2 a.txt && rm b2   # same size and mtime, other bytes
      ref=$(mktemp); touch -r deep "$ref"
      chmod 644 dup1.txt; chown 4321 b.txt; touch -d '2001-01-01' deep/er/random.bin; rm fifo; echo x > extra
      ln -sfn elsewhere deep/sym; setfattr -x user.bin deep; touch -r "$ref" deep; rm "$ref"`]);
    expect(sh.code, sh.stderr).toBe(0);
    const v = await cairn(['verify', f.store, t, '--json'], env);
    expect(v.code).toBe(15);
    const report = JSON.parse(v.stdout) as { compared: number; differences: { path: string; kind: string }[] };
    const found = report.differences.map((d) => `${d.kind} ${d.path}`).sort();
    expect(found).toEqual([
      'content work/a.txt', // and so its other name, compared once
      'extra work/extra',
      'missing work/fifo',
      'mode work/dup1.txt',
      'mtime work', // its entries changed
      'mtime work/deep/er/random.bin',
      'mtime work/deep/sym',
      'owner work/b.txt',
      'target work/deep/sym',
      'xattrs work/deep',
    ].sort());
    const text = await cairn(['verify', f.store, t], env);
    expect(text.stdout.trim().split('\n').pop()).toMatch(/: 13 files compared, 10 differences found$/);
    // The chunk-id comparison and the byte comparison agree.
    const bytes = await cairn(['verify', f.store, t, '--read-data', '--json'], env);
    expect((JSON.parse(bytes.stdout).differences as { kind: string; path: string }[]).map((d) => `${d.kind} ${d.path}`).sort()).toEqual(found);
  });

  it('ls, cat, find, diff and stats give exactly what the snapshots hold', async () => {
    const top = await cairn(['ls', f.store, 'latest'], env);
    expect(top.stdout).toBe('empty\nwork\n');
    const all = await cairn(['ls', f.store, 'latest', 'work', '-R'], env);
    expect(all.stdout.trim().split('\n')).toEqual(['work/a.txt', 'work/b.txt', 'work/deep', 'work/deep/a-link', 'work/deep/er', 'work/deep/er/random.bin', 'work/deep/sym', 'work/dup1.txt', 'work/fifo', 'work/null', 'work/sparse']);
    const long = await cairn(['ls', f.store, 'latest', 'work/deep', '-l'], env);
    expect(long.stdout).toMatch(/^-rw-r-----\s+2\s+0\s+0\s+8\s+\S+ \S+\s+work\/deep\/a-link$/m);
    expect(long.stdout).toMatch(/^lrwxrwxrwx\s+1\s+0\s+0\s+8\s+2020-05-05 \S+\s+work\/deep\/sym -> \.\.\/a\.txt$/m);
    const json = JSON.parse((await cairn(['ls', f.store, names[0]!, 'work/deep', '--json'], env)).stdout);
    const deep = json.entries.find((e: { path: string }) => e.path === 'work/deep/er');
    expect(deep).toMatchObject({ type: 'dir', mode: 0o755, mtime: '2019-01-01T00:00:00.500000000Z' });

    const cat = await cairn(['cat', f.store, names[0]!, 'work/a.txt'], env);
    expect(cat.stdout).toBe('one\n');
    const big = await run('bash', ['-c', `node "$CLI" cat "${f.store}" latest work/deep/er/random.bin | cmp - "${v2}/work/deep/er/random.bin"`], { ...env, CLI });
    expect(big.code, big.stderr).toBe(0);
    const folder = await cairn(['cat', f.store, 'latest', 'work'], env);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain('work is a folder, not a file');

    const found = JSON.parse((await cairn(['find', f.store, '*.txt', '--json'], env)).stdout) as { path: string; versions: { name: string; size: number }[] }[];
    expect(found.map((p) => `${p.path}:${p.versions.map((v) => `${v.name}/${v.size}`).join(',')}`)).toEqual([
      `work/a.txt:${names[0]}/4,${names[1]}/8`,
      `work/b.txt:${names[1]}/4`,
      `work/dup1.txt:${names[0]}/5,${names[1]}/5`,
      `work/dup2.txt:${names[0]}/5`,
    ]);
    const anchored = await cairn(['find', f.store, 'work/deep/**', '--snapshot', 'latest'], env);
    expect(anchored.stdout.split('\n').filter((l) => l.startsWith('work'))).toEqual(['work/deep', 'work/deep/a-link', 'work/deep/er', 'work/deep/er/random.bin', 'work/deep/sym']);

    const diff = JSON.parse((await cairn(['diff', f.store, names[0]!, names[1]!, '--json'], env)).stdout) as { changes: { path: string; kind: string; fields?: string[] }[] };
    expect(diff.changes.map((c) => `${c.kind} ${c.path}${c.fields ? ` ${c.fields.join(',')}` : ''}`)).toEqual([
      'metadata work mtime',
      'content work/a.txt',
      'added work/b.txt',
      'content work/deep/a-link',
      'metadata work/deep/er/random.bin mtime',
      'metadata work/dup1.txt mode',
      'removed work/dup2.txt',
    ]);
    const text = await cairn(['diff', f.store, names[0]!, 'latest', 'work/deep'], env);
    expect(text.stdout).toContain(': 0 added, 0 removed, 1 changed content, 1 changed metadata, 0 changed type');

    const stats = JSON.parse((await cairn(['stats', f.store, 'latest', '--json'], env)).stdout);
    expect(stats).toMatchObject({ files: 5, dirs: 5, others: 3, logicalBytes: 8 + 4 + 5 + 3_000_000 + 32 * 1024 * 1024 + 5 });
    expect(stats.dedupRatio).toBeGreaterThan(5); // the 32 MiB of zeros are stored once
    const store = JSON.parse((await cairn(['stats', f.store, '--json'], env)).stdout);
    expect(store.snapshots.map((s: { files: number }) => s.files)).toEqual([5, 5]);
    expect(store.store.storedBytes).toBeLessThanOrEqual(store.store.indexedBytes);
  });

  it('names bad references and paths clearly', async () => {
    const cases: [string[], number, string][] = [
      [['ls', f.store, 'nosuch'], 2, 'no snapshot is named nosuch'],
      [['ls', f.store, 'latest', 'work/nope'], 2, 'work/nope is not in this snapshot'],
      [['ls', f.store, 'latest', 'work/a.txt/x'], 2, 'work/a.txt is a file, not a folder'],
      [['restore', f.store, 'latest', out('r-bad'), '--path', '../etc'], 2, "cannot contain '..'"],
      [['restore', f.store, out('r-bad'), '--time', 'yesterday'], 2, '--time takes an age like 3D'],
      [['restore', f.store, out('r-bad'), '--time', '1990-01-01'], 2, 'no snapshot is as old as 1990-01-01'],
      [['verify', f.store, 'latest', out('nowhere')], 2, 'is not a folder'],
      [['restore', f.store, 'latest', path.join(f.dir, 'a-file')], 2, 'a-file is not a folder'],
      [['restore', f.store, 'latest', path.join(f.dir, 'a-file'), '--overwrite'], 2, 'a-file is not a folder'],
    ];
    await fs.writeFile(path.join(f.dir, 'a-file'), 'not a folder\n');
    for (const [args, code, message] of cases) {
      const r = await cairn(args, env);
      expect(r.stderr, args.join(' ')).not.toContain('bug in cairn');
      expect(r.stderr, args.join(' ')).toContain(message);
      expect(r.code, args.join(' ')).toBe(code);
    }
    expect(await fs.readFile(path.join(f.dir, 'a-file'), 'utf8')).toBe('not a folder\n');
  });

  it.skipIf(process.getuid?.() !== 0)('says when the target disk fills up, and exits 9 (a 1 MiB tmpfs; needs root to mount it)', async () => {
    const small = out('small-disk');
    await fs.mkdir(small);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      const r = await cairn(['restore', f.store, 'latest', path.join(small, 'r')], env);
      expect(r.stderr).toContain('cairn: the target disk is full: ENOSPC');
      expect(r.stderr).not.toContain('bug');
      expect(r.code, r.stderr).toBe(9);
    } finally {
      await run('umount', [small]);
    }
  });

  it('restores past a damaged chunk: names the file, restores the rest, exits 6', async () => {
    const damaged = out('store-damaged');
    await fs.cp(f.store, damaged, { recursive: true });
    // The largest data pack holds the random file's chunks.
    const packs: { file: string; size: number }[] = [];
    for (const sub of await fs.readdir(path.join(damaged, 'data'))) {
      for (const name of await fs.readdir(path.join(damaged, 'data', sub))) {
        const file = path.join(damaged, 'data', sub, name);
        packs.push({ file, size: (await fs.stat(file)).size });
      }
    }
    const biggest = packs.sort((a, b) => b.size - a.size)[0]!.file;
    const bytes = await fs.readFile(biggest);
    bytes[Math.floor(bytes.length / 3)]! ^= 0x01;
    await fs.writeFile(biggest, bytes);
    const r = await cairn(['restore', damaged, out('r-damaged')], env);
    expect(r.code, r.stderr).toBe(6);
    const named = [...r.stderr.matchAll(/^cairn: (\S+): damaged, restored with zeros in bytes/gm)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(0);
    // Every file not named is intact.
    const files = (await run('find', [out('r-damaged'), '-type', 'f', '-printf', '%P\\n'])).stdout.trim().split('\n');
    for (const file of files.filter((x) => !named.includes(x))) {
      expect(Buffer.compare(await fs.readFile(path.join(out('r-damaged'), file)), await fs.readFile(path.join(v2, file))), file).toBe(0);
    }
  });
});
