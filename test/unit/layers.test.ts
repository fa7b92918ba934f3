/**
 * The architecture of docs/ARCHITECTURE.md, enforced: imports only point down the layers,
 * and each native or network dependency has exactly one importing module.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(__dirname, '../../src');

/** Which layers each layer may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  errors: [],
  native: ['errors'],
  crypto: ['errors'],
  chunker: ['native'],
  format: ['errors', 'crypto', 'native'],
  cache: ['errors'],
  backend: ['errors'],
  localfs: ['errors', 'format'],
  repository: ['errors', 'crypto', 'chunker', 'format', 'cache', 'backend', 'localfs'],
  restore: ['errors', 'format', 'repository', 'localfs'],
  timetravel: ['errors', 'format', 'repository'],
  vfs: ['errors', 'crypto', 'chunker', 'format', 'cache', 'backend', 'repository', 'timetravel'],
  fuse: ['errors', 'native', 'vfs'],
  control: ['errors', 'backend', 'vfs', 'repository'],
  cli: ['errors', 'crypto', 'chunker', 'format', 'cache', 'backend', 'localfs', 'repository', 'restore', 'timetravel', 'vfs', 'fuse', 'control'],
};

/**
 * Single files a layer may import from a layer it otherwise may not: the file calls Node
 * lacks live in cairn's patch of the fuse-native addon, so their wrapper stays in fuse/
 * (the one importer of fuse-native) while local-file code below the mount uses it.
 */
const ALLOWED_FILES: Record<string, string[]> = {
  localfs: ['fuse/native-files.ts'],
};

/** Packages that exactly one place may import. */
const SOLE_IMPORTER: Record<string, string> = {
  'fuse-native': 'fuse/',
  'ssh2-sftp-client': 'backend/sftp/',
  ssh2: 'backend/sftp/',
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s+['"]([^'"]+)['"]/g), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
}

describe('layering', () => {
  const files = sourceFiles(SRC);

  it('knows every top-level folder of src/', () => {
    for (const file of files) expect(Object.keys(ALLOWED)).toContain(path.relative(SRC, file).split(path.sep)[0]);
  });

  it('imports only point down the layers', () => {
    const violations: string[] = [];
    for (const file of files) {
      const rel = path.relative(SRC, file);
      const layer = rel.split(path.sep)[0]!;
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) continue;
        const target = path.relative(SRC, path.resolve(path.dirname(file), spec)).split(path.sep)[0]!;
        const targetFile = path.relative(SRC, path.resolve(path.dirname(file), spec)).replace(/\.js$/, '.ts');
        if (ALLOWED_FILES[layer]?.includes(targetFile)) continue;
        if (target !== layer && !ALLOWED[layer]!.includes(target)) violations.push(`${rel} imports ${spec} (${layer} -> ${target})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('gives fuse-native and the SSH packages one importer each', () => {
    for (const file of files) {
      const rel = path.relative(SRC, file);
      for (const spec of importsOf(file)) {
        const owner = SOLE_IMPORTER[spec];
        if (owner) expect(rel.startsWith(owner), `${rel} imports ${spec}`).toBe(true);
      }
    }
  });
});
