/**
 * What a mount promises when things go wrong: kill -9 during a copy loses no file that was
 * closed before the kill, and the store stays consistent; a second writer is refused.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../src/cli/exit-codes.js';
import { repositoryFixture } from '../helpers/fixture.js';
import { cairn, run } from '../helpers/cli.js';
import { mount } from '../helpers/mount.js';

const env = { CAIRN_PASSWORD: 'durability test' };

describe('a mount under failure', () => {
  const f = repositoryFixture('cairn-durability-', env);

  it('keeps every file closed before kill -9 of the daemon, and the store passes check --read-data', async () => {
    const mnt = path.join(f.dir, 'mnt');
    const state = path.join(f.dir, 'state');
    const done = path.join(f.dir, 'done.txt');
    const m = await mount(f.store, mnt, state, env);
    await fs.mkdir(path.join(mnt, 'copy'));
    // Copy files one by one; a name goes into done.txt only after cp closed the file.
    const copier = spawn('bash', ['-c', `
      find /usr/share/doc -type f -size -2M | sort | head -3000 | while IFS= read -r f; do
        name=$(echo "$f" | tr / _)
        cp "$f" "${mnt}/copy/$name" 2>/dev/null && echo "$f" >> "${done}" || exit 0
      done`], { stdio: 'ignore' });
    const copierDone = new Promise((resolve) => copier.on('exit', resolve));
    // Let it get well into the copy, then kill the daemon without warning.
    while (!existsSync(done) || (await fs.readFile(done, 'utf8')).split('\n').filter(Boolean).length < 300) await new Promise((r) => setTimeout(r, 100));
    await m.kill();
    copier.kill('SIGKILL');
    await copierDone;

    const closed = (await fs.readFile(done, 'utf8')).split('\n').filter(Boolean);
    expect(closed.length).toBeGreaterThanOrEqual(300);
    const again = await mount(f.store, mnt, state, env);
    expect(again.log()).toMatch(/replayed \d+ change/);
    for (const original of closed) {
      const copy = path.join(mnt, 'copy', original.replaceAll('/', '_'));
      expect((await fs.readFile(copy)).equals(await fs.readFile(original)), copy).toBe(true);
    }
    expect(await again.unmount()).toBe(0);
    const check = await cairn(['check', f.store, '--read-data'], env);
    expect(check.stdout).toMatch(/no errors/);
    expect(check.code).toBe(0);
  }, 300_000);

  it('refuses a second read-write mount, naming the holder, with exit code 5', async () => {
    const first = await mount(f.store, path.join(f.dir, 'mnt1'), path.join(f.dir, 'state1'), env);
    await fs.mkdir(path.join(f.dir, 'mnt2'), { recursive: true });
    const second = await run(process.execPath, [path.resolve(__dirname, '../../dist/src/cli/main.js'), 'mount', f.store, path.join(f.dir, 'mnt2'), '--state-dir', path.join(f.dir, 'state2')], env);
    expect(second.code).toBe(EXIT.locked);
    expect(second.stderr).toMatch(new RegExp(`in use by .*pid ${first.child.pid}`));
    expect(await first.unmount()).toBe(0);
  }, 120_000);

  it('cairn unlock removes a lock whose process is gone, asks first, and keeps a live one unless --all', async () => {
    const locks = path.join(f.store, 'locks');
    const dist = path.resolve(__dirname, '../../dist/src');
    // A process that takes the lock and dies without releasing it.
    const script = `
      const { LocalBackend } = await import('${dist}/backend/local.js');
      const { Repository } = await import('${dist}/repository/repository.js');
      const { RepositoryLock } = await import('${dist}/repository/lock.js');
      const repo = await Repository.open(new LocalBackend(${JSON.stringify(f.store)}), { kind: 'passphrase', passphrase: ${JSON.stringify(env.CAIRN_PASSWORD)} });
      await RepositoryLock.acquire(repo, 'write');
      process.exit(0);`;
    expect((await run(process.execPath, ['--input-type=module', '-e', script])).code).toBe(0);
    expect((await fs.readdir(locks)).length).toBe(1);

    const unconfirmed = await cairn(['unlock', f.store], env);
    expect(unconfirmed.code).toBe(EXIT.usage);
    expect(unconfirmed.stdout).toMatch(/remove: .*its process is gone/);
    expect((await fs.readdir(locks)).length).toBe(1);

    const confirmed = await cairn(['unlock', f.store, '--yes'], env);
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout).toMatch(/removed 1 lock/);
    expect(await fs.readdir(locks)).toEqual([]);

    const live = await mount(f.store, path.join(f.dir, 'mnt-live'), path.join(f.dir, 'state-live'), env);
    const kept = await cairn(['unlock', f.store, '--yes'], env);
    expect(kept.stdout).toMatch(/keep: .*alive/);
    expect((await fs.readdir(locks)).length).toBe(1);
    expect(await live.unmount()).toBe(0);
    expect(await fs.readdir(locks)).toEqual([]);
  }, 120_000);

  it('refuses a mountpoint that holds files, and a runtime folder another user owns, saying why (exit 2)', async () => {
    const full = path.join(f.dir, 'not-empty');
    await fs.mkdir(full);
    await fs.writeFile(path.join(full, 'keep.txt'), 'mine');
    const cli = path.resolve(__dirname, '../../dist/src/cli/main.js');
    const refused = await run(process.execPath, [cli, 'mount', f.store, full, '--state-dir', path.join(f.dir, 'state-ne')], env);
    expect(refused.code).toBe(EXIT.usage);
    expect(refused.stderr).toMatch(/is not empty; mounting over it would hide its files/);
    expect(await fs.readdir(full)).toEqual(['keep.txt']);

    const runtime = path.join(f.dir, 'runtime');
    await fs.mkdir(runtime, { mode: 0o777 });
    await fs.chown(runtime, 12345, 12345);
    await fs.mkdir(path.join(f.dir, 'mnt-rt'));
    const planted = await run(process.execPath, [cli, 'mount', f.store, path.join(f.dir, 'mnt-rt'), '--state-dir', path.join(f.dir, 'state-rt')], { ...env, XDG_RUNTIME_DIR: runtime });
    expect(planted.code).toBe(EXIT.usage);
    expect(planted.stderr).toMatch(/owned by uid 12345, not by you.*does not trust it/s);
  });
});
