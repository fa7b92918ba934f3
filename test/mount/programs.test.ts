/**
 * Programs that lean hard on POSIX semantics, run inside a real mount: git (many small
 * files, renames, fsync), sqlite (journals, fsync, in-place page writes), and a random
 * writer checked byte for byte against a reference file on the local disk.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomInt } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { cairn, run } from '../helpers/cli.js';
import { metadataListing, mount, type RunningMount } from '../helpers/mount.js';
import { repositoryFixture } from '../helpers/fixture.js';

const env = { CAIRN_PASSWORD: 'programs test' };
const gitEnv = { GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.org', HOME: '/tmp' };

describe('real programs inside a mount', () => {
  const f = repositoryFixture('cairn-programs-', env);
  let m: RunningMount;

  beforeAll(async () => {
    m = await mount(f.store, f.mnt, f.state, env);
  });

  const sh = async (script: string, cwd = f.mnt) => {
    const r = await run('bash', ['-c', `set -e; cd "${cwd}"; ${script}`], gitEnv);
    expect(r.code, `${script}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };

  it('git init, add, commit, clone, and fsck', async () => {
    await sh(`git init -q repo && cp -r /usr/share/doc/git/RelNotes repo/notes && cd repo && git add . && git commit -qm first
      git mv notes moved && echo change >> moved/1.5.0.txt && git commit -qam second && git gc -q && git fsck --strict`);
    await sh('git clone -q repo clone && cd clone && git fsck --strict && git log --oneline | wc -l');
    expect((await sh('cd clone && git log --oneline | wc -l')).trim()).toBe('2');
  }, 120_000);

  it('tar extracts into the mount and archives out of it, preserving the tree', async () => {
    const source = '/usr/share/doc/git';
    const out = path.join(f.dir, 'untarred');
    await fs.mkdir(out);
    await sh(`mkdir tarred && tar --format=posix -C ${source} -cf - . | tar -C tarred -xpf -`);
    const into = await run('diff', ['-r', '--no-dereference', source, path.join(f.mnt, 'tarred')]);
    expect(into.stdout + into.stderr).toBe('');
    expect(metadataListing(path.join(f.mnt, 'tarred'))).toBe(metadataListing(source));
    await sh(`tar --format=posix -C tarred -cf - . | tar -C "${out}" -xpf -`);
    const outOf = await run('diff', ['-r', '--no-dereference', source, out]);
    expect(outOf.stdout + outOf.stderr).toBe('');
    expect(metadataListing(out)).toBe(metadataListing(source));
  }, 120_000);

  it('sqlite creates, updates and passes integrity_check', async () => {
    const sql = `PRAGMA journal_mode=DELETE; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 20000) INSERT INTO t SELECT i, hex(randomblob(40)) FROM n;
      UPDATE t SET v = v || 'x' WHERE id % 7 = 0; DELETE FROM t WHERE id % 11 = 0; VACUUM;`;
    await sh(`sqlite3 db.sqlite "${sql}"`);
    await sh(`sqlite3 wal.sqlite "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);"`);
    expect((await sh('sqlite3 db.sqlite "PRAGMA integrity_check; SELECT count(*) FROM t;"')).trim()).toBe('ok\n18182');
  }, 120_000);

  it('random writes and truncates match a reference file, before and after remount', async () => {
    const reference = path.join(f.dir, 'reference.bin');
    const target = path.join(f.mnt, 'random.bin');
    const initial = randomBytes(24 * 1024 * 1024);
    await fs.writeFile(reference, initial);
    await fs.writeFile(target, initial);
    const ref = await fs.open(reference, 'r+');
    const tgt = await fs.open(target, 'r+');
    for (let op = 0; op < 400; op++) {
      const size = (await ref.stat()).size;
      const kind = randomInt(100);
      if (kind < 80) {
        const length = randomInt(1, 200_000);
        const offset = randomInt(0, size + 1_000_000);
        const data = randomBytes(length);
        await ref.write(data, 0, length, offset);
        await tgt.write(data, 0, length, offset);
      } else if (kind < 95) {
        const length = randomInt(0, size + 2_000_000);
        await ref.truncate(length);
        await tgt.truncate(length);
      } else {
        await tgt.sync();
      }
    }
    await ref.close();
    await tgt.close();
    const expected = await fs.readFile(reference);
    expect((await fs.readFile(target)).equals(expected)).toBe(true);
    expect(await m.unmount()).toBe(0);
    m = await mount(f.store, f.mnt, f.state, env);
    expect((await fs.readFile(target)).equals(expected)).toBe(true);
    expect((await sh('sqlite3 db.sqlite "PRAGMA integrity_check;"')).trim()).toBe('ok');
    await sh('cd clone && git fsck --strict');
    expect(await m.unmount()).toBe(0);
    const check = await cairn(['check', f.store, '--read-data'], env);
    expect(check.code, check.stdout).toBe(0);
  }, 300_000);
});
