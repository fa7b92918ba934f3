/**
 * A mount on an SFTP store served by a real OpenSSH sshd: rsync in, unmount, lose the cache
 * and mount again as a second machine would; the server stopped in the middle of a copy
 * (the copy finishes, `cairn status` shows the queue, the queue drains when the server is
 * back); one writer at a time with read-only mounts beside it; nothing readable on the server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { MountStatus } from '../../src/control/protocol.js';
import { cairn, run } from '../helpers/cli.js';
import { metadataListing, mount, unmountAll } from '../helpers/mount.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { tempDir } from '../helpers/store.js';

/** What `cairn status --json` answers (src/control/protocol.ts MountStatus). */
type Status = MountStatus;

describe('mount on an SFTP store (real sshd)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let sshd: TestSshd;
  let serverFolder: string;
  let store: string;
  let env: Record<string, string>;
  let source: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cairn-sftp-mount-'));
    sshd = await startSshd(path.join(dir, 'sshd'));
    serverFolder = path.join(dir, 'server', 'store');
    store = sshd.url(serverFolder);
    env = { HOME: sshd.home, CAIRN_PASSWORD: 'remote half', SSH_AUTH_SOCK: '', CAIRN_DEBUG_SFTP: '1' };
    expect((await cairn(['init', store], env)).code).toBe(0);
    // A real tree with a recognisable file name and content, and a larger file.
    source = path.join(dir, 'source');
    expect(spawnSync('cp', ['-a', '/usr/share/doc/git/RelNotes', path.join(source)]).status).toBe(0);
    await fs.writeFile(path.join(source, 'secret-plans-2026.txt'), 'the treasure is buried under the old oak tree\n'.repeat(100));
    expect(spawnSync('sh', ['-c', `head -c 6000000 /dev/urandom > "${source}/random.bin"`]).status).toBe(0);
  });
  // A failed test must not leave its mount (and its lock) or a stopped server to the next.
  afterEach(async () => {
    await unmountAll();
    await sshd.start();
  });
  afterAll(async () => {
    await unmountAll();
    await sshd.start().catch(() => undefined);
    await sshd.stop();
    await cleanup();
  });

  const status = async (mnt: string): Promise<Status> => {
    const r = await cairn(['status', mnt, '--json'], env);
    const parsed = JSON.parse(r.stdout) as Status;
    // Non-zero exactly while the mount cannot save: an unreachable server exits 4.
    expect(r.code, r.stderr).toBe(parsed.problem ? EXIT.unreachable : 0);
    return parsed;
  };
  /** The daemon's log goes into the error, so a failure says what the mount was doing. */
  let daemonLog: () => string = () => '';
  const until = async (what: string, test: () => Promise<boolean>, seconds = 90) => {
    const deadline = Date.now() + seconds * 1000;
    while (!(await test())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the mount said:\n${daemonLog().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const sameTree = (a: string, b: string) => {
    const diff = spawnSync('diff', ['-r', '--no-dereference', a, b], { encoding: 'utf8' });
    expect(diff.stdout + diff.stderr).toBe('');
    expect(metadataListing(b, true)).toBe(metadataListing(a, true));
  };

  it('rsyncs a tree in; after losing the cache a second machine sees everything; the server holds no plaintext', async () => {
    const mnt = path.join(dir, 'mnt');
    const cacheA = path.join(dir, 'cache-a');
    const m = await mount(store, mnt, path.join(dir, 'state-a'), env, ['--cache-dir', cacheA]);
    const r = await run('rsync', ['-aH', `${source}/`, `${mnt}/tree/`]);
    expect(r.code, r.stderr).toBe(0);
    expect(await m.unmount()).toBe(0);
    await fs.rm(cacheA, { recursive: true });

    const other = await mount(store, mnt, path.join(dir, 'state-b'), env, ['--cache-dir', path.join(dir, 'cache-b')]);
    sameTree(source, path.join(mnt, 'tree'));
    expect(await other.unmount()).toBe(0);

    // A second read does not touch the network: mount again with that cache, stop the
    // server, drop the kernel's page cache, and read everything again.
    const cachedMount = await mount(store, mnt, path.join(dir, 'state-b'), env, ['--cache-dir', path.join(dir, 'cache-b')]);
    await sshd.stop();
    try {
      spawnSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
      sameTree(source, path.join(mnt, 'tree'));
    } finally {
      await sshd.start();
    }
    expect(await cachedMount.unmount()).toBe(0);

    // Names and contents never appear on the server, not even in part.
    for (const needle of ['secret-plans', 'treasure is buried', 'RelNotes', '1.5.0.txt']) {
      const grep = spawnSync('grep', ['-r', '-l', '-a', needle, serverFolder], { encoding: 'utf8' });
      expect(grep.stdout, needle).toBe('');
      const names = spawnSync('find', [serverFolder, '-name', `*${needle}*`], { encoding: 'utf8' });
      expect(names.stdout, needle).toBe('');
    }
  });

  it('keeps working while the server is down: the copy finishes, the queue shows and drains when it is back', async () => {
    const mnt = path.join(dir, 'mnt2');
    onTestFinished(() => sshd.start());
    const m = await mount(store, mnt, path.join(dir, 'state-c'), env, ['--cache-dir', path.join(dir, 'cache-c')]);
    daemonLog = m.log;
    // Folders load on first use; the mount caches every folder's tree in the background so
    // they stay browsable offline (src/repository/tree-walk.ts readEveryTree).
    await until('the folder trees to be cached', async () => /folder tree\(s\) cached locally/.test(m.log()), 60);
    // New content (a copy of what the store has would only dedup) and a copy of the tree;
    // the server goes away while it is being written.
    const copying = run('sh', ['-c', `set -e; head -c 5000000 /dev/urandom > "${dir}/new.bin"; cp -a "${source}" "${mnt}/offline-copy"; cp -p "${dir}/new.bin" "${mnt}/offline-copy/new.bin"`]);
    await new Promise((r) => setTimeout(r, 150));
    await sshd.stop();
    const copy = await copying;
    expect(copy.code, copy.stderr).toBe(0);
    // Never opened in this mount, yet every folder lists with its entries' attributes.
    const listing = (top: string) => spawnSync('bash', ['-c', `cd "${top}" && find . \\( -type d -printf '%p dir %m\\n' \\) -o -printf '%p %y %s %m\\n' | sort`], { encoding: 'utf8' });
    const offlineListing = listing(path.join(mnt, 'tree'));
    expect(offlineListing.stderr).toBe('');
    expect(offlineListing.stdout).toBe(listing(source).stdout);
    await fs.rename(path.join(dir, 'new.bin'), path.join(source, 'new.bin'));
    // The commits fail over to the queue once the store stays unreachable.
    await until('a queued upload', async () => ((await status(mnt)).uploads?.queuedObjects ?? 0) > 0);
    const offline = await status(mnt);
    expect(offline.uploads!.connection).toBe('offline');
    expect(offline.problem?.code).toBe('UNREACHABLE');
    expect(offline.uploads!.lastError).toMatch(/127\.0\.0\.1/);
    const human = await cairn(['status', mnt], env);
    expect(human.stdout).toMatch(/queued: +\d+ object\(s\)/);
    // What was written reads back while the server is away: it is in the queue. (Data only
    // the server holds and this cache never saw fails with EIO after the retries.)
    expect(spawnSync('cmp', [path.join(source, 'new.bin'), path.join(mnt, 'offline-copy', 'new.bin')]).status).toBe(0);

    // Unmount waits for the queue, saying what it waits for; it finishes once the server is back.
    const exited = new Promise<number>((resolve) => m.child.once('exit', (code) => resolve(code ?? -1)));
    let unmountDone = false;
    const unmounting = cairn(['unmount', mnt], env).then((r) => ((unmountDone = true), r));
    await until('the unmount to report the queue', async () => /uploading: .*offline/.test(m.log()), 60);
    expect(unmountDone).toBe(false);
    await sshd.start();
    const unmounted = await unmounting;
    expect(unmounted.code, unmounted.stderr).toBe(0);
    expect(await exited).toBe(0);

    const fresh = await mount(store, mnt, path.join(dir, 'state-d'), env, ['--cache-dir', path.join(dir, 'cache-d')]);
    sameTree(source, path.join(mnt, 'offline-copy'));
    await fs.rm(path.join(source, 'new.bin'));
    sameTree(source, path.join(mnt, 'tree'));
    expect(await fresh.unmount()).toBe(0);
    expect((await cairn(['check', '--read-data', store], env)).code).toBe(0);
  });

  it('makes writers wait at the cache budget while the server is away, and --no-wait keeps the queue for the next mount', async () => {
    const mnt = path.join(dir, 'mnt4');
    const cache = path.join(dir, 'cache-h');
    const state = path.join(dir, 'state-h');
    onTestFinished(() => sshd.start());
    const big = path.join(dir, 'pressure.bin');
    expect(spawnSync('sh', ['-c', `head -c 40000000 /dev/urandom > "${big}"`]).status).toBe(0);
    const m = await mount(store, mnt, state, env, ['--cache-dir', cache, '--cache-size', '16M']);
    daemonLog = m.log;
    await sshd.stop();
    const writer = spawn('cp', [big, path.join(mnt, 'pressure.bin')]);
    const writerDone = new Promise<number>((resolve) => writer.on('exit', (code) => resolve(code ?? -1)));
    await until('uploads to queue up', async () => ((await status(mnt)).uploads?.queuedBytes ?? 0) > 0);
    await new Promise((r) => setTimeout(r, 3000));
    // 40 MB cannot fit a 16 MiB budget while nothing leaves: the writer waits, it does not fail.
    expect(writer.exitCode).toBeNull();
    const waiting = await status(mnt);
    expect(waiting.uploads!.queuedBytes).toBeLessThanOrEqual(16 * 1024 * 1024);
    await sshd.start();
    expect(await writerDone).toBe(0);
    // A snapshot commits everything and returns once it is on the server.
    expect((await cairn(['snapshot', mnt], env)).code).toBe(0);
    await until('the queue to drain', async () => (await status(mnt)).uploads?.queuedObjects === 0);

    // Away again: a new file queues; unmount --no-wait returns without sending it.
    await sshd.stop();
    await fs.writeFile(path.join(mnt, 'late.txt'), `written while away ${Date.now()}\n`);
    await until('the late file to queue', async () => ((await status(mnt)).uploads?.queuedObjects ?? 0) > 0);
    const exited = new Promise((resolve) => m.child.once('exit', resolve));
    const noWait = await cairn(['unmount', '--no-wait', mnt], env);
    expect(noWait.code, noWait.stderr).toBe(0);
    await exited;
    expect(m.log()).toMatch(/upload\(s\) stay queued in the cache folder/);
    expect((await fs.readdir(path.join(cache, 'queue'))).length).toBeGreaterThan(0);

    await sshd.start();
    const again = await mount(store, mnt, state, env, ['--cache-dir', cache]);
    expect(again.log()).toMatch(/resuming \d+ upload\(s\)/);
    await until('the resumed queue to drain', async () => (await status(mnt)).uploads?.queuedObjects === 0);
    expect(await again.unmount()).toBe(0);
    const fresh = await mount(store, mnt, path.join(dir, 'state-i'), env, ['--cache-dir', path.join(dir, 'cache-i')]);
    expect(spawnSync('cmp', [big, path.join(mnt, 'pressure.bin')]).status).toBe(0);
    expect(await fs.readFile(path.join(mnt, 'late.txt'), 'utf8')).toMatch(/^written while away/);
    expect(await fresh.unmount()).toBe(0);
    expect((await cairn(['check', store], env)).code).toBe(0);
  }, 180_000);

  it('resumes by itself when sshd is killed with SIGKILL mid-commit, and a stalled server does not hang the unmount', async () => {
    const mnt = path.join(dir, 'mnt5');
    onTestFinished(() => sshd.start());
    // Dead connections are given up after 3 s here (15 s by default).
    const faultEnv = { ...env, CAIRN_SFTP_TIMEOUT: '3' };
    const m = await mount(store, mnt, path.join(dir, 'state-j'), faultEnv, ['--cache-dir', path.join(dir, 'cache-j')]);
    daemonLog = m.log;
    // The case: 250 new files (25 MB that does not compress or dedup), and sshd
    // with its session killed with SIGKILL while their uploads are in flight; back 5 s later.
    const many = path.join(dir, 'many');
    await fs.mkdir(many);
    for (let i = 0; i < 250; i++) await fs.writeFile(path.join(many, `f${i}.bin`), randomBytes(100_000));
    const logBefore = m.log().length;
    expect((await run('cp', ['-a', many, path.join(mnt, 'many')])).code).toBe(0);
    // CAIRN_DEBUG_SFTP logs each attempt of each operation: kill once the commit has begun writing packs.
    await until('a pack upload to start', async () => /writing data\/\S+/.test(m.log().slice(logBefore)), 30);
    await sshd.kill();
    await new Promise((r) => setTimeout(r, 5000));
    await sshd.start();
    await until('everything to be committed and uploaded', async () => {
      const s = await status(mnt);
      return s.stagedFiles === 0 && (s.uploads?.queuedObjects ?? 0) === 0;
    }, 60);
    // Then the session freezes (SIGSTOP: the connection stays open, nothing answers) while a
    // file is being saved. The unmount must not wait for it: the frozen connection is given
    // up and the work re-sent on a new one (the session thaws only after the unmount).
    await fs.writeFile(path.join(mnt, 'during-stall.bin'), randomBytes(3_000_000));
    sshd.pause();
    const started = Date.now();
    const unmounted = await cairn(['unmount', mnt], faultEnv);
    const took = Date.now() - started;
    sshd.resume();
    expect(unmounted.code, unmounted.stderr + m.log().slice(-3000)).toBe(0);
    expect(took).toBeLessThan(15_000);

    const fresh = await mount(store, mnt, path.join(dir, 'state-k'), env, ['--cache-dir', path.join(dir, 'cache-k')]);
    const diff = spawnSync('diff', ['-r', many, path.join(mnt, 'many')], { encoding: 'utf8' });
    expect(diff.stdout + diff.stderr).toBe('');
    expect((await fs.stat(path.join(mnt, 'during-stall.bin'))).size).toBe(3_000_000);
    expect((await cairn(['check', '--read-data', store], env)).code).toBe(0);
    expect(await fresh.unmount()).toBe(0);
  }, 180_000);

  it('refuses a second writer and lets a read-only mount run beside it', async () => {
    const mnt = path.join(dir, 'mnt3');
    const writer = await mount(store, mnt, path.join(dir, 'state-e'), env, ['--cache-dir', path.join(dir, 'cache-e')]);
    await fs.mkdir(path.join(dir, 'mnt-second'));
    const second = await cairn(['mount', store, path.join(dir, 'mnt-second'), '--state-dir', path.join(dir, 'state-f')], env);
    expect(second.code).toBe(5);
    expect(second.stderr).toMatch(/in use by .*read-write/);

    const roMnt = path.join(dir, 'mnt-ro');
    const reader = await mount(store, roMnt, path.join(dir, 'state-g'), env, ['--read-only', '--cache-dir', path.join(dir, 'cache-g')]);
    sameTree(source, path.join(roMnt, 'tree'));
    const write = await run('sh', ['-c', `echo x > "${roMnt}/new.txt"`]);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain('Read-only file system');
    expect(await reader.unmount()).toBe(0);
    expect(await writer.unmount()).toBe(0);
  });
});
