/**
 * Parallel load through a real mount, for a bounded time (issue 10's load run): fio writers
 * with checksummed blocks (random and sequential, several jobs; large random blocks from more
 * writers than the binding has write buffers to lend), two parallel tar copies,
 * find walking the tree, and snapshots taken while all of it runs. After a remount (and
 * once more after kill -9 of the daemon), fio verifies every block it wrote, the tar copies
 * equal their source, and the store passes check. The daemon's peak memory is reported and
 * held under a stated bound. CAIRN_LOAD_SECONDS runs longer (default 12).
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { repositoryFixture } from '../helpers/fixture.js';
import { cairn } from '../helpers/cli.js';
import { mount } from '../helpers/mount.js';

const env = { CAIRN_PASSWORD: 'load test' };
const SECONDS = Number(process.env.CAIRN_LOAD_SECONDS ?? 12);
/** The blob cache's 64 MiB budget plus what the daemon itself needs (Node, the tree, buffers). */
const PEAK_MEMORY_BOUND_MIB = 64 + 384;

/**
 * fio jobs whose blocks carry checksums. `verifyOnly`: read and check what the same jobs wrote
 * (a global option: placed after a --name it would apply to that job alone, and the others
 * would write again).
 */
function fioArgs(dir: string, verifyOnly = false): string[] {
  return [
    `--directory=${dir}`, '--ioengine=psync', '--verify=crc32c', '--verify_fatal=1', '--randrepeat=1', ...(verifyOnly ? ['--verify_only'] : []),
    '--name=random', '--rw=randwrite', '--bsrange=4k-64k', '--size=24m', '--numjobs=2', '--fsync=64',
    '--name=sequential', '--rw=write', '--bs=128k', '--size=48m', '--numjobs=1',
    '--name=overwrite', '--rw=randwrite', '--bs=16k', '--size=8m', '--loops=4', '--numjobs=1',
    // Requests of up to 1 MiB (the binding's max_pages), more writers than it has buffers to lend.
    '--name=large', '--rw=randwrite', '--bsrange=256k-1536k', '--size=6m', '--numjobs=18',
  ];
}

/** Runs a command to its end; `cwd`: fio writes its verify state files there. */
function runAsync(command: string, args: string[], cwd?: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => resolve({ code: code ?? -1, output }));
  });
}

const peakMiB = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

describe('parallel load through a mount', () => {
  const f = repositoryFixture('cairn-load-', env);

  it('fio with verify, parallel tar, find and snapshots: every block verifies after remount and after kill -9', async () => {
    const source = '/usr/share/doc';
    let m = await mount(f.store, f.mnt, f.state, env);
    await mkdir(path.join(f.mnt, 'fio'));
    const deadline = Date.now() + SECONDS * 1000;
    const fio = runAsync('fio', fioArgs(path.join(f.mnt, 'fio')), f.dir);
    const tars = [1, 2].map((n) => runAsync('bash', ['-c', `mkdir -p "${f.mnt}/tar${n}" && tar -C ${source} -cf - . | tar -C "${f.mnt}/tar${n}" -xf -`]));
    let walks = 0;
    let snapshots = 0;
    const walker = (async () => {
      while (Date.now() < deadline) {
        const r = await runAsync('find', [f.mnt, '-xdev', '-printf', '%s\n']);
        expect(r.code, r.output.slice(0, 500)).toBe(0);
        walks++;
      }
    })();
    const snapshotter = (async () => {
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 3000));
        const r = await cairn(['snapshot', f.mnt], env);
        expect(r.code, r.stderr).toBe(0);
        snapshots++;
      }
    })();
    const [fioResult, ...tarResults] = await Promise.all([fio, ...tars]);
    await Promise.all([walker, snapshotter]);
    expect(fioResult.code, fioResult.output).toBe(0);
    for (const t of tarResults) expect(t.code, t.output).toBe(0);
    expect(walks).toBeGreaterThan(0);
    expect(snapshots).toBeGreaterThan(0);
    // Every write has been answered: every buffer the binding lent them is back.
    const status = await cairn(['status', f.mnt, '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    const { writeBuffers } = JSON.parse(status.stdout) as { writeBuffers: { lent: number; copies: number } };
    expect(writeBuffers.lent).toBe(0);
    const peak = peakMiB(m.child.pid!);
    console.log(`load: ${walks} find walks, ${snapshots} snapshots while fio and tar ran; daemon peak ${peak.toFixed(0)} MiB; ${writeBuffers.copies} writes copied (no buffer free)`);
    expect(peak).toBeLessThan(PEAK_MEMORY_BOUND_MIB);

    // A clean remount: every fio block verifies, the tar copies equal their source.
    expect(await m.unmount()).toBe(0);
    m = await mount(f.store, f.mnt, f.state, env);
    const verified = await runAsync('fio', fioArgs(path.join(f.mnt, 'fio'), true), f.dir);
    expect(verified.code, verified.output).toBe(0);
    expect(verified.output).toContain('READ:');
    expect(verified.output).not.toContain('WRITE:'); // it checked what was there, wrote nothing
    for (const n of [1, 2]) {
      const diff = spawnSync('diff', ['-r', '--no-dereference', source, path.join(f.mnt, `tar${n}`)], { encoding: 'utf8' });
      expect(diff.status, diff.stdout.slice(0, 2000)).toBe(0);
    }

    // Overwrite under load once more, then kill -9 after fio returned: still every block.
    const again = await runAsync('fio', fioArgs(path.join(f.mnt, 'fio')), f.dir);
    expect(again.code, again.output).toBe(0);
    await m.kill();
    m = await mount(f.store, f.mnt, f.state, env);
    const afterKill = await runAsync('fio', fioArgs(path.join(f.mnt, 'fio'), true), f.dir);
    expect(afterKill.code, afterKill.output).toBe(0);
    expect(afterKill.output).not.toContain('WRITE:');
    expect(await m.unmount()).toBe(0);
    const check = await cairn(['check', f.store, '--read-data'], env);
    expect(check.code, check.stderr + check.stdout).toBe(0);
  }, 600_000);
});
