/**
 * The backup's read-ahead hint (src/localfs/read-ahead.ts): it must bring a cold file into
 * the page cache, and never fail or hang on what a folder may hold instead of a file.
 * Checked with util-linux's fincore, which counts a file's pages in the page cache.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { adviseWillNeed } from '../../src/localfs/read-ahead.js';
import { tempDir } from '../helpers/store.js';

const cachedBytes = (file: string): number => Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file]).toString().trim());

describe('the read-ahead hint', () => {
  it('starts reading a cold file into the page cache, up to 4 MiB of it', async () => {
    const { dir, cleanup } = await tempDir('cairn-readahead-');
    try {
      const file = path.join(dir, 'cold.bin');
      await fs.writeFile(file, randomBytes(6 << 20));
      execFileSync('sync');
      // Drop this file's pages (dd's nocache flag: posix_fadvise DONTNEED on the whole file).
      execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
      expect(cachedBytes(file)).toBe(0);
      adviseWillNeed(file, 6 << 20);
      let cached = 0;
      for (let i = 0; i < 100 && cached < 4 << 20; i++) {
        await new Promise((r) => setTimeout(r, 20));
        cached = cachedBytes(file);
      }
      expect(cached).toBeGreaterThanOrEqual(4 << 20);
      expect(cached).toBeLessThan(6 << 20);
    } finally {
      await cleanup();
    }
  });

  it('returns at once for a fifo, a folder, a symlink, a missing file and an over-long path', async () => {
    const { dir, cleanup } = await tempDir('cairn-readahead-');
    try {
      const fifo = path.join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      await fs.symlink(fifo, path.join(dir, 'link'));
      for (const target of [fifo, dir, path.join(dir, 'link'), path.join(dir, 'missing'), `/${'x'.repeat(5000)}`]) {
        expect(() => adviseWillNeed(target, 1 << 20)).not.toThrow(); // a fifo opened for reading would block forever
      }
    } finally {
      await cleanup();
    }
  });
});
