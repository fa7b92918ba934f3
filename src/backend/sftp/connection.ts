/**
 * One SSH connection to the store's server and the SFTP requests waiting on it.
 *
 * ssh2 never answers a request whose connection died: a server killed with SIGKILL, or one
 * that stopped answering (SIGSTOP, a dead link that TCP has not noticed yet), left callers
 * waiting forever. So every request is tracked here: when the connection closes, or when
 * requests are waiting and no answer at all has come for `stallMs`, the connection is
 * declared dead, every waiting request fails with a connection error (which the backend
 * retries on a new connection: every operation is idempotent), and late answers are ignored.
 * Judging by the last answer of any request, not by each request's age, keeps a slow but
 * working link alive while many requests queue on it.
 */
import type { FileEntry, SFTPWrapper } from 'ssh2';
import type SftpClient from 'ssh2-sftp-client';
import { HandlePool } from '../handle-pool.js';

export type Handle = Buffer;
type Callback<T> = (err: Error | null | undefined, value?: T) => void;

/** Open read handles kept per connection, so reading a pack piece by piece opens it once. */
const OPEN_READERS = 32;

/** SSH_FX_EOF: the end of a listing (or a file). */
const SFTP_EOF = 1;

/** The connection itself failed (closed, stalled): retried, unlike SFTP status errors. */
export class ConnectionLost extends Error {}

export class SftpConnection {
  private readonly waiting = new Set<(e: Error) => void>();
  private lastProgress = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private deadBecause: ConnectionLost | null = null;
  private readonly readers = new HandlePool<Handle>(
    OPEN_READERS,
    (file) => this.call<Handle>((cb) => this.sftp.open(file, 'r', cb)),
    (handle) => this.call((cb) => this.sftp.close(handle, cb)),
  );

  constructor(
    private readonly client: SftpClient,
    readonly sftp: SFTPWrapper,
    private readonly stallMs: number,
    private readonly onDeath: (connection: SftpConnection, reason: Error) => void,
  ) {}

  get dead(): boolean {
    return this.deadBecause !== null;
  }

  /** Sends one SFTP request; fails with ConnectionLost if the connection dies first. */
  call<T = void>(send: (cb: Callback<T>) => void): Promise<T> {
    if (this.deadBecause) return Promise.reject(this.deadBecause);
    return new Promise<T>((resolve, reject) => {
      if (this.waiting.size === 0) this.lastProgress = Date.now();
      const fail = (e: Error) => {
        this.waiting.delete(fail);
        reject(e);
      };
      this.waiting.add(fail);
      this.watch();
      try {
        send((err, value) => {
          if (!this.waiting.delete(fail)) return; // answered after the connection was given up
          this.lastProgress = Date.now();
          if (err) reject(err);
          else resolve(value as T);
        });
      } catch (e) {
        fail(e as Error); // ssh2 throws synchronously when the channel is already closed
      }
    });
  }

  /**
   * A folder's entries, every SFTP request tracked: ssh2's readdir of a path sends opendir,
   * readdir until EOF and close but answers once, so on a slow link (or a big folder) the
   * watchdog saw seconds without an answer and gave up a healthy connection.
   */
  async readdir(dir: string): Promise<FileEntry[]> {
    const handle = await this.call<Buffer>((cb) => this.sftp.opendir(dir, cb));
    const entries: FileEntry[] = [];
    try {
      for (;;) {
        let batch: FileEntry[] | false;
        try {
          batch = await this.call<FileEntry[] | false>((cb) => this.sftp.readdir(handle, cb));
        } catch (e) {
          if ((e as { code?: number }).code === SFTP_EOF) break;
          throw e;
        }
        if (!batch) break;
        entries.push(...batch);
      }
    } finally {
      if (!this.dead) await this.call((cb) => this.sftp.close(handle, cb)).catch(() => undefined);
    }
    return entries;
  }

  /** Gives up on the connection: every waiting request fails, the socket is closed. */
  kill(reason: string): void {
    if (this.deadBecause) return;
    this.deadBecause = new ConnectionLost(reason);
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    for (const fail of [...this.waiting]) fail(this.deadBecause);
    void this.readers.clear(false);
    this.onDeath(this, this.deadBecause);
    void this.client.end().catch(() => undefined);
  }

  /** Runs `read` with an open read handle of `file`, kept for the next read of it. */
  withReader<T>(file: string, read: (handle: Handle) => Promise<T>): Promise<T> {
    return this.readers.use(file, read);
  }

  /** Closes the handle kept for `file`, once unused (before the file is deleted). */
  forgetReader(file: string): void {
    this.readers.forget(file);
  }

  private watch(): void {
    if (this.watchdog) return;
    this.watchdog = setInterval(() => {
      if (this.waiting.size === 0) {
        clearInterval(this.watchdog!);
        this.watchdog = null;
      } else if (Date.now() - this.lastProgress > this.stallMs) {
        this.kill(`the server did not answer for ${Math.round(this.stallMs / 1000)} s`);
      }
    }, Math.max(100, Math.min(1000, this.stallMs / 4)));
    this.watchdog.unref();
  }
}
