/**
 * File calls Node does not offer, for restore, verify and backup: nanosecond times and
 * extended attributes of a path without following a symlink, and device nodes / fifos.
 * They live in cairn's patched fuse-native addon (patch level 4) only because that is the
 * native code cairn builds anyway, and src/fuse/ stays the one place that imports it; they
 * have nothing to do with mounting. Each throws a Node-style
 * error (`code` = 'ENOENT', …) so callers handle them like fs errors.
 */
import { constants } from 'node:os';
import Fuse from 'fuse-native';
import { lowLevelBinding } from './lowlevel-binding.js';

const NAMES_BY_ERRNO = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));
/** The addon copies paths into a 4096-byte buffer; a longer one must fail, not be cut. */
const PATH_MAX = 4096;

function check(result: number, call: string, path: string): void {
  if (result >= 0) return;
  const code = NAMES_BY_ERRNO.get(-result) ?? `errno ${-result}`;
  throw Object.assign(new Error(`${code}: ${call} '${path}'`), { code, errno: result, syscall: call, path });
}

function checkedPath(path: string, call: string): string {
  if (Buffer.byteLength(path) >= PATH_MAX) check(-constants.errno.ENAMETOOLONG, call, path);
  return path;
}

function buffer(result: Buffer | number, call: string, path: string): Buffer {
  if (typeof result === 'number') {
    check(result, call, path);
    return Buffer.alloc(0);
  }
  return result;
}

/** Sets access and modification time to the nanosecond, on the link itself for a symlink. */
export function lutimens(path: string, atimeNs: bigint, mtimeNs: bigint): void {
  check(Fuse.lutimens(checkedPath(path, 'utimensat'), atimeNs, mtimeNs), 'utimensat', path);
}

export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  check(Fuse.lsetxattr(checkedPath(path, 'lsetxattr'), name, Buffer.from(value.buffer, value.byteOffset, value.byteLength)), 'lsetxattr', path);
}

/** Names of the extended attributes of `path` (of the link itself for a symlink). */
export function llistxattr(path: string): string[] {
  const names = buffer(Fuse.llistxattr(checkedPath(path, 'llistxattr')), 'llistxattr', path);
  return names.toString('utf8').split('\0').filter((n) => n.length > 0);
}

export function lgetxattr(path: string, name: string): Buffer {
  return buffer(Fuse.lgetxattr(checkedPath(path, 'lgetxattr'), name), 'lgetxattr', path);
}

/** Every extended attribute of `path`, sorted by name; none where the file system has none. */
export function readXattrs(path: string): { name: string; value: Buffer }[] {
  let names: string[];
  try {
    names = llistxattr(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTSUP') return [];
    throw e;
  }
  const xattrs: { name: string; value: Buffer }[] = [];
  for (const name of names.sort()) {
    try {
      xattrs.push({ name, value: lgetxattr(path, name) });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENODATA') throw e; // removed meanwhile
    }
  }
  return xattrs;
}

/** Creates a fifo, socket or device node (`mode` holds the S_IF* type and permission bits). */
export function mknod(path: string, mode: number, dev: number): void {
  check(Fuse.mknod(checkedPath(path, 'mknod'), mode, dev), 'mknod', path);
}

/**
 * Starts reading a regular file's first `length` bytes into the page cache without waiting
 * (posix_fadvise WILLNEED; every failure ignored, it is a hint). It lives in cairn's own
 * addon (native/lowlevel.c), which throws here when it is not built.
 */
export function willNeed(path: string, length: number): void {
  lowLevelBinding().willNeed(path, length);
}
