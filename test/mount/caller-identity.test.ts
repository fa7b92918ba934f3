/**
 * The caller's identity through a real `--allow-other` mount, used by real second users
 * (setpriv with a uid and gid made up for the test, no account needed): everything a user
 * creates belongs to that user, who can then manage it as on a local disk; setgid folders
 * pass on their group; other users' files stay protected; two users at once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { cairn, run, type RunResult } from '../helpers/cli.js';
import { repositoryFixture } from '../helpers/fixture.js';
import { inMount, mount, type RunningMount } from '../helpers/mount.js';

const env = { CAIRN_PASSWORD: 'caller identity' };
const ANN = { uid: 12345, gid: 12345 };
const BOB = { uid: 12346, gid: 12346 };
const SHARED_GROUP = 3000;

/** Runs a shell script as another user (umask 022), with $R the mount's root. */
function asUser(user: { uid: number; gid: number }, mountpoint: string, script: string, groups: number[] = []): Promise<RunResult> {
  const groupArgs = groups.length > 0 ? ['--groups', groups.join(',')] : ['--clear-groups'];
  return run('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, ...groupArgs, 'bash', '-c', `umask 022; R="${mountpoint}"; ${script}`]);
}

const owner = (p: string) => {
  const st = statSync(p);
  return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
};

describe.skipIf(process.getuid?.() !== 0)('the caller owns what it creates (needs root for setpriv and --allow-other)', () => {
  const f = repositoryFixture('cairn-caller-', env);
  let m: RunningMount;

  beforeAll(async () => {
    m = await mount(f.store, f.mnt, f.state, env, ['--allow-other']);
    await inMount(f.mnt, `chmod 1777 "$R"; mkdir "$R/shared"; chown 0:${SHARED_GROUP} "$R/shared"; chmod 2775 "$R/shared"; echo secret > "$R/roots"; chmod 644 "$R/roots"`);
  });

  it('gives every node type its creator as owner, and the creator manages it as on a local disk', async () => {
    const r = await asUser(ANN, f.mnt, `set -e
      mkdir "$R/ann"; echo one > "$R/ann/file"; mkfifo "$R/ann/fifo"; ln -s file "$R/ann/sym"
      python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$R/ann/sock"
      chmod 600 "$R/ann/file"; truncate -s 2 "$R/ann/file"; echo two > "$R/ann/file"
      ln "$R/ann/file" "$R/ann/hard"; mv "$R/ann/hard" "$R/ann/moved"; chgrp ${ANN.gid} "$R/ann/file"
      touch -d '2001-02-03 04:05:06' "$R/ann/file"; rm "$R/ann/moved"`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const name of ['', '/file', '/fifo', '/sock']) expect(owner(`${f.mnt}/ann${name}`).split(' ')[0]).toBe(`${ANN.uid}:${ANN.gid}`);
    const link = await run('stat', ['-c', '%u:%g', `${f.mnt}/ann/sym`]);
    expect(link.stdout.trim()).toBe(`${ANN.uid}:${ANN.gid}`);
    expect(owner(`${f.mnt}/ann/file`)).toBe(`${ANN.uid}:${ANN.gid} 600`);
  });

  it('lets an owner give a file to its own groups only, and never makes a root-owned setuid file for a user', async () => {
    const ok = await asUser(ANN, f.mnt, `echo x > "$R/ann/g"; chgrp ${SHARED_GROUP} "$R/ann/g"`, [SHARED_GROUP]);
    expect(ok.stderr).toBe('');
    expect(owner(`${f.mnt}/ann/g`)).toBe(`${ANN.uid}:${SHARED_GROUP} 644`);
    const refused = await asUser(ANN, f.mnt, 'chgrp 0 "$R/ann/g"');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Operation not permitted/);
    const giveAway = await asUser(ANN, f.mnt, `chown ${BOB.uid} "$R/ann/g"`);
    expect(giveAway.stderr).toMatch(/Operation not permitted/);
    await asUser(ANN, f.mnt, `python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o4755))' "$R/ann/suid"`);
    expect(owner(`${f.mnt}/ann/suid`)).toBe(`${ANN.uid}:${ANN.gid} 4755`);
  });

  it('passes a setgid folder\'s group to new nodes, and its setgid bit to new folders (2775 gives 2755)', async () => {
    const r = await asUser(ANN, f.mnt, 'mkdir "$R/shared/sub"; echo f > "$R/shared/file"', [SHARED_GROUP]);
    expect(r.stderr).toBe('');
    expect(owner(`${f.mnt}/shared/sub`)).toBe(`${ANN.uid}:${SHARED_GROUP} 2755`);
    expect(owner(`${f.mnt}/shared/file`)).toBe(`${ANN.uid}:${SHARED_GROUP} 644`);
  });

  it('keeps other users\' files protected: no write, no chmod, no removal from a sticky folder', async () => {
    const r = await asUser(BOB, f.mnt, `
      (echo bob >> "$R/roots") 2>&1 | grep -q 'Permission denied' || echo "wrote a root file"
      chmod 777 "$R/ann/file" 2>&1 | grep -q 'Operation not permitted' || echo "chmod of ann's file"
      rm -f "$R/ann" 2>/dev/null; mv "$R/ann" "$R/bobs" 2>&1 | grep -q 'Operation not permitted' || echo "moved ann's folder out of a sticky folder"
      cat "$R/ann/file" 2>&1 | grep -q 'Permission denied' || echo "read ann's 600 file"`);
    expect(r.stdout).toBe('');
    expect(await run('cat', [`${f.mnt}/roots`])).toMatchObject({ stdout: 'secret\n' });
  });

  it('enforces each permission rule in the filesystem with the errno Linux gives (EACCES for rwx, EPERM for owner-only)', async () => {
    const setup = await asUser(ANN, f.mnt, `set -e
      mkdir "$R/rules"; mkdir -m 700 "$R/rules/private"; echo p > "$R/rules/private/file"
      echo w > "$R/rules/open"; chmod 666 "$R/rules/open"; echo s > "$R/rules/suid"; chmod 4766 "$R/rules/suid"
      mkdir -p "$R/rules/x/d" "$R/rules/y"; chmod 555 "$R/rules/x/d"; chmod 777 "$R/rules/x" "$R/rules/y"`);
    expect(setup.stderr).toBe('');
    expect((await asUser(ANN, f.mnt, 'echo g > "$R/shared/mine"', [SHARED_GROUP])).stderr).toBe('');
    // Each line prints "<case>: ok" when the result is the expected one.
    const bob = await asUser(BOB, f.mnt, `
      expect() { if eval "$2" >/tmp/out.$$ 2>&1; then r=ok; else r="$(cat /tmp/out.$$)"; fi; case "$r" in *"$3"*) echo "$1: ok";; *) echo "$1: got [$r]";; esac; }
      expect search 'stat "$R/rules/private/file"' 'Permission denied'
      expect list 'ls "$R/rules/private"' 'Permission denied'
      expect create-in-readonly-folder 'touch "$R/rules/new"' 'Permission denied'
      expect touch-now-with-write 'touch "$R/rules/open"' ok
      expect touch-given-time 'touch -d "2001-02-03" "$R/rules/open"' 'Operation not permitted'
      expect truncate-without-write 'truncate -s 0 "$R/ann/file"' 'Permission denied'
      expect chgrp-not-owner 'chgrp ${BOB.gid} "$R/rules/open"' 'Operation not permitted'
      expect trusted-xattr 'setfattr -n trusted.x -v 1 "$R/rules/open"' 'Operation not permitted'
      expect access-read '! test -r "$R/ann/file" && ! test -w "$R/ann/file" && test -w "$R/rules/open"' ok
      expect write-clears-setuid 'echo more >> "$R/rules/suid" && test "$(stat -c %a "$R/rules/suid")" = 766' ok`);
    expect(bob.stderr).toBe('');
    for (const line of bob.stdout.trim().split('\n')) expect(line).toMatch(/: ok$/);
    expect(bob.stdout.trim().split('\n')).toHaveLength(10);
    // Ann, now without the shared group, sets setgid on her file in it: the bit is dropped.
    const ann = await asUser(ANN, f.mnt, `
      chmod 2644 "$R/shared/mine"; stat -c %a "$R/shared/mine"
      mv "$R/rules/x/d" "$R/rules/y/" 2>&1 | grep -q 'Permission denied' && echo moving-a-readonly-folder-refused`);
    expect(ann.stdout.trim().split('\n')).toEqual(['644', 'moving-a-readonly-folder-refused']);
    const rootSees = await run('setfattr', ['-n', 'trusted.x', '-v', '1', `${f.mnt}/rules/open`]);
    expect(rootSees.code).toBe(0);
    // History keeps the owners and modes, and the same rules.
    expect((await cairn(['snapshot', f.mnt], env)).code).toBe(0);
    const past = await asUser(BOB, f.mnt, 'cat "$R/.snapshots/latest/ann/file"; cat "$R/.snapshots/latest/rules/open"');
    expect(past.stderr).toMatch(/latest\/ann\/file: Permission denied/);
    expect(past.stdout).toBe('w\n');
    expect(await run('cat', [`${f.mnt}/.snapshots/latest/ann/file`])).toMatchObject({ stdout: 'two\n' });
  });

  it('serves two users at once, each owning what it wrote, and keeps owners across a remount', async () => {
    const script = (who: string) => `mkdir "$R/${who}-many" && for i in $(seq 1 40); do echo "$i" > "$R/${who}-many/$i"; done`;
    const [a, b] = await Promise.all([asUser(ANN, f.mnt, script('ann')), asUser(BOB, f.mnt, script('bob'))]);
    expect(a.stderr + b.stderr).toBe('');
    const owners = async () => (await run('bash', ['-c', `cd "${f.mnt}" && find ann-many bob-many ann shared -printf '%p %U:%G %m\\n' | sort`])).stdout;
    const before = await owners();
    expect(before).toMatch(new RegExp(`ann-many/40 ${ANN.uid}:${ANN.gid} 644`));
    expect(before).toMatch(new RegExp(`bob-many/40 ${BOB.uid}:${BOB.gid} 644`));
    expect(await m.unmount()).toBe(0);
    m = await mount(f.store, f.mnt, f.state, env, ['--allow-other']);
    expect(await owners()).toBe(before);
  });
});
