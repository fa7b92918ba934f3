/** Questions about the kernel's mount table and mountpoints. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function isMounted(mountpoint: string): boolean {
  const target = path.resolve(mountpoint);
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => unescapeMountPath(line.split(' ')[1] ?? '') === target);
}

/**
 * 'ok', 'missing', 'not-a-folder', or 'stale': a dead FUSE mount answers ENOTCONN
 * (Transport endpoint is not connected), or ECONNABORTED to a request that was in flight
 * when its daemon died.
 */
export async function mountpointState(mountpoint: string): Promise<'ok' | 'missing' | 'not-a-folder' | 'stale'> {
  try {
    return (await stat(mountpoint)).isDirectory() ? 'ok' : 'not-a-folder';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') return 'stale';
    if (code === 'ENOENT') return 'missing';
    throw e;
  }
}

export function lazyUnmount(mountpoint: string): boolean {
  return spawnSync('fusermount', ['-u', '-z', mountpoint]).status === 0 || spawnSync('umount', ['-l', mountpoint]).status === 0;
}
