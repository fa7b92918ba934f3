/** The one mapping from errors to FUSE's negative errno numbers. */
import { constants } from 'node:os';
import { isCairnError } from '../errors/errors.js';
import { FsError } from '../vfs/errors.js';

const ERRNO = constants.errno as Record<string, number>;

export function toFuseErrno(error: unknown, log: (message: string) => void): number {
  if (error instanceof FsError) {
    // Everyday answers (ENOENT, EEXIST…) are not news; an I/O failure must name its cause.
    if (error.errno === 'EIO' || error.errno === 'ENOSPC') log(`${error.errno}: ${error.message}`);
    return -(ERRNO[error.errno] ?? ERRNO.EIO!);
  }
  if (isCairnError(error, 'NO_SPACE')) return -ERRNO.ENOSPC!;
  // Damaged or unreachable data is EIO to the program, and a named cause in the log.
  log(`I/O error: ${(error as Error)?.message ?? String(error)}`);
  return -ERRNO.EIO!;
}
