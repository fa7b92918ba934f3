/**
 * Buffers for a stream's steps (file-data.ts), in shared memory and reused. A step (the rest
 * of the last one and the next 4 MiB) is read into one, the blob thread cuts and seals it in
 * place, and the buffer comes back here when the step is done. A fresh buffer per step,
 * moved to the thread, counted against the JS heap's external memory each time: with the
 * sealed chunks coming back, that brought a garbage collection every few MiB written.
 */

/** Big enough for a step and the rest before it (under one maximum-size chunk). */
const BUFFER_BYTES = 8 * 1024 * 1024;
/** One per stream in progress; more are made when several files stream at once, and dropped after. */
const KEEP = 2;

export class StepBuffers {
  private readonly spare: Buffer[] = [];

  /** A buffer of at least `size` bytes, the caller's until it gives it back. */
  take(size: number): Buffer {
    const i = this.spare.findIndex((b) => b.length >= size);
    if (i >= 0) return this.spare.splice(i, 1)[0]!;
    return Buffer.from(new SharedArrayBuffer(Math.max(size, BUFFER_BYTES)));
  }

  /** The step that used `buffer` is done: nothing reads or writes it any more. */
  give(buffer: Buffer): void {
    if (this.spare.length < KEEP) this.spare.push(buffer);
  }
}
