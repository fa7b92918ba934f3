/**
 * `cairn backup` through the real CLI: a real tree backed up, restored and compared (content,
 * metadata, hard links, xattrs, holes); a second backup after changing 2 % of the files reads
 * only those; the rest of the repository's tree (made through a mount) stays, with its file
 * identities; a running read-write mount or a mount's unsaved journal refuses the backup.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { readConfig } from '../../src/repository/repository.js';
import { cairn, CLI, run } from '../helpers/cli.js';
import { repositoryFixture } from '../helpers/fixture.js';
import { copyTree, expectEqualTrees, inMount, mount } from '../helpers/mount.js';

const env = { CAIRN_PASSWORD: 'back me up scotty' };

interface BackupJson {
  snapshot: string;
  newFiles: number;
  changedFiles: number;
  unchangedFiles: number;
  removed: number;
  bytesRead: number;
  addedBytes: number;
  problems: number;
  stats: { files: number; dirs: number; bytes: number };
}

describe('cairn backup', () => {
  const f = repositoryFixture('cairn-backup-', env);
  const src = () => path.join(f.dir, 'src');
  let firstAdded = 0;
  /** Keeps the default state folder (checked for a mount's unsaved journal) inside the test's folder. */
  const xdg = () => ({ ...env, XDG_STATE_HOME: path.join(f.dir, 'xdg') });
  const backup = async (...args: string[]) => {
    const r = await cairn(['backup', f.store, ...args, '--json'], xdg());
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as BackupJson;
  };

  it('keeps the rest of the tree, and restores to an exact copy of the source', async () => {
    // Something made through the mount first: it must survive the backup.
    const m = await mount(f.store, f.mnt, f.state, env);
    await inMount(f.mnt, `mkdir "$R/other"; echo mine > "$R/other/file"`);
    expect(await m.unmount()).toBe(0);

    const made = await run('bash', ['-c', `set -e; mkdir -p "${src()}"; cp -a /usr/share/doc/. "${src()}/doc"; cd "${src()}"
      mkdir -p x/y; echo hi > x/a; ln x/a x/y/hard; ln -s ../a x/y/sym; mkfifo x/fifo; mknod x/null c 1 3
      truncate -s 20M x/sparse; echo end >> x/sparse; setfattr -n user.k -v v x/a; chmod 4750 x/a; chown 1234:5678 x/y
      touch -h -d '2020-02-02 02:02:02.987654321' x/y/sym`]);
    expect(made.code, made.stderr).toBe(0);
    const first = await backup(src(), 'home/me');
    firstAdded = first.addedBytes;
    const files = Number((await run('bash', ['-c', `find "${src()}" -type f -printf '%i\\n' | sort -u | wc -l`])).stdout); // hard links once
    expect(first).toMatchObject({ newFiles: files, changedFiles: 0, unchangedFiles: 0, removed: 0, problems: 0 });

    const r = await cairn(['restore', f.store, path.join(f.dir, 'restored')], env);
    expect(r.code, r.stderr).toBe(0);
    expectEqualTrees(src(), path.join(f.dir, 'restored', 'home', 'me'));
    expect(await fs.readFile(path.join(f.dir, 'restored', 'other', 'file'), 'utf8')).toBe('mine\n');
    const verified = await cairn(['verify', f.store, path.join(f.dir, 'restored')], env);
    expect(verified.code, verified.stdout).toBe(0);

    // Folders' link counts are 2 + their subfolders as stored (FORMAT.md), in a fresh mount
    // that shows a folder's count before loading its entries (src/vfs/folder-loader.ts).
    const linkCounts = async (top: string) =>
      (await run('bash', ['-c', `cd "${top}" && find . -type d -printf '%p %n\\n' | sort`])).stdout;
    const again = await mount(f.store, f.mnt, f.state, env);
    try {
      const expected = await linkCounts(src());
      expect(expected.split('\n').length).toBeGreaterThan(100);
      expect(await linkCounts(path.join(f.mnt, 'home', 'me'))).toBe(expected);
    } finally {
      expect(await again.unmount()).toBe(0);
    }
  });

  it('a second backup after 2 % changed reads only those files and keeps file identities', async () => {
    const all = (await run('find', [src(), '-type', 'f', '-links', '1', '-size', '+0'])).stdout.trim().split('\n').sort();
    const changed = all.filter((_, i) => i % 50 === 7);
    let changedBytes = 0;
    for (const file of changed) {
      await fs.appendFile(file, 'changed\n');
      changedBytes += (await fs.stat(file)).size;
    }
    await fs.rm(path.join(src(), 'x', 'fifo'));
    // An xattr set on an otherwise unchanged folder moves only its ctime: it must be seen.
    expect((await run('setfattr', ['-n', 'user.new', '-v', '1', path.join(src(), 'x', 'y')])).code).toBe(0);
    // Identity: the inode number of an unchanged file in the mount stays the same.
    const keep = all.find((p) => !changed.includes(p))!;
    const inMountPath = path.join(f.mnt, 'home', 'me', path.relative(src(), keep));
    let m = await mount(f.store, f.mnt, f.state, env);
    const inoBefore = (await fs.stat(inMountPath)).ino;
    expect(await m.unmount()).toBe(0);

    const second = await backup(src(), 'home/me');
    expect(second).toMatchObject({ newFiles: 0, changedFiles: changed.length, removed: 1, bytesRead: changedBytes, problems: 0 });
    // Its totals (the old DEST's taken out, the new one's added) are what its trees hold.
    const counted = JSON.parse((await cairn(['stats', f.store, 'latest', '--json'], env)).stdout) as { files: number; dirs: number; logicalBytes: number };
    expect(counted.files).toBeGreaterThan(1000);
    expect(second.stats).toMatchObject({ files: counted.files, dirs: counted.dirs, bytes: counted.logicalBytes });
    // Their chunks and the folders above them: a small part of what the first backup stored.
    expect(second.addedBytes).toBeLessThan(firstAdded / 10);
    const y = (JSON.parse((await cairn(['ls', f.store, 'latest', 'home/me/x', '--json'], env)).stdout).entries as { path: string; xattrs?: string[] }[]).find((e) => e.path === 'home/me/x/y')!;
    expect(y.xattrs).toEqual(['user.new']);
    const third = await backup(src(), 'home/me');
    expect(third).toMatchObject({ changedFiles: 0, bytesRead: 0, addedBytes: 0 }); // nothing changed: nothing stored

    m = await mount(f.store, f.mnt, f.state, env);
    expect((await fs.stat(inMountPath)).ino).toBe(inoBefore);
    const diff = spawnSync('diff', ['-r', '--no-dereference', path.join(src(), 'doc'), path.join(f.mnt, 'home', 'me', 'doc')], { encoding: 'utf8' });
    expect(diff.stdout + diff.stderr).toBe('');
    expect(await fs.readFile(path.join(f.mnt, 'other', 'file'), 'utf8')).toBe('mine\n');

    // While a read-write mount runs, backup is refused and says what to do instead.
    const refused = await cairn(['backup', f.store, src(), 'home/me'], xdg());
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('rsync into that mount instead');
    expect(await m.unmount()).toBe(0);
  });

  it('refuses while a dead mount left unsaved changes, and works once they are saved', async () => {
    const { id } = await readConfig(new LocalBackend(f.store));
    const state = path.join(f.dir, 'xdg', 'cairn', Buffer.from(id).toString('hex'));
    const m = await mount(f.store, f.mnt, state, env);
    await inMount(f.mnt, `echo unsaved > "$R/other/late"; sync`);
    await m.kill();
    const refused = await cairn(['backup', f.store, src(), 'home/me'], xdg());
    expect(refused.code).toBe(12);
    expect(refused.stderr).toContain('unsaved change(s)');
    const again = await mount(f.store, f.mnt, state, env);
    expect(await again.unmount()).toBe(0);
    await backup(src(), 'home/me');
    const cat = await cairn(['cat', f.store, 'latest', 'other/late'], env);
    expect(cat.stdout).toBe('unsaved\n');
  });

  it('a journal overtaken by a backup is not replayed silently: refused, then --salvage keeps both', async () => {
    // A mount with its own --state-dir is not seen by backup (it checks the default one).
    const state = path.join(f.dir, 'elsewhere');
    const m = await mount(f.store, f.mnt, state, env);
    await inMount(f.mnt, `echo from-the-crashed-mount > "$R/other/crashed"; sync`);
    await m.kill();
    await fs.writeFile(path.join(src(), 'from-backup'), 'from the backup');
    await backup(src(), 'home/me');
    const refused = await mount(f.store, f.mnt, state, env).then(async (again) => {
      await again.unmount();
      return '';
    }, (e: Error) => e.message);
    expect(refused).toContain('exited with 12');
    expect(refused).toMatch(/holds \d+ unsaved change\(s\) to snapshot \w+, but 1 newer snapshot\(s\) were saved since/);
    expect(refused).toContain('--salvage');
    // Nothing changed on the store by the refusal.
    expect((await cairn(['cat', f.store, 'latest', 'home/me/from-backup'], env)).stdout).toBe('from the backup');

    const salvaged = await mount(f.store, f.mnt, state, env, ['--salvage']);
    expect(salvaged.log()).toContain('salvaged');
    expect(await fs.readFile(path.join(f.mnt, 'other', 'crashed'), 'utf8')).toBe('from-the-crashed-mount\n');
    // The backup's change is in history, not lost.
    const list = JSON.parse((await cairn(['snapshots', f.store, '--json'], env)).stdout) as { id: string; tags: string[] }[];
    expect(list[list.length - 1]!.tags).toEqual(['salvaged']);
    expect((await cairn(['cat', f.store, list[list.length - 2]!.id, 'home/me/from-backup'], env)).stdout).toBe('from the backup');
    expect(await salvaged.unmount()).toBe(0);
    await fs.rm(path.join(src(), 'from-backup'));
  });

  it('leaves out excluded names and paths, and the whole tree can be the destination', async () => {
    const patterns = path.join(f.dir, 'excludes');
    await fs.writeFile(patterns, '# comment\n\n*.gz\n');
    const result = await backup(src(), '/', '--exclude', 'doc/git/', '--exclude-file', patterns, '--tag', 'whole');
    expect(result.problems).toBe(0);
    const listing = (await cairn(['ls', f.store, 'latest', '-R'], env)).stdout.trim().split('\n');
    expect(listing.filter((p) => p.endsWith('.gz'))).toEqual([]);
    expect(listing.filter((p) => p === 'doc/git' || p.startsWith('doc/git/'))).toEqual([]);
    expect(listing).toContain('doc/git-man'); // a folder only of that name
    expect(listing).toContain('x/y/hard');
    expect(listing).not.toContain('other'); // the whole tree is now the source
    const snapshots = JSON.parse((await cairn(['snapshots', f.store, '--json'], env)).stdout) as { tags: string[] }[];
    expect(snapshots[snapshots.length - 1]!.tags).toEqual(['whole']);
    const restored = path.join(f.dir, 'restored-whole');
    expect((await cairn(['restore', f.store, restored], env)).code).toBe(0);
    const diff = spawnSync('diff', ['-r', '--no-dereference', '-x', '*.gz', '-x', 'git', src(), restored], { encoding: 'utf8' });
    expect(diff.stdout.split('\n').filter((l) => l && !/is a fifo while|is a character special file while/.test(l))).toEqual([]);
    // The top folder's own metadata came from the source.
    expect((await fs.stat(restored)).mode & 0o7777).toBe((await fs.stat(src())).mode & 0o7777);
  });

  it('counts the bytes it added once, however many files hold them (reader threads, many files to a message)', async () => {
    const random = randomBytes(300_000);
    const text = Buffer.from('the same small file, many times over\n'.repeat(60));
    const added = async (copies: number) => {
      const dir = path.join(f.dir, `dups-${copies}`);
      await fs.mkdir(dir);
      for (let i = 0; i < copies; i++) {
        await fs.writeFile(path.join(dir, `big-${i}`), random);
        await fs.writeFile(path.join(dir, `small-${i}`), text);
      }
      const store = path.join(f.dir, `dups-store-${copies}`);
      expect((await cairn(['init', store], env)).code).toBe(0);
      const r = await cairn(['backup', store, dir, '/', '--json'], xdg());
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as BackupJson;
      expect(report.newFiles).toBe(2 * copies);
      return report.addedBytes;
    };
    const once = await added(1);
    const many = await added(40);
    expect(once).toBeGreaterThan(random.length);
    // The same two blobs either way; only the folder's tree grows with the names.
    expect(many - once).toBeGreaterThanOrEqual(0);
    expect(many - once).toBeLessThan(8192);
  });

  it('names bad sources and destinations', async () => {
    const cases: [string[], number, string][] = [
      [[path.join(f.dir, 'nope'), 'a'], 2, 'is not a folder'],
      [[src(), 'x/a/below'], 2, 'x/a is a file in the newest snapshot, not a folder'],
      [[src(), 'a/../b'], 2, "cannot contain '..'"],
      [[src(), 'a', '--exclude-file', path.join(f.dir, 'missing')], 2, 'cannot read the exclude file'],
    ];
    for (const [args, code, message] of cases) {
      const r = await cairn(['backup', f.store, ...args], xdg());
      expect(r.stderr, args.join(' ')).toContain(message);
      expect(r.code, args.join(' ')).toBe(code);
    }
  });

  it.skipIf(process.getuid?.() !== 0)('names what it cannot read, keeps its previous version, stores the rest and exits 14 (a second user via setpriv)', async () => {
    // As a second user (root reads everything): a store, a home and a source of its own.
    const home = path.join(f.dir, 'user4242');
    const user = ['setpriv', '--reuid=4242', '--regid=4242', '--clear-groups', 'env', `HOME=${home}`, `CAIRN_PASSWORD=${env.CAIRN_PASSWORD}`];
    await fs.mkdir(path.join(home, 'src', 'closed'), { recursive: true });
    await fs.writeFile(path.join(home, 'src', 'secret'), 'old secret');
    await fs.writeFile(path.join(home, 'src', 'open'), 'open');
    await fs.writeFile(path.join(home, 'src', 'closed', 'inside'), 'inside');
    expect((await run('chown', ['-R', '4242:4242', home])).code).toBe(0);
    const cli = (args: string) => run(user[0]!, [...user.slice(1), process.execPath, CLI, ...args.split(' ').map((a) => (a === 'store' || a === 'src' ? path.join(home, a) : a))]);
    const init = await cli("init store");
    expect(init.code, init.stderr).toBe(0);
    const first = await cli("backup store src data");
    expect(first.code, first.stderr).toBe(0);
    await fs.writeFile(path.join(home, 'src', 'secret'), 'new secret');
    await fs.writeFile(path.join(home, 'src', 'open'), 'open, changed');
    await fs.chown(path.join(home, 'src', 'secret'), 0, 0);
    await fs.chmod(path.join(home, 'src', 'secret'), 0o600);
    await fs.chown(path.join(home, 'src', 'closed'), 0, 0);
    await fs.chmod(path.join(home, 'src', 'closed'), 0o700);
    const partial = await cli('backup store src data');
    expect(partial.code, partial.stderr).toBe(14);
    expect(partial.stderr).toMatch(/^cairn: secret: cannot read: .*EACCES.*; kept the previous version$/m);
    expect(partial.stderr).toMatch(/^cairn: closed: cannot read: .*EACCES.*; kept the previous version$/m);
    expect(partial.stderr).toContain('2 file(s) or folder(s) could not be read');
    const cat = async (p: string) => (await cli(`cat store latest data/${p}`)).stdout;
    expect(await cat('secret')).toBe('old secret');
    expect(await cat('closed/inside')).toBe('inside');
    expect(await cat('open')).toBe('open, changed');
  });
});
