import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { StagingArea } from '../../src/vfs/staging.js';
import { tempDir } from '../helpers/store.js';

describe('staging area', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('stages far more files than it keeps open, and reads every one back', () => {
    const staging = new StagingArea(path.join(dir, 'staging'));
    const count = 2000; // well past the open-descriptor cap
    for (let ino = 1; ino <= count; ino++) staging.write(ino, ino * 3, Buffer.from(`file ${ino}`));
    for (let ino = 1; ino <= count; ino++) {
      const out = Buffer.alloc(`file ${ino}`.length);
      staging.read(ino, ino * 3, out.length, out, 0);
      expect(out.toString()).toBe(`file ${ino}`);
      staging.sync(ino);
    }
    const open = readdirSync('/proc/self/fd').length;
    expect(open).toBeLessThan(400);
    expect(staging.inodes().length).toBe(count);
    staging.close();
  });

  it('reads zeros past the end and in holes, and truncates', () => {
    const staging = new StagingArea(path.join(dir, 'staging'));
    staging.write(7, 10, Buffer.from('abc'));
    const out = Buffer.alloc(20, 0xff);
    staging.read(7, 0, 20, out, 0);
    expect([...out]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 97, 98, 99, 0, 0, 0, 0, 0, 0, 0]);
    staging.truncate(7, 11);
    staging.read(7, 10, 3, out, 0);
    expect(out.subarray(0, 3).toString('latin1')).toBe('a\0\0');
    staging.remove(7);
    expect(staging.inodes()).toEqual([]);
  });
});
