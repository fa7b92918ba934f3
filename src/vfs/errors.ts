/**
 * Filesystem errors carry a POSIX errno name; the FUSE adapter maps names to numbers in one
 * place (src/fuse/errno.ts). No FUSE types here.
 */
export type Errno =
  | 'EPERM' | 'ENOENT' | 'EIO' | 'EBADF' | 'EACCES' | 'EEXIST' | 'EXDEV' | 'ENOTDIR' | 'EISDIR'
  | 'EINVAL' | 'EFBIG' | 'ENOSPC' | 'EROFS' | 'EMLINK' | 'ERANGE' | 'ENAMETOOLONG' | 'ENOTEMPTY'
  | 'ELOOP' | 'ENODATA' | 'ENOTSUP' | 'E2BIG';

export class FsError extends Error {
  constructor(
    readonly errno: Errno,
    message?: string,
  ) {
    // ENOENT and ENODATA are everyday answers (lookups, security.capability on each write):
    // skip the stack trace, which costs more than the answer.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message ?? errno);
    Error.stackTraceLimit = limit;
    this.name = 'FsError';
  }
}

export const fail = (errno: Errno, message?: string): never => {
  throw new FsError(errno, message);
};
