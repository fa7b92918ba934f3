/**
 * The progress line on a real terminal (script(1) gives the command a pty): `check
 * --read-data` draws one updating bar with packs, bytes, rate and reaches 100 %; without a
 * terminal the same run prints no bar at all. Restore, unmount and prune draw theirs too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { archiveDirectory } from '../../src/repository/archiver.js';
import { Repository } from '../../src/repository/repository.js';
import { CLI, cairn, run } from '../helpers/cli.js';
import { mount, unmountAll } from '../helpers/mount.js';
import { passphrase, tempDir } from '../helpers/store.js';

describe('progress on a terminal', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cairn-progress-'));
    store = path.join(dir, 'store');
    const source = path.join(dir, 'source');
    await fs.mkdir(source);
    for (let i = 0; i < 4; i++) await fs.writeFile(path.join(source, `f${i}`), randomBytes(3 * 1024 * 1024));
    const repo = await Repository.init(new LocalBackend(store), passphrase('progress pass'));
    await archiveDirectory(repo, source);
    await repo.close();
  });
  afterAll(async () => {
    await unmountAll();
    await cleanup();
  });

  it('check --read-data draws one bar to 100 % on a terminal, and none without one', async () => {
    const onTerminal = await run('script', ['-qec', `"${process.execPath}" "${CLI}" check --read-data "${store}"`, '/dev/null'], { CAIRN_PASSWORD: 'progress pass' });
    expect(onTerminal.code, onTerminal.stdout).toBe(0);
    const text = onTerminal.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(text).toMatch(/cairn: reading data \[[█░]+\] 100% \| \d+ of \d+ packs, [\d.]+ MiB of [\d.]+ MiB \| [\d.]+ \w+\/s/);
    expect(text).toContain('no errors: every byte verified');

    const plain = await cairn(['check', '--read-data', store], { CAIRN_PASSWORD: 'progress pass' });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).not.toContain('[');
    expect(plain.stdout).toContain('no errors: every byte verified');
  });

  it('restore of a whole snapshot draws one bar to 100 %, its totals from the snapshot, not a walk', async () => {
    const restored = path.join(dir, 'restore-store');
    const repo = await Repository.init(new LocalBackend(restored), passphrase('progress pass'));
    const archived = await archiveDirectory(repo, path.join(dir, 'source'));
    await repo.saveSnapshot({ tree: archived.tree, stats: archived.stats, nextFileId: archived.nextFileId });
    await repo.close();
    const target = path.join(dir, 'restored');
    const onTerminal = await run('script', ['-qec', `"${process.execPath}" "${CLI}" restore "${restored}" "${target}"`, '/dev/null'], { CAIRN_PASSWORD: 'progress pass' });
    expect(onTerminal.code, onTerminal.stdout).toBe(0);
    const text = onTerminal.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(text).toMatch(/cairn: restoring \[█+\] 100% \| 4 of 4 files, 12\.0 MiB of 12\.0 MiB \| [\d.]+ \w+\/s/);
    expect(text).toMatch(/restored \d+ entries \(4 files, 12\.0 MiB\)/);
  });

  it('unmount of a local store with much staged data draws one bar while the mount saves it', async () => {
    const mnt = path.join(dir, 'mnt');
    const m = await mount(store, mnt, path.join(dir, 'state'), { CAIRN_PASSWORD: 'progress pass' });
    // Sized first, then filled (as torrent clients and databases do): the streaming commit
    // reads ahead of the writer and ends at its second write, so the whole file is left for
    // unmount to save. (Written front to back, its stream would have committed most of it.)
    expect((await run('truncate', ['-s', '400M', path.join(mnt, 'big.bin')])).code).toBe(0);
    expect((await run('dd', ['if=/dev/urandom', `of=${path.join(mnt, 'big.bin')}`, 'bs=1M', 'count=400', 'conv=notrunc', 'status=none'])).code).toBe(0);
    const exited = new Promise((r) => m.child.once('exit', r));
    const onTerminal = await run('script', ['-qec', `"${process.execPath}" "${CLI}" unmount "${mnt}"`, '/dev/null']);
    await exited;
    expect(onTerminal.code, onTerminal.stdout).toBe(0);
    const text = onTerminal.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    // The total is what is left to chunk: the stream may have read a step before it ended.
    expect(text).toMatch(/cairn: saving \[[█░]+\] \d+% \| [01] of 1 files, [\d.]+ MiB of (39\d|400)\.0 MiB/);
    expect(text).toMatch(/saving \[█+\] 100% \| 1 of 1 files, (39\d|400)\.0 MiB of \1\.0 MiB/);
    // The mount answered status while it saved: the bar moved in between.
    expect(text).toMatch(/saving \[█*░+\] [1-9]\d?% \|/);
    expect((await cairn(['check', store], { CAIRN_PASSWORD: 'progress pass' })).code).toBe(0);
  }, 120_000);

  it('prune draws one bar for the repacking, to 100 %', async () => {
    const pruned = path.join(dir, 'pruned');
    const source = path.join(dir, 'prune-source');
    await fs.mkdir(source);
    for (let i = 0; i < 4; i++) await fs.writeFile(path.join(source, `f${i}`), randomBytes(2 * 1024 * 1024));
    const repo = await Repository.init(new LocalBackend(pruned), passphrase('progress pass'));
    const first = await archiveDirectory(repo, source);
    const old = await repo.saveSnapshot({ tree: first.tree, stats: first.stats, nextFileId: first.nextFileId });
    await fs.rm(path.join(source, 'f0'));
    await fs.rm(path.join(source, 'f1'));
    const second = await archiveDirectory(repo, source);
    await repo.saveSnapshot({ tree: second.tree, stats: second.stats, nextFileId: second.nextFileId });
    await repo.close();
    expect((await cairn(['forget', pruned, old.id], { CAIRN_PASSWORD: 'progress pass' })).code).toBe(0);

    const onTerminal = await run('script', ['-qec', `"${process.execPath}" "${CLI}" prune "${pruned}"`, '/dev/null'], { CAIRN_PASSWORD: 'progress pass' });
    expect(onTerminal.code, onTerminal.stdout).toBe(0);
    const text = onTerminal.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    // How many packs hold the deleted files' chunks depends on how the backup interleaved
    // the files; the bar must end at all of them.
    const repacked = /(\d+) repacked into \d+/.exec(text);
    expect(repacked, text).not.toBeNull();
    expect(Number(repacked![1])).toBeGreaterThan(0);
    expect(text).toMatch(new RegExp(`cairn: repacking \\[[█░]+\\] 100% \\| ${repacked![1]} of ${repacked![1]} packs, [\\d.]+ MiB of [\\d.]+ MiB \\| [\\d.]+ \\w+/s`));
  });
});
