// The part of fuse-native that cairn uses, as patched (patches/): nanosecond times, 64-bit
// st_ino, the caller of each request. Only src/fuse/ imports it.
declare module 'fuse-native' {
  namespace Fuse {
    /** Answers a request: an errno (negative) or 0, then the operation's results. */
    type Reply = (...args: unknown[]) => void;
    /** The handlers cairn gives; the compiler checks the adapter's table against them. */
    interface Operations {
      init(cb: Reply): void;
      access(path: string, mode: number, cb: Reply): void;
      statfs(path: string, cb: Reply): void;
      getattr(path: string, cb: Reply): void;
      fgetattr(path: string, fh: number, cb: Reply): void;
      readdir(path: string, cb: Reply): void;
      readlink(path: string, cb: Reply): void;
      open(path: string, flags: number, cb: Reply): void;
      opendir(path: string, flags: number, cb: Reply): void;
      releasedir(path: string, fh: number, cb: Reply): void;
      release(path: string, fh: number, cb: Reply): void;
      flush(path: string, fh: number, cb: Reply): void;
      fsync(path: string, datasync: number, fh: number, cb: Reply): void;
      fsyncdir(path: string, datasync: number, fh: number, cb: Reply): void;
      read(path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Reply): void;
      write(path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Reply): void;
      create(path: string, mode: number, cb: Reply): void;
      mknod(path: string, mode: number, dev: number, cb: Reply): void;
      mkdir(path: string, mode: number, cb: Reply): void;
      symlink(target: string, path: string, cb: Reply): void;
      link(existing: string, path: string, cb: Reply): void;
      unlink(path: string, cb: Reply): void;
      rmdir(path: string, cb: Reply): void;
      rename(from: string, to: string, cb: Reply): void;
      truncate(path: string, size: number, cb: Reply): void;
      ftruncate(path: string, fh: number, size: number, cb: Reply): void;
      chmod(path: string, mode: number, cb: Reply): void;
      chown(path: string, uid: number, gid: number, cb: Reply): void;
      utimens(path: string, atime: bigint, mtime: bigint, cb: Reply): void;
      setxattr(path: string, name: string, value: Buffer, position: number, flags: number, cb: Reply): void;
      getxattr(path: string, name: string, position: number, cb: Reply): void;
      listxattr(path: string, cb: Reply): void;
      removexattr(path: string, name: string, cb: Reply): void;
    }
  }
  class Fuse {
    constructor(mountpoint: string, ops: Partial<Fuse.Operations>, options?: Record<string, unknown>);
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mountpoint: string, cb: Fuse.Reply): void;
    static readonly UTIME_NOW: bigint;
    static readonly UTIME_OMIT: bigint;
    /** 0 for a stock build; cairn needs its patch level (src/fuse/adapter.ts). */
    static readonly NATIVE_PATCH_LEVEL: number;
    /** uid, gid, pid, umask of the request being answered (valid synchronously in a handler). */
    static readonly CALLER: Uint32Array;
    /** Patch level 4: file calls Node lacks (src/fuse/native-files.ts); 0 or -errno. */
    static lutimens(path: string, atimeNs: bigint, mtimeNs: bigint): number;
    static lsetxattr(path: string, name: string, value: Buffer): number;
    static mknod(path: string, mode: number, dev: number): number;
    /** A Buffer (NUL-separated names / the value), or -errno. */
    static llistxattr(path: string): Buffer | number;
    static lgetxattr(path: string, name: string): Buffer | number;
  }
  export = Fuse;
}
