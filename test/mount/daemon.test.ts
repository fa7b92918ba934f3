/**
 * Unattended operation (issue 13): `cairn mount --daemon` started from a script without a
 * terminal returns once the folder is mounted, logs with a time on every line, and
 * `cairn unmount` names the snapshot it saved; a mount that cannot start says why with its
 * exit code; the systemd units in contrib/ pass `systemd-analyze verify`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { cairn } from '../helpers/cli.js';
import { tempDir } from '../helpers/store.js';

const ROOT = path.resolve(__dirname, '../..');
const STAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

const mounted = (mnt: string) => readFileSync('/proc/mounts', 'utf8').includes(` ${mnt} fuse.cairn `);

describe('cairn mount --daemon', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: string;
  let passFile: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('cairn-daemon-'));
    store = path.join(dir, 'store');
    passFile = path.join(dir, 'pass');
    await fs.writeFile(passFile, 'daemon secret\n', { mode: 0o600 });
    expect((await cairn(['init', store, '--password-file', passFile])).code).toBe(0);
  });
  afterAll(async () => {
    for (const name of ['mnt', 'mnt2']) {
      const mnt = path.join(dir, name);
      if (mounted(mnt)) await cairn(['unmount', mnt]).catch(() => undefined);
      spawnSync('fusermount', ['-u', '-z', mnt]);
    }
    await cleanup();
  });

  it('returns once mounted, logs each line with its time, and unmount names the snapshot', async () => {
    const mnt = path.join(dir, 'mnt');
    const log = path.join(dir, 'logs', 'mount.log');
    await fs.mkdir(mnt);
    const started = await cairn(['mount', store, mnt, '--daemon', '--password-file', passFile, '--state-dir', path.join(dir, 'state'), '--log-file', log]);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).toContain(`mounted at ${mnt} in the background`);
    expect(started.stderr).toContain(log);
    expect(mounted(mnt)).toBe(true);
    const pid = Number(/pid (\d+)/.exec(started.stderr)![1]);
    await fs.writeFile(path.join(mnt, 'note.txt'), 'written while the daemon runs\n');
    expect(await fs.readFile(path.join(mnt, 'note.txt'), 'utf8')).toBe('written while the daemon runs\n');

    const stopped = await cairn(['unmount', mnt]);
    expect(stopped.code, stopped.stderr).toBe(0);
    const [name, id] = stopped.stdout.trim().split(' ');
    expect(name).toMatch(/^\d{4}-\d\d-\d\d_\d{6}$/);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(`/proc/${pid}`), 'the daemon ended after unmounting').toBe(false);

    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(line).toMatch(STAMPED);
    expect(lines.some((l) => l.includes(`mounted at ${mnt}`))).toBe(true);
    expect(lines.some((l) => l.includes(`snapshot ${id!.slice(0, 12)} saved`))).toBe(true);
    // And the data is in that snapshot.
    const cat = await cairn(['cat', store, id!.slice(0, 12), 'note.txt', '--password-file', passFile]);
    expect(cat.stdout).toBe('written while the daemon runs\n');
  });

  it('logs to the state folder by default, and a mount that cannot start exits with its cause', async () => {
    const mnt = path.join(dir, 'mnt2');
    await fs.mkdir(mnt);
    const stateHome = path.join(dir, 'xdg-state');
    const refused = await cairn(['mount', store, mnt, '--daemon'], { CAIRN_PASSWORD: 'not it', XDG_STATE_HOME: stateHome });
    expect(refused.code).toBe(3); // the exit code of a wrong passphrase
    expect(refused.stderr).toContain('no key slot');
    expect(mounted(mnt)).toBe(false);
    const logs = await fs.readdir(path.join(stateHome, 'cairn'));
    expect(logs.filter((n) => n.startsWith('mount-') && n.endsWith('.log'))).toHaveLength(1);

    const good = await cairn(['mount', store, mnt, '--daemon', '--state-dir', path.join(dir, 'state')], { CAIRN_PASSWORD: 'daemon secret', XDG_STATE_HOME: stateHome });
    expect(good.code, good.stderr).toBe(0);
    expect(mounted(mnt)).toBe(true);
    // Files saved by the first daemon are there.
    expect(await fs.readFile(path.join(mnt, 'note.txt'), 'utf8')).toBe('written while the daemon runs\n');
    const nothing = await cairn(['unmount', mnt, '--json']);
    expect(nothing.code, nothing.stderr).toBe(0);
    expect(JSON.parse(nothing.stdout)).toEqual({ mountpoint: mnt, snapshot: null }); // nothing changed
  });

  it('unmount --json names the snapshot it saved', async () => {
    const mnt = path.join(dir, 'mnt2');
    const started = await cairn(['mount', store, mnt, '--daemon', '--password-file', passFile, '--state-dir', path.join(dir, 'state'), '--log-file', path.join(dir, 'json.log')]);
    expect(started.code, started.stderr).toBe(0);
    await fs.writeFile(path.join(mnt, 'second.txt'), 'two\n');
    const saved = await cairn(['unmount', mnt, '--json']);
    expect(saved.code, saved.stderr).toBe(0);
    const answer = JSON.parse(saved.stdout) as { mountpoint: string; snapshot: { name: string; id: string } };
    expect(answer.mountpoint).toBe(mnt);
    expect(answer.snapshot.name).toMatch(/^\d{4}-\d\d-\d\d_\d{6}$/);
    expect(answer.snapshot.id).toMatch(/^[0-9a-f]{64}$/);
    const listed = await cairn(['snapshots', store, '--json', '--password-file', passFile]);
    expect(listed.stdout).toContain(answer.snapshot.id);
  });

  it('ships systemd units that systemd-analyze verify accepts', async () => {
    const analyze = spawnSync('systemd-analyze', ['--version']);
    if (analyze.error) throw new Error('systemd-analyze is missing (Debian: systemd); it checks contrib/systemd/');
    const units = path.join(dir, 'units');
    await fs.mkdir(units);
    // Templates are verified as instances, the way systemctl starts them.
    for (const [template, instance] of [['cairn-mount@.service', 'cairn-mount@home.service'], ['cairn-snapshot@.service', 'cairn-snapshot@home.service'], ['cairn-snapshot@.timer', 'cairn-snapshot@home.timer']]) {
      await fs.copyFile(path.join(ROOT, 'contrib/systemd', template!), path.join(units, instance!));
    }
    const verify = spawnSync('systemd-analyze', ['verify', ...['cairn-mount@home.service', 'cairn-snapshot@home.service', 'cairn-snapshot@home.timer'].map((u) => path.join(units, u))], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stderr.trim()).toBe('');
  });
});
