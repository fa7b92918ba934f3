/**
 * File capabilities (security.capability, set by setcap) through a real mount. The kernel
 * asks for that attribute before every write, to remove it from a file being changed; the
 * binding answers files without one itself (native/lowlevel.c), and the adapter tells it
 * which live files have one. What users rely on: a capability is kept, shown, and removed
 * by a write exactly as on a local disk, also after a remount and in .snapshots/; and
 * writing a file without one costs no getxattr round trip to JS.
 */
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { run } from '../helpers/cli.js';
import { mount } from '../helpers/mount.js';
import { repositoryFixture } from '../helpers/fixture.js';

const env = { CAIRN_PASSWORD: 'capabilities test' };
const requestsOf = (log: string, op: string): number => Number(new RegExp(`requests: .*\\b${op} (\\d+)`).exec(log)?.[1] ?? 0);

async function sh(script: string): Promise<string> {
  const r = await run('bash', ['-c', script]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe('file capabilities in the mount', () => {
  const f = repositoryFixture('cairn-capabilities-', env);

  it('are kept, shown and removed by a write as on a local disk, and writes of other files ask nothing', async () => {
    const capped = path.join(f.mnt, 'ping-like');
    const plain = path.join(f.mnt, 'plain.bin');
    let m = await mount(f.store, f.mnt, f.state, { ...env, CAIRN_DEBUG_OPS: '1' });
    await sh(`cp /bin/true "${capped}" && setcap cap_net_raw+ep "${capped}"`);
    expect(await sh(`getcap "${capped}"`)).toBe(`${capped} cap_net_raw=ep`);
    await sh(`dd if=/dev/urandom of="${plain}" bs=64k count=64 status=none`); // 64 writes
    expect((await run('getfattr', ['-n', 'security.capability', plain])).stderr).toContain('No such attribute');
    expect(await m.unmount()).toBe(0);
    // The kernel asked before each of the 64 writes; the binding answered: none reached JS.
    expect(requestsOf(m.log(), 'write')).toBeGreaterThanOrEqual(64);
    expect(requestsOf(m.log(), 'getxattr')).toBeLessThan(8);

    // Remounted: the file is known again only through its lookup, which marks it.
    m = await mount(f.store, f.mnt, f.state, env);
    expect(await sh(`getcap "${capped}"`)).toBe(`${capped} cap_net_raw=ep`);
    const snapshot = (await sh(`ls "${path.join(f.mnt, '.snapshots')}" | grep -v latest | tail -1`)).trim();
    const stored = path.join(f.mnt, '.snapshots', snapshot, 'ping-like');
    await sh(`printf 'x' >> "${capped}"`);
    expect(await sh(`getcap "${capped}"`)).toBe(''); // removed by the write
    expect(await sh(`getcap "${stored}"`)).toBe(`${stored} cap_net_raw=ep`); // the snapshot keeps it
    await sh(`setcap cap_net_raw+ep "${capped}" && setcap -r "${capped}" && setcap cap_chown+ep "${capped}"`);
    expect(await sh(`getcap "${capped}"`)).toBe(`${capped} cap_chown=ep`);
    await sh(`printf 'y' >> "${capped}"`);
    expect(await sh(`getcap "${capped}"`)).toBe('');
    expect(await m.unmount()).toBe(0);

    m = await mount(f.store, f.mnt, f.state, env);
    expect(await sh(`getcap "${capped}"`)).toBe('');
    expect(await sh(`tail -c 2 "${capped}"`)).toBe('xy');
    expect(await m.unmount()).toBe(0);
  });
});
