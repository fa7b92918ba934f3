/**
 * The mount refuses a stock fuse-native build (one built without patches/): it would store
 * every time wrongly and cut inode numbers to 32 bits. Checked against the real stock
 * prebuild that ships inside the package.
 */
import { describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { CairnError } from '../../src/errors/errors.js';
import { assertPatchedBinding } from '../../src/fuse/adapter.js';
import { tempDir } from '../helpers/store.js';

const PACKAGE = path.resolve(__dirname, '../../node_modules/fuse-native');

describe('the FUSE binding', () => {
  it('is the patched build here, and the mount accepts it', () => {
    expect(() => assertPatchedBinding()).not.toThrow();
  });

  it('a copy of the package without the patched build loads the stock prebuild, and the mount refuses it with the command that rebuilds', async () => {
    const { dir, cleanup } = await tempDir('cairn-binding-');
    try {
      const copy = path.join(dir, 'node_modules', 'fuse-native');
      await fs.cp(PACKAGE, copy, { recursive: true, filter: (src) => !src.startsWith(path.join(PACKAGE, 'build')) });
      const modules = path.resolve(PACKAGE, '..');
      for (const dep of (await fs.readdir(modules)).filter((d) => /^(fuse-shared-library.*|nanoresource|napi-macros|node-gyp-build)$/.test(d))) {
        await fs.cp(path.join(modules, dep), path.join(dir, 'node_modules', dep), { recursive: true });
      }
      const stock = createRequire(path.join(dir, 'index.js'))('fuse-native') as { NATIVE_PATCH_LEVEL?: number };
      expect(stock.NATIVE_PATCH_LEVEL).toBe(0);
      let refusal: unknown;
      try {
        assertPatchedBinding(stock);
      } catch (e) {
        refusal = e;
      }
      expect(refusal).toBeInstanceOf(CairnError);
      expect((refusal as CairnError).message).toMatch(/not cairn's patched build.*wrong file times/);
      expect((refusal as CairnError).hint).toMatch(/scripts\/build-fuse-binding\.sh/);
    } finally {
      await cleanup();
    }
  });
});
