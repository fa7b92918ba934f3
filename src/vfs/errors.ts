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
    super(message ?? errno);
    this.name = 'FsError';
  }
}

export const fail = (errno: Errno, message?: string): never => {
  throw new FsError(errno, message);
};
