/**
 * The binding's channel (native/lowlevel.c, "The channel") asks the kernel for write
 * requests of up to 1 MiB (FUSE_MAX_PAGES in the INIT reply): a 16 MiB `dd bs=1M` then
 * arrives as 16 write requests, not 128 of 128 KiB. Counted with CAIRN_DEBUG_OPS; the
 * bytes, written at odd offsets and sizes too, equal a reference file after a remount.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../helpers/cli.js';
import { mount } from '../helpers/mount.js';
import { repositoryFixture } from '../helpers/fixture.js';

const env = { CAIRN_PASSWORD: 'write requests test' };

/** Kernels since 4.20 take max_pages from the INIT reply. */
function kernelTakesMaxPages(): boolean {
  const [major, minor] = os.release().split('.').map(Number);
  return major! > 4 || (major === 4 && minor! >= 20);
}

const writeRequests = (log: string): number => Number(/requests: .*\bwrite (\d+)/.exec(log)?.[1] ?? NaN);

describe('write requests through the binding', () => {
  const f = repositoryFixture('cairn-write-requests-', env);

  it('a 1 MiB write is one request, and bytes written at odd offsets and sizes come back as written', async () => {
    const source = path.join(f.dir, 'source.bin');
    const reference = path.join(f.dir, 'reference.bin');
    await fs.writeFile(source, randomBytes(16 * 1024 * 1024));
    let m = await mount(f.store, f.mnt, f.state, { ...env, CAIRN_DEBUG_OPS: '1' });
    const target = path.join(f.mnt, 'big.bin');
    const dd = async (args: string) => {
      for (const file of [target, reference]) {
        const r = await run('bash', ['-c', `dd ${args} of="${file}" status=none`]);
        expect(r.code, r.stderr).toBe(0);
      }
    };
    await dd(`if="${source}" bs=1M`);
    await m.unmount();
    const sequential = writeRequests(m.log());
    // A request can come short when copying from the writer's pages faults; a few, not 128.
    if (kernelTakesMaxPages()) {
      expect(sequential).toBeGreaterThanOrEqual(16);
      expect(sequential).toBeLessThanOrEqual(24);
    } else {
      expect(sequential).toBeGreaterThanOrEqual(128);
    }

    // Writes that cross 1 MiB boundaries at odd offsets, and one past the end.
    m = await mount(f.store, f.mnt, f.state, env);
    const other = path.join(f.dir, 'other.bin');
    await fs.writeFile(other, randomBytes(6 * 1000003));
    await dd(`if="${other}" bs=1000003 count=5 seek=3 conv=notrunc`);
    await dd(`if="${source}" bs=777777 count=3 skip=2 seek=21 conv=notrunc`);
    await m.unmount();
    m = await mount(f.store, f.mnt, f.state, env);
    const [got, want] = await Promise.all([fs.readFile(target), fs.readFile(reference)]);
    expect(got.length).toBe(want.length);
    expect(got.equals(want)).toBe(true);
    await m.unmount();
  }, 120_000);
});
