/**
 * A file far bigger than the state disk, written front to back through a real mount: its
 * stream journals `chunks` records as it goes (src/vfs/file-data.ts STREAM_JOURNAL_BYTES),
 * so staging lets go of the bytes already on the store and the write never needs the
 * file's size in the state folder. Then a SIGKILL while the writer still holds the file
 * open: the remount's replay puts the journaled chunks and the staged tail together into
 * exactly the bytes written. The same again for appending to it once it is stored.
 */
import { describe, expect, it } from 'vitest';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { repositoryFixture } from '../helpers/fixture.js';
import { mount, type RunningMount, unmountAll } from '../helpers/mount.js';
import { mountSmallDisk } from '../helpers/store.js';

const env = { CAIRN_PASSWORD: 'bigger than the state disk' };
const MiB = 1024 * 1024;

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(piece as Buffer);
  return hash.digest('hex');
}

describe('a file bigger than the state disk', () => {
  const f = repositoryFixture('cairn-big-staging-', env);

  it('streams through a 256 MiB state disk, written and then appended to, and a SIGKILL while it is open loses nothing written', { timeout: 240_000 }, async () => {
    const source = path.join(f.dir, 'source.bin');
    execFileSync('dd', ['if=/dev/urandom', `of=${source}`, 'bs=1M', 'count=768', 'status=none']);
    const expected = await sha256(source);
    const state = path.join(f.dir, 'small-state');
    mkdirSync(state);
    const unmountDisk = mountSmallDisk(state, '256m');
    let writer: ChildProcess | undefined;
    let m: RunningMount | undefined;
    try {
      m = await mount(f.store, f.mnt, state, env);
      const target = path.join(f.mnt, 'big.bin');
      const done = path.join(f.dir, 'written');
      // The writer keeps the file open after the last byte, as a program still running would.
      writer = spawn('bash', ['-c', 'exec 3>"$1"; cat "$2" >&3 || exit 1; touch "$3"; sleep 600', 'writer', target, source, done], { stdio: 'ignore' });
      let writerExit: number | null | undefined;
      writer.on('exit', (code) => (writerExit = code));
      const stagingDir = path.join(state, 'staging');
      /** Until the writer made `flag`: the most the staging folder held meanwhile. */
      const watchStaging = async (flag: string) => {
        let peak = 0;
        const deadline = Date.now() + 150_000;
        while (!existsSync(flag)) {
          expect(writerExit, `the writer failed:\n${m?.log()}`).toBeUndefined();
          expect(Date.now(), 'the writer is still writing').toBeLessThan(deadline);
          if (existsSync(stagingDir)) {
            const bytes = readdirSync(stagingDir).reduce((sum, name) => sum + (statSync(path.join(stagingDir, name), { throwIfNoEntry: false })?.size ?? 0), 0);
            peak = Math.max(peak, bytes);
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        return peak;
      };
      let peakStaging = await watchStaging(done);
      // The 768 MiB went through a disk of 256 MiB: staging let go of committed bytes early.
      expect(peakStaging).toBeLessThan(256 * MiB);
      expect(statSync(target).size).toBe(768 * MiB);
      await m.kill();
      writer.kill('SIGKILL');

      m = await mount(f.store, f.mnt, state, env);
      expect(m.log()).toContain('replayed');
      expect(await sha256(target)).toBe(expected);
      expect(await m.unmount()).toBe(0);

      m = await mount(f.store, f.mnt, state, env);
      expect(await sha256(target)).toBe(expected);
      expect(await m.unmount()).toBe(0);
      expect(readdirSync(stagingDir)).toEqual([]);

      // Appended to, now that it is stored: the stream continues from its stored end.
      m = await mount(f.store, f.mnt, state, env);
      const appended = path.join(f.dir, 'appended');
      writer = spawn('bash', ['-c', 'exec 3>>"$1"; cat "$2" >&3 || exit 1; touch "$3"; sleep 600', 'writer', target, source, appended], { stdio: 'ignore' });
      writerExit = undefined;
      writer.on('exit', (code) => (writerExit = code));
      peakStaging = await watchStaging(appended);
      expect(peakStaging).toBeLessThan(256 * MiB);
      await m.kill();
      writer.kill('SIGKILL');
      m = await mount(f.store, f.mnt, state, env);
      expect(statSync(target).size).toBe(2 * 768 * MiB);
      const twice = createHash('sha256');
      for await (const piece of createReadStream(target, { highWaterMark: 4 * MiB })) twice.update(piece as Buffer);
      const expectedTwice = createHash('sha256');
      for (let i = 0; i < 2; i++) for await (const piece of createReadStream(source, { highWaterMark: 4 * MiB })) expectedTwice.update(piece as Buffer);
      expect(twice.digest('hex')).toBe(expectedTwice.digest('hex'));
      expect(await m.unmount()).toBe(0);
    } catch (e) {
      // What the mount said is the evidence of what went wrong (an EIO names its cause there).
      if (m && e instanceof Error) e.message += `\n--- the mount's log ---\n${m.log()}`;
      throw e;
    } finally {
      writer?.kill('SIGKILL');
      await unmountAll();
      unmountDisk();
    }
  });
});
