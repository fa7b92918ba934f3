/** Small helpers every benchmark part shares. */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** Flushes dirty pages and drops the page cache (as root), so reads start cold. */
export function dropCaches(): void {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    // Not root: reads may come from the page cache, for every contestant alike.
  }
}

/** Is a command on the PATH (a peer to compare with, when installed)? */
export function haveCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/** Seconds `fn` takes from a cold page cache until its writes are on disk. */
export function timedCold(fn: () => void): number {
  dropCaches();
  const start = process.hrtime.bigint();
  fn();
  spawnSync('sync');
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Bytes of a file or folder as du counts them (apparent size). */
export function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);
}
