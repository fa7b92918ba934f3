/**
 * POSIX operations through a real mount (test/mount/posix_ops.py makes the system calls),
 * again after a remount, and unmount by SIGTERM saving everything.
 */
import { describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { repositoryFixture } from '../helpers/fixture.js';
import { cairn, run } from '../helpers/cli.js';
import { mount } from '../helpers/mount.js';

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
