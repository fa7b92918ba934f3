/**
 * Reads a folder tree's metadata (readdir, lstat) ahead of the walk that needs it, only to
 * bring directory blocks and inodes into the kernel's caches. A backup's reader thread runs
 * this while the main thread loads its code and opens the repository (a third of a backup
 * of few changes, with the disk idle); on a cold cache the walk's readdir and lstat were
 * most of the rest. It stops as soon as `stop` says so: two threads reading one folder's
 * inodes at once only add work (docs/BENCHMARKS.md, session 15).
 */
import { lstatSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { compareNames } from '../format/tree.js';

/**
 * Visits `root` in the walk's order (a folder's entries, then its subfolders in name order)
 * until `stop()` is true or the tree is done; returns the entries visited. Errors are
 * ignored: the walk itself reports them.
 */
export function warmMetadata(root: string, stop: () => boolean): number {
  let visited = 0;
  // Folders still to list, the next one last.
  const folders = [root];
  for (let folder = folders.pop(); folder !== undefined && !stop(); folder = folders.pop()) {
    let names: string[];
    try {
      names = readdirSync(folder).sort(compareNames);
    } catch {
      continue;
    }
    const subfolders: string[] = [];
    for (const name of names) {
      if (stop()) return visited;
      const full = path.join(folder, name);
      visited++;
      try {
        if (lstatSync(full).isDirectory()) subfolders.push(full);
      } catch {
        // gone or unreadable: the walk says so
      }
    }
    for (let i = subfolders.length - 1; i >= 0; i--) folders.push(subfolders[i]!);
  }
  return visited;
}
