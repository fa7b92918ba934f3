/**
 * forget and prune through the real CLI on a store written by a real mount: the snapshots
 * kept stay byte-identical in .snapshots/, the store shrinks by what only the forgotten
 * snapshot held, a prune killed with SIGKILL midway leaves a store that checks clean, and
 * the next prune finishes the job.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { repositoryFixture } from '../helpers/fixture.js';
import { cairn } from '../helpers/cli.js';
import { copyTree, expectEqualTrees, inMount, mount } from '../helpers/mount.js';
import { packBytes, tempDir } from '../helpers/store.js';

const env = { CAIRN_PASSWORD: 'retention' };
const MiB = 1024 * 1024;


describe('forget and prune on a mounted store', () => {
  const f = repositoryFixture('cairn-retention-', env);

  const inMountHere = (script: string) => inMount(f.mnt, script);
  /** What the tree is now, copied out of the mount: the reference for the next snapshot. */
  const copyOfMount = (name: string) => copyTree(f.mnt, path.join(f.dir, name));
  const snapshotNow = async () => {
    const r = await cairn(['snapshot', f.mnt]);
    expect(r.code, r.stderr).toBe(0);
    const [name, id] = r.stdout.trim().split(' ');
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the next one gets another name
    return { name: name!, id: id! };
  };

  it('forgets the oldest snapshot, survives a killed prune, and gives back its space', async () => {
    const m = await mount(f.store, f.mnt, f.state, env);
    await inMountHere(`cp -a /usr/share/doc/git/RelNotes "$R/notes"; head -c ${5 * MiB} /dev/urandom > "$R/only-v1.bin";
      echo one > "$R/a.txt"; ln "$R/a.txt" "$R/a-link"; setfattr -n user.k -v 1 "$R/a.txt"`);
    const s1 = await snapshotNow();
    await inMountHere(`rm "$R/only-v1.bin"; echo two >> "$R/a.txt"; head -c ${2 * MiB} /dev/urandom > "$R/v2.bin"; mv "$R/notes" "$R/moved"`);
    const v2 = copyOfMount('v2');
    const s2 = await snapshotNow();
    await inMountHere(`rm "$R/moved/1.5.0.txt"; echo three > "$R/c.txt"`);
    const v3 = copyOfMount('v3');
    const s3 = await snapshotNow();

    // A local-folder store has no upload queue; status says so.
    const status = await cairn(['status', f.mnt]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('uploads:    none queued (a local-folder store is written directly)');

    // Prune refuses while the mount holds the store.
    const busy = await cairn(['prune', f.store, '--state-dir', f.state], env);
    expect(busy.code).toBe(5);
    expect(busy.stderr).toMatch(/in use by .*read-write/);
    // So does forget, saying that the mount can apply retention itself (not to mount read-only).
    const forgetBusy = await cairn(['forget', f.store, '--keep-last', '1'], env);
    expect(forgetBusy.code).toBe(5);
    expect(forgetBusy.stderr).toContain('mount --forget-policy timemachine');
    expect(forgetBusy.stderr).not.toContain('--read-only');
    expect(await m.unmount()).toBe(0);

    const dry = await cairn(['forget', f.store, '--keep-last', '2', '--dry-run'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`forget\\s+${s1.id.slice(0, 12)}`));
    expect(dry.stdout).toMatch(new RegExp(`keep\\s+${s3.id.slice(0, 12)}.*newest, last`));
    expect(dry.stdout).toContain('would forget 1 of 3');
    expect((await fs.readdir(path.join(f.store, 'snapshots'))).length).toBe(3);
    // The same decision as one JSON object, field by field.
    const dryJson = await cairn(['forget', f.store, '--keep-last', '2', '--dry-run', '--json'], env);
    expect(dryJson.code, dryJson.stderr).toBe(0);
    const decided = JSON.parse(dryJson.stdout) as { dryRun: boolean; forgotten: { id: string; time: string; tags: string[] }[]; kept: { id: string; reasons: string[] }[]; prune: null };
    expect(decided.dryRun).toBe(true);
    expect(decided.forgotten.map((x) => x.id)).toEqual([s1.id]);
    expect(decided.forgotten[0]!.time).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(decided.kept.map((x) => x.id).sort()).toEqual([s2.id, s3.id].sort());
    expect(decided.kept.find((x) => x.id === s3.id)!.reasons).toEqual(expect.arrayContaining(['newest']));
    expect(decided.prune).toBeNull();

    const forget = await cairn(['forget', f.store, '--keep-last', '2'], env);
    expect(forget.code, forget.stderr).toBe(0);
    expect(forget.stdout).toContain('forgot 1 snapshot(s); 2 kept');
    const listed = JSON.parse((await cairn(['snapshots', f.store, '--json'], env)).stdout) as { id: string }[];
    expect(listed.map((s) => s.id)).toEqual([s2.id, s3.id]);
    expect((await cairn(['check', f.store], env)).code).toBe(0);

    const before = await packBytes(f.store);
    const killed = await cairn(['prune', f.store, '--state-dir', f.state], { ...env, CAIRN_TEST_KILL_AT: 'pack-deleted:1' });
    expect(killed.code).not.toBe(0);
    const afterKill = await cairn(['check', '--read-data', f.store], env);
    expect(afterKill.code, afterKill.stdout).toBe(0);
    expect(afterKill.stdout).toMatch(/warning: data\/.*not named by any index/);

    let again = await mount(f.store, f.mnt, f.state, env);
    expectEqualTrees(v2, path.join(f.mnt, '.snapshots', s2.name));
    expectEqualTrees(v3, path.join(f.mnt, '.snapshots', s3.name));
    expect(await again.unmount()).toBe(0);

    const planned = await cairn(['prune', f.store, '--state-dir', f.state, '--dry-run', '--json'], env);
    expect(planned.code, planned.stderr).toBe(0);
    const plan = JSON.parse(planned.stdout) as { dryRun: boolean; freedBytes: number; packBytesBefore: number };
    expect(plan.dryRun).toBe(true);
    expect(plan.freedBytes).toBeGreaterThan(0);
    const prune = await cairn(['prune', f.store, '--state-dir', f.state, '--json'], env);
    expect(prune.code, prune.stderr).toBe(0);
    const pruned = JSON.parse(prune.stdout) as { dryRun: boolean; freedBytes: number; packBytesBefore: number; packBytesAfter: number; packs: { deleted: number; unindexed: number } };
    expect(pruned.dryRun).toBe(false);
    expect(pruned.freedBytes).toBe(plan.freedBytes); // the dry run planned exactly this
    expect(pruned.freedBytes).toBe(pruned.packBytesBefore - pruned.packBytesAfter);
    expect(pruned.packs.deleted + pruned.packs.unindexed).toBeGreaterThan(0); // the killed prune left its rest
    const freed = before - (await packBytes(f.store));
    expect(freed).toBeGreaterThanOrEqual(5 * MiB);
    expect(freed).toBeLessThan(5 * MiB + 256 * 1024);
    const clean = await cairn(['check', '--read-data', f.store], env);
    expect(clean.code, clean.stdout).toBe(0);
    expect(clean.stdout).not.toContain('warning');

    again = await mount(f.store, f.mnt, f.state, env);
    expect((await fs.readdir(path.join(f.mnt, '.snapshots'))).sort()).toEqual([s2.name, s3.name, 'latest'].sort());
    expectEqualTrees(v2, path.join(f.mnt, '.snapshots', s2.name));
    const restored = path.join(f.dir, 'restored');
    expect(spawnSync('rsync', ['-aHX', `${path.join(f.mnt, '.snapshots', s3.name)}/`, `${restored}/`]).status).toBe(0);
    expectEqualTrees(v3, restored);
    expectEqualTrees(v3, f.mnt);
    expect(await again.unmount()).toBe(0);
  }, 150_000); // a long scenario: three snapshots, a killed prune, a full prune

  it('refuses forget without a policy or with the newest snapshot named', async () => {
    const none = await cairn(['forget', f.store], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('nothing would be kept');
    const listed = JSON.parse((await cairn(['snapshots', f.store, '--json'], env)).stdout) as { id: string }[];
    const newest = await cairn(['forget', f.store, listed[listed.length - 1]!.id.slice(0, 10)], env);
    expect(newest.code).toBe(2);
    expect(newest.stderr).toContain('is the newest and cannot be forgotten');
  });

  it('refuses to prune while a killed mount\'s unsaved changes wait in the local journal', async () => {
    const killedState = path.join(f.dir, 'killed-state');
    await fs.mkdir(killedState);
    // What a mount killed after one change leaves: the header and one record.
    await fs.writeFile(path.join(killedState, 'journal'), `${JSON.stringify({ journal: 'cairn', version: 1, base: null })}\n{"op":"mkdir"}\n`);
    const r = await cairn(['prune', f.store, '--state-dir', killedState], env);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('1 unsaved change(s)');
    expect(r.stderr).toContain('mount the store and unmount it again');
  });
});
