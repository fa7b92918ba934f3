/**
 * Reads a folder tree's metadata (readdir, lstat) ahead of the walk that needs it, only to
 * bring directory blocks and inodes into the kernel's caches: on a cold cache a backup's
 * walk spent most of its time waiting for them, one folder after another.
 */
import { lstatSync, readdir, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { compareNames } from '../format/tree.js';

/**
 * For a backup's reader thread while the main thread loads its code and opens the repository
 * (a third of a backup of few changes, with the disk idle). It stops as soon as `stop` says
 * so: two threads reading one folder's inodes at once only add work (docs/BENCHMARKS.md,
 * session 15).
 *
 * Visits `root` in the walk's order (a folder's entries, then its subfolders in name order)
 * until `stop()` is true or the tree is done, without entering other file systems; returns
 * the entries visited. Errors are ignored: the walk itself reports them.
 */
export function warmMetadata(root: string, stop: () => boolean): number {
  let visited = 0;
  // It stays on the root's file system: the walk may go on into other mounts, but a hung
  // network mount, or one the backup excludes, must not hold this thread (it seals files too).
  let device: number;
  try {
    device = lstatSync(root).dev;
  } catch {
    return 0;
  }
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
        const st = lstatSync(full);
        if (st.isDirectory() && st.dev === device) subfolders.push(full);
      } catch {
        // gone or unreadable: the walk says so
      }
    }
    for (let i = subfolders.length - 1; i >= 0; i--) folders.push(subfolders[i]!);
  }
  return visited;
}

/**
 * Asks libuv's threads to list these folders soon (the results are dropped), so the walk finds
 * their listings cached when it gets there instead of waiting for the disk at each one. The
 * walk calls it with the subfolders of each folder it lists. Folders are listed in the order
 * given, a few at a time, so that a folder of 100,000 subfolders does not queue 100,000
 * listings ahead of the backup's own file work on those threads (the pack writes).
 */
export function warmListings(folders: readonly string[]): void {
  for (const folder of folders) waitingListings.push(folder);
  while (listingsInFlight < LISTINGS_IN_FLIGHT && nextListing < waitingListings.length) listNext();
}

const LISTINGS_IN_FLIGHT = 4;
/** Folders to list, from `nextListing` on (a queue without shift(), which is linear). */
let waitingListings: string[] = [];
let nextListing = 0;
let listingsInFlight = 0;

function listNext(): void {
  const folder = waitingListings[nextListing++];
  if (nextListing >= waitingListings.length) {
    waitingListings = [];
    nextListing = 0;
  } else if (nextListing >= 4096 && nextListing * 2 >= waitingListings.length) {
    waitingListings = waitingListings.slice(nextListing); // the listed prefix goes
    nextListing = 0;
  }
  if (folder === undefined) return;
  listingsInFlight++;
  readdir(folder, () => {
    listingsInFlight--;
    listNext();
  });
}

/** Listings asked for and not done: running now (at most 4) and waiting (for tests). */
export function listingsPending(): { readonly running: number; readonly waiting: number } {
  return { running: listingsInFlight, waiting: waitingListings.length - nextListing };
}
