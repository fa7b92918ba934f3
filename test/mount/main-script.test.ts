/**
 * The README's main job, `bash scripts/main.sh STORE MOUNTPOINT`, on a real terminal (script):
 * the first run asks for the new passphrase twice and nothing else, creates and mounts; a
 * second run asks once; `cairn unmount` from elsewhere ends each run with its snapshot saved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { cairn } from '../helpers/cli.js';
import { tempDir } from '../helpers/store.js';

const ROOT = path.resolve(__dirname, '../..');
const strip = (text: string) => text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');

describe('scripts/main.sh on a terminal', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ dir, cleanup } = await tempDir('cairn-main-')));
  afterAll(async () => {
    await cairn(['unmount', path.join(dir, 'mnt')]).catch(() => undefined);
    await cleanup();
  });

  /** Runs the main job under `script`, typing `answers` each after its prompt has appeared. */
  async function mainJob(log: string, answers: string[], whileMounted: (mnt: string) => Promise<void>): Promise<string> {
    const mnt = path.join(dir, 'mnt');
    const store = path.join(dir, 'store');
    const typist = answers.map((a, i) => `until [ "$(grep -c 'assphrase for\\|Repeat it' "${log}" 2>/dev/null)" -ge ${i + 1} ]; do sleep 0.2; done; sleep 0.3; echo '${a}'`).join('; ');
    const job = spawn('bash', ['-c', `(${typist}; sleep 120) | script -qec "bash ${ROOT}/scripts/main.sh ${store} ${mnt}" /dev/null > "${log}" 2>&1`], {
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_'))),
      stdio: 'ignore',
      detached: true,
    });
    const ended = new Promise<void>((resolve) => job.on('exit', () => resolve()));
    try {
      for (const deadline = Date.now() + 60_000; !(existsSync(log) && strip(readFileSync(log, 'utf8')).includes(`mounted at ${mnt}`)); ) {
        if (Date.now() > deadline) throw new Error(`the main job did not mount:\n${existsSync(log) ? strip(readFileSync(log, 'utf8')) : ''}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await whileMounted(mnt);
      const unmount = await cairn(['unmount', mnt]);
      expect(unmount.code, unmount.stderr).toBe(0);
      for (const deadline = Date.now() + 30_000; !strip(readFileSync(log, 'utf8')).match(/snapshot \w+ saved|nothing changed/) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 200));
    } finally {
      try {
        process.kill(-job.pid!, 'SIGKILL'); // the typist's sleep and script
      } catch {
        // already gone
      }
      await ended;
    }
    return strip(readFileSync(log, 'utf8'));
  }

  it('asks twice on the first run, once after, and saves what was written', async () => {
    const first = await mainJob(path.join(dir, 'first.log'), ['main job secret', 'main job secret'], (mnt) => fs.writeFile(path.join(mnt, 'note.txt'), 'kept'));
    expect(first.match(/assphrase for|Repeat it/g)).toEqual(['assphrase for', 'Repeat it']);
    expect(first).toContain('created cairn repository');
    expect(first).toMatch(/snapshot \w+ saved/);
    expect(first).not.toContain('main job secret');

    const second = await mainJob(path.join(dir, 'second.log'), ['main job secret'], async (mnt) => {
      expect(await fs.readFile(path.join(mnt, 'note.txt'), 'utf8')).toBe('kept');
    });
    expect(second.match(/assphrase for|Repeat it/g)).toEqual(['assphrase for']);
    expect(second).not.toContain('setup: building'); // nothing changed since the last build
  }, 150_000);
});
