/**
 * Open read handles kept for the next read of the same object (a pack is read piece by
 * piece; the local kernel's readahead and an SFTP handle both live with the open file).
 * Objects never change once written, so a handle stays valid until the object is deleted.
 *
 * Reference-counted: a handle pushed out of the pool, or forgotten because its object is
 * deleted, is closed only when its last reader is done, never under a read still using it.
 * Used by the local and the SFTP backend.
 */
interface Entry<H> {
  readonly handle: Promise<H>;
  users: number;
  /** Out of the pool: close when the last user is done. */
  retired: boolean;
}

export class HandlePool<H> {
  /** Least recently used first. */
  private readonly entries = new Map<string, Entry<H>>();

  constructor(
    private readonly capacity: number,
    private readonly open: (key: string) => Promise<H>,
    private readonly close: (handle: H) => Promise<void>,
  ) {}

  /** Runs `read` with an open handle for `key`, opening one if none is pooled. */
  async use<T>(key: string, read: (handle: H) => Promise<T>): Promise<T> {
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key); // re-inserted below as the most recently used
    } else {
      entry = { handle: this.open(key), users: 0, retired: false };
      if (this.entries.size >= this.capacity) {
        const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry<H>];
        this.entries.delete(oldestKey);
        void this.retire(oldest);
      }
    }
    this.entries.set(key, entry);
    entry.users++;
    try {
      return await read(await entry.handle);
    } catch (e) {
      // A failed open, or a handle that went bad: the next read opens afresh.
      if (this.entries.get(key) === entry) this.entries.delete(key);
      entry.retired = true;
      throw e;
    } finally {
      entry.users--;
      if (entry.retired && entry.users === 0) void this.closeEntry(entry);
    }
  }

  /** Drops the handle of `key` (its object is being deleted); closed once unused. */
  forget(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    void this.retire(entry);
  }

  /**
   * Retires every handle and waits for the unused ones to close (those in use close after
   * their reads). `closeNow` false: the connection they belong to is gone, close nothing.
   */
  async clear(closeNow = true): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    if (!closeNow) return;
    await Promise.all(all.map((entry) => this.retire(entry)));
  }

  private retire(entry: Entry<H>): Promise<void> {
    entry.retired = true;
    return entry.users === 0 ? this.closeEntry(entry) : Promise.resolve();
  }

  private closeEntry(entry: Entry<H>): Promise<void> {
    return entry.handle.then((h) => this.close(h)).catch(() => undefined);
  }
}
