/**
 * POSIX operations through a real mount: the shared POSIX suite (test/posix/cases.ts, the
 * same cases test/unit/posix-direct.test.ts runs against the filesystem layer) with real
 * system calls as root and as second users on an --allow-other mount; then
 * test/mount/posix_ops.py's calls, again after a remount, and unmount by SIGTERM saving
 * everything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { repositoryFixture } from '../helpers/fixture.js';
import { cairn, run } from '../helpers/cli.js';
import { mount, type RunningMount } from '../helpers/mount.js';
import { CASES } from '../posix/cases.js';
import { runThroughMount } from '../posix/drivers.js';
import { mismatch } from '../posix/steps.js';

const env = { CAIRN_PASSWORD: 'posix test' };
const SCRIPT = path.resolve(__dirname, 'posix_ops.py');

describe('POSIX operations through a real mount', () => {
  const f = repositoryFixture('cairn-posix-', env);

  it('behave as on a local disk, and the result survives unmount by SIGTERM and remount', async () => {
    const mnt = path.join(f.dir, 'mnt');
    const state = path.join(f.dir, 'state');
    const m = await mount(f.store, mnt, state, env);
    const r = await run('python3', [SCRIPT, mnt]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/posix ok: \d+ checks/);
    const listing = (await run('bash', ['-c', `cd "${mnt}" && find . -printf '%p %y %m %U:%G %s %T@ %n\\n' | sort`])).stdout;

    // SIGTERM is a clean unmount: commit, snapshot, exit 0.
    m.child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => m.child.on('exit', resolve));
    expect(code).toBe(0);
    expect(m.log()).toMatch(/snapshot [0-9a-f]{12} saved/);

    const again = await mount(f.store, mnt, state, env);
    expect(again.log()).not.toMatch(/replayed/);
    const after = (await run('bash', ['-c', `cd "${mnt}" && find . -printf '%p %y %m %U:%G %s %T@ %n\\n' | sort`])).stdout;
    expect(after).toBe(listing);
    expect(await fs.readFile(path.join(mnt, 't', 'new\nline'), 'utf8')).toBe('new\nline');
    expect(await again.unmount()).toBe(0);
  }, 120_000);
});

describe.skipIf(process.getuid?.() !== 0)('the POSIX suite through a real mount, with second users (needs root for setpriv)', () => {
  const f = repositoryFixture('cairn-posix-suite-', env);
  let m: RunningMount;

  beforeAll(async () => {
    m = await mount(f.store, f.mnt, f.state, env, ['--allow-other']);
  });
  afterAll(async () => {
    expect(await m.unmount()).toBe(0);
  });

  for (const [i, c] of CASES.entries()) {
    it(c.name, async () => {
      const folder = path.join(f.mnt, `t${i}`);
      await fs.mkdir(folder);
      await fs.chmod(folder, 0o1777);
      const answers = await runThroughMount(folder, c.steps);
      const wrong = c.steps.map((s, k) => [k, s, mismatch(s, answers[k]!)] as const).filter(([, , w]) => w !== null);
      expect(wrong.map(([k, s, w]) => `step ${k + 1} (${s.as ?? 'root'} ${s.op}): ${w}`)).toEqual([]);
    });
  }
});
