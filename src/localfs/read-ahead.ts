/**
 * Read-ahead for files a command will read soon. A backup reads many small files one after
 * another on its reader thread; cold, each read waits for the disk (0.9 s of 3 s for
 * /usr/share/doc). Named a few dozen files ahead, the kernel reads them while earlier
 * ones are sealed (docs/BENCHMARKS.md).
 */
import { willNeed } from '../fuse/native-files.js';

/** Beyond this the hint adds nothing: the kernel reads ahead of a sequential reader by itself. */
const MAX_HINT_BYTES = 4 * 1024 * 1024;
let unavailable = false;

/** Asks the kernel to start reading up to 4 MiB of the file now. Never fails; a no-op without cairn's addon. */
export function adviseWillNeed(path: string, bytes: number): void {
  if (unavailable || bytes <= 0) return;
  try {
    willNeed(path, Math.min(bytes, MAX_HINT_BYTES));
  } catch {
    unavailable = true;
  }
}
