/**
 * Write-back staging on local disk: one sparse file per inode with bytes written through the
 * mount that are not yet packed into the repository. A write() is in the page cache of a
 * staging file when it returns, so killing the daemon loses nothing; fsync() makes it durable.
 */
import { closeSync, constants, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import * as path from 'node:path';

/** Open staging files kept at most; more would run into the process's descriptor limit. */
const MAX_OPEN_FILES = 256;

export class StagingArea {
  /** Open descriptors, least recently used first (Map keeps insertion order). */
  private readonly fds = new Map<number, number>();
  /** Bytes written per staging file since it was created (overwrites count again: an upper bound). */
  private readonly written = new Map<number, number>();
  /** Staging files whose folder entry is known to be on disk (fsync'd folder). */
  private readonly namesSynced = new Set<number>();
  /** Their sum: what the write budget (back-pressure) counts. */
  bytes = 0;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Files a killed mount left: count what they hold on disk.
    for (const ino of this.inodes()) this.count(ino, statSync(this.pathOf(ino)).blocks * 512);
  }

  private count(ino: number, bytes: number): void {
    this.written.set(ino, (this.written.get(ino) ?? 0) + bytes);
    this.bytes += bytes;
  }

  private pathOf(ino: number): string {
    return path.join(this.dir, String(ino));
  }

  private fd(ino: number): number {
    let fd = this.fds.get(ino);
    if (fd !== undefined) {
      this.fds.delete(ino); // move to the most recently used end
    } else {
      if (this.fds.size >= MAX_OPEN_FILES) {
        const [oldestIno, oldestFd] = this.fds.entries().next().value as [number, number];
        // Closing loses nothing: written bytes are in the page cache (fsync'd if asked).
        closeSync(oldestFd);
        this.fds.delete(oldestIno);
      }
      // Create if missing, without O_APPEND (writes go to their own offsets).
      fd = openSync(this.pathOf(ino), constants.O_RDWR | constants.O_CREAT, 0o600);
    }
    this.fds.set(ino, fd);
    return fd;
  }

  write(ino: number, offset: number, data: Uint8Array): void {
    const fd = this.fd(ino);
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done, offset + done);
    this.count(ino, data.length);
  }

  /** Reads exactly `length` bytes at `offset` into `out` at `outOffset` (zeros past the end). */
  read(ino: number, offset: number, length: number, out: Buffer, outOffset: number): void {
    const fd = this.fd(ino);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, outOffset + done, length - done, offset + done);
      if (n === 0) {
        out.fill(0, outOffset + done, outOffset + length);
        return;
      }
      done += n;
    }
  }

  truncate(ino: number, size: number): void {
    ftruncateSync(this.fd(ino), size);
  }

  sync(ino: number): void {
    // A descriptor closed by the LRU may have unsynced pages: fsync through a fresh one.
    if (!existsSync(this.pathOf(ino))) return;
    fsyncSync(this.fd(ino));
    if (!this.namesSynced.has(ino)) {
      // A new staging file's name is durable only once its folder is synced too.
      const dirFd = openSync(this.dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
      this.namesSynced.add(ino);
    }
  }

  remove(ino: number): void {
    const fd = this.fds.get(ino);
    if (fd !== undefined) closeSync(fd);
    this.fds.delete(ino);
    rmSync(this.pathOf(ino), { force: true });
    this.namesSynced.delete(ino);
    this.bytes -= this.written.get(ino) ?? 0;
    this.written.delete(ino);
  }

  /** Inodes with a staging file (after a crash: what the journal may refer to). */
  inodes(): number[] {
    return readdirSync(this.dir).filter((n) => /^\d+$/.test(n)).map(Number);
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
