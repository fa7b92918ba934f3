/**
 * Finds and loads one of cairn's own addons (native/, built by scripts/build-fuse-binding.sh
 * at install and by scripts/setup.sh).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError } from '../errors/errors.js';

/** The built addon `name` (for example 'cairn_fuse'), from the nearest project folder above this file. */
export function addonPath(name: string): string | null {
  const relative = `native/build/Release/${name}.node`;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, relative))) return path.join(dir, relative);
    if (dir === path.dirname(dir)) return null;
  }
}

/** Loads the addon, or says how to build it. */
export function loadAddon<T>(name: string, what: string): T {
  const file = addonPath(name);
  if (!file) {
    throw new CairnError('USAGE', `${what} (native/build/Release/${name}.node) is not built`, {
      hint: 'build it: `bash scripts/build-fuse-binding.sh` in the cairn folder (needs g++, make and python3; it prints why a build fails)',
    });
  }
  return createRequire(import.meta.url)(file) as T;
}
